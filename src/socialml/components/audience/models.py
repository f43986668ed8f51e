"""Age and sex of a user from the set of items they viewed and when (seed 002).

Every model answers the same interface, so serving can apply any of them to a new user's history.
``history`` is the enrichment pipeline's ``feat_viewer_history`` (``features.viewer_history``); the models
of history aggregates read their training users' rows from it, and compute the same function from a new
user's views as of the table's time, so training and serving share one definition and one clock:

    model.fit(views, items, targets, history)   # targets: user_id, sex, age bucket (a user may lack one)
    model.predict_proba(views, items)           # {"sex": users × classes, "age": users × buckets}

* ``MajorityAudience``: the most frequent class ("TopClass" in the seed);
* ``BoostingAudience``: CatBoost or LightGBM over history aggregates (counts, category shares,
  time-of-day and weekday shares, recency) and the mean of SVD item factors;
* ``ItemBagAudience``: logistic regression on the user's bag of items (TF-IDF weighted), each view
  counted once or by its rating; age as unordered classes or as ordered buckets (``age_model: ordinal``);
* ``StackedAudience``: boosting over other audience models' out-of-fold probabilities and the
  history aggregates (stacking, Wolpert 1992);
* ``DeepSetsAudience``: a torch DeepSets model over (item embedding, Time2Vec of the view time),
  mean- and max-pooled, trained with early stopping on a validation share of users.
"""

from __future__ import annotations

import copy
import logging
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
import pandas as pd

from socialml.components.core.devices import torch_device
from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.core.parts import Parts
from socialml.components.core.progress import progress
from socialml.components.data.features import viewer_history

logger = logging.getLogger(__name__)
TARGETS = ("sex", "age")


def age_buckets(age: pd.Series, edges: list[int], labels: list[str]) -> pd.Series:
    """Bucket ages with right-open intervals: edges [18, 25] → <18, 18-24, 25+."""
    if len(labels) != len(edges) + 1:
        raise ValueError(f"{len(edges)} edges make {len(edges) + 1} buckets, got {len(labels)} labels")
    codes = np.digitize(age.to_numpy(dtype=float), edges)
    return pd.Series(np.array(labels, dtype=object)[codes], index=age.index).where(age.notna())


def history_time(views: pd.DataFrame, history: pd.DataFrame | None) -> pd.Timestamp:
    """The time a model measures recency to: the history table's ``as_of``, else the last of ``views``.

    A table older than the views (enrichment not rerun after new views arrived) stops the fit: its rows
    would describe histories the model is not trained on."""
    if history is None:
        return views["timestamp"].max()
    as_of = history["as_of"].max()
    if views["timestamp"].max() > as_of:
        raise DataStop(f"feat_viewer_history is as of {as_of} but the views run to {views['timestamp'].max()}: "
                       "run the feature_enrichment pipeline again")
    return as_of


def history_features(views: pd.DataFrame, items: pd.DataFrame, as_of: pd.Timestamp,
                     history: pd.DataFrame | None = None) -> pd.DataFrame:
    """History aggregates indexed by user_id for the users of ``views``: their rows of ``history`` when
    given (every one must be there), else computed from ``views`` as of ``as_of``."""
    if history is None:
        return viewer_history(views, items, as_of).drop(columns="as_of").set_index("user_id")
    users = pd.Index(views["user_id"].unique()).sort_values()  # the order viewer_history gives
    rows = history.drop(columns="as_of").set_index("user_id")
    missing = users.difference(rows.index)
    if len(missing):
        raise DataStop(f"feat_viewer_history has no row for {len(missing)} users with views (first: "
                       f"{missing[0]!r}): run the feature_enrichment pipeline again")
    return rows.loc[users]


def sex_strata(targets: pd.DataFrame) -> pd.Series:
    """What folds are stratified by: each sex, and the users without one as a stratum of their own."""
    return pd.Series(pd.factorize(targets["sex"], use_na_sentinel=False)[0], index=targets.index)


class OnlyClass:
    """A target's model when every training user with it has the same class: that class, for certain."""

    def __init__(self, label: Any) -> None:
        self.classes_ = np.array([label], dtype=object)

    def predict_proba(self, x) -> np.ndarray:
        return np.ones((x.shape[0], 1))


def training_classes(values: pd.Series, target: str) -> list:
    """The classes of ``target`` among the training users that have it (sorted); none stops the fit."""
    classes = sorted(values.dropna().unique())
    if not classes:
        raise DataStop(f"audience: no value of {target} among the {len(values)} training users, so its model "
                       "cannot be fitted")
    return classes


def fit_each_target(new_model: Callable[[str], Any], x, y: pd.DataFrame) -> dict[str, Any]:
    """A model per target from ``new_model(target)``, fitted on the rows of ``x`` (a frame or a sparse matrix,
    aligned with ``y``) whose user has that target: a user without an age still teaches the sex model.
    Where those users share one class (a fold's few users with an age), the target's model is that class."""
    models = {}
    for t in TARGETS:
        known, classes = y[t].notna().to_numpy(), training_classes(y[t], t)
        models[t] = OnlyClass(classes[0]) if len(classes) == 1 else new_model(t).fit(x[known], y[t][known])
    return models


def _class_frame(model, x, users) -> pd.DataFrame:
    return pd.DataFrame(model.predict_proba(x), index=pd.Index(users, name="user_id"), columns=list(model.classes_))


class MajorityAudience:
    def fit(self, views, items, targets, history=None):
        self.priors = {t: targets[t].value_counts(normalize=True).reindex(training_classes(targets[t], t))
                       for t in TARGETS}
        return self

    def predict_proba(self, views, items) -> dict[str, pd.DataFrame]:
        users = np.sort(views["user_id"].unique())
        return {t: pd.DataFrame(np.tile(p.to_numpy(), (len(users), 1)), index=pd.Index(users, name="user_id"),
                                columns=p.index) for t, p in self.priors.items()}


class BoostingAudience:
    def __init__(self, library: str = "catboost", svd_components: int = 32, options: dict | None = None, seed: int = 0):
        if library not in ("catboost", "lightgbm"):
            raise SettingsError(f"library must be catboost or lightgbm, got {library!r}")
        self.library, self.svd_components, self.options, self.seed = library, svd_components, options or {}, seed

    def features(self, views: pd.DataFrame, items: pd.DataFrame,
                 history: pd.DataFrame | None = None) -> pd.DataFrame:
        """The model's input, one row per user of ``views``: history aggregates (``history_features``) and
        the mean SVD factors of the items viewed, on the columns the model was trained on."""
        return self._features(views, items, history).reindex(columns=self.columns)

    def _features(self, views: pd.DataFrame, items: pd.DataFrame, history: pd.DataFrame | None) -> pd.DataFrame:
        aggregates = history_features(views, items, self.as_of, history)
        known = views[views["item_id"].isin(self.item_factors.index)]
        factors = self.item_factors.loc[known["item_id"]].to_numpy()
        mean = pd.DataFrame(factors, index=known["user_id"].to_numpy()).groupby(level=0).mean().add_prefix("item_svd_")
        return aggregates.join(mean)

    def _new_model(self):
        if self.library == "catboost":
            from catboost import CatBoostClassifier

            options = {"iterations": 500, "depth": 6, "learning_rate": 0.05, "thread_count": 2, **self.options}
            return CatBoostClassifier(**options, random_seed=self.seed, verbose=False, allow_writing_files=False)
        from lightgbm import LGBMClassifier

        options = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "n_jobs": 2, **self.options}
        return LGBMClassifier(**options, random_state=self.seed, verbose=-1)

    def fit(self, views, items, targets, history=None):
        from sklearn.decomposition import TruncatedSVD

        matrix, users, item_ids = item_matrix(views)
        n = max(1, min(self.svd_components, matrix.shape[1] - 1, matrix.shape[0] - 1))
        svd = TruncatedSVD(n_components=n, random_state=self.seed).fit(matrix)
        self.item_factors = pd.DataFrame(svd.components_.T, index=item_ids)
        self.as_of = history_time(views, history)
        x = self._features(views, items, history)
        self.columns = list(x.columns)  # a new history may lack a category: predict on the same columns
        self.models = fit_each_target(lambda _: self._new_model(), x, targets.set_index("user_id").reindex(x.index))
        return self

    def predict_proba(self, views, items) -> dict[str, pd.DataFrame]:
        x = self.features(views, items)
        return {t: _class_frame(m, x, x.index) for t, m in self.models.items()}


def item_matrix(views: pd.DataFrame, item_index: pd.Index | None = None, weights: np.ndarray | None = None):
    """Users × items matrix of log(1 + summed weights) (a weight of 1 per view by default), CSR; items
    outside ``item_index`` are dropped."""
    from scipy import sparse

    users, user_codes = np.unique(views["user_id"].to_numpy(), return_inverse=True)
    if item_index is None:
        item_index = pd.Index(np.unique(views["item_id"].to_numpy()))
    item_codes = item_index.get_indexer(views["item_id"].to_numpy())
    keep = item_codes >= 0
    values = np.ones(len(views)) if weights is None else weights
    counts = sparse.coo_matrix((values[keep], (user_codes[keep], item_codes[keep])),
                               shape=(len(users), len(item_index))).tocsr()
    counts.data = np.log1p(counts.data)
    return counts, users, item_index


class CumulativeLogistic:
    """Ordered classes as K-1 binary logistic regressions of P(class after the k-th) (Frank & Hall, 2001):
    each regression learns from every user, so a rare bucket at either end (<18, 56+) borrows the evidence
    of its neighbours instead of standing alone as in a multinomial model. Class probabilities are the
    differences of the (made non-increasing) cumulative ones. It is fitted on two classes or more (one class
    is ``fit_each_target``'s ``OnlyClass``)."""

    def __init__(self, order: list[str], c: float = 1.0, seed: int = 0) -> None:
        self.order, self.c, self.seed = list(order), c, seed

    def fit(self, x, y: pd.Series) -> CumulativeLogistic:
        from sklearn.linear_model import LogisticRegression

        seen = set(y)
        unknown = sorted(seen - set(self.order))
        if unknown:
            raise SettingsError(f"ordinal age: classes {unknown} are not in the configured order {self.order}")
        self.classes_ = np.array([label for label in self.order if label in seen], dtype=object)
        rank = pd.Series(y).map({label: i for i, label in enumerate(self.classes_)}).to_numpy()
        self.thresholds = []
        for k in range(len(self.classes_) - 1):
            after = (rank > k).astype(int)
            self.thresholds.append(LogisticRegression(C=self.c, max_iter=3000, random_state=self.seed).fit(x, after))
        return self

    def predict_proba(self, x) -> np.ndarray:
        after = np.column_stack([model.predict_proba(x)[:, 1] for model in self.thresholds])
        after = np.minimum.accumulate(after, axis=1)  # P(after k) cannot grow with k
        upper = np.column_stack([np.ones(len(after)), after])
        lower = np.column_stack([after, np.zeros(len(after))])
        return upper - lower


class ItemBagAudience:
    """``weight: rating`` counts a view by its explicit rating (MovieLens: who rates a film high says more
    than who saw it; sex ROC-AUC 0.801 against 0.787 counting views); views without one count as 1.
    ``age_model: ordinal`` fits age as ordered buckets (:class:`CumulativeLogistic`, in the order of
    ``age_labels``, which the audience pipeline fills from ``audience.age_labels``)."""

    def __init__(self, c: float = 1.0, weight: Literal["views", "rating"] = "views",
                 age_model: Literal["multinomial", "ordinal"] = "multinomial", age_labels: list[str] | None = None,
                 seed: int = 0):
        if age_model == "ordinal" and not age_labels:
            raise SettingsError("item_bag with age_model: ordinal needs age_labels, the buckets in age order")
        self.c, self.weight, self.age_model, self.age_labels, self.seed = c, weight, age_model, age_labels, seed

    def _matrix(self, views: pd.DataFrame, item_index: pd.Index | None = None):
        weights = views["rating"].fillna(1.0).to_numpy(dtype=float) if self.weight == "rating" else None
        return item_matrix(views, item_index, weights)

    def fit(self, views, items, targets, history=None):
        from sklearn.feature_extraction.text import TfidfTransformer

        if self.weight == "rating" and views["rating"].isna().all():
            raise SettingsError("item_bag with weight: rating needs views with a rating; these have none "
                                "(use weight: views)")
        matrix, users, self.item_index = self._matrix(views)
        self.tfidf = TfidfTransformer(sublinear_tf=True).fit(matrix)
        x = self.tfidf.transform(matrix)
        y = targets.set_index("user_id").reindex(users)
        self.models = fit_each_target(self._new_model, x, y)
        return self

    def _new_model(self, target: str):
        from sklearn.linear_model import LogisticRegression

        if target == "age" and self.age_model == "ordinal":
            return CumulativeLogistic(self.age_labels, self.c, self.seed)
        return LogisticRegression(C=self.c, max_iter=3000, random_state=self.seed)

    def predict_proba(self, views, items) -> dict[str, pd.DataFrame]:
        matrix, users, _ = self._matrix(views, self.item_index)
        x = self.tfidf.transform(matrix)
        return {t: _class_frame(m, x, users) for t, m in self.models.items()}


class StackedAudience:
    """CatBoost per target over the base models' log-probabilities and the history aggregates.

    The base models' probabilities for the training users come from an inner k-fold (each user scored by
    bases that never saw it), so the booster learns how far to trust them; for new users the bases are
    refitted on all training users. On MovieLens this lifts age macro ROC-AUC from 0.762 (the rating-weighted
    item bag alone) to about 0.78; sex stays with the item bag (benchmarks/results/audience.md).
    """

    def __init__(self, bases: list[dict[str, Any]] | None = None, folds: int = 5, options: dict | None = None,
                 age_labels: list[str] | None = None, seed: int = 0):
        self.base_specs = bases or [{"kind": "item_bag"}]
        self.age_labels = age_labels
        for spec in self.base_specs:
            AUDIENCE_MODELS.check(spec)
        if folds < 2:
            raise SettingsError(f"stacked audience needs folds >= 2 for out-of-fold base scores, got {folds}")
        self.folds, self.options, self.seed = folds, options or {}, seed

    def _base(self, spec: dict[str, Any]):
        return build_audience_model(spec, age_labels=self.age_labels, seed=self.seed)

    def _base_features(self, models: list, views, items) -> pd.DataFrame:
        frames = [np.log(frame.clip(lower=1e-4)).add_prefix(f"base{i}_{t}_")
                  for i, model in enumerate(models) for t, frame in model.predict_proba(views, items).items()]
        return pd.concat(frames, axis=1)

    def _features(self, base: pd.DataFrame, views, items, history: pd.DataFrame | None = None) -> pd.DataFrame:
        return base.join(history_features(views, items, self.as_of, history))

    def fit(self, views, items, targets, history=None):
        from catboost import CatBoostClassifier
        from sklearn.model_selection import StratifiedKFold

        self.as_of = history_time(views, history)
        users = targets["user_id"].to_numpy()
        out_of_fold = []
        splits = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed).split(users, sex_strata(targets))
        for train, held_out in splits:
            fold_views = views[views["user_id"].isin(users[train])]
            bases = [self._base(spec).fit(fold_views, items, targets.iloc[train], history)
                     for spec in self.base_specs]
            out_of_fold.append(self._base_features(bases, views[views["user_id"].isin(users[held_out])], items))
        self.bases = [self._base(spec).fit(views, items, targets, history) for spec in self.base_specs]
        x = self._features(pd.concat(out_of_fold), views, items, history)
        self.columns = list(x.columns)
        options = {"iterations": 300, "depth": 4, "learning_rate": 0.05, "thread_count": 2, **self.options}
        self.models = fit_each_target(lambda _: CatBoostClassifier(**options, random_seed=self.seed, verbose=False,
                                                                   allow_writing_files=False),
                                      x, targets.set_index("user_id").reindex(x.index))
        return self

    def predict_proba(self, views, items) -> dict[str, pd.DataFrame]:
        x = self._features(self._base_features(self.bases, views, items), views, items).reindex(columns=self.columns)
        return {t: _class_frame(m, x, x.index) for t, m in self.models.items()}


class DeepSetsAudience:
    """DeepSets (Zaheer et al.) over viewed items, with Time2Vec (Kazemi et al.) for when they were viewed."""

    def __init__(self, embedding_dim: int = 32, time_dim: int = 8, hidden: int = 64, max_items: int = 256,
                 epochs: int = 60, batch_size: int = 64, learning_rate: float = 3e-3, weight_decay: float = 1e-4,
                 dropout: float = 0.2, patience: int = 8, validation_share: float = 0.15, device: str = "auto",
                 num_threads: int | None = 1, seed: int = 0):
        self.config = dict(embedding_dim=embedding_dim, time_dim=time_dim, hidden=hidden, dropout=dropout)
        self.max_items, self.epochs, self.batch_size = max_items, epochs, batch_size
        self.learning_rate, self.weight_decay, self.patience = learning_rate, weight_decay, patience
        self.validation_share, self.device_option, self.num_threads, self.seed = validation_share, device, num_threads, seed

    def _sets(self, views: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per user: up to max_items most recent (item code, time features), padded with code 0."""
        codes = self.item_index.get_indexer(views["item_id"].to_numpy()) + 1  # 0 = padding / unknown item
        codes[codes < 0] = 0
        ts = views["timestamp"]
        day_fraction = ((ts.dt.hour * 3600 + ts.dt.minute * 60 + ts.dt.second) / 86_400).to_numpy()
        week_fraction = ((ts.dt.weekday + day_fraction) / 7).to_numpy()
        frame = pd.DataFrame({"user_id": views["user_id"].to_numpy(), "code": codes, "day": day_fraction,
                              "week": week_fraction, "t": ts.to_numpy().astype("datetime64[s]").astype(np.int64)})
        frame = frame.sort_values(["user_id", "t"], ascending=[True, False], kind="stable")
        frame["rank"] = frame.groupby("user_id").cumcount()
        frame = frame[frame["rank"] < self.max_items]
        users = frame["user_id"].unique()
        row = pd.Index(users).get_indexer(frame["user_id"])
        item = np.zeros((len(users), self.max_items), dtype=np.int64)
        times = np.zeros((len(users), self.max_items, 2), dtype=np.float32)
        item[row, frame["rank"]] = frame["code"]
        times[row, frame["rank"]] = frame[["day", "week"]].to_numpy(dtype=np.float32)
        return users, item, times, (item > 0)

    def fit(self, views, items, targets, history=None):
        import torch

        torch.manual_seed(self.seed)
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        self.device = torch_device(self.device_option)
        self.item_index = pd.Index(np.unique(views["item_id"].to_numpy()))
        users, item, times, mask = self._sets(views)
        y = targets.set_index("user_id").reindex(users)
        self.classes = {t: training_classes(y[t], t) for t in TARGETS}
        codes = {t: pd.Categorical(y[t], categories=self.classes[t]).codes for t in TARGETS}
        from socialml.components.audience.deepsets import DeepSets

        self.network = DeepSets(len(self.item_index), {t: len(c) for t, c in self.classes.items()},
                                **self.config).to(self.device)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(users))
        n_val = max(1, int(len(users) * self.validation_share))
        val, train = order[:n_val], order[n_val:]
        tensors = [torch.as_tensor(a) for a in (item, times, mask)]
        # A copy (the codes are read-only); a user without a target has code -1 there, which the loss skips.
        labels = {t: torch.tensor(c, dtype=torch.long) for t, c in codes.items()}
        optimiser = torch.optim.AdamW(self.network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        best, best_state, stale = np.inf, None, 0
        for epoch in progress(range(self.epochs), desc="DeepSets epochs", unit="epoch"):
            self.network.train()
            rng.shuffle(train)
            for start in range(0, len(train), self.batch_size):
                idx = torch.as_tensor(train[start:start + self.batch_size])
                loss = self._batch_loss(tensors, labels, idx)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            val_loss = self._validation_loss(tensors, labels, val)
            if val_loss < best - 1e-4:
                best, best_state, stale = val_loss, copy.deepcopy(self.network.state_dict()), 0
            else:
                stale += 1
                if stale >= self.patience:
                    logger.info("DeepSets: early stop after epoch %d (validation loss %.4f)", epoch + 1, best)
                    break
        self.network.load_state_dict(best_state)
        self.network.eval()
        return self

    def _batch_loss(self, tensors, labels, idx):
        """Cross-entropy of both targets summed over the users of ``idx`` that have them, per user of
        ``idx``: a batch without any age (code -1 throughout) adds nothing for age, not NaN."""
        import torch

        out = self.network(*(x[idx].to(self.device) for x in tensors))
        return sum(torch.nn.functional.cross_entropy(out[t], labels[t][idx].to(self.device), ignore_index=-1,
                                                     reduction="sum") for t in TARGETS) / len(idx)

    def _validation_loss(self, tensors, labels, idx) -> float:
        import torch

        self.network.eval()
        with torch.inference_mode():
            return float(self._batch_loss(tensors, labels, torch.as_tensor(idx)))

    def predict_proba(self, views, items) -> dict[str, pd.DataFrame]:
        import torch

        users, item, times, mask = self._sets(views)
        outputs = {t: [] for t in TARGETS}
        with torch.inference_mode():
            for start in range(0, len(users), 512):
                batch = [torch.as_tensor(a[start:start + 512]).to(self.device) for a in (item, times, mask)]
                for t, logits in self.network(*batch).items():
                    outputs[t].append(torch.softmax(logits, dim=-1).cpu().numpy())
        return {t: pd.DataFrame(np.vstack(outputs[t]), index=pd.Index(users, name="user_id"), columns=self.classes[t])
                for t in TARGETS}

    def __getstate__(self):
        state = self.__dict__.copy()
        if "network" in state:
            state["network"] = copy.deepcopy(state["network"]).to("cpu")
            state["device"] = "cpu"
        return state


def numbered_order(buckets: Iterable[str]) -> list[str]:
    """Bucket labels by the first number in each, a "<" bucket before the bucket starting at its number
    ("<18", "18-24", ..., "56+"); labels without a number last, as text sorts them."""
    def key(bucket: str) -> tuple[float, str]:
        number = re.search(r"\d+(?:\.\d+)?", bucket)
        bound = float(number.group()) if number else math.inf
        return (bound - 0.5 if bucket.lstrip().startswith("<") else bound, bucket)

    return sorted(buckets, key=key)


class FittedAudience:
    """A fitted audience model with the item table it reads: what is served, logged and registered.

    ``predict_frame`` (its MLflow face) takes views (user_id, item_id, timestamp, watch_seconds) and
    answers one row per user with a ``<target>/<class>`` probability column per target and class, the age
    buckets in age order (``age_labels``), not as text sorts them ("<18" after "56+"). A model pickled
    before it kept ``age_labels`` orders them by the first number in each ("<18" before "18-24").
    """

    age_labels: list[str] | None = None  # a model pickled before it kept them falls back to numbered_order

    def __init__(self, model: Any, items: pd.DataFrame, age_labels: list[str] | None = None) -> None:
        self.model, self.items, self.age_labels = model, items, age_labels

    def predict_proba(self, views: pd.DataFrame) -> dict[str, pd.DataFrame]:
        probabilities = self.model.predict_proba(views, self.items)
        if "age" in probabilities:
            age = probabilities["age"]
            order = self.age_labels or numbered_order(age.columns)
            probabilities["age"] = age[[a for a in order if a in age] + [a for a in age if a not in order]]
        return probabilities

    def example_frame(self) -> pd.DataFrame:
        items = self.items["item_id"].head(3).tolist()
        return pd.DataFrame({"user_id": [items[0]] * len(items), "item_id": items,
                             "timestamp": pd.Timestamp("2024-01-01 20:00") + pd.to_timedelta(range(len(items)), unit="h"),
                             "watch_seconds": [1200.0] * len(items)})

    def predict_frame(self, views: pd.DataFrame) -> pd.DataFrame:
        views = views.assign(rating=views["rating"] if "rating" in views else np.nan)
        frames = [frame.add_prefix(f"{target}/") for target, frame in self.predict_proba(views).items()]
        return pd.concat(frames, axis=1).rename_axis("user_id").reset_index()


AUDIENCE_MODELS = Parts("audience model", {"majority": MajorityAudience, "boosting": BoostingAudience,
                                            "item_bag": ItemBagAudience, "deepsets": DeepSetsAudience,
                                            "stacked": StackedAudience})


def build_audience_model(spec: dict[str, Any], **defaults: Any):
    """An audience model from its parameters: ``{kind: boosting, library: lightgbm}``; ``defaults`` (the age
    buckets' order, a seed) fill the options a kind declares and its spec leaves unset."""
    return AUDIENCE_MODELS.build(spec, **defaults)
