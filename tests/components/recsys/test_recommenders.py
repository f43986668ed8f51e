import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from socialml.components.recsys.recommenders import (
    EASERecommender,
    Interactions,
    build_recommender,
    cross_fitted_scores,
    rank_of,
    top_k,
)


def block_interactions(seed: int = 0) -> tuple[Interactions, np.ndarray]:
    """Two user groups, each holding most of its own ten items; one held item per user set aside."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for user in range(60):
        own = np.arange(10) + (10 if user % 2 else 0)
        for item in own[rng.random(10) < 0.6]:
            users.append(user)
            items.append(item)
    pairs = pd.DataFrame({"user_id": users, "item_id": items})
    held_out = pairs.sample(frac=1.0, random_state=seed).groupby("user_id").head(1)
    train = pairs.drop(held_out.index)
    data = Interactions.from_pairs(train["user_id"], train["item_id"], pd.Index(range(60)), pd.Index(range(20)))
    return data, held_out.set_index("user_id")["item_id"].reindex(range(60)).to_numpy()


def test_top_k_breaks_ties_by_lower_index_excludes_and_pads():
    scores = np.array([[1.0, 3.0, 3.0, 0.0], [5.0, 5.0, 5.0, 5.0]])
    exclude = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 1, 1, 0]]))
    assert top_k(scores, 3).tolist() == [[1, 2, 0], [0, 1, 2]]
    assert top_k(scores, 3, exclude).tolist() == [[2, 0, 3], [3, -1, -1]]


def test_rank_counts_higher_scores_and_equal_scores_at_lower_indices():
    scores = np.array([[0.5, 0.9, 0.5, 0.5]])
    assert rank_of(scores, np.array([2])).tolist() == [3]  # behind 0.9 and the tie at index 0
    assert rank_of(scores, np.array([2]), sp.csr_matrix(np.array([[0, 1, 0, 0]]))).tolist() == [2]


@pytest.mark.parametrize("spec", [
    {"kind": "item_knn", "neighbours": 10},
    {"kind": "ease", "l2": 10.0},
    {"kind": "als", "factors": 4, "iterations": 10},
    {"kind": "lightfm", "components": 8, "epochs": 20, "use_features": False},
    {"kind": "ncf", "factors": 4, "hidden": [8], "epochs": 30, "learning_rate": 0.01, "batch_size": 64},
])
def test_collaborative_models_find_the_planted_groups(spec):
    data, held_out = block_interactions()
    scores = build_recommender(spec).fit(data).score(np.arange(60))
    own = scores[np.arange(60), held_out]
    other_group = np.where(np.arange(60)[:, None] % 2 == 1, scores[:, :10], scores[:, 10:]).max(axis=1)
    # by chance the held-out item would beat all ten items of the other group for 1 user in 11
    assert np.mean(own > other_group) > 0.7


def test_popularity_ignores_the_user():
    data, _ = block_interactions()
    scores = build_recommender({"kind": "popularity"}).fit(data).score(np.array([0, 1]))
    assert (scores[0] == scores[1]).all()


def test_ease_inverts_only_the_interacted_items_with_steck_s_closed_form():
    data, _ = block_interactions()
    # Ten more items nobody touched: they must score zero and leave the others' weights as they were.
    wider = Interactions(sp.hstack([data.matrix, sp.csr_matrix((60, 10), dtype=np.float32)], format="csr"),
                         data.user_ids, pd.Index(range(30)))
    model = build_recommender({"kind": "ease", "l2": 5.0}).fit(wider)
    gram = (data.matrix.T @ data.matrix).toarray().astype(np.float64) + 5.0 * np.eye(20)
    precision = np.linalg.inv(gram)
    weights = -precision / np.diag(precision)
    np.fill_diagonal(weights, 0)
    scores = model.score(np.arange(60))
    assert scores.shape == (60, 30) and not scores[:, 20:].any()
    np.testing.assert_allclose(scores[:, :20], data.matrix.toarray() @ weights, atol=1e-5)
    # A model pickled before the change (weights of every item, no interacted_) still scores the same.
    old = EASERecommender.__new__(EASERecommender)
    old.__setstate__({"l2": 5.0, "weights_": np.pad(weights, (0, 10)).astype(np.float32), "matrix_": wider.matrix})
    np.testing.assert_allclose(old.score(np.arange(60)), scores, atol=1e-5)
    nobody = Interactions(sp.csr_matrix((3, 4), dtype=np.float32), pd.Index(range(3)), pd.Index(range(4)))
    assert not build_recommender({"kind": "ease"}).fit(nobody).score(np.arange(3)).any()


def test_models_trained_in_epochs_record_each_epoch():
    data, held_out = block_interactions()
    model = build_recommender({"kind": "ncf", "factors": 4, "hidden": [8], "epochs": 3})
    model.fit(data, evaluate=lambda m: float(np.mean(rank_of(m.score(np.arange(60)), held_out, data.matrix) <= 5)))
    assert [entry["epoch"] for entry in model.history_] == [1, 2, 3]


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="unknown recommender kind 'svd'.*ease"):
        build_recommender({"kind": "svd"})


def test_cross_fitting_never_learns_a_scored_users_hidden_item_as_a_negative():
    # Every user holds items 0 and 1; item 1 is hidden from every user's visible row.
    n = 40
    features = pd.DataFrame({"x": np.random.default_rng(0).normal(size=n)})
    complete = Interactions.from_pairs(pd.Series(np.repeat(np.arange(n), 2)), pd.Series(np.tile([0, 1], n)),
                                       pd.Index(range(n)), pd.Index([0, 1, 2]), user_features=features)
    visible = Interactions.from_pairs(pd.Series(np.arange(n)), pd.Series(np.zeros(n, dtype=int)),
                                      pd.Index(range(n)), pd.Index([0, 1, 2]), user_features=features)
    spec = {"kind": "per_item_boosting", "iterations": 20, "depth": 2}
    leaky = build_recommender(spec).fit(visible).score(np.arange(n))
    fair = cross_fitted_scores(spec, visible, folds=2, train_data=complete)
    assert (leaky[:, 1] < 0.5).all()  # trained on the visible rows, the hidden item looks unheld by everyone
    assert (fair[:, 1] > 0.5).all()


def test_recommender_options_are_checked_and_converted_to_their_types():
    with pytest.raises(ValueError, match=r"recommender 'als' has no option 'factor'; its options are \[.*'factors'"):
        build_recommender({"kind": "als", "factor": 8})
    with pytest.raises(ValueError, match=r"recommender 'ease': option 'l2' must be float, got 'strong'"):
        build_recommender({"kind": "ease", "l2": "strong"})
    assert build_recommender({"kind": "ncf", "hidden": [8, 4]}).hidden == (8, 4)  # YAML lists become tuples
