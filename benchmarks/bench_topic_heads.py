"""The topic models' one-vs-rest logistic heads (sensitive topics' 18), at this checkout and at an earlier
revision side by side.

    .venv/bin/python benchmarks/bench_topic_heads.py --base REV [--runs 3]

Needs the topics pipeline's inputs for sensitive topics under data/: `kedro run --env real --pipelines
ingestion,text_embedding,topics --namespaces sensitive_topics_multilabel`. The base revision is checked out
once into benchmarks/.work/ (a git worktree, as bench_pipeline_steps.py does); both trees run on this
checkout's .venv. Each timing is a fresh process, the two trees alternate, and the table has the medians and
their ratio. Steps (each `HeadTopicClassifier.fit` on the training posts, TF-IDF included):

- `TF-IDF heads`: `tfidf_logreg` of conf/real.
- `TF-IDF + e5 + USE heads, standardised`: `embedding_tfidf_logreg_standardised` of conf/real.

Writes benchmarks/results/topic_heads.md.
"""

from __future__ import annotations

from pathlib import Path

from bench_pipeline_steps import compare_and_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "topic_heads.md"
DATA = ROOT / "data"
CHILD = """
import json, sys, time
import pandas as pd
from socialml.components.text.topics import HeadTopicClassifier, label_matrix
from socialml.components.text.vectors import to_matrix

step, data = sys.argv[1], sys.argv[2]
folder = f"{data}/05_model_input/sensitive_topics_multilabel"
posts = pd.read_parquet(f"{folder}/topic_dataset.parquet")
train = posts[posts["split"] == "train"]
labels = sorted(train["topics"].explode().dropna().unique())
embeddings = pd.read_parquet(f"{folder}/post_embeddings.parquet").set_index("post_id").loc[train["post_id"]]
options = {"tfidf": {"features": "tfidf"}, "both": {"features": "both", "standardise": True}}[step]
start = time.perf_counter()
HeadTopicClassifier(**options).fit(train["text"].tolist(), to_matrix(embeddings.reset_index()),
                                   label_matrix(train["topics"], labels), labels)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""
STEPS = {"TF-IDF heads": "tfidf", "TF-IDF + e5 + USE heads, standardised": "both"}


if __name__ == "__main__":
    compare_and_write(RESULTS, "Topic heads, at an earlier revision and at this checkout", CHILD, STEPS, str(DATA))
