import pytest

from socialml.serving.models import ServingModels


def test_request_ids_are_typed_like_the_sources_ids():
    models = ServingModels(families=("feed", "cross_sell"), versions={},
                           integer_ids={"feed": True, "cross_sell": False})
    assert models.parse_id("feed", " 107 ") == 107 and models.parse_id("feed", "-3") == -3
    assert models.parse_id("cross_sell", "7590-VHVEG") == "7590-VHVEG"
    assert models.parse_id("cross_sell", "0042") == "0042"  # string ids keep their leading zeros
    for bad in ("abc", "1.5", "9" * 19):
        with pytest.raises(ValueError, match="this feed source has integer ids"):
            models.parse_id("feed", bad)


def test_an_encoder_that_gives_other_vectors_than_in_training_is_refused_and_not_kept():
    models = ServingModels(families=("clusters",), versions={})
    trained = {"identity": "tfidf-svd-8@fitted-0123456789ab", "config": {"kind": "tfidf_svd", "n_components": 8}}
    with pytest.raises(ValueError, match="trained on embeddings from 'tfidf-svd-8@fitted-0123456789ab', but its "
                                         "encoder gives 'tfidf-svd-8@fitted-"):
        models.encode(["новый ответ", "ещё один ответ", "третий"], trained)
    assert models._encoders == {}  # a refused encoder is not kept for the next request
