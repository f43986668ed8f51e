import pytest

from socialml.serving.loading import TextEncoders
from socialml.serving.schemas import parse_id


def test_request_ids_are_typed_like_the_sources_ids():
    assert parse_id(" 107 ", True, "feed") == 107 and parse_id("-3", True, "feed") == -3
    assert parse_id("7590-VHVEG", False, "cross_sell") == "7590-VHVEG"
    assert parse_id("0042", False, "cross_sell") == "0042"  # string ids keep their leading zeros
    for bad in ("abc", "1.5", "9" * 19):
        with pytest.raises(ValueError, match="this feed source has integer ids"):
            parse_id(bad, True, "feed")


def test_an_encoder_that_gives_other_vectors_than_in_training_is_refused_and_not_kept():
    encoders = TextEncoders()
    trained = {"identity": "tfidf-svd-8@fitted-0123456789ab", "config": {"kind": "tfidf_svd", "n_components": 8}}
    with pytest.raises(ValueError, match="trained on embeddings from 'tfidf-svd-8@fitted-0123456789ab', but its "
                                         "encoder gives 'tfidf-svd-8@fitted-"):
        encoders.encode(["новый ответ", "ещё один ответ", "третий"], trained)
    assert encoders._built == {}  # a refused encoder is not kept for the next request
