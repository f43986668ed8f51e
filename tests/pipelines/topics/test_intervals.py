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


def test_single_label_posts_also_get_the_top_topics_intervals_and_multi_label_posts_do_not():
    rng = np.random.default_rng(0)
    topics = np.array(["sport", "politics", "humor"])[np.arange(120) % 3]
    dataset = pd.DataFrame({"post_id": [f"p{i}" for i in range(120)], "topics": [[t] for t in topics],
                            "split": "test"})
    hot = pd.DataFrame({label: (topics == label).astype(int) for label in ["humor", "politics", "sport"]})
    right = hot.assign(post_id=dataset["post_id"], top_topic=topics)
    wrong_tops = np.where(rng.random(120) < 0.5, "sport", topics)  # half the posts' top topic read as sport
    half_wrong = hot.assign(post_id=dataset["post_id"], top_topic=wrong_tops)
    out = topic_intervals(dataset, {"baseline": "half_wrong", "bootstrap_runs": 50}, right=right, half_wrong=half_wrong)
    # The thresholded labels are the same for both; only the top topic tells them apart.
    assert out["right"]["gain_vs_half_wrong"] == 0
    assert out["right"]["top1_macro_f1_low"] == out["right"]["top1_accuracy_high"] == 1.0
    assert 0 < out["right"]["top1_gain_low"] < out["right"]["top1_gain_vs_half_wrong"] < out["right"]["top1_gain_high"]
    assert out["half_wrong"]["top1_accuracy_low"] < (wrong_tops == topics).mean() < out["half_wrong"]["top1_accuracy_high"]
    multi = dataset.assign(topics=[[t, "news"] if i % 2 else [t] for i, t in enumerate(topics)])
    multi_out = topic_intervals(multi, {"bootstrap_runs": 20}, right=right.assign(news=0))
    assert not any(column.startswith("top1_") for column in multi_out["right"])
