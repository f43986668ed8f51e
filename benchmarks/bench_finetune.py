"""Fine-tuning the top layers of e5 (topics' and sentiment's `finetune`), at this checkout and at an earlier
revision side by side.

    .venv/bin/python benchmarks/bench_finetune.py --base REV [--runs 3]

Needs a finished `kedro run` (it reads the demo's topic dataset under data/). The base revision is checked
out once into benchmarks/.work/ (a git worktree, as bench_pipeline_steps.py does); both trees run on this
checkout's .venv. Each timing is a fresh process (loading e5 and its tokenizer is part of what a run pays),
the two trees alternate, and the table has the medians and their ratio. Steps:

- `fit stopped after 3 batches`: conf/test's `finetuned_e5` (2 trainable layers, batches of 8, 3 batches)
  on the demo's training posts, validation posts scored after the batches.
- `fit, one whole epoch`: the real configuration's options (batches of 32, max_length 64) for one epoch on
  600 training posts, 200 validation posts.
- `3 pickles and 1 load`: the fitted model of the first step pickled three times and loaded once, as a
  run does (its dataset, its MLflow model, an ensemble holding it; a node that reads it).

Writes benchmarks/results/finetune.md.
"""

from __future__ import annotations

from pathlib import Path

from bench_pipeline_steps import compare_and_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "finetune.md"
DATA = ROOT / "data"
CHILD = """
import json, pickle, sys, time
import pandas as pd
from socialml.components.text.topics import build_topic_classifier, label_matrix

step, data = sys.argv[1], sys.argv[2]
posts = pd.read_parquet(f"{data}/05_model_input/demo/topic_dataset.parquet")
train, validation = posts[posts["split"] == "train"], posts[posts["split"] == "validation"]
labels = sorted(train["topics"].explode().unique())
options = {"kind": "finetune", "model": "e5_small", "trainable_layers": 2, "num_threads": 2}
if step == "epoch":
    train, validation = train.head(600), validation.head(200)
    options.update(epochs=1, batch_size=32, max_length=64)
else:
    options.update(epochs=1, max_train_steps=3, batch_size=8, max_length=64)
model = build_topic_classifier(options)
start = time.perf_counter()
model.fit(train["text"].tolist(), None, label_matrix(train["topics"], labels), labels,
          validation=(validation["text"].tolist(), None, label_matrix(validation["topics"], labels)))
if step == "pickles":
    start = time.perf_counter()
    pickled = [pickle.dumps(model) for _ in range(3)]
    pickle.loads(pickled[0])
print(json.dumps({"seconds": time.perf_counter() - start}))
"""
STEPS = {"fit stopped after 3 batches": "stopped", "fit, one whole epoch": "epoch", "3 pickles and 1 load": "pickles"}


if __name__ == "__main__":
    compare_and_write(RESULTS, "Fine-tuning e5's top layers, at an earlier revision and at this checkout", CHILD, STEPS,
                      str(DATA))
