import numpy as np
import pandas as pd

from socialml.components.text.vectors import to_frame
from socialml.pipelines.topics.nodes import evaluate_topic_model, prepare_topic_dataset, train_topic_model

PARAMS = {"split_shares": {"train": 0.6, "validation": 0.2, "test": 0.2}, "seed": 0, "min_label_count": 5}


def test_an_emotion_corpus_split_into_train_and_test_only_trains_with_validation_drawn_from_train():
    # Multi-label emotions as public sets ship them: train and test only, a third of the texts with no emotion.
    words = {"joy": "радость", "anger": "злость", "fear": "страх"}
    emotions = [[], ["joy"], ["anger"], ["fear"], ["joy", "fear"], []] * 50
    posts = pd.DataFrame({
        "post_id": [f"p{i}" for i in range(300)],
        "doc_text": [" ".join([words[e] for e in labels] or ["обычный день"]) + f" {i % 7}"
                     for i, labels in enumerate(emotions)],
        "image2text": "", "speech2text": "", "topics": emotions,
        "split": ["train"] * 240 + ["test"] * 60})
    dataset = prepare_topic_dataset(posts, PARAMS)
    assert dataset["split"].value_counts().to_dict() == {"train": 180, "validation": 60, "test": 60}
    assert (dataset["split"].iloc[240:] == "test").all()
    embeddings = to_frame(dataset["post_id"], np.zeros((300, 2)), "post_id")
    model = train_topic_model(dataset, embeddings, {"kind": "head", "features": "tfidf"}, PARAMS)
    scores, predicted, _ = evaluate_topic_model(model, dataset, embeddings)
    assert model.labels == ["anger", "fear", "joy"] and len(predicted) == 60
    assert scores["summary"]["micro_f1"] > 0.9
