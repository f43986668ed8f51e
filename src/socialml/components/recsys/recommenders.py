"""Collaborative and hybrid recommenders behind one small interface, as RecTools exposes them.

Every model is fitted on an :class:`Interactions` matrix (users × items, ids kept beside it)
and scores whole rows: ``score(user_rows) -> (len(user_rows), n_items)``. Top-k selection,
exclusion of seen items and the tie rule live in :func:`top_k`, so all models rank the same way.
Models are chosen by ``kind`` in parameters through :func:`build_recommender`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from socialml.components.core.devices import torch_device
from socialml.components.core.errors import SettingsError
from socialml.components.core.parts import Parts
from socialml.components.core.progress import progress


@dataclass
class Interactions:
    """A binary users × items matrix with the ids of its rows and columns."""

    matrix: sp.csr_matrix
    user_ids: pd.Index
    item_ids: pd.Index
    user_features: pd.DataFrame | None = None  # rows aligned with user_ids, numeric
    item_features: pd.DataFrame | None = None  # rows aligned with item_ids, numeric
    # User-feature columns computed from the matrix itself (a product count, a recency): a model that takes
    # one of the matrix's items as its label must not read them, or it reads the label.
    matrix_derived: tuple[str, ...] = ()

    @classmethod
    def from_pairs(
        cls,
        users: pd.Series,
        items: pd.Series,
        user_ids: pd.Index | None = None,
        item_ids: pd.Index | None = None,
        **features: Any,
    ) -> Interactions:
        """Pairs (repeats count once) onto the given id universes (default: the ids seen); ``features``
        are the other fields (user_features, item_features, matrix_derived)."""
        user_ids = pd.Index(np.unique(users) if user_ids is None else user_ids)
        item_ids = pd.Index(np.unique(items) if item_ids is None else item_ids)
        rows, cols = user_ids.get_indexer(users), item_ids.get_indexer(items)
        known = (rows >= 0) & (cols >= 0)
        matrix = sp.csr_matrix(
            (np.ones(int(known.sum()), dtype=np.float32), (rows[known], cols[known])),
            shape=(len(user_ids), len(item_ids)),
        )
        matrix.data[:] = 1.0  # duplicates were summed
        return cls(matrix, user_ids, item_ids, **features)


class Recommender(Protocol):
    def fit(self, data: Interactions) -> Recommender: ...

    def score(self, user_rows: np.ndarray) -> np.ndarray: ...


def top_k(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """Column indices of the k best scores per row; ties go to the lower column index.

    ``exclude`` (same shape, non-zero = excluded) removes seen items. Rows with fewer than k
    candidates are padded with -1.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(scores, order, axis=1)
    return np.where(np.isneginf(chosen), -1, order)


def rank_of(scores: np.ndarray, targets: np.ndarray, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    """1-based rank of each row's target column: 1 + higher scores + equal scores at lower index."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    target_scores = scores[np.arange(len(targets)), targets][:, None]
    columns = np.arange(scores.shape[1])[None, :]
    ahead = (scores > target_scores) | ((scores == target_scores) & (columns < targets[:, None]))
    return 1 + ahead.sum(axis=1)


@dataclass
class PopularityRecommender:
    """Items by how many users hold them: the baseline every model must beat."""

    item_counts_: np.ndarray | None = None

    def fit(self, data: Interactions) -> PopularityRecommender:
        self.item_counts_ = np.asarray(data.matrix.sum(axis=0)).ravel()
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.tile(self.item_counts_, (len(user_rows), 1)).astype(np.float32)


@dataclass
class ItemKNNRecommender:
    """Cosine item-item similarity, keeping each item's ``neighbours`` nearest."""

    neighbours: int = 100
    similarity_: sp.csr_matrix | None = None
    matrix_: sp.csr_matrix | None = None

    def fit(self, data: Interactions) -> ItemKNNRecommender:
        x = data.matrix.tocsc().astype(np.float32)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        norms[norms == 0] = 1
        normalised = x @ sp.diags(1 / norms)
        similarity = (normalised.T @ normalised).toarray()
        np.fill_diagonal(similarity, 0)
        if self.neighbours < similarity.shape[0]:
            cut = np.argpartition(-similarity, self.neighbours, axis=0)[self.neighbours :]
            np.put_along_axis(similarity, cut, 0, axis=0)
        self.similarity_ = sp.csr_matrix(similarity)
        self.matrix_ = data.matrix
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.matrix_[user_rows] @ self.similarity_).todense())


@dataclass
class EASERecommender:
    """Embarrassingly Shallow Autoencoder (Steck 2019): closed-form item-item weights.

    Only items with an interaction enter the inverse: an item without any has a zero row and column in the
    Gram matrix, so its weights are exactly zero and the inverse splits into the interacted items' block and
    a diagonal (a sample of a feed touches a fraction of its posts; the inverse costs the cube of the items).
    """

    l2: float = 100.0
    weights_: np.ndarray | None = None  # interacted × interacted items
    interacted_: np.ndarray | None = None  # their columns in the matrix
    matrix_: sp.csr_matrix | None = None

    def fit(self, data: Interactions) -> EASERecommender:
        self.interacted_ = np.flatnonzero(data.matrix.getnnz(axis=0))
        x = data.matrix[:, self.interacted_]
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        precision = _spd_inverse(gram)
        weights = -precision / np.diag(precision)
        np.fill_diagonal(weights, 0)
        self.weights_ = weights.astype(np.float32)
        self.matrix_ = data.matrix
        return self

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A model pickled before 2026-12-04 (a served one, say) holds the weights of every item.
        if "interacted_" not in state and state.get("matrix_") is not None:
            state = {**state, "interacted_": np.arange(state["matrix_"].shape[1])}
        self.__dict__.update(state)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(user_rows), self.matrix_.shape[1]), dtype=np.float32)
        scores[:, self.interacted_] = self.matrix_[user_rows][:, self.interacted_] @ self.weights_
        return scores


def _spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive-definite matrix through its Cholesky factor: half the work of
    ``np.linalg.inv``'s LU."""
    from scipy.linalg import lapack

    if not len(matrix):  # no item interacted with: LAPACK refuses an empty matrix
        return matrix.copy()
    factor, info = lapack.dpotrf(matrix, lower=False, clean=True)
    if info == 0:
        inverse, info = lapack.dpotri(factor, lower=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix is not positive definite (LAPACK info {info})")
    return np.triu(inverse) + np.triu(inverse, 1).T


@dataclass
class ALSRecommender:
    """Implicit ALS (the ``implicit`` library), confidence 1 + alpha per interaction."""

    factors: int = 32
    regularization: float = 0.01
    alpha: float = 1.0
    iterations: int = 15
    seed: int = 0
    threads: int = 1
    user_factors_: np.ndarray | None = None
    item_factors_: np.ndarray | None = None

    def fit(self, data: Interactions) -> ALSRecommender:
        from implicit.cpu.als import AlternatingLeastSquares

        # implicit runs its own threads; BLAS threads on top of them oversubscribe the cores (and it warns).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.seed, num_threads=self.threads,
            )
            model.fit(data.matrix.astype(np.float32), show_progress=False)
        self.user_factors_, self.item_factors_ = np.asarray(model.user_factors), np.asarray(model.item_factors)
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_rows] @ self.item_factors_.T


def _feature_matrix(features: pd.DataFrame | None, n: int) -> sp.csr_matrix:
    """Identity (one latent vector per id) plus standardised numeric features, as LightFM takes them."""
    identity = sp.identity(n, format="csr", dtype=np.float32)
    values = _standardised(features, n)
    return sp.hstack([identity, sp.csr_matrix(values)], format="csr") if values.shape[1] else identity


@dataclass
class LightFMRecommender:
    """LightFM (WARP by default) with user and item features where the data carries them."""

    components: int = 64
    loss: str = "warp"
    epochs: int = 30
    learning_rate: float = 0.05
    use_features: bool = True
    seed: int = 0
    threads: int = 1  # more threads make LightFM non-deterministic
    model_: Any = None
    user_matrix_: sp.csr_matrix | None = None
    item_matrix_: sp.csr_matrix | None = None
    history_: list[dict[str, float]] = field(default_factory=list)

    def fit(self, data: Interactions, evaluate=None) -> LightFMRecommender:
        """``evaluate(model) -> float``, if given, is called after every epoch (the AUC-by-epoch table)."""
        from lightfm import LightFM

        features = self.use_features
        self.user_matrix_ = _feature_matrix(data.user_features if features else None, len(data.user_ids))
        self.item_matrix_ = _feature_matrix(data.item_features if features else None, len(data.item_ids))
        self.model_ = LightFM(no_components=self.components, loss=self.loss, learning_rate=self.learning_rate,
                              random_state=self.seed)
        self.history_ = []
        for epoch in progress(range(1, self.epochs + 1), desc="lightfm", leave=False):
            self.model_.fit_partial(data.matrix.tocoo(), user_features=self.user_matrix_,
                                    item_features=self.item_matrix_, epochs=1, num_threads=self.threads)
            if evaluate is not None:
                self.history_.append({"epoch": epoch, "auc": evaluate(self)})
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        n_items = self.item_matrix_.shape[0]
        users = np.repeat(np.asarray(user_rows, dtype=np.int32), n_items)
        items = np.tile(np.arange(n_items, dtype=np.int32), len(user_rows))
        scores = self.model_.predict(users, items, user_features=self.user_matrix_, item_features=self.item_matrix_,
                                     num_threads=self.threads)
        return scores.reshape(len(user_rows), n_items)


@dataclass
class NCFRecommender:
    """Neural collaborative filtering (He et al. 2017): GMF and MLP towers fused, in torch.

    Trained with binary cross-entropy on every held pair and ``negatives`` sampled unheld items
    per pair, drawn afresh each epoch. Client features, when present, join the MLP tower.
    """

    factors: int = 16
    hidden: tuple[int, ...] = (64, 32)
    epochs: int = 20
    negatives: int = 4
    batch_size: int = 1024
    learning_rate: float = 0.003
    weight_decay: float = 1e-6
    use_features: bool = True
    seed: int = 0
    threads: int = 1
    device: str = "auto"
    network_: Any = None
    user_values_: np.ndarray | None = None
    history_: list[dict[str, float]] = field(default_factory=list)

    def fit(self, data: Interactions, evaluate=None) -> NCFRecommender:
        import torch

        from socialml.components.recsys.ncf import NCFNetwork

        torch.manual_seed(self.seed)
        torch.set_num_threads(self.threads)
        device = torch.device(torch_device(self.device))
        rng = np.random.default_rng(self.seed)
        self.user_values_ = _standardised(data.user_features if self.use_features else None, len(data.user_ids))
        n_users, n_items = data.matrix.shape
        self.network_ = NCFNetwork(n_users, n_items, self.factors, self.hidden, self.user_values_.shape[1]).to(device)
        optimiser = torch.optim.Adam(self.network_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        users_pos, items_pos = data.matrix.nonzero()
        held = data.matrix.tocsr()
        user_values = torch.as_tensor(self.user_values_, device=device)
        self.history_ = []
        for epoch in progress(range(1, self.epochs + 1), desc="ncf", leave=False):
            users, items, labels = _with_negatives(rng, users_pos, items_pos, held, self.negatives)
            order = rng.permutation(len(users))
            self.network_.train()
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                u = torch.as_tensor(users[batch], device=device)
                logits = self.network_(u, torch.as_tensor(items[batch], device=device), user_values[u])
                loss = loss_fn(logits, torch.as_tensor(labels[batch], device=device))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            if evaluate is not None:
                self.history_.append({"epoch": epoch, "auc": evaluate(self)})
        self.network_.to("cpu").eval()
        return self

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        import torch

        n_items = self.network_.item_gmf.num_embeddings
        device = next(self.network_.parameters()).device  # also called between epochs, on the training device
        users = torch.as_tensor(np.repeat(np.asarray(user_rows), n_items), device=device)
        items = torch.as_tensor(np.tile(np.arange(n_items), len(user_rows)), device=device)
        self.network_.eval()
        with torch.no_grad():
            logits = self.network_(users, items, torch.as_tensor(self.user_values_, device=device)[users])
        return torch.sigmoid(logits).cpu().numpy().reshape(len(user_rows), n_items)


def _standardised(features: pd.DataFrame | None, n: int) -> np.ndarray:
    if features is None or features.shape[1] == 0:
        return np.zeros((n, 0), dtype=np.float32)
    values = features.to_numpy(dtype=np.float32, na_value=np.nan)
    return np.nan_to_num((values - np.nanmean(values, axis=0)) / (np.nanstd(values, axis=0) + 1e-6)).astype(np.float32)


def _with_negatives(rng, users_pos, items_pos, held: sp.csr_matrix, negatives: int):
    """Positive pairs plus ``negatives`` random unheld items per pair (resampled where held)."""
    n_items = held.shape[1]
    users_neg = np.repeat(users_pos, negatives)
    items_neg = rng.integers(0, n_items, len(users_neg))
    for _ in range(3):  # resampling hits held items rarely; three rounds leave almost none
        clash = np.asarray(held[users_neg, items_neg]).ravel() > 0
        if not clash.any():
            break
        items_neg[clash] = rng.integers(0, n_items, int(clash.sum()))
    keep = np.asarray(held[users_neg, items_neg]).ravel() == 0
    users = np.concatenate([users_pos, users_neg[keep]]).astype(np.int64)
    items = np.concatenate([items_pos, items_neg[keep]]).astype(np.int64)
    labels = np.concatenate([np.ones(len(users_pos)), np.zeros(int(keep.sum()))]).astype(np.float32)
    return users, items, labels


@dataclass
class PerItemBoostingRecommender:
    """One gradient-boosting classifier per item over user features and the other items held.

    Fitted on some users and applied to others (see ``cross_fitted_scores``): scoring users
    the classifiers were trained on would teach them that a hidden item is not held.

    ``chain_folds > 0`` adds a second stage: each item's classifier also reads every item's score from
    a first stage of the same classifiers (a classifier chain's view of the other labels). For the
    training users those scores come out of fold over ``chain_folds`` folds, and every first-stage score
    an item's classifier reads is computed with that item hidden, as it is when the item is what we predict.
    """

    iterations: int = 200
    depth: int = 4
    learning_rate: float = 0.1
    chain_folds: int = 0
    seed: int = 0
    threads: int = 1
    models_: list[Any] = field(default_factory=list)
    base_rates_: np.ndarray | None = None
    train_data_: Interactions | None = None
    train_values_: np.ndarray | None = None
    first_stage_: PerItemBoostingRecommender | None = None

    def __post_init__(self) -> None:
        if self.chain_folds == 1 or self.chain_folds < 0:
            raise SettingsError(f"per_item_boosting chain_folds must be 0 (no second stage) or >= 2, "
                                f"got {self.chain_folds}")

    def _values(self, data: Interactions) -> np.ndarray:
        # Standardised once per data set: serving scores one client at a time.
        return self.train_values_ if data is self.train_data_ else self._label_free_features(data)

    @staticmethod
    def _label_free_features(data: Interactions) -> np.ndarray:
        """The user features less those derived from the matrix: an item's classifier trained where a
        client holds it would read it off the product count minus the other flags, and a client whose
        item is hidden lacks that (on santander_sample, reading them cost 0.022 of AUC per client)."""
        features = data.user_features
        if features is not None:
            features = features.drop(columns=[c for c in data.matrix_derived if c in features])
        return _standardised(features, len(data.user_ids))

    def _single_stage(self) -> PerItemBoostingRecommender:
        return PerItemBoostingRecommender(iterations=self.iterations, depth=self.depth, learning_rate=self.learning_rate,
                                          seed=self.seed, threads=self.threads)

    @staticmethod
    def _design(values: np.ndarray, held: np.ndarray, item: int,
                first_stage: Callable[[np.ndarray, np.ndarray], np.ndarray] | None) -> np.ndarray:
        held = held.copy()
        held[:, item] = 0  # the item's own column is the label
        return np.hstack([values, held, *([] if first_stage is None else [first_stage(values, held)])])

    def _out_of_fold_first_stage(self, data: Interactions) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """First-stage scores of the training users from classifiers fitted on the other folds."""
        fold_of = np.random.default_rng(self.seed + 1).integers(0, self.chain_folds, data.matrix.shape[0])
        folds = [(np.flatnonzero(fold_of == fold),
                  self._single_stage().fit(_subset_users(data, np.flatnonzero(fold_of != fold))))
                 for fold in range(self.chain_folds)]

        def scores(values: np.ndarray, held: np.ndarray) -> np.ndarray:
            out = np.zeros(held.shape, dtype=np.float32)
            for rows, model in folds:
                out[rows] = model.predict_rows(values[rows], held[rows])
            return out
        return scores

    def fit(self, data: Interactions) -> PerItemBoostingRecommender:
        from catboost import CatBoostClassifier

        self.train_data_, self.train_values_ = data, self._label_free_features(data)
        labels = data.matrix.toarray()
        first_stage = None
        if self.chain_folds:
            first_stage = self._out_of_fold_first_stage(data)
            self.first_stage_ = self._single_stage().fit(data)
        self.base_rates_ = labels.mean(axis=0)
        self.models_ = []
        for item in progress(range(labels.shape[1]), desc="per-item boosting", leave=False):
            y = labels[:, item]
            if y.min() == y.max():  # nobody (or everybody) holds it: its base rate is the score
                self.models_.append(None)
                continue
            model = CatBoostClassifier(iterations=self.iterations, depth=self.depth, learning_rate=self.learning_rate,
                                       random_seed=self.seed, thread_count=self.threads, verbose=False,
                                       allow_writing_files=False)
            self.models_.append(model.fit(self._design(self.train_values_, labels, item, first_stage), y))
        return self

    def predict_rows(self, values: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Scores of users given their standardised features and dense held items."""
        first_stage = None if self.first_stage_ is None else self.first_stage_.predict_rows
        out = np.empty(held.shape, dtype=np.float32)
        for item, model in enumerate(self.models_):
            out[:, item] = (self.base_rates_[item] if model is None
                            else model.predict_proba(self._design(values, held, item, first_stage))[:, 1])
        return out

    def score_data(self, data: Interactions, user_rows: np.ndarray) -> np.ndarray:
        """Scores for rows of ``data`` (other users than those fitted on, with the same items)."""
        return self.predict_rows(self._values(data)[user_rows], data.matrix[user_rows].toarray())

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return self.score_data(self.train_data_, user_rows)


def cross_fitted_scores(spec: dict[str, Any], data: Interactions, folds: int, seed: int = 0,
                        train_data: Interactions | None = None) -> np.ndarray:
    """Scores of every user of ``data`` from a model fitted on the other folds' users.

    ``train_data`` (same rows and items; default ``data``) is what the other folds contribute:
    for a held-out evaluation it may hold their hidden items too, which never leaks a scored
    user's own hidden item.
    """
    train_data = data if train_data is None else train_data
    fold_of = np.random.default_rng(seed).integers(0, folds, data.matrix.shape[0])
    scores = np.zeros(data.matrix.shape, dtype=np.float32)
    for fold in range(folds):
        train_rows, score_rows = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        model = build_recommender(spec).fit(_subset_users(train_data, train_rows))
        scores[score_rows] = model.score_data(data, score_rows)
    return scores


def _subset_users(data: Interactions, rows: np.ndarray) -> Interactions:
    features = None if data.user_features is None else data.user_features.iloc[rows]
    return Interactions(data.matrix[rows], data.user_ids[rows], data.item_ids, features, data.item_features,
                        data.matrix_derived)


RECOMMENDERS: Parts[Recommender] = Parts("recommender", {
    "popularity": PopularityRecommender,
    "item_knn": ItemKNNRecommender,
    "ease": EASERecommender,
    "als": ALSRecommender,
    "lightfm": LightFMRecommender,
    "ncf": NCFRecommender,
    "per_item_boosting": PerItemBoostingRecommender,
})


def build_recommender(spec: dict[str, Any]) -> Recommender:
    """A model from its parameters: ``{kind: als, factors: 64, ...}``; threads default to SOCIALML_THREADS."""
    return RECOMMENDERS.build(spec, threads=int(os.environ.get("SOCIALML_THREADS", 1)))
