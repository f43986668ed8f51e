import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from socialml.components.data.demo_platform import DemoPlatformConfig, generate_demo_platform
from socialml.components.evaluation.metrics import clustering_scores
from socialml.components.text.clustering import (
    CLUSTERERS, OUTLIER, REDUCERS, AnswerClusterer, ClusteringConfig, HdbscanClusterer, UmapReducer, _average_linkage,
    assign, umap_module,
    bertopic_default_chain, cluster_texts,
    describe_clusters, split_by_sentiment,
)
from socialml.components.text.encoders import build_encoder
from socialml.components.text.preprocess import normalise
from socialml.components.text.sentiment import QuestionFrame, ZeroShotSentiment, predict_labels

ROOT = Path(__file__).resolve().parents[3]


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


def test_bertopics_default_chain_finds_separated_groups_keeps_its_outliers_and_finds_none_in_a_handful():
    rng = np.random.default_rng(0)
    x = np.vstack([_blobs(rng, np.eye(16)[:4] * 3, 40), _blobs(rng, [np.ones(16)], 3, noise=2.0)])
    labels = bertopic_default_chain(x, seed=0)
    assert clustering_scores(np.repeat([0, 1, 2, 3, 4], [40, 40, 40, 40, 3]), labels)["ari"] > 0.9
    assert np.array_equal(labels, bertopic_default_chain(x, seed=0))  # the seed fixes it
    assert (bertopic_default_chain(x[:9]) == OUTLIER).all()  # fewer texts than its smallest topic
    import hdbscan

    # BERTopic's own settings, UMAP's epochs among them: the project's reducer options do not leak into the baseline.
    # Points without groups, where the labels follow every detail of the layout.
    noise = rng.normal(size=(150, 16))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    space = umap_module().UMAP(n_components=5, n_neighbors=15, min_dist=0.0, metric="cosine", random_state=0,
                               n_jobs=1).fit_transform(noise)
    assert np.array_equal(bertopic_default_chain(noise, seed=0), hdbscan.HDBSCAN(min_cluster_size=10).fit_predict(space))


def test_an_outlier_joins_only_when_as_close_as_the_members_are_whatever_the_encoders_scale_of_cosines():
    rng = np.random.default_rng(0)
    config = ClusteringConfig(clusterer={"kind": "hdbscan", "min_cluster_size": 5}, reducer={"kind": "none"},
                              outlier_reassign_quantile=0.05)
    for noise in (0.05, 1.0):  # tight groups (cosines near 1, like e5's) and loose ones (about 0.7, like USE's)
        x = _blobs(rng, np.eye(8)[:3] * 3, 30, noise)
        near = _blobs(rng, [np.eye(8)[0] * 3], 1, noise)  # drawn like a member of the first group
        far = np.eye(8)[7:]  # orthogonal to every group
        result = cluster_texts(np.vstack([x, near, far]), np.ones(len(x) + 2), config)
        members = result.labels[:-2] != OUTLIER
        own = np.einsum("ij,ij->i", x[members], np.vstack([result.centroids[c] for c in result.labels[:-2][members]]))
        assert result.join_similarity == pytest.approx(np.quantile(own, 0.05), rel=0.05)
        assert result.was_outlier[-1] and result.labels[-1] == OUTLIER
        first_group = np.bincount(result.labels[:30][result.labels[:30] != OUTLIER]).argmax()
        assert result.labels[-2] == first_group  # the member-like answer joins its group
        # members the clusterer left out rejoin at either scale (a fixed bar of 0.85 would keep the loose ones out)
        left_out = result.was_outlier[:-2]
        assert (left_out & (result.labels[:-2] != OUTLIER)).any() == left_out.any()
    with pytest.raises(ValueError, match=r"'outlier_reassign_quantile' must be in \[0, 1\], got 1.5"):
        ClusteringConfig.from_params({"outlier_reassign_quantile": 1.5})


def test_tiny_questions_become_one_cluster():
    x = np.eye(5)  # too few for two clusters of the smallest size, 3
    result = cluster_texts(x, np.ones(5), ClusteringConfig(clusterer={"kind": "hdbscan", "min_cluster_size": 5}))
    assert result.labels.tolist() == [0] * 5


def test_two_groups_of_four_answers_are_two_clusters():
    """A question of 8 texts (one cluster whatever its answers when it needed 15 texts) splits by meaning."""
    x = _blobs(np.random.default_rng(4), np.eye(8)[:2], 4)
    result = cluster_texts(x, np.ones(8), ClusteringConfig(clusterer={"kind": "hdbscan", "min_cluster_size": 15},
                                                           reducer={"kind": "none"}))
    assert result.labels.tolist() == [0] * 4 + [1] * 4


def test_a_small_question_is_grouped_by_linkage_numbered_by_first_answer_and_small_groups_left_out():
    """Two meanings of eight answers, interleaved (16 texts, fewer than linkage_below): average linkage finds
    the two, numbered as their first answers come; groups under the cluster size are outliers."""
    rng = np.random.default_rng(0)
    x = _blobs(rng, np.eye(8)[:2], 8)[np.ravel(np.column_stack([np.arange(8, 16), np.arange(8)]))]  # b, a, b, a ...
    assert HdbscanClusterer().fit_predict(x).tolist() == [0, 1] * 8
    assert _average_linkage(x, (0.5,), 9).tolist() == [OUTLIER] * 16
    with_zero = np.vstack([x, np.zeros((1, 8))])  # an encoder's vector for a text it cannot read
    assert HdbscanClusterer().fit_predict(with_zero).tolist() == [0, 1] * 8 + [OUTLIER]


def test_a_small_question_of_equally_distant_meanings_is_cut_where_the_groups_separate_best():
    """Four meanings of five answers, each as far from the others: three quarters of the pairs lie across
    meanings, so the median distance merges meanings; the cut of the highest silhouette finds all four."""
    x = _blobs(np.random.default_rng(1), np.eye(8)[:4], 5)
    truth = np.repeat(np.arange(4), 5)
    assert clustering_scores(truth, HdbscanClusterer().fit_predict(x))["ari"] == 1.0
    assert len(set(HdbscanClusterer(linkage_quantiles=(0.5,)).fit_predict(x).tolist()) - {OUTLIER}) < 4


def test_two_odd_answers_do_not_make_the_rest_of_a_small_question_one_cluster():
    """Three close meanings of eight answers and two answers far from everything: the cut that sets the two apart
    from one group of 24 has the best silhouette (0.84 against 0.81), but leaves one cluster; the three are found."""
    centres = np.zeros((3, 8))
    centres[:, 0], centres[[0, 1, 2], [1, 2, 3]] = 3, 1
    x = np.vstack([_blobs(np.random.default_rng(0), centres, 8, noise=0.15), np.eye(8)[[6, 7]] * 3])
    assert HdbscanClusterer().fit_predict(x).tolist() == [0] * 8 + [1] * 8 + [2] * 8 + [OUTLIER] * 2


@pytest.mark.parametrize("per_group", [6, 10])
def test_a_small_question_finds_groups_smaller_than_min_cluster_size(per_group):
    """Twenty groups of 6 answers (120 in all) or of 10 (200): a question's smallest cluster shrinks with the square
    root of its size, so min_cluster_size 15 (for large questions) does not merge them; without the scale it does."""
    rng = np.random.default_rng(0)
    x = _blobs(rng, np.eye(32)[:20] * 3, per_group)
    truth = np.repeat(np.arange(20), per_group)
    scaled = {"kind": "hdbscan", "min_cluster_size": 15}
    result = cluster_texts(x, np.ones(len(x)), ClusteringConfig(clusterer=scaled, reducer={"kind": "none"}))
    assert clustering_scores(truth, result.labels)["ari"] > 0.9
    fixed = cluster_texts(x, np.ones(len(x)), ClusteringConfig(clusterer={**scaled, "small_question_scale": None},
                                                               reducer={"kind": "none"}))
    assert clustering_scores(truth, fixed.labels)["ari"] < 0.5


def test_no_cluster_holds_most_of_a_question_when_it_has_groups_inside():
    rng = np.random.default_rng(0)
    # Three close meanings (a family: tired, calm, anxious) and a far one; 220 texts, so HDBSCAN's path.
    centres, sizes = [(0, 0), (1.2, 0), (0.6, 1.0), (12, 12)], [60, 60, 60, 40]
    space = np.vstack([rng.normal(centre, 0.25, (size, 2)) for centre, size in zip(centres, sizes)])
    family = np.arange(180)
    unlimited = HdbscanClusterer(max_cluster_share=None).fit_predict(space)
    assert len(set(unlimited[family])) == 1  # excess of mass keeps the family as one cluster of 82 %
    limited = HdbscanClusterer().fit_predict(space)  # at most half of the texts in one cluster
    clustered = limited >= 0
    assert np.bincount(limited[clustered]).max() <= 110 and len(set(limited[clustered])) == 4
    for group in range(3):
        members = limited[group * 60:(group + 1) * 60]
        assert pd.Series(members[members >= 0]).value_counts(normalize=True).iloc[0] > 0.9
    with pytest.raises(ValueError, match="max_cluster_share"):
        HdbscanClusterer(max_cluster_share=0)


def test_assign_joins_the_nearest_centroid_only_when_close_enough():
    centroids = {0: np.array([1.0, 0.0]), 1: np.array([0.0, 1.0])}
    assert assign(np.array([0.9, 0.1]) / np.linalg.norm([0.9, 0.1]), centroids, 0.8)[0] == 0
    assert assign(np.array([1.0, 1.0]) / np.sqrt(2), centroids, 0.8)[0] == OUTLIER


class _NeutralSentiment:
    embeddings_from = None

    def predict_proba(self, texts, embeddings):
        return pd.DataFrame({"positive": 0.1, "neutral": 0.8, "negative": 0.1}, index=range(len(texts)))


def test_a_new_answer_is_read_in_its_questions_light_and_an_older_clusterer_reads_it_alone():
    reader = ZeroShotSentiment({s: np.eye(3)[[i]] for i, s in enumerate(["positive", "neutral", "negative"])})
    questions = {q: {"question_text": q, "centroids": {0: np.array([1.0, 0.0])}, "labels": {0: "бумаги"},
                     "join_similarity": 0.5, "asks_for": asks}
                 for q, asks in (("мешает?", {"positive": 0.0, "neutral": 0.0, "negative": 1.0}),
                                 ("откуда вы?", {"positive": 0.0, "neutral": 1.0, "negative": 0.0}))}
    clusterer = AnswerClusterer(questions, None, None, _NeutralSentiment(), QuestionFrame(reader))
    vectors = np.array([[1.0, 0.0], [1.0, 0.0]])
    read = clusterer.assign(["мешает?", "откуда вы?"], ["бюрократия", "бюрократия"], vectors, vectors)
    assert read["sentiment"].tolist() == ["negative", "neutral"]
    older = pickle.loads(pickle.dumps(clusterer))
    del older.__dict__["question_frame"]  # as unpickled from a clusterer saved before questions were read
    assert older.assign(["мешает?"], ["бюрократия"], vectors[:1], vectors[:1])["sentiment"].tolist() == ["neutral"]


def test_an_unknown_question_is_named_with_a_bounded_list_of_the_known_ones():
    questions = {f"q{i:03d}": {"centroids": {}, "labels": {}, "join_similarity": 0.5} for i in range(450)}
    clusterer = AnswerClusterer(questions, None, None, _NeutralSentiment())
    with pytest.raises(KeyError, match=r"unknown question_id 'Q9'; known \(450\): \['q000', .*'q019'\] and 430 more"):
        clusterer.assign(["Q9"], ["ответ"], np.zeros((1, 2)), np.zeros((1, 2)))
    few = AnswerClusterer({1036: questions["q000"], 10106: questions["q001"]}, None, None, _NeutralSentiment())
    assert few.known_questions() == "known (2): [1036, 10106]"


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
    long_answer = "о дальнейшей судьбе компании, о направлениях её развития и проектах в России, и как быть студенту"
    table = describe_clusters([long_answer], np.ones(1), np.array([0]), np.eye(1), {0: np.ones(1)}, ClusteringConfig())
    assert table["label"].iloc[0].endswith("«о дальнейшей судьбе компании, о направлениях её развития и…»")
    assert table["representative_answers"].iloc[0] == [long_answer]  # the answers themselves stay whole


def test_paraphrases_with_emoji_and_punctuation_share_a_cluster_and_opposites_do_not(e5_folder):
    """The acceptance example of seed 000, on the demo platform's service question, with the configured
    clustering encoder (e5 + USE) and zero-shot sentiment from the configured anchors on e5."""
    params = yaml.safe_load((ROOT / "conf/base/parameters_clustering.yml").read_text())["clustering"]
    encoders = yaml.safe_load((ROOT / "conf/base/parameters_text_embedding.yml").read_text())["text_embedding"]
    platform = generate_demo_platform(DemoPlatformConfig(answers_per_question=300, n_questions=1))
    answers = platform["survey_answers"]["answer"].tolist() + ["всё супер 👍👍", "все супер!!!", "ужасно 😡"]
    normalised = pd.Series([normalise(a) for a in answers if a.strip()])
    unique = normalised.value_counts()
    texts = unique.index.tolist()
    e5 = build_encoder(encoders["encoder"])
    anchors = {label: e5.encode(phrases) for label, phrases in params["sentiment_anchors"].items()}
    reader = ZeroShotSentiment(anchors, params["zero_shot_temperature"], nearest_anchors=params["zero_shot_nearest_anchors"])
    sentiment = reader.predict_proba(texts, e5.encode(texts))
    config = ClusteringConfig.from_params(params["algorithm"])
    result = cluster_texts(build_encoder(encoders["clustering_encoder"]).encode(texts), unique.to_numpy(float), config,
                           predict_labels(sentiment))
    cluster_of = dict(zip(texts, result.labels))
    assert cluster_of[normalise("всё супер 👍👍")] == cluster_of[normalise("все супер!!!")] != OUTLIER
    assert cluster_of[normalise("ужасно 😡")] != cluster_of[normalise("все супер!!!")]


def test_praise_and_complaints_in_one_cluster_are_split_and_neutral_answers_stay_with_the_cluster():
    labels = np.array([0] * 9 + [1] * 5 + [2] * 6)
    sentiments = np.array(["positive"] * 4 + ["negative"] * 3 + ["neutral"] * 2    # praise, complaints, plain
                          + ["neutral"] * 2 + ["negative"] * 3                      # plain wordings and complaints
                          + ["positive"] * 3 + ["negative"] * 2 + ["negative"])     # the last weighs a tenth
    weights = np.array([1.0] * 19 + [0.1])
    split = split_by_sentiment(labels, weights, sentiments, share=0.3)
    assert split[:4].tolist() + split[7:9].tolist() == [0] * 6 and split[4:7].tolist() == [3] * 3
    # A complaint about one thing worded plainly or angrily is one meaning: no praise, no split.
    assert split[9:14].tolist() == [1] * 5
    # Complaints of 2.1 answers' weight among three praises: under the 3 answers a cluster needs.
    assert split[14:].tolist() == [2] * 6
    # One complaint among three praises holds a quarter of its cluster, but one answer is not a cluster.
    few = split_by_sentiment(np.zeros(4, dtype=int), np.ones(4), np.array(["positive"] * 3 + ["negative"]), 0.15)
    assert few.tolist() == [0] * 4


def test_the_reducer_and_the_clusterer_are_parts_checked_by_kind():
    assert set(REDUCERS.kinds) == {"umap", "none"} and set(CLUSTERERS.kinds) == {"hdbscan"}
    config = ClusteringConfig.from_params({"reducer": {"kind": "none"},
                                           "clusterer": {"kind": "hdbscan", "min_cluster_size": "4"}})
    assert config.reducer == {"kind": "none"}
    with pytest.raises(ValueError, match=r"clusterer 'hdbscan' has no option 'min_size'; "
                                         r"its options are \['linkage_below', 'linkage_quantiles', 'max_cluster_share', "
                                         r"'min_cluster_size', 'min_samples', 'small_question_scale'\]"):
        ClusteringConfig.from_params({"clusterer": {"kind": "hdbscan", "min_size": 4}})
    with pytest.raises(ValueError, match=r"option 'small_question_scale' must be above 0 or null, got -0.5"):
        ClusteringConfig.from_params({"clusterer": {"kind": "hdbscan", "small_question_scale": -0.5}})
    with pytest.raises(ValueError, match=r"option 'linkage_quantiles' must be one or more shares within \(0, 1\), "
                                         r"got \(0.5, 1.5\)"):
        ClusteringConfig.from_params({"clusterer": {"kind": "hdbscan", "linkage_quantiles": [0.5, 1.5]}})
    with pytest.raises(ValueError, match=r"option 'min_cluster_size' must be at least 2, got 1"):
        ClusteringConfig.from_params({"clusterer": {"kind": "hdbscan", "min_cluster_size": 1}})
    with pytest.raises(ValueError, match=r"unknown clustering reducer kind 'tsne': set `kind` to one of \['none', 'umap'\]"):
        ClusteringConfig.from_params({"reducer": {"kind": "tsne"}})
    with pytest.raises(ValueError, match="answer clustering: option 'n_keywords' must be int, got 'five'"):
        ClusteringConfig.from_params({"n_keywords": "five"})
    with pytest.raises(ValueError, match=r"reducer 'umap': option 'layouts' must be at least 1, got 0"):
        ClusteringConfig.from_params({"reducer": {"kind": "umap", "layouts": 0}})
    with pytest.raises(ValueError, match=r"reducer 'umap': option 'epochs' must be at least 1 or null, got 0"):
        ClusteringConfig.from_params({"reducer": {"kind": "umap", "epochs": 0}})


def test_umap_reads_each_dimension_standardised_so_a_narrow_encoders_groups_count_beside_a_wide_one():
    """Two encoders side by side: the first's vectors lie in a narrow cone around a common direction (as e5's
    do) and hold the groups; the second's spread over the whole sphere without any. Read as they are, the
    second decides every cosine; each dimension standardised over the texts, the first counts as much."""
    rng = np.random.default_rng(0)
    narrow = np.vstack([np.full(16, 3.0) + 0.15 * centre + 0.03 * rng.normal(size=(40, 16))
                        for centre in rng.normal(size=(3, 16))])
    wide = rng.normal(size=(120, 16))
    x = np.hstack([narrow / np.linalg.norm(narrow, axis=1, keepdims=True),
                   wide / np.linalg.norm(wide, axis=1, keepdims=True)]) / np.sqrt(2)
    truth = np.repeat([0, 1, 2], 40)
    scores = {}
    for standardise in (False, True):
        config = ClusteringConfig(clusterer={"kind": "hdbscan", "min_cluster_size": 10, "linkage_below": 0},
                                  reducer={"kind": "umap", "min_texts": 30, "standardise": standardise})
        scores[standardise] = clustering_scores(truth, cluster_texts(x, np.ones(len(x)), config).labels)["ari"]
    assert scores[True] > 0.95 and scores[False] < 0.2, scores
    # A dimension every text shares (an encoder's unused component) has no spread to scale by: left at zero.
    constant = np.hstack([x, np.full((len(x), 1), 0.5)])
    space = UmapReducer(components=3, min_texts=30).reduce(constant)
    assert np.isfinite(space).all() and space.shape == (120, 3)


def test_umap_layouts_side_by_side_each_on_one_scale_and_the_first_is_one_layout_alone():
    rng = np.random.default_rng(0)
    embeddings = _blobs(rng, rng.normal(size=(4, 16)), 40)
    one = UmapReducer(components=3, seed=5).reduce(embeddings)
    three = UmapReducer(components=3, seed=5, layouts=3).reduce(embeddings)
    assert one.shape == (160, 3) and three.shape == (160, 9)
    centred = one - one.mean(axis=0)
    assert np.allclose(three[:, :3], centred / centred.std(), atol=1e-5)  # seed 5 leads, standardised
    assert not np.allclose(three[:, 3:6], three[:, :3], atol=1e-2)  # seeds 6 and 7 lay the texts out otherwise
    assert np.allclose([three[:, k:k + 3].std() for k in (0, 3, 6)], 1.0)
    labels = CLUSTERERS.build({"kind": "hdbscan", "min_cluster_size": 10}).fit_predict(three)
    assert clustering_scores(np.repeat(np.arange(4), 40), labels)["ari"] > 0.9  # the blobs, read from all three


def test_umap_is_loaded_after_torch_so_torch_keeps_its_own_openmp_runtime():
    """Once numba's parallel pool (UMAP's neighbours beyond 4,096 texts) has loaded the system's libgomp, torch
    loaded later binds to that copy instead of its own and runs about 50 times slower
    (benchmarks/results/openmp_order.md)."""
    child = (
        "import numba, numpy as np\n"
        "from socialml.components.text.clustering import umap_module\n"
        "umap_module()\n"
        "@numba.njit(parallel=True)\n"
        "def total(x):\n"
        "    s = 0.0\n"
        "    for i in numba.prange(len(x)):\n"
        "        s += x[i]\n"
        "    return s\n"
        "total(np.ones(1000))\n"
        "import torch\n"
        "torch.ones(64, 64) @ torch.ones(64, 64)\n"
        "for line in open('/proc/self/maps'):\n"
        "    if line.split()[-1].rsplit('/', 1)[-1].startswith('libgomp.so'):\n"
        "        print(line.split()[-1])\n"
    )
    runtimes = set(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                                  check=True).stdout.split())
    assert any("/torch/lib/" in path for path in runtimes), runtimes


def test_umaps_kernels_compiled_in_one_process_are_loaded_from_disk_in_the_next():
    """umap leaves most of its numba kernels uncached (13 to 19 s of compiling before each process's first
    fit); ``umap_module()`` caches them on disk (benchmarks/results/pipeline_steps.md)."""
    child = (
        "import json, numpy as np\n"
        "from socialml.components.text.clustering import umap_module\n"
        "umap = umap_module()\n"
        "umap.UMAP(n_components=2, metric='cosine', random_state=0).fit(np.random.default_rng(0).random((60, 8)))\n"
        "stats = umap.umap_.smooth_knn_dist.stats\n"
        "print(json.dumps({'hits': sum(stats.cache_hits.values()), 'misses': sum(stats.cache_misses.values())}))\n"
    )
    runs = [json.loads(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                                      check=True).stdout.split("\n")[-2]) for _ in range(2)]
    assert runs[1] == {"hits": 1, "misses": 0}  # the first process compiled it, or found it compiled at install
