import pandas as pd
import pytest

from socialml.pipelines.evaluation.nodes import data_quality_metrics, data_quality_report

REPORT = pd.DataFrame({"table": ["posts"], "candidate_rows": [4], "accepted": [3], "rejected": [1], "duplicates": [1],
                       "sampled_out": [0]})


def test_null_share_counts_blank_text_and_empty_label_lists():
    posts = pd.DataFrame({"post_id": [1, 2, 3], "doc_text": ["a", " ", None], "topics": [["x"], [], ["y"]]})
    quality = data_quality_report(REPORT, prm_posts=posts).set_index("column")
    assert quality.loc["doc_text", "null_share"] == pytest.approx(2 / 3)
    assert quality.loc["topics", "null_share"] == pytest.approx(1 / 3)
    assert quality.loc["post_id", "null_share"] == 0
    assert (quality["rows"] == 3).all() and (quality["rejected_rows"] == 1).all()


def test_metrics_are_in_kedro_mlflow_history_format_with_legal_names():
    quality = data_quality_report(REPORT, prm_posts=pd.DataFrame({"post_id": [1], "doc_text": [None]}))
    metrics = data_quality_metrics(quality, REPORT)
    assert metrics["posts/rows"] == {"value": 1.0, "step": 0}
    assert metrics["posts/rejected_share"]["value"] == pytest.approx(0.25)
    assert metrics["posts/mean_null_share"]["value"] == pytest.approx(0.5)
    assert "posts/sampled_out" not in metrics  # logged where a layout's sample left rows out
    sampled = data_quality_metrics(quality, REPORT.assign(sampled_out=[2]))
    assert sampled["posts/sampled_out"]["value"] == 2.0
    assert all(set(name) <= set("abcdefghijklmnopqrstuvwxyz_/0123456789") for name in metrics)
