"""Quality metrics of every system: each takes held-out truth and predictions, returns plain floats."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.core.progress import progress


def classification_scores(truth: Sequence, predicted: Sequence) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {"macro_f1": float(f1_score(truth, predicted, average="macro")),
            "weighted_f1": float(f1_score(truth, predicted, average="weighted")),
            "accuracy": float(accuracy_score(truth, predicted))}


def coded_classification_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """``classification_scores``' macro-F1 and accuracy for integer class codes, from counts: fast enough to
    bootstrap (macro over the classes present in either array, as scikit-learn's)."""
    classes = int(max(truth.max(), predicted.max())) + 1
    true_counts, predicted_counts = np.bincount(truth, minlength=classes), np.bincount(predicted, minlength=classes)
    hits = np.bincount(truth[truth == predicted], minlength=classes)
    present = true_counts + predicted_counts > 0
    return {"macro_f1": float(np.mean(2 * hits[present] / (true_counts + predicted_counts)[present])),
            "accuracy": float(hits.sum() / len(truth))}


def clustering_scores(truth: Sequence, predicted: Sequence, outlier: int = -1) -> dict[str, float]:
    """NMI, AMI and ARI against gold groups, outliers counted as one cluster, and the outlier share. AMI is NMI
    less what chance gives a partition of the same sizes: NMI alone rises with the number of clusters."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

    predicted = np.asarray(predicted)
    return {"nmi": float(normalized_mutual_info_score(truth, predicted)),
            "ami": float(adjusted_mutual_info_score(truth, predicted)),
            "ari": float(adjusted_rand_score(truth, predicted)),
            "outlier_share": float(np.mean(predicted == outlier))}


BOOTSTRAP_RUNS = 200  # resamples behind a comparison's intervals unless its settings say `bootstrap_runs`


def comparison_reference(settings: Mapping[str, Any], models: Sequence[str]) -> tuple[str, int]:
    """(the model each comparison measures gains against: ``baseline``, else the first listed; the
    bootstrap's resamples: ``bootstrap_runs``, else ``BOOTSTRAP_RUNS``), checked against the models."""
    baseline = settings.get("baseline", models[0])
    if baseline not in models:
        raise SettingsError(f"baseline {baseline!r} is not among the models compared {sorted(models)}")
    return baseline, int(settings.get("bootstrap_runs", BOOTSTRAP_RUNS))


def interval_columns(intervals: Mapping[str, tuple[float, float]], gain: float, baseline: str) -> dict[str, float]:
    """A comparison row's columns from ``bootstrap_intervals`` of its metrics and of ``gain`` (the paired
    difference from the baseline): ``<metric>_low``, ``<metric>_high``, ``gain_vs_<baseline>``,
    ``gain_low``, ``gain_high``."""
    columns = {f"{metric}_{end}": bounds[i] for metric, bounds in intervals.items() if metric != "gain"
               for i, end in enumerate(("low", "high"))}
    return {**columns, f"gain_vs_{baseline}": float(gain), "gain_low": intervals["gain"][0],
            "gain_high": intervals["gain"][1]}


def bootstrap_intervals(score: Callable[[np.ndarray], Mapping[str, float]], n_rows: int, runs: int = BOOTSTRAP_RUNS,
                        level: float = 0.95, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Per metric of ``score`` (given row indices), the interval holding ``level`` of its values over ``runs``
    resamples drawn with replacement, moved so that their median sits on the full sample's value: a metric
    that resampling biases (NMI and ARI rise when a text is drawn twice) keeps its spread, not its bias.
    A score of a difference gives the difference's interval."""
    rng = np.random.default_rng(seed)
    full = score(np.arange(n_rows))
    draws = pd.DataFrame([score(rng.integers(0, n_rows, n_rows))
                          for _ in progress(range(runs), desc="bootstrap", leave=False)])
    tail = (1 - level) / 2 * 100
    return {name: (float(full[name] + np.percentile(values, tail) - np.median(values)),
                   float(full[name] + np.percentile(values, 100 - tail) - np.median(values)))
            for name, values in draws.items()}


def classification_intervals(truth: np.ndarray, predictions: Mapping[str, np.ndarray], baseline: str,
                             runs: int = BOOTSTRAP_RUNS) -> dict[str, dict[str, float]]:
    """Per model, 95 % bootstrap intervals (rows resampled, the same draws for every model) of macro-F1 and
    accuracy, and its macro-F1 gain over ``baseline`` with the paired interval (``interval_columns``)."""
    classes = np.unique(np.concatenate([np.asarray(truth), *map(np.asarray, predictions.values())]))
    codes = {name: np.searchsorted(classes, predicted) for name, predicted in predictions.items()}
    true_codes = np.searchsorted(classes, truth)
    out = {}
    for name, predicted in codes.items():
        def score(rows: np.ndarray, predicted: np.ndarray = predicted) -> dict[str, float]:
            scores = coded_classification_scores(true_codes[rows], predicted[rows])
            return {**scores, "gain": scores["macro_f1"]
                    - coded_classification_scores(true_codes[rows], codes[baseline][rows])["macro_f1"]}

        intervals = bootstrap_intervals(score, len(true_codes), runs=runs)
        out[name] = interval_columns(intervals, score(np.arange(len(true_codes)))["gain"], baseline)
    return out


def multilabel_f1(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Micro and macro F1 of binary label matrices (macro over the labels present in ``y``), from counts:
    fast enough to bootstrap; sklearn's values (zero_division=0)."""
    y, predicted = np.asarray(y, dtype=bool), np.asarray(predicted, dtype=bool)
    tp = (y & predicted).sum(axis=0)
    fp = (~y & predicted).sum(axis=0)
    fn = (y & ~predicted).sum(axis=0)

    def f1(tp, fp, fn):
        denominator = 2 * tp + fp + fn
        return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
    present = y.sum(axis=0) > 0
    return {"micro_f1": float(f1(tp.sum(), fp.sum(), fn.sum())),
            "macro_f1": float(f1(tp, fp, fn)[present].mean()) if present.any() else float("nan")}


def multilabel_scores(y: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray,
                      labels: Sequence[str]) -> tuple[dict[str, float], list[dict]]:
    """Micro/macro F1 at the tuned thresholds, macro PR-AUC; and per label F1, PR-AUC, support. A label
    without a threshold (NaN: a model that never learnt it) is never predicted and has no PR-AUC."""
    from sklearn.metrics import average_precision_score, f1_score

    thresholds = np.asarray(thresholds, dtype=float)
    predicted = probabilities >= thresholds  # False wherever the threshold is NaN
    per_label = []
    for j, label in enumerate(labels):
        support = int(y[:, j].sum())
        scored = support and not np.isnan(thresholds[j])
        per_label.append({"label": label, "support": support,
                          "f1": float(f1_score(y[:, j], predicted[:, j], zero_division=0)),
                          "pr_auc": float(average_precision_score(y[:, j], probabilities[:, j])) if scored else np.nan,
                          "threshold": float(thresholds[j])})
    present = y.sum(axis=0) > 0
    pr_aucs = [p["pr_auc"] for p in per_label if not np.isnan(p["pr_auc"])]
    summary = {"micro_f1": float(f1_score(y, predicted, average="micro", zero_division=0)),
               "macro_f1": float(f1_score(y[:, present], predicted[:, present], average="macro", zero_division=0)),
               "macro_pr_auc": float(np.mean(pr_aucs)) if pr_aucs else float("nan")}
    if (y.sum(axis=1) == 1).all():  # single-label data: also the scores of the top topic (BASELINES.md's protocol)
        top = coded_classification_scores(y.argmax(axis=1), probabilities.argmax(axis=1))
        summary.update(top1_accuracy=top["accuracy"], top1_macro_f1=top["macro_f1"])
    return summary, per_label


def ranking_scores(recommended: np.ndarray, relevant: Sequence[set], k_values: Sequence[int],
                   n_items: int) -> dict[str, float]:
    """HitRate@k (a request is a hit if any of its k items is relevant), NDCG@k, coverage@k.

    ``recommended`` is (requests × at least max k) item ids of any type, padded with None (or NaN)
    where fewer were recommended; ``relevant`` holds each request's set of relevant ids. NDCG uses
    binary gains, ideal = min(k, |relevant|) hits.
    """
    recommended = np.asarray(recommended, dtype=object)
    present = pd.notna(recommended)
    per_request = ranking_per_request(recommended, relevant, k_values)
    out = {}
    for k in k_values:
        shown = recommended[:, :k]
        out[f"hit_rate_at_{k}"] = float(per_request[f"hit_rate_at_{k}"].mean()) if len(shown) else float("nan")
        out[f"ndcg_at_{k}"] = float(per_request[f"ndcg_at_{k}"].mean()) if len(shown) else float("nan")
        out[f"coverage_at_{k}"] = float(len(set(shown[present[:, :k]].tolist())) / max(n_items, 1))
    out["requests"] = float(len(recommended))
    return out


def ranking_per_request(recommended: np.ndarray, relevant: Sequence[set], k_values: Sequence[int]) -> pd.DataFrame:
    """Per request, ``hit_rate_at_<k>`` (0 or 1) and ``ndcg_at_<k>``: ``ranking_scores`` before averaging
    (a bootstrap over requests resamples these rows)."""
    recommended = np.asarray(recommended, dtype=object)
    present = pd.notna(recommended)
    hits = np.array([[ok and item in targets for item, ok in zip(row, row_present)]
                     for row, row_present, targets in zip(recommended, present, relevant)], dtype=bool)
    hits = hits.reshape(len(recommended), recommended.shape[1] if recommended.ndim == 2 else 0)
    n_relevant = np.array([len(targets) for targets in relevant], dtype=int)
    discounts = 1 / np.log2(np.arange(2, hits.shape[1] + 2))
    out = {}
    for k in k_values:
        dcg = (hits[:, :k] * discounts[:k]).sum(axis=1)
        ideal = np.cumsum(discounts[:k])[np.clip(np.minimum(n_relevant, k) - 1, 0, None)] if len(hits) else dcg
        out[f"hit_rate_at_{k}"] = hits[:, :k].any(axis=1).astype(float)
        out[f"ndcg_at_{k}"] = np.where(n_relevant > 0, dcg / np.where(n_relevant > 0, ideal, 1), 0.0)
    return pd.DataFrame(out)


def feed_top_k(recommendations: pd.DataFrame, requests: pd.DataFrame, targets: pd.DataFrame, k: int
               ) -> tuple[np.ndarray, list[set]]:
    """Ranked posts (request_id, rank, post_id) as a requests × k array (None where fewer) in the order of
    ``requests``, and each request's set of relevant posts (a request without an answer is a miss)."""
    top = (recommendations.pivot(index="request_id", columns="rank", values="post_id")
           .reindex(index=requests["request_id"], columns=range(1, k + 1)).to_numpy(dtype=object))
    relevant = targets.groupby("request_id")["post_id"].agg(set).reindex(requests["request_id"])
    return top, [value if isinstance(value, set) else set() for value in relevant]


def feed_scores(recommendations: pd.DataFrame, requests: pd.DataFrame, targets: pd.DataFrame,
                k_values: Sequence[int], n_items: int) -> dict[str, float]:
    """``ranking_scores`` of ranked posts (request_id, rank, post_id) over every held-out request
    (a request without an answer is a miss)."""
    top, relevant = feed_top_k(recommendations, requests, targets, max(k_values))
    return ranking_scores(top, relevant, k_values, n_items)


def hidden_item_ranks(scores: np.ndarray, held: sp.csr_matrix, user_ids: pd.Index, item_ids: pd.Index,
                      hidden: pd.DataFrame) -> pd.DataFrame:
    """Per scored user (one row per pair of ``hidden`` whose ids are known, in its order): the AUC of their
    hidden item against the items they do not hold (NaN when they hold every other one) and how many unheld
    items rank ahead of it.

    ``scores`` and ``held`` are users × items (rows ``user_ids``, columns ``item_ids``); ``hidden``
    has one (client_id, product_id) pair per scored user. Ties count half for the AUC and go to the
    lower column for the rank, as ``recommenders.top_k`` ranks.
    """
    rows = user_ids.get_indexer(hidden["client_id"])
    cols = item_ids.get_indexer(hidden["product_id"])
    known = (rows >= 0) & (cols >= 0)
    rows, cols = rows[known], cols[known]
    s = np.asarray(scores, dtype=np.float64)[rows]
    negatives = ~(held[rows].toarray() > 0)
    negatives[np.arange(len(rows)), cols] = False
    target = s[np.arange(len(rows)), cols][:, None]
    n_negatives = negatives.sum(axis=1)
    wins = ((s < target) & negatives).sum(axis=1) + 0.5 * ((s == target) & negatives).sum(axis=1)
    ahead = (((s > target) | ((s == target) & (np.arange(s.shape[1]) < cols[:, None]))) & negatives).sum(axis=1)
    return pd.DataFrame({"client_id": hidden["client_id"].to_numpy()[known],
                         "auc": np.where(n_negatives > 0, wins / np.maximum(n_negatives, 1), np.nan),
                         "ahead": np.where(np.isfinite(target[:, 0]), ahead, np.iinfo(np.int64).max)})


def hidden_item_scores(scores: np.ndarray, held: sp.csr_matrix, user_ids: pd.Index, item_ids: pd.Index,
                       hidden: pd.DataFrame, k_values: Sequence[int]) -> dict[str, float]:
    """AUC per user of their hidden item against the items they do not hold, averaged; HitRate@k
    (see ``hidden_item_ranks``)."""
    ranks = hidden_item_ranks(scores, held, user_ids, item_ids, hidden)
    return hidden_item_summary(ranks, k_values)


def hidden_item_summary(ranks: pd.DataFrame, k_values: Sequence[int]) -> dict[str, float]:
    """Mean AUC per client and HitRate@k of ``hidden_item_ranks`` rows (a bootstrap passes a resample)."""
    empty = ranks.empty
    out = {"auc_per_client": float("nan") if empty else float(np.nanmean(ranks["auc"])),
           "clients_scored": float(len(ranks))}
    for k in k_values:
        out[f"hit_rate_at_{k}"] = float("nan") if empty else float(np.mean(ranks["ahead"] < k))
    return out


def roc_auc(truth: np.ndarray | pd.Series, probabilities: pd.DataFrame) -> float:
    """ROC-AUC of the second class for two classes; for more, the mean one-vs-rest AUC over the classes
    present in ``truth`` (a class nobody holds, or everybody, has none). Rank-based (Mann-Whitney, ties
    averaged): sklearn's value."""
    return class_roc_auc(np.asarray(truth, dtype=object), probabilities.to_numpy(dtype=float),
                         list(probabilities.columns))


def class_roc_auc(truth: np.ndarray, scores: np.ndarray, classes: Sequence[Any]) -> float:
    """``roc_auc`` over a score matrix whose columns are ``classes``: fast enough to be bootstrapped
    (each positive's score is placed among the sorted negatives' scores, a tie counting a half)."""
    scored = range(1, 2) if len(classes) == 2 else range(len(classes))
    if np.isnan(scores[:, list(scored)]).any():  # sklearn refuses such scores; sorting would rank them last
        return float("nan")
    aucs = []
    for j in scored:
        positive = truth == classes[j]
        n_positive = int(positive.sum())
        n_negative = len(truth) - n_positive
        if n_positive and n_negative:
            negatives = np.sort(scores[~positive, j])
            below = np.searchsorted(negatives, scores[positive, j], side="left")
            not_above = np.searchsorted(negatives, scores[positive, j], side="right")
            aucs.append((below.sum() + not_above.sum()) / 2 / (n_positive * n_negative))
    return float(np.mean(aucs)) if aucs else float("nan")


def audience_scores(truth: pd.Series, probabilities: pd.DataFrame) -> dict[str, float]:
    """Weighted F1 of the most probable class, ROC-AUC (one-vs-rest macro for several classes), F1 of each class."""
    from sklearn.metrics import f1_score

    classes = list(probabilities.columns)
    predicted = probabilities.to_numpy().argmax(axis=1)
    predicted = np.array(classes, dtype=object)[predicted]
    scores = {"weighted_f1": float(f1_score(truth, predicted, average="weighted")),
              "roc_auc": roc_auc(truth, probabilities)}
    for c in classes:
        scores[f"f1_{c}"] = float(f1_score(truth == c, predicted == c))
    return scores


def coded_clustering_scores(truth: np.ndarray, predicted: np.ndarray, n_groups: int, n_clusters: int
                            ) -> dict[str, float]:
    """``clustering_scores``' NMI, AMI and ARI for labelings coded 0..n-1 (codes absent from a resample
    allowed), from their contingency table: sklearn's values, fast enough to bootstrap."""
    from scipy.special import gammaln

    n = len(truth)
    table = np.bincount(truth * n_clusters + predicted, minlength=n_groups * n_clusters).reshape(n_groups, n_clusters)
    row_sums, column_sums = table.sum(axis=1), table.sum(axis=0)
    row_of, column_of = np.nonzero(table)
    cells, rows, columns = table[row_of, column_of], row_sums[row_sums > 0], column_sums[column_sums > 0]
    # ARI from sklearn's pair confusion matrix, in Python integers (the products overflow int64 at 10^5 rows).
    same_both, same_truth, same_predicted = (int((counts.astype(np.int64) ** 2).sum()) for counts in (cells, rows, columns))
    tp, fp, fn = same_both - n, same_predicted - same_both, same_truth - same_both
    tn = n * n - fp - fn - same_both
    ari = 1.0 if fn == 0 and fp == 0 else 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
    if len(rows) == len(columns) == 1:
        return {"nmi": 1.0, "ami": 1.0, "ari": ari}  # neither labeling splits the data: a perfect match
    if len(rows) == 1 or len(columns) == 1:
        return {"nmi": 0.0, "ami": 0.0, "ari": ari}
    share = cells / n
    terms = share * (np.log(cells) - np.log(n)) + share * (
        2 * np.log(n) - np.log(row_sums[row_of].astype(float)) - np.log(column_sums[column_of].astype(float)))
    mi = float(np.clip(np.where(np.abs(terms) < np.finfo(float).eps, 0.0, terms).sum(), 0.0, None))
    mean_entropy = sum(-float(np.sum(counts / n * (np.log(counts) - np.log(n)))) for counts in (rows, columns)) / 2
    # Expected mutual information of two random labelings with these sizes: every cell count k a pair of
    # sizes (a, b) allows, weighted by its hypergeometric probability (log factorials from one table).
    log_factorial, log_of = gammaln(np.arange(n + 1) + 1), np.log(np.maximum(np.arange(n + 1), 1))
    a, b = (sizes.ravel() for sizes in np.meshgrid(rows, columns, indexing="ij"))
    low, high = np.maximum(1, a + b - n), np.minimum(a, b)
    counts = high - low + 1
    pair = np.repeat(np.arange(len(a)), counts)
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + low[pair]
    per_pair = (log_factorial[a] + log_factorial[b] + log_factorial[n - a] + log_factorial[n - b] - log_factorial[n])
    log_probability = (per_pair[pair] - log_factorial[k] - log_factorial[a[pair] - k] - log_factorial[b[pair] - k]
                       - log_factorial[n - a[pair] - b[pair] + k])
    emi = float(np.sum(k / n * (np.log(n) + log_of[k] - log_of[a][pair] - log_of[b][pair]) * np.exp(log_probability)))
    denominator = mean_entropy - emi
    denominator = min(denominator, -np.finfo(float).eps) if denominator < 0 else max(denominator, np.finfo(float).eps)
    return {"nmi": mi / mean_entropy if mi else 0.0, "ami": (mi - emi) / denominator, "ari": ari}


def clustering_comparison(scored: pd.DataFrame, models: Sequence[str], baseline: str,
                          runs: int = BOOTSTRAP_RUNS) -> list[dict[str, Any]]:
    """Comparison rows of clusterings of the same answers. ``scored`` has question_id, group (gold) and a
    column of cluster ids per model (-1, an outlier, counts as one cluster). Per model: NMI, AMI and ARI
    averaged over questions (as ``question_clustering_scores``), the outlier share and the number of
    clusters; 95 % bootstrap intervals of NMI, AMI and ARI (answers resampled, the same draws for every model),
    and its NMI gain over ``baseline`` with the paired interval (``interval_columns``)."""
    # Codes within each question, so that a contingency table is one question's groups by its clusters.
    question = pd.factorize(scored["question_id"])[0]
    coded = {column: np.zeros(len(scored), dtype=np.int64) for column in ("group", *models)}
    sizes: dict[str, list[int]] = {column: [] for column in coded}
    for q in range(question.max() + 1):
        members = np.flatnonzero(question == q)
        for column in coded:
            codes, uniques = pd.factorize(scored[column].to_numpy()[members])
            coded[column][members] = codes
            sizes[column].append(len(uniques))

    def score(rows: np.ndarray) -> dict[tuple[str, str], float]:
        per_question = [(q, rows[question[rows] == q]) for q in np.unique(question[rows])]
        out = {}
        for model in models:
            means = pd.DataFrame([coded_clustering_scores(coded["group"][r], coded[model][r], sizes["group"][q],
                                                          sizes[model][q]) for q, r in per_question]).mean()
            out.update({(model, metric): float(value) for metric, value in means.items()})
        out.update({(model, "gain"): out[(model, "nmi")] - out[(baseline, "nmi")] for model in models})
        return out

    full, intervals = score(np.arange(len(scored))), bootstrap_intervals(score, len(scored), runs)
    rows, questions = [], [group for _, group in scored.groupby("question_id")]
    for model in models:
        clusters = sum(group[model][group[model] != -1].nunique() for group in questions)
        outlier_share = float(np.mean([(group[model] == -1).mean() for group in questions]))
        own = {metric: intervals[(model, metric)] for metric in ("nmi", "ami", "ari", "gain")}
        rows.append({"model": model, "answers": len(scored), "questions": len(questions), "clusters": int(clusters),
                     **{metric: full[(model, metric)] for metric in ("nmi", "ami", "ari")},
                     "outlier_share": outlier_share, **interval_columns(own, full[(model, "gain")], baseline)})
    return rows


def question_clustering_scores(clusters: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """NMI, AMI, ARI and outlier share per question against gold groups, their means, and (where ``truth``
    has a sentiment) the answers' sentiment macro-F1.

    ``clusters`` has answer_id, question_id, cluster, sentiment; ``truth`` answer_id, group and optionally
    sentiment. Answers without a gold group are not scored.
    """
    from sklearn.metrics import f1_score

    truth = truth.rename(columns={"sentiment": "true_sentiment"})
    data = clusters.merge(truth[[c for c in ("answer_id", "group", "true_sentiment") if c in truth]],
                          on="answer_id", validate="one_to_one")
    if data.empty:
        raise DataStop("no clustered answer has a gold group: check the answers' ids against the gold table's")
    report = pd.DataFrame([{"question_id": q, "answers": len(g), **clustering_scores(g["group"], g["cluster"])}
                           for q, g in data.groupby("question_id")])
    summary = {name: float(report[name].mean()) for name in ("nmi", "ami", "ari", "outlier_share")}
    if "true_sentiment" in data:
        summary["answer_sentiment_macro_f1"] = float(f1_score(data["true_sentiment"], data["sentiment"], average="macro"))
    return report, summary
