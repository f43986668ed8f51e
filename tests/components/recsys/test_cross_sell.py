import numpy as np
import pandas as pd
import pytest

from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform
from socialml.components.evaluation.metrics import hidden_item_scores
from socialml.components.evaluation.protocols import hide_one_product
from socialml.components.recsys.cross_sell import CrossSellModel, evaluate, interactions


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
