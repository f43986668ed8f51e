import pickle

import numpy as np
import pandas as pd
import pytest

from socialml.components.audience.models import age_buckets, build_audience_model, history_features, numbered_order
from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform
from socialml.components.data.features import viewer_history
from socialml.components.evaluation.metrics import audience_scores
from socialml.pipelines.audience.nodes import (
    compare_audience_models,
    cross_validate_audience,
    fit_audience_model,
    prepare_audience_targets,
)

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


def cross_validated(views, items, targets, spec, params):
    """The pipeline's cross-validation, reading the viewer-history table the enrichment pipeline builds."""
    return cross_validate_audience(views, items, viewer_history(views, items), targets, spec, params)


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
    {"kind": "stacked", "folds": 3, "options": {"iterations": 60}},
])
def test_models_beat_the_majority_on_the_planted_audience_signal(history, spec):
    views, items, targets = history
    _, majority = cross_validated(views, items, targets, {"kind": "majority"}, PARAMS)
    predictions, scores = cross_validated(views, items, targets, spec, PARAMS)
    assert len(predictions) == len(targets) and predictions["user_id"].is_unique
    assert scores["sex"]["roc_auc"] > majority["sex"]["roc_auc"] + 0.1
    assert scores["age"]["roc_auc"] > 0.55


@pytest.fixture(scope="module")
def partly_labelled(history):
    """The same users, 40 % of them without an age and another 20 % without a sex (none without both)."""
    views, items, targets = history
    draw = np.random.default_rng(1).random(len(targets))
    return views, items, targets.assign(age=targets["age"].where(draw >= 0.4),
                                        sex=targets["sex"].where((draw < 0.4) | (draw >= 0.6)))


@pytest.mark.parametrize("spec", [
    {"kind": "majority"},
    {"kind": "boosting", "library": "catboost", "svd_components": 8, "options": {"iterations": 60}},
    {"kind": "boosting", "library": "lightgbm", "svd_components": 8, "options": {"n_estimators": 60}},
    {"kind": "item_bag", "age_model": "ordinal", "age_labels": PARAMS["age_labels"]},
    {"kind": "deepsets", "epochs": 40, "patience": 5},
    {"kind": "stacked", "folds": 3, "options": {"iterations": 60}},
])
def test_each_target_learns_from_and_is_scored_on_the_users_that_have_it(partly_labelled, spec):
    views, items, targets = partly_labelled
    predictions, scores = cross_validated(views, items, targets, spec, PARAMS)
    assert len(predictions) == len(targets)  # users without an age still get an age prediction
    assert np.isfinite(predictions.filter(like="p_").to_numpy()).all()
    assert scores["sex"]["users"] == targets["sex"].notna().sum() < len(targets)
    assert scores["age"]["users"] == targets["age"].notna().sum() < len(targets)
    if spec["kind"] != "majority":
        assert scores["sex"]["roc_auc"] > 0.6 and scores["age"]["roc_auc"] > 0.5
    table, _ = compare_audience_models(targets, {**PARAMS, "bootstrap_runs": 20}, model=predictions)
    assert table.set_index("target")["users"].to_dict() == {t: scores[t]["users"] for t in ("sex", "age")}


@pytest.mark.parametrize("spec", [
    {"kind": "majority"},
    {"kind": "boosting", "library": "lightgbm", "svd_components": 8, "options": {"n_estimators": 20}},
    {"kind": "item_bag"},
    {"kind": "deepsets", "epochs": 2},
    {"kind": "stacked", "folds": 2, "options": {"iterations": 20}},
])
def test_a_target_whose_few_training_users_share_one_class_is_that_class_and_none_stops(history, spec):
    # A fold's training users may hold a rare target's one value only (20 users with an age, all 25-34).
    views, items, targets = history
    sparse_age = targets.assign(age=np.where(np.arange(len(targets)) < 20, "25-34", None))
    probabilities = build_audience_model(spec).fit(views, items, sparse_age).predict_proba(views, items)
    assert list(probabilities["age"].columns) == ["25-34"] and (probabilities["age"]["25-34"] == 1).all()
    assert probabilities["sex"].shape[1] == 2
    with pytest.raises(ValueError, match="no value of age among the .* training users"):
        build_audience_model(spec).fit(views, items, targets.assign(age=None))


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



@pytest.mark.parametrize("kind", ["boosting", "stacked"])
def test_a_model_trained_on_the_history_table_serves_the_features_it_learnt_from(history, kind):
    """One definition, one clock: a model learns from the enrichment table's rows, keeps the table's time
    (here a week after the last view), and the features it computes from one user's views at serving time
    equal that user's row, recency included."""
    views, items, targets = history
    table = viewer_history(views, items, as_of=views["timestamp"].max() + pd.Timedelta(days=7))
    spec = ({"kind": "boosting", "svd_components": 8, "options": {"iterations": 20}} if kind == "boosting"
            else {"kind": "stacked", "folds": 2, "options": {"iterations": 20}})
    model = build_audience_model(spec, age_labels=PARAMS["age_labels"]).fit(views, items, targets, table)
    assert model.as_of == table["as_of"].iloc[0]
    rows = table.drop(columns="as_of").set_index("user_id")
    for user in targets["user_id"].head(5):
        alone = views[views["user_id"] == user]
        served = history_features(alone, items, model.as_of)
        pd.testing.assert_frame_equal(served, rows.loc[[user], served.columns], check_dtype=False)
        assert served.loc[user, "days_since_last_view"] >= 7
        if kind == "boosting":  # the whole input row, item factors included
            pd.testing.assert_frame_equal(model.features(alone, items), model.features(views, items, table).loc[[user]])


def test_a_stale_or_partial_history_table_stops_the_fit_naming_it(history):
    views, items, targets = history
    table = viewer_history(views, items)
    model = build_audience_model({"kind": "boosting", "svd_components": 8, "options": {"iterations": 5}})
    newer = pd.concat([views, views.head(1).assign(timestamp=table["as_of"].iloc[0] + pd.Timedelta(hours=1))])
    with pytest.raises(ValueError, match="feat_viewer_history is as of .* run the feature_enrichment"):
        model.fit(newer, items, targets, table)
    lost = table["user_id"].iloc[0]
    with pytest.raises(ValueError, match=f"feat_viewer_history has no row for 1 users .*{lost}"):
        model.fit(views, items, targets, table[table["user_id"] != lost])


def test_views_dated_centuries_away_are_scored_not_overflowed(history):
    """The service accepts any ISO date; recency to the training end must not overflow a timedelta."""
    views, items, targets = history
    model = build_audience_model({"kind": "boosting", "library": "lightgbm", "svd_components": 8,
                                  "options": {"n_estimators": 10}}).fit(views, items, targets)
    odd = views.head(3).assign(user_id=7, timestamp=pd.to_datetime(["0039-03-25", "2024-01-01", "3381-10-17"],
                                                                   format="ISO8601").as_unit("us"))
    probabilities = model.predict_proba(odd, items)
    assert probabilities["sex"].index.tolist() == [7]


def _rated_history(n_users: int = 200, n_items: int = 40, seed: int = 0):
    """Everyone watches the same items; only how they rate them tells the sexes apart."""
    rng = np.random.default_rng(seed)
    sex = np.where(np.arange(n_users) % 2, "male", "female")
    likes_first_half = np.where(sex == "female", 0.8, 0.2)
    rows = [(u, i, 5.0 if (i < n_items // 2) == (rng.random() < likes_first_half[u]) else 1.0)
            for u in range(n_users) for i in rng.choice(n_items, 15, replace=False)]
    views = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).assign(
        timestamp=pd.Timestamp("2024-01-01"), watch_seconds=np.nan)
    items = pd.DataFrame({"item_id": range(n_items), "categories": [["film"]] * n_items})
    targets = pd.DataFrame({"user_id": range(n_users), "sex": sex, "age": np.where(np.arange(n_users) // 2 % 2, "18-24", "25-34")})
    return views, items, targets.assign(fold=np.arange(n_users) % 3)


def test_an_item_bag_weighted_by_rating_reads_what_a_plain_bag_cannot():
    views, items, targets = _rated_history()
    _, by_views = cross_validated(views, items, targets, {"kind": "item_bag", "weight": "views"}, PARAMS)
    _, by_rating = cross_validated(views, items, targets, {"kind": "item_bag", "weight": "rating"}, PARAMS)
    assert by_rating["sex"]["roc_auc"] > 0.8 and by_views["sex"]["roc_auc"] < 0.7
    with pytest.raises(ValueError, match="weight: rating needs views with a rating"):
        build_audience_model({"kind": "item_bag", "weight": "rating"}).fit(views.assign(rating=np.nan), items, targets)
    with pytest.raises(ValueError, match="option 'weight'"):
        build_audience_model({"kind": "item_bag", "weight": "stars"})


def _aging_history(seed: int = 0):
    """Tastes drift with age: a user of bucket k watches items of buckets k-2 to k+2; the end buckets are
    rare (6 users each), as the youngest and oldest are on real platforms."""
    rng = np.random.default_rng(seed)
    labels = PARAMS["age_labels"]
    sizes = [6, 60, 60, 60, 60, 60, 6]
    bucket = np.repeat(np.arange(len(labels)), sizes)
    rows = [(u, int(np.clip(b + rng.integers(-2, 3), 0, len(labels) - 1)) * 10 + int(rng.integers(10)))
            for u, b in enumerate(bucket) for _ in range(6)]
    views = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(
        timestamp=pd.Timestamp("2024-01-01"), watch_seconds=np.nan, rating=np.nan)
    items = pd.DataFrame({"item_id": range(10 * len(labels)), "categories": [["film"]] * (10 * len(labels))})
    targets = pd.DataFrame({"user_id": range(len(bucket)), "sex": np.where(np.arange(len(bucket)) % 2, "male", "female"),
                            "age": np.array(labels, dtype=object)[bucket]})
    return views, items, targets.assign(fold=np.arange(len(bucket)) % 3)


def test_ordered_age_buckets_borrow_evidence_from_their_neighbours():
    views, items, targets = _aging_history()
    ordinal = {"kind": "item_bag", "age_model": "ordinal"}
    _, multinomial = cross_validated(views, items, targets, {"kind": "item_bag"}, PARAMS)
    predictions, ordered = cross_validated(views, items, targets, ordinal, PARAMS)
    assert ordered["age"]["roc_auc"] > multinomial["age"]["roc_auc"] + 0.015  # +0.025 to +0.063 over 4 seeds
    probabilities = predictions[[f"p_age_{label}" for label in PARAMS["age_labels"]]].to_numpy()
    assert (probabilities >= 0).all() and np.allclose(probabilities.sum(axis=1), 1)
    # Stacked over the ordered buckets: the bases get the order from the pipeline, as the model does.
    stacked = {"kind": "stacked", "folds": 3, "bases": [ordinal], "options": {"iterations": 30}}
    assert cross_validated(views, items, targets, stacked, PARAMS)[1]["age"]["roc_auc"] > 0.7


def test_ordered_age_buckets_need_their_order_and_take_missing_buckets():
    views, items, targets = _aging_history()
    with pytest.raises(ValueError, match="needs age_labels"):
        build_audience_model({"kind": "item_bag", "age_model": "ordinal"})
    model = build_audience_model({"kind": "item_bag", "age_model": "ordinal"}, age_labels=PARAMS["age_labels"])
    with pytest.raises(ValueError, match=r"classes \['60\+'\] are not in the configured order"):
        model.fit(views, items, targets.assign(age=targets["age"].replace({"56+": "60+"})))
    without_youngest = targets[targets["age"] != "<18"]
    age = model.fit(views[views["user_id"].isin(without_youngest["user_id"])], items, without_youngest).predict_proba(
        views, items)["age"]
    assert list(age.columns) == PARAMS["age_labels"][1:] and np.allclose(age.sum(axis=1), 1)
    one_bucket = targets.assign(age="25-34")
    alone = model.fit(views, items, one_bucket).predict_proba(views, items)["age"]
    assert list(alone.columns) == ["25-34"] and (alone["25-34"] == 1).all()


def test_the_comparison_gives_each_model_an_interval_and_a_paired_gain_over_the_baseline():
    views, items, targets = _rated_history()
    params = {**PARAMS, "baseline": "by_views", "bootstrap_runs": 50}
    predictions = {name: cross_validated(views, items, targets, {"kind": "item_bag", "weight": weight}, params)[0]
                   for name, weight in [("by_views", "views"), ("by_rating", "rating")]}
    table, metrics = compare_audience_models(targets, params, **predictions)
    row = table[(table["model"] == "by_rating") & (table["target"] == "sex")].iloc[0]
    assert row["roc_auc_low"] < row["roc_auc"] < row["roc_auc_high"]
    assert 0 < row["gain_low"] < row["gain_vs_by_views"] < row["gain_high"]  # better, and the interval says so
    baseline = table[(table["model"] == "by_views") & (table["target"] == "sex")].iloc[0]
    assert baseline["gain_vs_by_views"] == baseline["gain_low"] == baseline["gain_high"] == 0
    assert "audience/by_rating/sex/gain_low" in metrics
    with pytest.raises(ValueError, match="baseline .catboost. is not among"):
        compare_audience_models(targets, {**params, "baseline": "catboost"}, **predictions)


def test_deepsets_scores_do_not_depend_on_how_far_a_set_is_padded():
    """The per-element network runs on the real views only; padding (and an empty set) must not move a score."""
    import torch

    from socialml.components.audience.deepsets import DeepSets

    torch.manual_seed(0)
    network = DeepSets(50, {"sex": 2, "age": 7}, embedding_dim=8, time_dim=4, hidden=16, dropout=0.2).eval()
    lengths = torch.tensor([0, 1, 5, 12])
    mask = torch.arange(12)[None, :] < lengths[:, None]
    mask[3, 4] = False  # an unknown item inside a set: a hole, not its end
    item, times = torch.randint(1, 51, (4, 12)) * mask, torch.rand(4, 12, 2) * mask.unsqueeze(-1)
    padded = [torch.cat([x, torch.zeros(4, 30, *x.shape[2:], dtype=x.dtype)], dim=1) for x in (item, times, mask)]
    with torch.inference_mode():
        short, long = network(item, times, mask), network(*padded)
        # A batch of empty sets alone scores as the empty set does beside longer ones.
        empty = network(*(x[:1] for x in padded))
    # Equal up to float rounding: how a batch is laid out changes the order of sums on some CPUs (logits
    # near 150 differed by 2e-4 on one machine); a padded view that counted would move them by whole units.
    for target in ("sex", "age"):
        assert torch.isfinite(short[target]).all()
        torch.testing.assert_close(short[target], long[target], rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(empty[target], short[target][:1], rtol=1e-5, atol=1e-4)
    # The empty set pools to zeros (no evidence), not to the masked slots' fill: its scores are the heads'
    # over rho of nothing, of the order of any other set's.
    with torch.inference_mode():
        nothing = network.rho(torch.zeros(1, 2 * 16 + 1))
        for target, head in network.heads.items():
            torch.testing.assert_close(short[target][:1], head(nothing))
            assert short[target][0].abs().max() < 10


def test_the_served_model_answers_age_buckets_in_age_order_and_one_pickled_before_that_still_answers(history):
    views, items, targets = history
    fitted = fit_audience_model(views, items, viewer_history(views, items), targets, {"kind": "item_bag"}, PARAMS)
    user = targets["user_id"].iloc[0]
    frame = fitted.predict_frame(views[views["user_id"] == user].drop(columns="rating"))
    age_columns = [c.removeprefix("age/") for c in frame.columns if c.startswith("age/")]
    assert age_columns == [a for a in PARAMS["age_labels"] if a in age_columns] and age_columns[0] == "<18"
    assert frame["user_id"].tolist() == [user] and frame.filter(like="age/").sum(axis=1).round(6).tolist() == [1.0]
    del fitted.__dict__["age_labels"]  # as unpickled from a run before the order was kept
    older = pickle.loads(pickle.dumps(fitted)).predict_frame(views[views["user_id"] == user])
    assert older.columns.tolist() == frame.columns.tolist()  # in age order all the same


def test_buckets_without_their_labels_fall_in_the_order_of_their_first_number():
    assert numbered_order(["56+", "18-24", "<18", "25-34", "unknown", "45-49", "50-55", "35-44"]) == [
        "<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+", "unknown"]
    assert numbered_order(["100+", "9-17", "<9"]) == ["<9", "9-17", "100+"]  # numbers, not text
    assert numbered_order([]) == []
