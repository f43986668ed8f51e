import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from socialml.components.evaluation.metrics import (bootstrap_intervals, clustering_comparison, clustering_scores,
                                                    coded_clustering_scores, hidden_item_scores,
                                                    ranking_scores, roc_auc)
from socialml.components.evaluation.tables import comparison_table, leaders, metric_payload
from socialml.components.recsys.recommenders import top_k


def test_ranking_scores_count_hits_ndcg_and_coverage():
    scores = ranking_scores(np.array([[1, 2, 3], [4, 5, None]]), [{3}, {9}], [1, 3], n_items=10)
    assert scores["hit_rate_at_1"] == 0 and scores["hit_rate_at_3"] == 0.5
    assert scores["ndcg_at_3"] == pytest.approx(0.5 * (1 / np.log2(4)))
    assert scores["coverage_at_3"] == 0.5
    by_string_ids = ranking_scores(np.array([["p-1", "p-2", "p-3"], ["p-4", "p-5", None]]), [{"p-3"}, {"p-9"}], [1, 3],
                                   n_items=10)
    assert by_string_ids == scores


def test_hidden_item_hit_rate_ranks_ties_as_top_k_does():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(200, 6)).astype(float)  # many ties
    held = sp.csr_matrix(rng.random((200, 6)) < 0.3)
    hidden_cols = np.array([rng.choice(np.flatnonzero(~row)) if (~row).any() else 0
                            for row in held.toarray()])
    users, items = pd.Index([f"u{i}" for i in range(200)]), pd.Index(list("abcdef"))
    hidden = pd.DataFrame({"client_id": users, "product_id": items[hidden_cols]})
    out = hidden_item_scores(scores, held, users, items, hidden, [1, 2, 3])
    for k in (1, 2, 3):
        expected = (top_k(scores, k, held) == hidden_cols[:, None]).any(axis=1).mean()
        assert out[f"hit_rate_at_{k}"] == pytest.approx(expected)


def test_comparison_tables_sort_best_first_and_log_only_finite_numbers_under_clean_names():
    rows = [{"model": "a", "target": "age", "auc": 0.6, "f1_56+": 0.5, "note": "x"},
            {"model": "b", "target": "age", "auc": 0.7, "f1_56+": float("nan"), "note": "y"}]
    table, metrics = comparison_table(rows, "auc", "audience", keys=("model", "target"))
    assert table["model"].tolist() == ["b", "a"]
    assert metrics == {"audience/b/age/auc": {"value": 0.7, "step": 0}, "audience/a/age/auc": {"value": 0.6, "step": 0},
                       "audience/a/age/f1_56_": {"value": 0.5, "step": 0}}
    assert metric_payload("", {"rows": 3, "flag": True}) == {"rows": {"value": 3.0, "step": 0}}


def test_leaders_name_each_groups_best_model_with_its_interval_and_its_gain_over_the_baseline():
    intervals = {"gain_vs_majority": 0.0, "gain_low": 0.0, "gain_high": 0.0}
    rows = [{"model": "majority", "target": "sex", "roc_auc": 0.81, "roc_auc_low": 0.79, "roc_auc_high": 0.83,
             **intervals},
            {"model": "catboost", "target": "sex", "roc_auc": 0.80, "roc_auc_low": 0.78, "roc_auc_high": 0.82,
             **intervals, "gain_vs_majority": -0.01, "gain_low": -0.02},
            {"model": "catboost", "target": "age", "roc_auc": 0.75, "roc_auc_low": 0.72, "roc_auc_high": 0.77,
             "gain_vs_majority": 0.25, "gain_low": 0.22, "gain_high": 0.28},
            {"model": "majority", "target": "age", "roc_auc": 0.5, "roc_auc_low": 0.49, "roc_auc_high": 0.51,
             **intervals}]
    table, _ = comparison_table(rows, ["target", "roc_auc"], "audience", keys=("model", "target"),
                                ascending=[True, False])
    # The baseline leading gets no gain against itself; sorting by the group first keeps each group's best.
    assert leaders(table) == [
        ("age", "catboost, roc_auc 0.750 [0.720, 0.770], +0.250 [+0.220, +0.280] over majority"),
        ("sex", "majority, roc_auc 0.810 [0.790, 0.830]")]
    plain, _ = comparison_table([{"model": "p-1", "hit_rate_at_5": 0.3}, {"model": "p-2", "hit_rate_at_5": 0.4}],
                                "hit_rate_at_5", "feed")
    assert leaders(plain) == [("", "p-2, hit_rate_at_5 0.400")]  # no interval columns: the value alone
    assert leaders(pd.DataFrame({"model": ["a"], "auc": [0.7]})) == []  # not a comparison table
    assert leaders(plain.iloc[:0]) == []
    assert leaders(plain[["model"]]) == [] and plain[["model"]].attrs  # a slice keeps attrs, not the metric


def test_bootstrap_intervals_hold_the_true_mean_and_narrow_with_more_rows():
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 10_000):
        values = rng.normal(0.7, 0.2, n)
        low, high = bootstrap_intervals(lambda rows: {"mean": values[rows].mean()}, n, runs=300)["mean"]
        assert low < values.mean() < high and low < 0.7 + 0.05 and high > 0.7 - 0.05
        widths.append(high - low)
    assert widths[1] < widths[0] / 5  # about 1/sqrt(100) as wide
    same = bootstrap_intervals(lambda rows: {"difference": 0.0 * rows.sum()}, 50, runs=20)["difference"]
    assert same == (0.0, 0.0)


def test_bootstrap_intervals_of_a_metric_that_resampling_inflates_surround_its_value():
    from sklearn.metrics import normalized_mutual_info_score

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 60, 3000)
    found = np.where(rng.random(3000) < 0.6, truth, rng.integers(0, 60, 3000))
    value = normalized_mutual_info_score(truth, found)
    low, high = bootstrap_intervals(lambda rows: {"nmi": normalized_mutual_info_score(truth[rows], found[rows])},
                                    3000, runs=50)["nmi"]
    assert low < value < high and high - low < 0.05


def test_clustering_scores_adjust_mutual_information_for_the_number_of_clusters():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(20), 50)
    # Random clusters carry no information; when there are many of them NMI still rises well above zero.
    many_random = clustering_scores(truth, rng.integers(0, 300, len(truth)))
    assert many_random["nmi"] > 0.3 and abs(many_random["ami"]) < 0.05
    exact_but_outliers = np.where(rng.random(len(truth)) < 0.1, -1, truth)
    scores = clustering_scores(truth, exact_but_outliers)
    assert scores["ami"] > 0.8 and 0.05 < scores["outlier_share"] < 0.15


@pytest.mark.parametrize("case", ["random", "one_cluster_each", "one_side_split", "singletons", "identical",
                                  "codes_absent", "large"])
def test_coded_clustering_scores_match_sklearns(case):
    rng = np.random.default_rng(1)
    truth, predicted = rng.integers(0, 7, 500), rng.integers(0, 30, 500)
    if case == "one_cluster_each":
        truth, predicted = np.zeros(50, int), np.zeros(50, int)
    elif case == "one_side_split":
        predicted = np.zeros(500, int)
    elif case == "singletons":
        predicted = np.arange(500)
    elif case == "identical":
        predicted = truth.copy()
    elif case == "large":  # the size of a real question: thousands of answers, a gold group of most
        truth = np.where(rng.random(6000) < 0.5, 0, rng.integers(0, 7, 6000))
        predicted = np.where(rng.random(6000) < 0.8, truth, rng.integers(0, 30, 6000))
    elif case == "codes_absent":  # a resample may miss some of a question's groups and clusters
        keep = (truth != 3) & (predicted % 5 != 0)
        truth, predicted = truth[keep], predicted[keep]
    expected = clustering_scores(truth, predicted)
    scores = coded_clustering_scores(truth, predicted, 7, max(30, int(predicted.max()) + 1))
    for metric in ("nmi", "ami", "ari"):
        assert scores[metric] == pytest.approx(expected[metric], abs=1e-10), metric


def test_a_clustering_comparison_averages_over_questions_and_gives_the_paired_gain_over_the_baseline():
    rng = np.random.default_rng(0)
    # Two questions with string ids; the model finds the groups but leaves a tenth as outliers, the baseline
    # is one large cluster per question with a few outliers.
    group = np.tile(np.repeat(["alarm", "weather", "music"], 40), 2)
    scored = pd.DataFrame({"question_id": np.repeat(["q-1", "q-2"], 120), "group": group,
                           "model": np.where(rng.random(240) < 0.1, -1, pd.factorize(group)[0]),
                           "baseline": np.where(rng.random(240) < 0.05, -1, 0)})
    rows = {row["model"]: row for row in clustering_comparison(scored, ["baseline", "model"], "baseline", runs=50)}
    model, baseline = rows["model"], rows["baseline"]
    first = scored[scored["question_id"] == "q-1"]
    second = scored[scored["question_id"] == "q-2"]
    assert model["nmi"] == pytest.approx(np.mean([clustering_scores(q["group"], q["model"])["nmi"]
                                                  for q in (first, second)]))
    assert (model["questions"], model["answers"], model["clusters"], baseline["clusters"]) == (2, 240, 6, 2)
    for metric in ("nmi", "ami", "ari"):
        assert model[f"{metric}_low"] <= model[metric] <= model[f"{metric}_high"]
    assert model["gain_vs_baseline"] == pytest.approx(model["nmi"] - baseline["nmi"])
    assert 0 < model["gain_low"] <= model["gain_vs_baseline"] <= model["gain_high"]
    assert baseline["gain_vs_baseline"] == 0 and baseline["gain_low"] == baseline["gain_high"] == 0


def test_roc_auc_matches_sklearn_with_ties_and_an_absent_class():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    truth = rng.choice(["a", "b", "c"], 300)
    probabilities = pd.DataFrame(rng.integers(0, 5, (300, 4)) / 4, columns=["a", "b", "c", "d"])  # ties; nobody is "d"
    expected = np.mean([roc_auc_score(truth == c, probabilities[c]) for c in "abc"])
    assert roc_auc(truth, probabilities) == pytest.approx(expected)
    binary = probabilities[["a", "b"]]
    assert roc_auc(truth[truth != "c"], binary[truth != "c"]) == pytest.approx(
        roc_auc_score(truth[truth != "c"] == "b", binary.loc[truth != "c", "b"]))
    # A truth label no column predicts is a negative for every class, as in sklearn's one-vs-rest.
    odd = truth.copy()
    odd[::50] = "e"
    assert roc_auc(odd, probabilities) == pytest.approx(np.mean([roc_auc_score(odd == c, probabilities[c])
                                                                 for c in "abc"]))


def test_roc_auc_of_scores_with_one_nan_is_nan_not_a_rank():
    rng = np.random.default_rng(0)
    truth = rng.choice(["a", "b"], 1_000)
    probabilities = pd.DataFrame(rng.random((1_000, 2)), columns=["a", "b"])
    probabilities.iloc[500, 1] = np.nan
    assert np.isnan(roc_auc(truth, probabilities))


def test_multilabel_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    from socialml.components.evaluation.metrics import multilabel_f1

    rng = np.random.default_rng(1)
    y = rng.random((80, 5)) < 0.3
    y[:, 4] = False  # a label nobody has: left out of the macro mean, as multilabel_scores does
    predicted = rng.random((80, 5)) < 0.3
    scores = multilabel_f1(y, predicted)
    assert scores["micro_f1"] == pytest.approx(f1_score(y, predicted, average="micro", zero_division=0))
    assert scores["macro_f1"] == pytest.approx(f1_score(y[:, :4], predicted[:, :4], average="macro", zero_division=0))


@pytest.mark.parametrize("case", ["random", "class only predicted", "class only true", "one class"])
def test_coded_classification_scores_match_classification_scores(case):
    from socialml.components.evaluation.metrics import classification_scores, coded_classification_scores

    rng = np.random.default_rng(2)
    truth, predicted = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    if case == "class only predicted":
        truth[truth == 3], predicted[:5] = 0, 3
    elif case == "class only true":
        predicted[predicted == 2] = 1
    elif case == "one class":
        truth[:], predicted[:] = 1, 1
    expected = classification_scores(truth, predicted)
    scores = coded_classification_scores(truth, predicted)
    assert scores["macro_f1"] == pytest.approx(expected["macro_f1"])
    assert scores["accuracy"] == pytest.approx(expected["accuracy"])
