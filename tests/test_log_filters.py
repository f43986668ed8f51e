import logging
import warnings

from socialml.log_filters import silence_known_messages


def test_known_third_party_chatter_is_dropped_and_everything_else_is_shown(caplog):
    silence_known_messages()
    with caplog.at_level(logging.WARNING, logger="py.warnings"), warnings.catch_warnings():
        warnings.simplefilter("once", UserWarning)  # what MLflow does around its own calls
        warnings.warn("register_new_resolver() is deprecated and will be removed", UserWarning)
        warnings.warn("\x1b[33mAdd type hints to the `predict` method to enable data validation", UserWarning)
        warnings.warn("the model diverged", UserWarning)
    assert [r.getMessage().split("UserWarning: ")[1].splitlines()[0] for r in caplog.records] == ["the model diverged"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        logging.getLogger("mlflow.pyfunc").info("Inferring model signature from input example")
        logging.getLogger("mlflow.pyfunc").warning("model could not be loaded")
        logging.getLogger("socialml.anything").info("Inferring model signature from input example")
    assert [r.getMessage() for r in caplog.records] == ["model could not be loaded",
                                                        "Inferring model signature from input example"]
