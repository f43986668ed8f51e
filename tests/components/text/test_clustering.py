import numpy as np
import pandas as pd
import pytest

from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform
from socialml.components.evaluation.metrics import clustering_scores
from socialml.components.text.clustering import (
    CLUSTERERS, OUTLIER, REDUCERS, ClusteringConfig, assign, cluster_texts, describe_clusters,
)
from socialml.components.text.encoders import build_encoder
from socialml.components.text.preprocess import normalise


def _blobs(rng, centres, per_blob, noise=0.05):
    points = np.vstack([c + rng.normal(0, noise, (per_blob, len(c))) for c in centres])
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_separated_groups_are_found_and_outliers_reported():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3] * 3
    x = _blobs(rng, centres, 20)
    config = ClusteringConfig(clusterer={"kind": "hdbscan", "min_cluster_size": 5}, reducer={"kind": "none"})
    result = cluster_texts(x, np.ones(len(x)), config)
    truth = np.repeat([0, 1, 2], 20)
    assert clustering_scores(truth, result.labels)["ari"] > 0.95
    assert set(result.centroids) == set(np.unique(result.labels)) - {OUTLIER}


def test_tiny_questions_become_one_cluster():
    x = np.eye(3)
    result = cluster_texts(x, np.ones(3), ClusteringConfig(clusterer={"kind": "hdbscan", "min_cluster_size": 5}))
    assert result.labels.tolist() == [0, 0, 0]


def test_assign_joins_the_nearest_centroid_only_when_close_enough():
    centroids = {0: np.array([1.0, 0.0]), 1: np.array([0.0, 1.0])}
    assert assign(np.array([0.9, 0.1]) / np.linalg.norm([0.9, 0.1]), centroids, 0.8)[0] == 0
    assert assign(np.array([1.0, 1.0]) / np.sqrt(2), centroids, 0.8)[0] == OUTLIER


def test_describe_gives_size_keywords_and_a_representative_label():
    texts = ["хороший коллектив", "дружный коллектив", "зарплата", "хорошая зарплата"]
    emb = np.eye(4)
    labels = np.array([0, 0, 1, 1])
    table = describe_clusters(texts, np.array([3.0, 1.0, 1.0, 1.0]), labels, emb,
                              {0: np.array([1.0, 0, 0, 0]), 1: np.array([0, 0, 0, 1.0])}, ClusteringConfig())
    first = table.set_index("cluster").loc[0]
    assert first["size"] == 4 and first["n_unique"] == 2 and first["share"] == pytest.approx(4 / 6)
    assert first["keywords"][0] == "коллектив"
    assert first["label"].endswith("«хороший коллектив»")


def test_paraphrases_with_emoji_and_punctuation_share_a_cluster_and_opposites_do_not(e5_folder):
    """The acceptance example of seed 000, on the demo platform's service question with e5 embeddings."""
    platform = generate_demo_platform(DemoPlatformConfig(answers_per_question=300, n_questions=1))
    answers = platform["survey_answers"]["answer"].tolist() + ["всё супер 👍👍", "все супер!!!", "ужасно 😡"]
    normalised = pd.Series([normalise(a) for a in answers if a.strip()])
    unique = normalised.value_counts()
    vectors = build_encoder({"kind": "e5_small", "num_threads": 2}).encode(unique.index.tolist())
    result = cluster_texts(vectors, unique.to_numpy(float), ClusteringConfig())
    cluster_of = dict(zip(unique.index, result.labels))
    assert cluster_of[normalise("всё супер 👍👍")] == cluster_of[normalise("все супер!!!")] != OUTLIER
    assert cluster_of[normalise("ужасно 😡")] != cluster_of[normalise("все супер!!!")]


def test_the_reducer_and_the_clusterer_are_parts_checked_by_kind():
    assert set(REDUCERS.kinds) == {"umap", "none"} and set(CLUSTERERS.kinds) == {"hdbscan"}
    config = ClusteringConfig.from_params({"reducer": {"kind": "none"},
                                           "clusterer": {"kind": "hdbscan", "min_cluster_size": "4"}})
    assert config.reducer == {"kind": "none"}
    with pytest.raises(ValueError, match=r"clusterer 'hdbscan' has no option 'min_size'; "
                                         r"its options are \['min_cluster_size', 'min_samples'\]"):
        ClusteringConfig.from_params({"clusterer": {"kind": "hdbscan", "min_size": 4}})
    with pytest.raises(ValueError, match=r"unknown clustering reducer kind 'tsne': set `kind` to one of \['none', 'umap'\]"):
        ClusteringConfig.from_params({"reducer": {"kind": "tsne"}})
    with pytest.raises(ValueError, match="answer clustering: option 'n_keywords' must be int, got 'five'"):
        ClusteringConfig.from_params({"n_keywords": "five"})
