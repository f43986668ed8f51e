"""Answer clustering by meaning, per question: a reducer, a clusterer, then c-TF-IDF keywords and labels.

Both steps are parts built from parameters (``REDUCERS``: ``umap``, ``none``; ``CLUSTERERS``:
``hdbscan``), so another reducer or clusterer is a class with ``reduce`` or ``fit_predict`` added
to its registry. Identical normalised answers are clustered once, with their number as a weight:
UMAP is not deterministic on duplicate vectors, and ten identical answers would otherwise form a
cluster of their own. An outlier joins the nearest cluster when it is as close to that cluster's centroid
as most members are to theirs (the similarity of ``outlier_reassign_quantile`` of the members, so the bar
follows the encoder's scale of cosines); the rest stay outliers (-1). ``AnswerClusterer`` is what a
clustering leaves for new answers: per question, the clusters' centroids, labels and that bar, with the
answer sentiment model, placing an answer by its embedding.
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np
import pandas as pd

from socialml.components.core.errors import SettingsError
from socialml.components.core.parts import Parts, typed_options
from socialml.components.text.encoders import trained_encoder
from socialml.components.text.preprocess import class_tfidf_keywords, keyword_tokens, normalise, shortened
from socialml.components.text.sentiment import predict_labels
from socialml.components.text.vectors import Standardiser

OUTLIER = -1
SMALLEST_CLUSTER = 3  # the fewest texts a question's cluster size allows, and answers a sentiment split off holds


class Reducer(Protocol):
    def reduce(self, embeddings: np.ndarray) -> np.ndarray: ...


class Clusterer(Protocol):
    def fit_predict(self, space: np.ndarray) -> np.ndarray:
        """A cluster per row, ``OUTLIER`` for rows in none."""


@dataclass
class UmapReducer:
    """UMAP (cosine) to ``components`` dimensions; questions with fewer than ``min_texts`` texts stay as they are.

    ``layouts`` > 1: that many layouts (seeds ``seed``, ``seed`` + 1, ...), each standardised, side by side, so
    the clusterer reads their consensus: one seed's layout can join or cut a meaning where the others do not.
    On ru_intents_dev three layouts of 500 epochs narrowed NMI over five seeds from 0.659-0.676 to 0.669-0.673
    at three times UMAP's time, and three of 200 epochs did not: not configured. ``epochs`` (null: UMAP's own,
    500 below 10,000 texts): 200 fit ru_intents_dev in 3.1 s against 7.4 s (BERTopic's chain 6.5 s), median NMI
    over five seeds 0.675 against 0.669, and tie over 50 questions of 100 to 1,000 texts drawn from it
    (benchmarks/results/clustering.md).

    ``standardise``: UMAP reads each dimension centred and scaled over the question's own texts
    (``Standardiser``; its overall scale is nothing to UMAP's cosine). e5's unit vectors lie in a narrow cone
    (cosines 0.81 ± 0.04 between ru_intents_dev's texts; USE's 0.08 ± 0.10), so beside USE's in a
    concatenation they spread less than half as far from their mean (0.43 against 0.96) and USE decides nearly
    every cosine; standardised, each part has its share and the cone is gone. On ru_intents_dev over ten UMAP
    seeds: median NMI 0.685 against 0.672, paired +0.014 [+0.009, +0.019]; over 80 questions of 12 to 900
    texts drawn from it +0.014 [+0.005, +0.024]. One encoder alone gains nothing from it
    (benchmarks/results/clustering.md)."""

    components: int = 10
    neighbors: int = 15
    min_texts: int = 100
    seed: int = 0
    layouts: int = 1
    epochs: int | None = 200  # each layout's optimisation epochs; null: UMAP's (500 below 10,000 texts, else 200)
    standardise: bool = True

    def __post_init__(self) -> None:
        if self.layouts < 1:
            raise SettingsError(f"clustering reducer 'umap': option 'layouts' must be at least 1, got {self.layouts!r}")
        if self.epochs is not None and self.epochs < 1:
            raise SettingsError(f"clustering reducer 'umap': option 'epochs' must be at least 1 or null, "
                                f"got {self.epochs!r}")

    def reduce(self, embeddings: np.ndarray) -> np.ndarray:
        n = len(embeddings)
        if n < self.min_texts:
            return embeddings
        if self.standardise:
            embeddings = Standardiser.fit(embeddings).transform(embeddings)
        spaces = [umap_module().UMAP(n_components=min(self.components, n - 2), n_neighbors=min(self.neighbors, n - 1),
                                     min_dist=0.0, metric="cosine", random_state=self.seed + k, n_epochs=self.epochs,
                                     n_jobs=1).fit_transform(embeddings) for k in range(self.layouts)]
        if self.layouts == 1:
            return spaces[0]
        centred = [space - space.mean(axis=0) for space in spaces]
        return np.hstack([space / max(float(space.std()), 1e-12) for space in centred])


@functools.lru_cache(maxsize=None)
def umap_module():
    """``umap``, imported after torch. Both use OpenMP, through two copies of libgomp: when numba's pool (UMAP's
    nearest neighbours beyond 4,096 texts) loads the system's copy first, torch runs on it and every later torch
    op in the process is about 50 times slower (benchmarks/results/openmp_order.md).

    Most of umap's and pynndescent's numba kernels are compiled anew in every process (13 s before the first
    fit on these machines); they are cached on disk here, as numba caches the kernels that ask for it."""
    import torch  # noqa: F401  (loads torch's libgomp before numba can load another)
    import pynndescent
    import umap
    from numba.core.errors import NumbaWarning
    from numba.core.registry import CPUDispatcher

    # A few kernels hold pointers numba cannot cache: they compile per process, as before, without a warning.
    warnings.filterwarnings("ignore", message="Cannot cache compiled function", category=NumbaWarning)
    packages = (umap.__name__, pynndescent.__name__)
    modules = [module for name, module in list(sys.modules.items()) if name.split(".")[0] in packages]
    for kernel in {id(f): f for m in modules for f in vars(m).values() if isinstance(f, CPUDispatcher)}.values():
        kernel.enable_caching()  # a kernel that caches already keeps the same on-disk cache
    return umap


@dataclass
class NoReduction:
    """Cluster in the embedding space itself."""

    def reduce(self, embeddings: np.ndarray) -> np.ndarray:
        return embeddings


@dataclass
class HdbscanClusterer:
    """HDBSCAN (excess of mass). ``min_cluster_size`` is for large questions: one of n distinct texts uses
    ``small_question_scale`` * sqrt(n) when that is smaller, and at least 3 (at 0.5: 7 for 200 texts, 4 for
    50, the option from 900 up; null: the option always). Too few texts for two such clusters form one.

    A question of fewer than ``linkage_below`` distinct texts holds too few points for density: its texts
    are grouped by average linkage of their cosine distances instead, the tree cut at the one of
    ``linkage_quantiles`` of those distances whose groups have the highest silhouette (shares, not
    distances, so that they hold for encoders whose cosines spread differently; one quantile: a fixed cut),
    and groups smaller than the cluster size above are left as outliers. ``linkage_below`` is meant to be
    the reducer's ``min_texts``, so that the linkage reads the encoder's own cosines, not UMAP's space.

    No cluster HDBSCAN selects holds more than ``max_cluster_share`` of a question's distinct texts (null: no
    limit): it takes that cluster's children in its tree instead. Excess of mass otherwise often keeps one
    cluster of most answers to an open question ("one word for your state": 620 of 631 answers of the real
    survey), as their many small meanings sit close together.
    Measured on questions drawn from ru_intents_dev: benchmarks/results/clustering_question_size.md and
    clustering_small_questions.md."""

    min_cluster_size: int = 15
    min_samples: int | None = None
    small_question_scale: float | None = 0.5
    linkage_below: int = 100
    linkage_quantiles: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)
    max_cluster_share: float | None = 0.5

    def __post_init__(self) -> None:
        if self.min_cluster_size < 2:
            raise SettingsError(f"clusterer 'hdbscan': option 'min_cluster_size' must be at least 2, "
                                f"got {self.min_cluster_size!r}")
        if self.small_question_scale is not None and not self.small_question_scale > 0:
            raise SettingsError(f"clusterer 'hdbscan': option 'small_question_scale' must be above 0 or null, "
                                f"got {self.small_question_scale!r}")
        if self.max_cluster_share is not None and not 0 < self.max_cluster_share <= 1:
            raise SettingsError(f"clusterer 'hdbscan': option 'max_cluster_share' must be within (0, 1] or null, "
                                f"got {self.max_cluster_share!r}")
        if not self.linkage_quantiles or not all(0 < q < 1 for q in self.linkage_quantiles):
            raise SettingsError(f"clusterer 'hdbscan': option 'linkage_quantiles' must be one or more shares within "
                                f"(0, 1), got {self.linkage_quantiles!r}")

    def cluster_size(self, n_texts: int) -> int:
        """HDBSCAN's min_cluster_size for a question of ``n_texts`` distinct texts."""
        if self.small_question_scale is None:
            return self.min_cluster_size
        scaled = round(self.small_question_scale * math.sqrt(n_texts))
        return min(self.min_cluster_size, max(SMALLEST_CLUSTER, scaled))

    def fit_predict(self, space: np.ndarray) -> np.ndarray:
        n, size = len(space), self.cluster_size(len(space))
        if n < 2 * size:
            return np.zeros(n, dtype=int)
        if n < self.linkage_below:
            return _average_linkage(space, self.linkage_quantiles, size)
        import hdbscan

        largest = 0 if self.max_cluster_share is None else max(2 * size, math.ceil(self.max_cluster_share * n))
        clusterer = hdbscan.HDBSCAN(min_cluster_size=size, min_samples=self.min_samples, metric="euclidean",
                                    cluster_selection_method="eom", max_cluster_size=largest)
        return clusterer.fit_predict(space).astype(int)


def _average_linkage(space: np.ndarray, quantiles: Sequence[float], min_size: int) -> np.ndarray:
    """Average-linkage groups of cosine distance, the tree cut at the one of ``quantiles`` of the pairwise
    distances whose groups have the highest silhouette among the cuts that leave two groups of ``min_size``
    texts or more (else at the coarsest: one cluster); groups under ``min_size`` texts are outliers (-1), the
    others clusters numbered in order of their first text. Without that condition the best silhouette is
    often a cut that sets two odd answers apart from all the rest, which then forms one cluster."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist, squareform
    from sklearn.metrics import silhouette_score

    distances = np.nan_to_num(pdist(space, "cosine"), nan=1.0)  # an all-zero vector is near nothing
    tree, square = linkage(distances, "average"), squareform(distances)
    cuts = [fcluster(tree, np.quantile(distances, quantile), "distance") for quantile in sorted(quantiles)]
    splitting = [groups for groups in cuts if (np.bincount(groups) >= min_size).sum() >= 2]
    best = (max(splitting, key=lambda groups: silhouette_score(square, groups, metric="precomputed"))
            if splitting else cuts[-1])
    large = np.bincount(best)[best] >= min_size
    numbers = {group: number for number, group in enumerate(dict.fromkeys(best[large]))}
    return np.array([numbers[g] if keep else OUTLIER for g, keep in zip(best, large)], dtype=int)


def bertopic_default_chain(embeddings: np.ndarray, seed: int = 0, min_cluster_size: int = 10) -> np.ndarray:
    """BERTopic's default clustering, the baseline answer clusterings are compared with: UMAP (cosine) to 5
    dimensions, HDBSCAN with ``min_cluster_size`` 10, outliers kept as outliers. Fewer texts than that are
    all outliers, as the chain finds no topic in them. Its UMAP runs UMAP's own number of epochs and reads the
    embeddings as they are, as BERTopic's does."""
    space = UmapReducer(components=5, neighbors=15, min_texts=30, seed=seed, epochs=None,
                        standardise=False).reduce(embeddings)
    if len(space) < max(2, min_cluster_size):
        return np.full(len(space), OUTLIER)
    import hdbscan

    return hdbscan.HDBSCAN(min_cluster_size=min_cluster_size).fit_predict(space).astype(int)


REDUCERS: Parts[Reducer] = Parts("clustering reducer", {"umap": UmapReducer, "none": NoReduction})
CLUSTERERS: Parts[Clusterer] = Parts("clusterer", {"hdbscan": HdbscanClusterer})


@dataclass
class ClusteringConfig:
    reducer: dict[str, Any] = field(default_factory=lambda: {"kind": "umap"})
    clusterer: dict[str, Any] = field(default_factory=lambda: {"kind": "hdbscan"})
    # An outlier joins its nearest centroid when at least as close as this share of members are to theirs.
    outlier_reassign_quantile: float = 0.05
    # A cluster whose answers' sentiments each hold at least this share of it is split by sentiment
    # ("отлично работает" and "медленно работает" share words and topic, not meaning); null: never.
    sentiment_split_share: float | None = 0.15
    n_keywords: int = 5
    n_representatives: int = 3

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ClusteringConfig:
        """Checked like every part: unknown or mistyped options (here, of the reducer and the clusterer) fail now."""
        config = cls(**typed_options("answer clustering", cls, params))
        if not 0.0 <= config.outlier_reassign_quantile <= 1.0:
            raise SettingsError(f"answer clustering: option 'outlier_reassign_quantile' must be in [0, 1], "
                                f"got {config.outlier_reassign_quantile!r}")
        REDUCERS.build(config.reducer)  # built, so that their values are checked too
        CLUSTERERS.build(config.clusterer)
        return config


@dataclass
class QuestionClusters:
    labels: np.ndarray  # cluster per unique text, -1 = outlier
    was_outlier: np.ndarray  # the clusterer's outliers, before reassignment
    coords_2d: np.ndarray
    centroids: dict[int, np.ndarray] = field(default_factory=dict)
    join_similarity: float = 1.0  # cosine to a centroid a new answer needs to join that cluster


def cluster_texts(embeddings: np.ndarray, weights: np.ndarray, config: ClusteringConfig,
                  sentiments: np.ndarray | None = None) -> QuestionClusters:
    """Cluster the unique texts of one question (rows of ``embeddings``, L2-normalised); with the texts'
    ``sentiments`` (a label each), clusters of mixed sentiment are split by it."""
    space = REDUCERS.build(config.reducer).reduce(embeddings)
    labels = CLUSTERERS.build(config.clusterer).fit_predict(space)
    was_outlier = labels == OUTLIER
    if not (labels != OUTLIER).any():  # no structure found: one cluster, not all outliers
        labels[:] = 0
    centroids = _centroids(embeddings, weights, labels)
    join_similarity = _member_similarity(embeddings, labels, centroids, config.outlier_reassign_quantile)
    labels = _reassign_outliers(embeddings, labels, centroids, join_similarity)
    if sentiments is not None and config.sentiment_split_share is not None:
        labels = split_by_sentiment(labels, weights, np.asarray(sentiments), config.sentiment_split_share)
    return QuestionClusters(labels, was_outlier, _project_2d(space), _centroids(embeddings, weights, labels),
                            join_similarity)


def _centroids(embeddings, weights, labels) -> dict[int, np.ndarray]:
    out = {}
    for c in np.unique(labels[labels != OUTLIER]):
        members = labels == c
        centre = np.average(embeddings[members], axis=0, weights=weights[members])
        out[int(c)] = centre / max(np.linalg.norm(centre), 1e-12)
    return out


def _member_similarity(embeddings, labels, centroids, quantile: float) -> float:
    """The cosine to their own centroid that all but ``quantile`` of the clustered texts reach."""
    members = np.flatnonzero(labels != OUTLIER)
    own = np.einsum("ij,ij->i", embeddings[members], np.vstack([centroids[int(c)] for c in labels[members]]))
    return float(np.quantile(own, quantile))


def split_by_sentiment(labels, weights, sentiments, share: float) -> np.ndarray:
    """A cluster whose praise and complaints each hold at least ``share`` of its weight, and
    ``SMALLEST_CLUSTER`` answers, is split in two: the smaller side becomes a cluster of its own. Neutral
    answers stay with the cluster: a plain wording of a meaning is that meaning, and a neutral or polar
    minority split off a one-sided cluster had only cut one meaning in two (one complaint among three
    praises is not a cluster either)."""
    labels = labels.copy()
    next_id = int(labels.max()) + 1
    for c in np.unique(labels[labels != OUTLIER]):
        members = labels == c
        mass = pd.Series(weights[members]).groupby(sentiments[members]).sum()
        sides = mass.reindex(["positive", "negative"], fill_value=0.0)
        if sides.min() >= max(share * mass.sum(), SMALLEST_CLUSTER):
            labels[members & (sentiments == sides.idxmin())] = next_id
            next_id += 1
    return labels


def _reassign_outliers(embeddings, labels, centroids, threshold: float) -> np.ndarray:
    outliers = np.flatnonzero(labels == OUTLIER)
    if not len(outliers) or not centroids:
        return labels
    ids = np.array(list(centroids))
    similarity = embeddings[outliers] @ np.vstack([centroids[c] for c in ids]).T
    best = similarity.argmax(axis=1)
    close = similarity[np.arange(len(outliers)), best] >= threshold
    labels = labels.copy()
    labels[outliers[close]] = ids[best[close]]
    return labels


def _project_2d(space: np.ndarray) -> np.ndarray:
    if len(space) < 3:
        return np.zeros((len(space), 2))
    centred = space - space.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def assign(embedding: np.ndarray, centroids: dict[int, np.ndarray], threshold: float) -> tuple[int, float]:
    """Cluster of a new answer: the nearest centroid if close enough, else an outlier."""
    if not centroids:
        return OUTLIER, 0.0
    ids = list(centroids)
    similarity = np.vstack([centroids[c] for c in ids]) @ embedding
    best = int(np.argmax(similarity))
    return (ids[best] if similarity[best] >= threshold else OUTLIER), float(similarity[best])


# A label quotes its cluster's representative answer up to this many characters (a paragraph-long answer
# made a label the app could not show).
LABEL_QUOTE_CHARS = 60


def describe_clusters(texts: list[str], weights: np.ndarray, labels: np.ndarray, embeddings: np.ndarray,
                      centroids: dict[int, np.ndarray], config: ClusteringConfig) -> pd.DataFrame:
    """Per cluster: size (people), unique answers, keywords, representative answers, a readable label."""
    clusters = sorted(set(labels.tolist()))
    tokens = {i: keyword_tokens(t) for i, t in enumerate(texts)}
    documents, occurrence_weights = [], []
    for c in clusters:
        members = np.flatnonzero(labels == c)
        documents.append([tok for i in members for tok in tokens[i]])
        occurrence_weights.append([float(weights[i]) for i in members for _ in tokens[i]])
    keywords = class_tfidf_keywords(documents, occurrence_weights, top_n=config.n_keywords)
    rows = []
    total = float(weights.sum())
    for c, words in zip(clusters, keywords):
        members = np.flatnonzero(labels == c)
        if c in centroids:
            closeness = embeddings[members] @ centroids[c]
            order = members[np.lexsort((-weights[members], -closeness))]
        else:
            order = members[np.argsort(-weights[members], kind="stable")]
        representatives = [texts[i] for i in order[: config.n_representatives]]
        size = float(weights[members].sum())
        head = ", ".join(words[:3]) if words else shortened(representatives[0], LABEL_QUOTE_CHARS)
        label = "outliers" if c == OUTLIER else f"{head} — «{shortened(representatives[0], LABEL_QUOTE_CHARS)}»"
        rows.append({"cluster": int(c), "size": int(size), "n_unique": len(members), "share": size / total,
                     "keywords": words, "label": label, "representative_answers": representatives})
    return pd.DataFrame(rows)


@dataclass
class AnswerClusterer:
    """Places new answers to the clustered questions: the nearest cluster's centroid if close enough
    (else an outlier), its label, and the answer's sentiment; ``predict_frame`` is its MLflow face."""

    # question id → question_text, asks_for (sentiment → probability), centroids (cluster → unit vector),
    # labels, join_similarity
    questions: dict[Any, dict[str, Any]]
    clustered_from: dict[str, Any] | None  # the encoder the centroids were made with
    embeddings_from: dict[str, Any] | None  # the encoder the sentiment model reads
    sentiment: Any  # predict_proba(texts, embeddings)
    # apply(texts, probabilities, question_ids, asks_for): answers read in their questions' light; None in
    # clusterers saved before questions were read (their answers are read alone)
    question_frame: Any = None
    # What it clustered (the clustering's mo_clusters and mo_answer_clusters), kept with it so that the app
    # shows the clusters of the model that is served, not of the latest run, which the registry's gate may
    # not have promoted; None in clusterers saved before
    clusters: pd.DataFrame | None = None
    answer_clusters: pd.DataFrame | None = None

    def assign(self, question_ids: Sequence[Any], texts: Sequence[str], cluster_embeddings: np.ndarray,
               sentiment_embeddings: np.ndarray) -> pd.DataFrame:
        """One row per answer: question_id, cluster, label, similarity, sentiment and its probabilities."""
        unknown = sorted({q for q in question_ids if q not in self.questions}, key=str)
        if unknown:
            raise KeyError(f"unknown question_id {unknown[0]!r}; {self.known_questions()}")
        placed = [assign(vector, self.questions[q]["centroids"], self.questions[q]["join_similarity"])
                  for q, vector in zip(question_ids, cluster_embeddings)]
        sentiment = self.sentiment.predict_proba(list(texts), sentiment_embeddings)
        if self.question_frame is not None:
            asks_for = pd.DataFrame.from_dict({q: self.questions[q]["asks_for"] for q in set(question_ids)},
                                              orient="index")
            sentiment = self.question_frame.apply(texts, sentiment, question_ids, asks_for)
        frame = pd.DataFrame({
            "question_id": list(question_ids),
            "cluster": [cluster for cluster, _ in placed],
            "label": [self.questions[q]["labels"].get(cluster, "") for q, (cluster, _) in zip(question_ids, placed)],
            "similarity": [similarity for _, similarity in placed],
            "sentiment": predict_labels(sentiment),
        })
        return pd.concat([frame, sentiment.add_prefix("p_").reset_index(drop=True)], axis=1)

    def known_questions(self, shown: int = 20) -> str:
        """The question ids it clustered, for an error message: all of a few, the first ``shown`` of many (a
        survey may have hundreds)."""
        known = sorted(self.questions, key=lambda q: (isinstance(q, str), q))  # numbers as numbers
        more = f" and {len(known) - shown} more" if len(known) > shown else ""
        return f"known ({len(known)}): {known[:shown]}{more}"

    def example_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"question_id": [next(iter(self.questions))], "answer": ["Всё нравится, спасибо"]})

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``assign`` for raw answers (question_id, answer), embedded with the encoders it was made with."""
        texts = [normalise(t) for t in frame["answer"].fillna("")]
        _, cluster_embeddings = trained_encoder(self.clustered_from, texts)
        _, sentiment_embeddings = trained_encoder(self.embeddings_from, texts)
        return self.assign(frame["question_id"].tolist(), texts, cluster_embeddings, sentiment_embeddings)
