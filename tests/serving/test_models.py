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
