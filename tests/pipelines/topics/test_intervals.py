import numpy as np
import pandas as pd
import pytest

from socialml.pipelines.topics.nodes import compare_topic_models, topic_intervals


def test_topic_intervals_pair_each_model_with_the_baseline_on_the_same_test_posts():
    rng = np.random.default_rng(0)
    topics = [["sport"] if i % 3 else ["sport", "politics"] for i in range(90)]
    dataset = pd.DataFrame({"post_id": [f"p{i}" for i in range(90)], "topics": topics,
                            "split": ["test"] * 60 + ["train"] * 30})
    truth = pd.DataFrame({"post_id": dataset["post_id"][:60], "politics": [int(i % 3 == 0) for i in range(60)],
                          "sport": 1})
    noisy = truth.assign(politics=np.where(rng.random(60) < 0.4, 1 - truth["politics"], truth["politics"]))
    out = topic_intervals(dataset, {"baseline": "noisy", "bootstrap_runs": 50},
                          perfect=truth.sample(frac=1, random_state=0), noisy=noisy)  # any row order
    assert out["perfect"]["micro_f1_low"] == out["perfect"]["micro_f1_high"] == 1.0
    assert 0 < out["perfect"]["gain_low"] < out["perfect"]["gain_vs_noisy"] < out["perfect"]["gain_high"]
    assert out["noisy"]["macro_f1_low"] < out["noisy"]["macro_f1_high"] < 1
    summary = {name: {"summary": {"micro_f1": 1 - i / 10}, "per_label": []} for i, name in enumerate(["perfect", "noisy"])}
    comparison, _, metrics = compare_topic_models(out, **summary)
    assert comparison["model"].tolist() == ["perfect", "noisy"] and "topics/perfect/gain_low" in metrics
    with pytest.raises(ValueError, match="baseline 'tfidf' is not among"):
        topic_intervals(dataset, {"baseline": "tfidf"}, noisy=noisy)
