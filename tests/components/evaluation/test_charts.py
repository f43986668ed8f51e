"""Evaluation charts: the numbers they draw, and that they draw something when rendered to PNG."""

import numpy as np
import pandas as pd
import pytest

from socialml.components.evaluation.charts import (
    ab_test_figure, confusion_figure, learning_curve_figure, precision_recall_figure,
)
from tests.conftest import drawn_share


def test_confusion_rows_are_shares_of_each_true_class_in_the_given_order():
    true = ["<18", "18-24", "18-24", "56+", "56+", "56+"]
    predicted = ["<18", "18-24", "56+", "56+", "56+", "18-24"]
    order = ["<18", "18-24", "25-34", "56+"]
    figure = confusion_figure({"age": (true, predicted), "again": (true, true)}, {"age": order, "again": order}, "t")
    heatmap = figure.data[0]
    assert list(heatmap.x) == list(heatmap.y) == order
    z = np.asarray(heatmap.z)
    np.testing.assert_allclose(z[[0, 1, 3]].sum(axis=1), 1.0)
    assert z[2].sum() == 0  # a class nobody has: an empty row, not a division by zero
    np.testing.assert_allclose(z[3], [0, 1 / 3, 0, 2 / 3])
    assert np.asarray(heatmap.text)[3].tolist() == [0, 1, 0, 2]
    np.testing.assert_allclose(np.diag(np.asarray(figure.data[1].z))[[0, 1, 3]], 1.0)


def test_precision_recall_curves_mark_each_labels_threshold_and_skip_labels_without_positives():
    rng = np.random.default_rng(0)
    truth = np.column_stack([rng.random(200) < 0.3, rng.random(200) < 0.5, np.zeros(200, bool)]).astype(int)
    probabilities = np.clip(truth * 0.4 + rng.random(truth.shape) * 0.6, 0, 1)
    figure = precision_recall_figure(truth, probabilities, [0.5, 0.6, 0.5], ["a", "b", "never"], "t")
    curves = [t for t in figure.data if t.mode == "lines"]
    assert [t.name for t in curves] == ["a", "b"]
    marker = next(t for t in figure.data if t.mode == "markers" and t.legendgroup == "b")
    predicted = probabilities[:, 1] >= 0.6
    hits = (predicted & (truth[:, 1] == 1)).sum()
    assert marker.x[0] == pytest.approx(hits / truth[:, 1].sum())
    assert marker.y[0] == pytest.approx(hits / predicted.sum())


def test_learning_curves_one_axis_per_measure_and_ab_bars_with_intervals():
    curves = pd.DataFrame({"epoch": [1, 2, 3], "auc": [0.7, 0.8, 0.82], "loss": [0.9, 0.5, 0.4]})
    figure = learning_curve_figure(curves, "t")
    assert [t.name for t in figure.data] == ["auc", "loss"] and list(figure.data[0].x) == [1, 2, 3]
    assert figure.data[0].yaxis != figure.data[1].yaxis
    marked = learning_curve_figure(curves.assign(kept=[False, True, False]), "t", kept="kept")
    assert [t.name for t in marked.data] == ["auc", "loss"]  # the flag is not drawn as a measure
    assert [(s.x0, s.line.dash) for s in marked.layout.shapes] == [(2, "dash")] * 2  # on both axes
    assert marked.layout.annotations[-1].text == "kept: epoch 2"
    assert not learning_curve_figure(curves.assign(kept=False), "t", kept="kept").layout.shapes
    result = {"hit_rate_control": 0.2, "hit_rate_test": 0.25, "requests_control": 400.0, "requests_test": 100.0,
              "p_value": 0.3, "control_model": "ranker", "test_model": "ranker_text"}
    bars = ab_test_figure(result).data[0]
    assert list(bars.y) == [0.2, 0.25] and bars.x[1] == "test: ranker_text"
    np.testing.assert_allclose(bars.error_y.array, [1.96 * np.sqrt(0.2 * 0.8 / 400), 1.96 * np.sqrt(0.25 * 0.75 / 100)])


def test_the_charts_render_to_png_with_drawn_content():
    """What MLflow shows: a PNG with bars, cells and lines on it, not a blank canvas."""
    figure = confusion_figure({"sex": (["f", "m", "m"], ["f", "m", "f"])}, {"sex": ["f", "m"]}, "sex")
    blank = confusion_figure({"sex": ([], [])}, {"sex": ["f", "m"]}, "sex")
    drawn, empty = drawn_share(figure.to_image(format="png")), drawn_share(blank.to_image(format="png"))
    assert drawn > 0.2 and drawn > 3 * empty


def test_emoji_in_labels_draw_in_colour_in_the_png_reports():
    """Survey answers carry emoji; without an emoji font (scripts/install.sh installs one) they draw as grey boxes."""
    import io

    import plotly.graph_objects as go
    from PIL import Image

    figure = go.Figure().add_annotation(text="😡 👍", font_size=60, showarrow=False, x=0.5, y=0.5)
    figure.update_layout(width=300, height=200, paper_bgcolor="white", plot_bgcolor="white",
                         xaxis_visible=False, yaxis_visible=False)
    hsv = np.asarray(Image.open(io.BytesIO(figure.to_image(format="png"))).convert("RGB").convert("HSV"))
    coloured = (hsv[..., 1] > 120) & (hsv[..., 2] > 120)  # saturated and bright: a glyph's yellow or red
    assert coloured.mean() > 0.01
