import pickle

import numpy as np
import pandas as pd
import pytest

from socialml.components.audience.models import age_buckets, build_audience_model
from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform
from socialml.components.evaluation.metrics import audience_scores
from socialml.pipelines.audience.nodes import cross_validate_audience, prepare_audience_targets

PARAMS = {"age_edges": [18, 25, 35, 45, 50, 56], "age_labels": ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"],
          "protocol": {"kind": "kfold", "folds": 3, "seed": 0}}


@pytest.fixture(scope="module")
def history():
    platform = generate_demo_platform(DemoPlatformConfig(n_users=300, n_feed_events=1_000, n_videos=200,
                                                         n_video_views=12_000))
    views = platform["video_views"].rename(columns={"video_id": "item_id", "watched_at": "timestamp"})
    views["rating"] = np.nan
    items = platform["videos"].rename(columns={"video_id": "item_id"}).assign(categories=lambda d: d["category"].map(lambda c: [c]))
    users = platform["user_data"][platform["user_data"]["age"] > 0].assign(
        gender=lambda d: d["gender"].map({0: "female", 1: "male"}))
    return views, items, prepare_audience_targets(users, views, PARAMS)


def test_age_buckets_are_right_open_and_labelled():
    buckets = age_buckets(pd.Series([17, 18, 24.9, 25, 56, 70, None]), [18, 25, 56], ["<18", "18-24", "25-55", "56+"])
    assert buckets.tolist()[:6] == ["<18", "18-24", "18-24", "25-55", "56+", "56+"] and pd.isna(buckets.iloc[6])
    with pytest.raises(ValueError, match="make 3 buckets"):
        age_buckets(pd.Series([1]), [18, 25], ["a", "b"])


def test_folds_are_by_user_and_cover_everyone(history):
    _, _, targets = history
    assert targets["user_id"].is_unique and set(targets["fold"]) == {0, 1, 2}
    assert set(targets["sex"]) == {"female", "male"}


@pytest.mark.parametrize("spec", [
    {"kind": "boosting", "library": "catboost", "svd_components": 8, "options": {"iterations": 60}},
    {"kind": "boosting", "library": "lightgbm", "svd_components": 8, "options": {"n_estimators": 60}},
    {"kind": "item_bag"},
    {"kind": "deepsets", "epochs": 40, "patience": 5},
])
def test_models_beat_the_majority_on_the_planted_audience_signal(history, spec):
    views, items, targets = history
    _, majority = cross_validate_audience(views, items, targets, {"kind": "majority"}, PARAMS)
    predictions, scores = cross_validate_audience(views, items, targets, spec, PARAMS)
    assert len(predictions) == len(targets) and predictions["user_id"].is_unique
    assert scores["sex"]["roc_auc"] > majority["sex"]["roc_auc"] + 0.1
    assert scores["age"]["roc_auc"] > 0.55


def test_a_saved_model_predicts_for_a_new_users_history(history):
    views, items, targets = history
    model = pickle.loads(pickle.dumps(build_audience_model({"kind": "deepsets", "epochs": 2}).fit(views, items, targets)))
    new_user = views[views["user_id"] == views["user_id"].iloc[0]].assign(user_id=999_999)
    new_user.loc[new_user.index[0], "item_id"] = -5  # an item never seen in training is ignored
    probabilities = model.predict_proba(new_user, items)
    assert probabilities["sex"].index.tolist() == [999_999]
    assert np.isclose(probabilities["age"].sum(axis=1).iloc[0], 1)


def test_scores_weighted_f1_and_one_vs_rest_auc():
    truth = pd.Series(["a", "b", "c", "a"])
    perfect = pd.DataFrame(np.eye(3)[[0, 1, 2, 0]], columns=["a", "b", "c"])
    scores = audience_scores(truth, perfect)
    assert scores["weighted_f1"] == 1 and scores["roc_auc"] == 1 and scores["f1_b"] == 1


def test_unknown_model_kind_is_refused():
    with pytest.raises(ValueError, match="unknown audience model"):
        build_audience_model({"kind": "xgboost"})


@pytest.mark.parametrize("library", ["catboost", "lightgbm"])
def test_a_user_served_alone_gets_the_prediction_it_gets_among_all_users(history, library):
    """No training/serving skew: the service sends one user's views; recency and every other history
    feature must come out as they do when that user is scored with everyone else."""
    views, items, targets = history
    model = build_audience_model({"kind": "boosting", "library": library, "svd_components": 8,
                                  "options": {"iterations": 30} if library == "catboost" else {"n_estimators": 30}})
    model.fit(views, items, targets)
    together = model.predict_proba(views, items)
    for user in targets["user_id"].head(5):
        alone = model.predict_proba(views[views["user_id"] == user], items)
        for target, probabilities in alone.items():
            pd.testing.assert_frame_equal(probabilities, together[target].loc[[user]])


def test_views_dated_centuries_away_are_scored_not_overflowed(history):
    """The service accepts any ISO date; recency to the training end must not overflow a timedelta."""
    views, items, targets = history
    model = build_audience_model({"kind": "boosting", "library": "lightgbm", "svd_components": 8,
                                  "options": {"n_estimators": 10}}).fit(views, items, targets)
    odd = views.head(3).assign(user_id=7, timestamp=pd.to_datetime(["0039-03-25", "2024-01-01", "3381-10-17"],
                                                                   format="ISO8601").as_unit("us"))
    probabilities = model.predict_proba(odd, items)
    assert probabilities["sex"].index.tolist() == [7]
