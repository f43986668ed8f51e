import numpy as np
import pandas as pd
import pytest

from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform
from socialml.components.data.features import client_features
from socialml.components.evaluation.metrics import hidden_item_scores
from socialml.components.evaluation.protocols import hide_one_product
from socialml.components.recsys.cross_sell import (HOLDINGS_DERIVED, CrossSellModel, evaluate, interactions,
                                                   select_epochs)
from socialml.components.recsys.recommenders import build_recommender
from socialml.pipelines.cross_sell.nodes import cross_sell_intervals


@pytest.fixture(scope="module")
def bank():
    platform = generate_demo_platform(DemoPlatformConfig(n_clients=600))
    holdings = platform["client_products"].rename(columns={"product": "product_id", "opened_at": "since"})
    return platform["clients"], holdings


def test_one_product_is_hidden_per_eligible_client_and_nothing_is_lost(bank):
    _, holdings = bank
    visible, hidden = hide_one_product(holdings, min_products=2, seed=0)
    assert hidden["client_id"].is_unique
    per_client = holdings.groupby("client_id").size()
    assert set(hidden["client_id"]) == set(per_client[per_client >= 2].index)
    together = pd.concat([visible, hidden])[["client_id", "product_id"]].drop_duplicates()
    assert len(together) == len(holdings[["client_id", "product_id"]].drop_duplicates())
    assert visible.merge(hidden, on=["client_id", "product_id"]).empty


def test_auc_is_one_for_the_hidden_product_on_top_and_zero_at_the_bottom(bank):
    clients, holdings = bank
    visible, hidden = hide_one_product(holdings, 2, 0)
    data = interactions(clients, visible, pd.Index(np.unique(holdings["product_id"])))
    perfect = np.zeros(data.matrix.shape)
    rows, cols = data.user_ids.get_indexer(hidden["client_id"]), data.item_ids.get_indexer(hidden["product_id"])
    perfect[rows, cols] = 1
    assert hidden_item_scores(perfect, data.matrix, data.user_ids, data.item_ids, hidden, [1]) == pytest.approx(
        {"auc_per_client": 1.0, "clients_scored": len(hidden), "hit_rate_at_1": 1.0})
    assert hidden_item_scores(-perfect, data.matrix, data.user_ids, data.item_ids, hidden, [1])["auc_per_client"] == 0.0


def test_models_beat_chance_and_record_auc_by_epoch(bank):
    clients, holdings = bank
    visible, hidden = hide_one_product(holdings, 2, 0)
    products = pd.Index(np.unique(holdings["product_id"]))
    _, popular, _ = evaluate({"kind": "popularity"}, clients, visible, hidden, products, [3])
    _, boosted, _ = evaluate({"kind": "per_item_boosting", "iterations": 50, "cross_fit_folds": 3}, clients, visible,
                             hidden, products, [3])
    _, ncf, curve = evaluate({"kind": "ncf", "factors": 4, "hidden": [8], "epochs": 4}, clients, visible, hidden,
                             products, [3])
    assert popular["auc_per_client"] > 0.7 and boosted["auc_per_client"] > 0.7 and ncf["auc_per_client"] > 0.6
    assert [entry["epoch"] for entry in curve] == [1, 2, 3, 4]


@pytest.mark.parametrize("spec", [{"kind": "ncf", "factors": 4, "hidden": [8], "epochs": 5},
                                  {"kind": "lightfm", "components": 8, "epochs": 5}])
def test_an_epoch_models_scores_are_those_of_the_model_trained_for_the_picked_epochs(bank, spec):
    """Evaluation keeps the curve model's scores after the epoch ``select_epochs`` picks, instead of training
    again: they must equal a model trained for exactly that many epochs."""
    clients, holdings = bank
    visible, hidden = hide_one_product(holdings, 2, 0)
    products = pd.Index(np.unique(holdings["product_id"]))
    scores, _, curve = evaluate(spec, clients, visible, hidden, products, [3])
    picked = select_epochs(spec, clients, visible, products, 2, 0)
    assert len(curve) == 5 and 1 <= picked["epochs"] <= 5
    assert [entry["epoch"] for entry in curve if entry["kept"]] == [picked["epochs"]]
    data = interactions(clients, visible, products)
    refitted = build_recommender(picked).fit(data).score(np.arange(len(data.user_ids)))
    np.testing.assert_array_equal(scores.to_numpy(), refitted)


def test_recommendations_skip_held_products_and_unknown_clients_get_the_most_held(bank):
    clients, holdings = bank
    model = CrossSellModel.fit({"kind": "ncf", "factors": 4, "hidden": [8], "epochs": 2}, clients, holdings)
    client = clients["client_id"].iloc[0]
    ranked = model.recommend([client, -1], k=3)
    mine = ranked[ranked["client_id"] == client]
    assert mine["rank"].tolist() == [1, 2, 3] and mine["score"].is_monotonic_decreasing
    held = set(holdings.loc[holdings["client_id"] == client, "product_id"])
    assert not held & set(mine["product_id"])
    most_held = holdings.groupby("product_id")["client_id"].nunique().sort_values(ascending=False, kind="stable")
    assert ranked.loc[ranked["client_id"] == -1, "product_id"].tolist() == most_held.index[:3].tolist()



def test_the_served_model_reads_the_enrichment_table_and_refuses_a_stale_one(bank):
    clients, holdings = bank
    spec = {"kind": "per_item_boosting", "iterations": 5, "depth": 2}
    model = CrossSellModel.fit(spec, clients, holdings, client_features(clients, holdings))
    pd.testing.assert_frame_equal(model.data.user_features, interactions(clients, holdings).user_features)
    distinct = holdings.drop_duplicates(["client_id", "product_id"])
    before_the_last_product = client_features(clients, distinct.iloc[1:])  # one holding the table never saw
    with pytest.raises(ValueError, match="feat_client_features does not describe .* run the feature_enrichment"):
        CrossSellModel.fit(spec, clients, holdings, before_the_last_product)
    with pytest.raises(ValueError, match="feat_client_features does not describe"):
        CrossSellModel.fit(spec, clients.iloc[1:], holdings[holdings["client_id"] != clients["client_id"].iloc[0]],
                           client_features(clients, holdings))


def test_per_product_classifiers_never_read_features_derived_from_the_holdings(bank):
    """The product count (and recency) carry the label of a classifier trained where the client holds the
    product: fitted with them declared derived, the scores equal those of a model that never had them."""
    clients, holdings = bank
    data = interactions(clients, holdings)
    assert set(HOLDINGS_DERIVED) <= set(data.user_features.columns)
    without = type(data)(data.matrix, data.user_ids, data.item_ids, data.user_features.drop(columns=list(HOLDINGS_DERIVED)))
    spec = {"kind": "per_item_boosting", "iterations": 20, "depth": 2}
    rows = np.arange(50)
    assert np.allclose(build_recommender(spec).fit(data).score(rows), build_recommender(spec).fit(without).score(rows))


def test_a_chained_second_stage_scores_and_refuses_a_single_fold(bank):
    clients, holdings = bank
    visible, hidden = hide_one_product(holdings, 2, 0)
    products = pd.Index(np.unique(holdings["product_id"]))
    scores, chained, _ = evaluate({"kind": "per_item_boosting", "iterations": 30, "chain_folds": 2, "cross_fit_folds": 2},
                                  clients, visible, hidden, products, [3])
    assert chained["auc_per_client"] > 0.7 and scores.to_numpy().min() >= 0 and scores.to_numpy().max() <= 1
    with pytest.raises(ValueError, match="chain_folds must be 0"):
        build_recommender({"kind": "per_item_boosting", "chain_folds": 1})


def test_intervals_pair_each_model_with_the_baseline_on_the_same_clients(bank):
    clients, holdings = bank
    visible, hidden = hide_one_product(holdings, 2, 0)
    products = pd.Index(np.unique(holdings["product_id"]))
    popular, _, _ = evaluate({"kind": "popularity"}, clients, visible, hidden, products, [3])
    values = popular.to_numpy(copy=True)
    values[popular.index.get_indexer(hidden["client_id"]), products.get_indexer(hidden["product_id"])] = 1e9
    oracle = pd.DataFrame(values, index=popular.index, columns=popular.columns)

    def long(frame):
        return frame.rename_axis(index="client_id", columns="product_id").stack().rename("score").reset_index()
    settings = {"k": [3], "baseline": "popularity", "bootstrap_runs": 50}
    out = cross_sell_intervals(visible, hidden, settings, popularity=long(popular), oracle=long(oracle))
    assert out["oracle"]["auc_per_client_low"] == out["oracle"]["auc_per_client_high"] == 1.0
    assert 0 < out["oracle"]["gain_low"] <= out["oracle"]["gain_vs_popularity"] <= out["oracle"]["gain_high"]
    assert out["popularity"]["gain_low"] == out["popularity"]["gain_high"] == 0
    assert out["popularity"]["hit_rate_at_3_low"] < out["popularity"]["hit_rate_at_3_high"]
    with pytest.raises(ValueError, match="baseline 'ncf' is not among"):
        cross_sell_intervals(visible, hidden, {**settings, "baseline": "ncf"}, popularity=long(popular))
