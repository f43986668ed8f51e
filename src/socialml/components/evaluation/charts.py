"""Evaluation charts as plotly figures: confusion matrices, precision-recall curves, learning curves and
A/B results. Kedro saves them as plotly JSON (kedro viz previews them); the MLflow hook logs each as
HTML and PNG."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

GROUP_COLOURS = {"control": "#1f77b4", "test": "#ff7f0e"}


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


def learning_curve_figure(curves: pd.DataFrame, title: str, x: str = "epoch") -> go.Figure:
    """One line per numeric column of ``curves`` against ``x``, each on its own row (own axis)."""
    columns = [c for c in curves.select_dtypes("number").columns if c != x]
    figure = make_subplots(rows=len(columns), cols=1, shared_xaxes=True, subplot_titles=columns,
                           vertical_spacing=0.3 / max(len(columns), 1))
    for row, column in enumerate(columns, start=1):
        figure.add_trace(go.Scatter(x=curves[x], y=curves[column], mode="lines+markers", name=column), row=row, col=1)
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
