"""Evaluation charts as plotly figures: confusion matrices, precision-recall curves, learning curves,
A/B results and answer clusters' sizes. Kedro saves them as plotly JSON (kedro viz previews them); the
MLflow hook logs each as HTML and PNG."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

GROUP_COLOURS = {"control": "#1f77b4", "test": "#ff7f0e"}
# Clusters are told apart by colours that are none of the sentiment colours (green, grey, red), so that
# on a page beside a sentiment chart no cluster reads as a sentiment; outliers are pale grey.
CLUSTER_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79",
                   "#aec7e8", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d", "#6b6ecf")
OUTLIER_COLOUR = "#d9d9d9"


def confusion_figure(matrices: dict[str, tuple[Sequence, Sequence]], classes: dict[str, Sequence[str]],
                     title: str) -> go.Figure:
    """One heatmap per panel: ``matrices`` maps a panel's name to (true labels, predicted labels), in the
    order of ``classes[panel]``. Cells are shares of each true class (rows add up to 1), with counts."""
    figure = make_subplots(rows=1, cols=len(matrices), subplot_titles=list(matrices),
                           horizontal_spacing=0.12)
    for column, (panel, (true, predicted)) in enumerate(matrices.items(), start=1):
        order = [str(c) for c in classes[panel]]
        counts = pd.crosstab(pd.Categorical(np.asarray(true).astype(str), order),
                             pd.Categorical(np.asarray(predicted).astype(str), order), dropna=False)
        counts = counts.reindex(index=order, columns=order, fill_value=0)
        shares = counts.div(counts.sum(axis=1).replace(0, 1), axis=0)
        figure.add_trace(go.Heatmap(z=shares.to_numpy(), x=order, y=order, zmin=0, zmax=1, colorscale="Blues",
                                    showscale=column == len(matrices), text=counts.to_numpy(),
                                    texttemplate="%{z:.0%}<br>%{text}",
                                    hovertemplate="true %{y}, predicted %{x}: %{text} (%{z:.1%})<extra></extra>"),
                         row=1, col=column)
        figure.update_xaxes(title_text="predicted", row=1, col=column)
        figure.update_yaxes(title_text="true", autorange="reversed", row=1, col=column)
    figure.update_layout(title=title, width=max(450 * len(matrices), 500), height=480)
    return figure


def precision_recall_figure(truth: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float],
                            labels: Sequence[str], title: str) -> go.Figure:
    """A precision-recall curve per label, with the point of the label's tuned threshold marked."""
    from sklearn.metrics import precision_recall_curve

    figure = go.Figure()
    for index, label in enumerate(labels):
        if truth[:, index].sum() == 0:
            continue  # no positive among the held-out rows: no curve to draw
        precision, recall, _ = precision_recall_curve(truth[:, index], probabilities[:, index])
        trace = figure.add_trace(go.Scatter(x=recall, y=precision, mode="lines", name=str(label),
                                            legendgroup=str(label)))
        predicted = probabilities[:, index] >= thresholds[index]
        hits = int((predicted & (truth[:, index] == 1)).sum())
        at_threshold = (hits / max(int(truth[:, index].sum()), 1), hits / max(int(predicted.sum()), 1))
        colour = trace.data[-1].line.color
        figure.add_trace(go.Scatter(x=[at_threshold[0]], y=[at_threshold[1]], mode="markers", legendgroup=str(label),
                                    name=f"{label} threshold {thresholds[index]:.2f}", showlegend=False,
                                    marker={"size": 10, "symbol": "circle-open", "color": colour,
                                            "line": {"width": 2}}))
    figure.update_layout(title=title, xaxis_title="recall", yaxis_title="precision", width=800, height=560,
                         xaxis_range=[0, 1.02], yaxis_range=[0, 1.02])
    return figure


def learning_curve_figure(curves: pd.DataFrame, title: str, x: str = "epoch", kept: str | None = None) -> go.Figure:
    """One line per numeric column of ``curves`` against ``x``, each on its own row (own axis). ``kept`` names a
    boolean column whose true row is the epoch the model was stopped at: a dashed line marks it."""
    columns = [c for c in curves.select_dtypes("number").columns if c not in (x, kept)]
    figure = make_subplots(rows=len(columns), cols=1, shared_xaxes=True, subplot_titles=columns,
                           vertical_spacing=0.3 / max(len(columns), 1))
    for row, column in enumerate(columns, start=1):
        figure.add_trace(go.Scatter(x=curves[x], y=curves[column], mode="lines+markers", name=column), row=row, col=1)
    if kept is not None and curves[kept].any():
        stop = curves.loc[curves[kept], x].iloc[0]
        figure.add_vline(x=stop, line_dash="dash", line_color="#555", annotation_text=f"kept: {x} {stop}",
                         annotation_position="top right")
    figure.update_xaxes(title_text=x, row=len(columns), col=1)
    figure.update_xaxes(dtick=max(1, len(curves) // 10))  # whole epochs
    figure.update_layout(title=title, height=260 * len(columns) + 120, width=800, showlegend=False)
    return figure


def ab_test_figure(result: dict[str, float]) -> go.Figure:
    """Each A/B group's hit rate with its 95 % normal interval, the models and the test's p-value."""
    groups = ("control", "test")
    rates = [result[f"hit_rate_{g}"] for g in groups]
    half_widths = [1.96 * np.sqrt(r * (1 - r) / n) if n else 0.0
                   for r, n in zip(rates, (result[f"requests_{g}"] for g in groups))]
    figure = go.Figure(go.Bar(x=[f"{g}: {result.get(f'{g}_model', g)}" for g in groups], y=rates,
                              error_y={"type": "data", "array": half_widths},
                              marker_color=[GROUP_COLOURS[g] for g in groups],
                              text=[f"{r:.3f} of {result[f'requests_{g}']:.0f}" for r, g in zip(rates, groups)],
                              textposition="inside"))
    figure.update_layout(title=f"A/B test: hit rate per group, 95 % intervals (p = {result['p_value']:.3g})",
                         yaxis_title="hit rate", width=600, height=480)
    return figure


def cluster_sizes_figure(clusters: pd.DataFrame, question_ids: Sequence, colours: Mapping[str, str],
                         outlier_cluster: int, label_chars: int = 45, question_titles: bool = True) -> go.Figure:
    """One horizontal bar chart per question that has clusters, each with its own axes and (with
    ``question_titles``) the question's text as its title: a bar per cluster, the largest on top, coloured
    by the cluster's dominant sentiment. The answers in no cluster (``outlier_cluster``) are a grey bar at
    the bottom, however many: they share no meaning, so neither their rank nor their sentiment says much.
    Labels are cut to ``label_chars`` on the axis and shown whole on hover."""
    parts = []
    for question in question_ids:
        part = clusters[clusters["question_id"] == question]
        outliers = part["cluster"] == outlier_cluster
        legend = part["dominant_sentiment"].astype(str).where(~outliers, part["label"].astype(str))  # "outliers"
        parts += [part.assign(legend=legend, outliers=outliers).sort_values(["outliers", "size"],
                                                                           ascending=[False, True])] if len(part) else []
    bar_rows = [len(part) + 2 for part in parts] or [1]
    height = 100 + sum(26 * rows + 60 for rows in bar_rows)
    titles = [str(part["question_text"].iloc[0])[:90] for part in parts] if question_titles else None
    figure = make_subplots(rows=len(bar_rows), cols=1, row_heights=bar_rows, subplot_titles=titles,
                           vertical_spacing=min(90 / height, 1 / max(len(bar_rows) - 1, 1)))
    shown = set()
    for row, part in enumerate(parts, start=1):
        # Each bar sits on its cluster id, so clusters with equal labels never stack into one bar.
        bar_ids = part["cluster"].astype(str)
        for legend, bars in part.assign(bar_id=bar_ids).groupby("legend", sort=False):
            colour = OUTLIER_COLOUR if bars["outliers"].all() else colours.get(legend, "#1f77b4")
            figure.add_trace(go.Bar(x=bars["size"], y=bars["bar_id"], orientation="h", name=legend,
                                    customdata=np.stack([bars["label"], bars["dominant_sentiment"].astype(str)], axis=1),
                                    legendgroup=legend, showlegend=legend not in shown, marker_color=colour,
                                    hovertemplate="%{customdata[0]}: %{x} answers<extra>%{customdata[1]}</extra>"),
                             row=row, col=1)
            shown.add(legend)
        labels = [label if len(label) <= label_chars else label[:label_chars - 1] + "…" for label in part["label"]]
        # "category": plotly would read numeric ids as numbers and order the bars by id.
        figure.update_yaxes(type="category", categoryorder="array", categoryarray=list(bar_ids),
                            tickvals=list(bar_ids), ticktext=labels, row=row, col=1)
    figure.update_layout(title="Cluster sizes and dominant sentiment, per question", height=height,
                         barmode="stack", legend_title_text="dominant sentiment")
    figure.update_xaxes(title_text="answers")
    return figure
