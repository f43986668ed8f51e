"""The tiny demo platform's feed in the shape the post feed models take (posts, users, likes, post vectors)."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def feed(tiny_platform):
    posts = tiny_platform["post_text"].rename(columns={"text": "doc_text", "image_text": "image2text",
                                                       "audio_text": "speech2text"})
    posts["topics"] = posts["topics"].str.split("|")
    users = tiny_platform["user_data"].query("age > 0").assign(gender=lambda d: d["gender"].map({0: "female", 1: "male"}))
    log = tiny_platform["feed_data"].query("user_id > 0").drop_duplicates()
    vectors = pd.DataFrame(np.random.default_rng(0).normal(size=(len(posts), 4)), columns=[f"pca_{i}" for i in range(4)])
    vectors.insert(0, "post_id", posts["post_id"])
    return log, posts, users, vectors
