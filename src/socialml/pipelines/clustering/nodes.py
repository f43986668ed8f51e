"""Answer clustering nodes (seed 000): per question, clusters with keywords, labels and sentiment."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, log_loss

from socialml.components.core.errors import SettingsError
from socialml.components.core.progress import progress
from socialml.components.data.canonical import SENTIMENTS
from socialml.components.data.demo_platform import DemoPlatformConfig, generate_survey_answers
from socialml.components.evaluation.charts import CLUSTER_COLOURS, OUTLIER_COLOUR, cluster_sizes_figure
from socialml.components.evaluation.metrics import clustering_comparison, comparison_reference, question_clustering_scores
from socialml.components.evaluation.protocols import train_test_rows
from socialml.components.evaluation.tables import comparison_table, metric_payload
from socialml.components.text.clustering import (
    OUTLIER,
    AnswerClusterer,
    ClusteringConfig,
    bertopic_default_chain,
    cluster_texts,
    describe_clusters,
)
from socialml.components.text.preprocess import normalise
from socialml.components.text.sentiment import (
    SENTIMENT_COLOURS, BlendedSentiment, DeniedTroubleSentiment, EmojiSentiment, QuestionFrame, ZeroShotSentiment,
    predict_labels,
)
from socialml.components.text.vectors import encoder_of, require_encoder, to_matrix, vector_columns
from socialml.pipelines.text_embedding.nodes import embed_answers

logger = logging.getLogger(__name__)
BLEND_WEIGHTS = [round(w, 1) for w in np.linspace(0, 1, 11)]
EMOJI_WEIGHTS = [0.0, 0.25, 0.5, 0.75, 1.0]
EMOJI_DEFAULT_WEIGHT = inspect.signature(EmojiSentiment).parameters["weight"].default
# The two clusterings of rpt_clustering_comparison: the project's, and BERTopic's default chain as the baseline.
CLUSTERING, BASELINE_CLUSTERING = "answer_clustering", "bertopic_default_chain"


def _zero_shot(anchor_embeddings: pd.DataFrame, temperature: float, nearest_anchors: int | None) -> ZeroShotSentiment:
    anchors = {label: to_matrix(group) for label, group in anchor_embeddings.groupby("sentiment")}
    return ZeroShotSentiment(anchors, temperature=temperature, embeddings_from=encoder_of(anchor_embeddings),
                             nearest_anchors=nearest_anchors)


def zero_shot_sentiment_model(anchor_embeddings: pd.DataFrame, params: dict[str, Any]) -> ZeroShotSentiment:
    """Answers read by the sentiment anchors (``zero_shot_nearest_anchors`` of each class nearest an answer)."""
    return _zero_shot(anchor_embeddings, params["zero_shot_temperature"], params["zero_shot_nearest_anchors"])


def question_frame_model(anchor_embeddings: pd.DataFrame, params: dict[str, Any],
                         frame_params: dict[str, Any]) -> QuestionFrame:
    """Reads what each question asks for from its anchor questions (``question_frame`` parameters), each
    class by its anchors' mean (benchmarks/results/question_frame.md measured it so)."""
    return QuestionFrame(_zero_shot(anchor_embeddings, params["zero_shot_temperature"], None), frame_params["weight"],
                         frame_params["nothing_words"], frame_params["filler_words"])


def labelled_answers(answers: pd.DataFrame, truth: pd.DataFrame, answer_embeddings: pd.DataFrame) -> pd.DataFrame:
    """Answers whose sentiment is known (a generated platform's planted truth) with their vectors: text,
    sentiment and the vector columns. The blend's weight is chosen on them."""
    labelled = answers.merge(truth[["answer_id", "sentiment"]], on="answer_id", validate="one_to_one")
    labelled = labelled.assign(text=labelled["answer_text"].map(normalise))
    vectors = answer_embeddings.drop_duplicates("normalised_text").set_index("normalised_text")
    labelled = labelled[labelled["text"].isin(vectors.index)].reset_index(drop=True)
    return _with_vectors(labelled[["text", "sentiment"]], vectors.loc[labelled["text"]], answer_embeddings)


def generated_labelled_answers(platform: dict[str, Any], embedding_params: dict[str, Any]) -> pd.DataFrame:
    """The demo generator's survey answers (``platform``: its ``demo_platform`` sizes and seed) with their
    planted sentiment and the shared encoder's vectors, as ``labelled_answers`` gives them: where no answer
    has a known sentiment, the blend's weight is chosen on answers of the survey kind, since a sentiment
    corpus of another kind chooses a weight that misreads answers (docs/text_systems.md measures it)."""
    answers, truth = generate_survey_answers(DemoPlatformConfig(**platform))
    answers = answers.rename(columns={"answer": "answer_text"})
    return labelled_answers(answers, truth, embed_answers(answers, embedding_params))


def held_out_sentiment_texts(sentiment_texts: pd.DataFrame, embeddings: pd.DataFrame, params: dict[str, Any]
                             ) -> pd.DataFrame:
    """The labelled source's texts its sentiment head did not train on (the same split as the sentiment
    pipeline's), with their vectors: where no answer has a known sentiment, the blend's weight is chosen on them."""
    frame = sentiment_texts.merge(embeddings, on="text_id", validate="one_to_one")
    _, test = train_test_rows(frame["split"], frame["sentiment"], params["test_share"], params["seed"], "sentiment_texts")
    held_out = frame[test].reset_index(drop=True)
    return _with_vectors(held_out[["text", "sentiment"]], held_out, embeddings)


def _with_vectors(labels: pd.DataFrame, vectors: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    out = pd.concat([labels.reset_index(drop=True), vectors[vector_columns(vectors)].reset_index(drop=True)], axis=1)
    out.attrs["encoder"] = encoder_of(source)
    return out


def answer_sentiment_model(zero_shot: ZeroShotSentiment, params: dict[str, Any], head=None,
                           labelled: pd.DataFrame | None = None) -> tuple[EmojiSentiment, pd.DataFrame]:
    """The labelled source's head blended with zero-shot anchors (zero-shot alone where no labels exist),
    answers that deny a trouble read as praise (``denied_trouble``), their emoji heard (``emoji``), and how
    each pair of weights scored. ``zero_shot_weight: auto`` and ``emoji.weight: auto`` take the weights with
    the best macro-F1 on ``labelled`` (ties: the lower log-loss, the lower zero-shot weight, the emoji weight
    nearest ``EmojiSentiment``'s default, so texts without an emoji leave it there), scored as served but
    for the question frame: an answer's own reading must stand where its question asks for neither the good
    nor the bad (``QuestionFrame`` moves only neutral probability, and scored with it the choice hid the
    blend's misreadings). A number fixes a weight."""
    def served(zero_shot_weight: float, emoji_weight: float) -> EmojiSentiment:
        models, weights = ([zero_shot], [1.0]) if head is None else ([head, zero_shot], [1 - zero_shot_weight,
                                                                                          zero_shot_weight])
        return EmojiSentiment(DeniedTroubleSentiment(BlendedSentiment(models, weights), **params["denied_trouble"]),
                              **{**params["emoji"], "weight": emoji_weight})

    zero_shot_weights = [1.0] if head is None else _weights(params["zero_shot_weight"], BLEND_WEIGHTS)
    emoji_weights = _weights(emoji_weight_option(params), EMOJI_WEIGHTS)
    if len(zero_shot_weights) == len(emoji_weights) == 1:
        return (served(zero_shot_weights[0], emoji_weights[0]), pd.DataFrame(
            {"zero_shot_weight": zero_shot_weights, "emoji_weight": emoji_weights, "chosen": [True]}))
    if labelled is None or labelled.empty:
        raise SettingsError("zero_shot_weight or emoji.weight: auto needs labelled texts to choose on; give a number "
                            "instead")
    require_encoder(zero_shot.embeddings_from if head is None else head.embeddings_from, labelled,
                    "the answer sentiment model")
    texts, vectors, truth = labelled["text"].tolist(), to_matrix(labelled), labelled["sentiment"].to_numpy()
    zero_shot_p = zero_shot.predict_proba(texts, vectors)
    head_p = zero_shot_p if head is None else head.predict_proba(texts, vectors)
    rows = []
    for emoji_weight in emoji_weights:
        rules = served(1.0, emoji_weight)  # the rules' adjust reads no model
        for weight in zero_shot_weights:
            blended = rules.adjust(texts, rules.model.adjust(texts, (1 - weight) * head_p + weight * zero_shot_p))
            ordered = sorted(blended.columns)  # log_loss reads the columns in sorted label order
            probabilities = np.clip(blended[ordered].to_numpy(dtype=float), 1e-15, None)  # the rules leave zeros
            rows.append({"zero_shot_weight": weight, "emoji_weight": emoji_weight, "texts": len(texts),
                         "macro_f1": f1_score(truth, predict_labels(blended), average="macro"),
                         "log_loss": log_loss(truth, probabilities / probabilities.sum(axis=1, keepdims=True),
                                              labels=ordered)})
    table = pd.DataFrame(rows)
    best = table.assign(from_default=(table["emoji_weight"] - EMOJI_DEFAULT_WEIGHT).abs()).sort_values(
        ["macro_f1", "log_loss", "zero_shot_weight", "from_default"], ascending=[False, True, True, True]).index[0]
    table["chosen"] = table.index == best
    weight, emoji_weight = (float(table.loc[best, column]) for column in ("zero_shot_weight", "emoji_weight"))
    alone = "" if head is None else "; head alone %.3f, zero-shot alone %.3f at their best emoji weight" % tuple(
        table.loc[table["zero_shot_weight"] == w, "macro_f1"].max() for w in (0.0, 1.0))
    logger.info("answer sentiment: zero-shot weight %.1f, emoji weight %.2f (macro-F1 %.3f on %d labelled texts "
                "read alone, before their questions' frame%s)", weight, emoji_weight, table.loc[best, "macro_f1"],
                len(texts), alone)
    return served(weight, emoji_weight), table


def emoji_weight_option(params: dict[str, Any]) -> float | str:
    """``clustering.emoji.weight`` as given ("auto" or a number), ``EmojiSentiment``'s default where unset."""
    return params["emoji"].get("weight", EMOJI_DEFAULT_WEIGHT)


def _weights(option: float | str, grid: list[float]) -> list[float]:
    """The weights to choose among: every one of ``grid`` for "auto", else the number given."""
    return list(grid) if option == "auto" else [float(option)]


def _asks_for(question_frame: QuestionFrame, question_embeddings: pd.DataFrame) -> pd.DataFrame:
    """What each question asks for (the positive, the neutral, the negative), one row per question id."""
    require_encoder(question_frame.embeddings_from, question_embeddings, "the question frame")
    asks = question_frame.predict_proba(question_embeddings["question_id"].tolist(), to_matrix(question_embeddings))
    asks.index = question_embeddings["question_id"].to_numpy()
    return asks


def cluster_answers(answers: pd.DataFrame, cluster_embeddings: pd.DataFrame, answer_embeddings: pd.DataFrame,
                    sentiment_model, question_frame: QuestionFrame, question_embeddings: pd.DataFrame,
                    params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, AnswerClusterer]:
    """Returns (answer → cluster table, cluster table, the clusterer that places new answers). Answers are
    grouped by ``cluster_embeddings`` (the clustering's encoder) and their sentiment read from
    ``answer_embeddings`` (the encoder the sentiment model was trained on), coloured by what their question
    asks for (``question_frame`` over ``question_embeddings``)."""
    require_encoder(sentiment_model.embeddings_from, answer_embeddings, "the answer sentiment model")
    asks = _asks_for(question_frame, question_embeddings)
    config = ClusteringConfig.from_params(params["algorithm"])
    answers = answers.assign(normalised_text=answers["answer_text"].map(normalise))
    cluster_vectors = cluster_embeddings.set_index("normalised_text")
    vectors = answer_embeddings.set_index("normalised_text")
    answer_rows, cluster_rows, questions_served = [], [], {}
    questions = list(answers.groupby("question_id", sort=True))
    for question_id, group in progress(questions, desc="clustering questions", leave=False):
        unique = group.groupby("normalised_text", sort=True)["count"].sum()
        texts = unique.index.tolist()
        weights = unique.to_numpy(dtype=float)
        embeddings = to_matrix(cluster_vectors.loc[texts].reset_index())
        sentiment = question_frame.apply(texts, sentiment_model.predict_proba(
            texts, to_matrix(vectors.loc[texts].reset_index())), [question_id] * len(texts), asks)
        sentiment.index = texts
        sentiments = predict_labels(sentiment)
        result = cluster_texts(embeddings, weights, config, sentiments)
        per_text = pd.DataFrame({"normalised_text": texts, "cluster": result.labels, "was_outlier": result.was_outlier,
                                 "x": result.coords_2d[:, 0], "y": result.coords_2d[:, 1]})
        per_text["sentiment"] = sentiments.tolist()
        per_text[[f"p_{s}" for s in SENTIMENTS]] = sentiment[list(SENTIMENTS)].to_numpy()
        described = describe_clusters(texts, weights, result.labels, embeddings, result.centroids, config)
        mix = (per_text.assign(weight=weights).pivot_table(index="cluster", columns="sentiment", values="weight",
                                                           aggfunc="sum", fill_value=0)
               .reindex(columns=list(SENTIMENTS), fill_value=0))
        mix = mix.div(mix.sum(axis=1), axis=0).add_prefix("sentiment_")
        described = described.join(mix, on="cluster")
        described["dominant_sentiment"] = mix.idxmax(axis=1).str.removeprefix("sentiment_").reindex(described["cluster"]).to_numpy()
        described.insert(0, "question_id", question_id)
        described.insert(1, "question_text", group["question_text"].iloc[0])
        cluster_rows.append(described)
        labels = described.set_index("cluster")["label"]
        merged = group.merge(per_text, on="normalised_text", how="left")
        merged["cluster_label"] = merged["cluster"].map(labels)
        answer_rows.append(merged)
        # Keyed by the question's own id (integer or string), as a plain Python value.
        questions_served[question_id.item() if isinstance(question_id, np.generic) else question_id] = {
            "question_text": group["question_text"].iloc[0],
            "asks_for": asks.loc[question_id].to_dict(),
            "centroids": {c: v.astype(np.float32) for c, v in result.centroids.items()},
            "labels": labels.to_dict(),
            "join_similarity": result.join_similarity,
        }
    answer_clusters = pd.concat(answer_rows, ignore_index=True).drop(columns=["question_text"])
    clusters = pd.concat(cluster_rows, ignore_index=True)
    share = float((answer_clusters["cluster"] == OUTLIER).mean())
    logger.info("%d questions, %d clusters, %.1f%% of answers left as outliers", len(questions),
                int((clusters["cluster"] != OUTLIER).sum()), 100 * share)
    # Serving embeds a new answer with the same encoders.
    clusterer = AnswerClusterer(questions_served, encoder_of(cluster_embeddings), encoder_of(answer_embeddings),
                                sentiment_model, question_frame, clusters, answer_clusters)
    return answer_clusters, clusters, clusterer


def plot_cluster_map(answer_clusters: pd.DataFrame, clusters: pd.DataFrame, params: dict[str, Any]):
    """2-D map of the largest questions' answers coloured by cluster, one question (its text) per dropdown entry."""
    import plotly.graph_objects as go

    top = clusters.groupby("question_id")["size"].sum().nlargest(params["chart_questions"]).index
    questions = clusters.drop_duplicates("question_id").set_index("question_id")["question_text"]
    figure = go.Figure()
    buttons = []
    for q_index, question_id in enumerate(top):
        data = answer_clusters[answer_clusters["question_id"] == question_id].drop_duplicates("normalised_text")
        first = len(figure.data)
        for c_index, (cluster, points) in enumerate(data.groupby("cluster")):
            colour = OUTLIER_COLOUR if cluster == OUTLIER else CLUSTER_COLOURS[c_index % len(CLUSTER_COLOURS)]
            figure.add_trace(go.Scattergl(x=points["x"], y=points["y"], mode="markers", visible=q_index == 0,
                                          name=str(points["cluster_label"].iloc[0])[:60], text=points["answer_text"],
                                          marker_color=colour,
                                          hovertemplate="%{text}<extra>" + str(cluster) + "</extra>"))
        buttons.append((str(questions.get(question_id, question_id))[:70], first, len(figure.data)))
    # The question selector above the map and the legend below it, so the map keeps the figure's width.
    figure.update_layout(
        title="Answers by meaning (2-D projection), coloured by cluster", width=1000, height=750,
        margin={"t": 130}, legend={"orientation": "h", "yanchor": "top", "y": -0.08},
        updatemenus=[{"buttons": [{"label": label, "method": "update",
                                   "args": [{"visible": [start <= i < end for i in range(len(figure.data))]}]}
                                  for label, start, end in buttons],
                      "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}],
    )
    return figure


def plot_cluster_sizes(clusters: pd.DataFrame, params: dict[str, Any]):
    """The largest questions' cluster sizes, one chart per question, bars coloured by dominant sentiment
    (the outliers grey, at the bottom)."""
    top = clusters.groupby("question_id")["size"].sum().nlargest(params["chart_questions"]).index
    return cluster_sizes_figure(clusters, list(top), SENTIMENT_COLOURS, OUTLIER)


def answer_gold_groups(answers: pd.DataFrame) -> pd.DataFrame:
    """The gold meaning groups a source's layout maps to ``true_group``; answers without one are not scored."""
    known = answers[answers["true_group"].notna()]
    return pd.DataFrame({"answer_id": known["answer_id"].to_numpy(), "group": known["true_group"].astype(str).to_numpy()})


def baseline_answer_clusters(answers: pd.DataFrame, cluster_embeddings: pd.DataFrame, truth: pd.DataFrame,
                             params: dict[str, Any]) -> pd.DataFrame:
    """BERTopic's default chain over the same embeddings, per question that has answers with a gold group (all
    its answers, as the clustering had them): each answer row is a document, as BERTopic takes them (its seed
    is the clustering reducer's)."""
    scored_questions = answers.loc[answers["answer_id"].isin(truth["answer_id"]), "question_id"].unique()
    vectors = cluster_embeddings.set_index("normalised_text")
    seed = params["algorithm"]["reducer"].get("seed", 0)
    frames = []
    for question_id, group in answers[answers["question_id"].isin(scored_questions)].groupby("question_id", sort=True):
        texts = group["answer_text"].map(normalise).tolist()
        frames.append(pd.DataFrame({"answer_id": group["answer_id"].to_numpy(), "question_id": question_id,
                                    "cluster": bertopic_default_chain(to_matrix(vectors.loc[texts].reset_index()), seed)}))
    return pd.concat(frames, ignore_index=True)


def score_answer_clusters(answer_clusters: pd.DataFrame, baseline_clusters: pd.DataFrame, truth: pd.DataFrame,
                          params: dict[str, Any]):
    """NMI/ARI per question against the gold groups (a generated platform's planted ones, else the answers'
    ``true_group``), answer sentiment against the planted sentiment where there is one, and the comparison
    with BERTopic's default chain on the same answers (intervals over resampled answers)."""
    report, summary = question_clustering_scores(answer_clusters, truth)
    scored = (truth[["answer_id", "group"]]
              .merge(answer_clusters[["answer_id", "question_id", "cluster"]].rename(columns={"cluster": CLUSTERING}),
                     on="answer_id", validate="one_to_one")
              .merge(baseline_clusters[["answer_id", "cluster"]].rename(columns={"cluster": BASELINE_CLUSTERING}),
                     on="answer_id", validate="one_to_one"))
    models = [BASELINE_CLUSTERING, CLUSTERING]
    rows = clustering_comparison(scored, models, *comparison_reference(params.get("comparison") or {}, models))
    comparison, comparison_metrics = comparison_table(rows, "nmi", "clustering/comparison")
    return report, comparison, metric_payload("clustering", summary) | comparison_metrics
