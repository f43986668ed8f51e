import os
import subprocess
import sys

SCRIPT = """
import logging, warnings
from socialml.log_filters import silence_known_messages
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
silence_known_messages()
with warnings.catch_warnings():
    warnings.simplefilter("once", UserWarning)  # what MLflow does around its own calls
    warnings.warn("register_new_resolver() is deprecated and will be removed", UserWarning)
    warnings.warn("\\x1b[33mAdd type hints to the `predict` method to enable data validation", UserWarning)
    warnings.warn("the model diverged", UserWarning)
logging.getLogger("mlflow.pyfunc").info("Inferring model signature from input example")
logging.getLogger("mlflow.pyfunc").warning("model could not be loaded")
logging.getLogger("socialml.anything").info("Inferring model signature from input example")
logging.getLogger("kedro.runner.sequential_runner").info("Completed node: demo.topics.tfidf_logreg.train")
logging.getLogger("kedro.runner.sequential_runner").info("Completed 12 out of 91 tasks")
logging.getLogger("kedro.pipeline.node").info("Running node: train: train_topic_model([demo.mi_topic_dataset]) -> [x]")
logging.getLogger("kedro.pipeline.node").warning("node train failed")
"""


def test_known_third_party_chatter_is_dropped_and_everything_else_is_shown():
    """In a fresh process, as a Kedro command starts: known messages are dropped, the rest shown."""
    shown = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stderr
    assert "the model diverged" in shown and "register_new_resolver" not in shown and "type hints" not in shown
    assert "mlflow.pyfunc: model could not be loaded" in shown
    assert "mlflow.pyfunc: Inferring" not in shown and "socialml.anything: Inferring model signature" in shown
    assert "Completed node" not in shown and "Completed 12 out of 91 tasks" in shown
    assert "train_topic_model" not in shown and "kedro.pipeline.node: node train failed" in shown


def test_loading_a_local_encoder_draws_no_hugging_face_bar_and_our_own_bars_stay(e5_folder):
    """Loading weights took a fraction of a second and drew a bar every time; a user's own setting wins."""
    script = f"""
from socialml.log_filters import silence_known_messages
silence_known_messages()
from transformers import AutoModel
from tqdm.auto import tqdm
AutoModel.from_pretrained({str(e5_folder)!r})
for _ in tqdm(range(3), desc="embedding"):
    pass
"""

    def shown(environment: dict[str, str]) -> str:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env=environment).stderr

    unset = {name: value for name, value in os.environ.items() if name != "HF_HUB_DISABLE_PROGRESS_BARS"}
    quiet = shown(unset)
    assert "Loading weights" not in quiet and "embedding: 100%" in quiet
    assert "Loading weights" in shown({**unset, "HF_HUB_DISABLE_PROGRESS_BARS": "0"})
