import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pickle import PickleDataset

from socialml.components.text.vectors import to_frame
from socialml.pipelines.topics.pipeline import create_pipeline

MODELS = {"words": {"kind": "head", "features": "tfidf"}, "vectors": {"kind": "head", "features": "embedding"},
          "mean_of_both": {"kind": "ensemble", "of_models": ["words", "vectors"], "weights": {"words": 3, "vectors": 1}}}


def _topics_params(models: dict) -> dict:
    return {"topics": {"sources": ["demo"], "models": models, "min_label_count": 5, "seed": 0,
                       "split_shares": {"train": 0.6, "validation": 0.2, "test": 0.2}, "split_strata": "rarest_topic",
                       "bootstrap_runs": 20}}


def test_an_ensemble_of_trained_models_averages_them_without_training_them_again(tmp_path):
    rng = np.random.default_rng(0)
    topics = [["sport"], ["politics"], ["sport", "politics"], []] * 60
    posts = pd.DataFrame({"post_id": [f"post-{i:03d}" for i in range(240)],
                          "doc_text": [" ".join(t) + f" слово{i % 5}" if t else f"погода {i % 5}" for i, t in enumerate(topics)],
                          "image2text": "", "speech2text": "", "topics": topics, "split": None})
    vectors = np.array([[("sport" in t), ("politics" in t)] for t in topics], float) + rng.normal(0, 0.3, (240, 2))
    params = _topics_params(MODELS)
    params["topics"]["threshold_shrinkage"] = 1.0
    pipe = create_pipeline("demo", params)
    train = next(n for n in pipe.nodes if n.name == "demo.topics.mean_of_both.train")
    assert set(train.inputs) == {"demo.mi_topic_dataset", "demo.mi_post_embeddings", "params:topics.models.mean_of_both",
                                 "params:topics", "demo.topics.words.mdl_topic_classifier",
                                 "demo.topics.vectors.mdl_topic_classifier"}
    catalog = DataCatalog({"demo.prm_posts": MemoryDataset(posts),
                           "demo.mi_post_embeddings": MemoryDataset(to_frame(posts["post_id"], vectors, "post_id")),
                           "params:topics": MemoryDataset(params["topics"]),
                           **{f"params:topics.models.{name}": MemoryDataset(spec) for name, spec in MODELS.items()},
                           **{f"demo.topics.{name}.mdl_topic_classifier": PickleDataset(filepath=str(tmp_path / name))
                              for name in MODELS}})
    SequentialRunner().run(pipe, catalog)
    models = {name: catalog.load(f"demo.topics.{name}.mdl_topic_classifier") for name in MODELS}
    ensemble = models["mean_of_both"]
    assert list(ensemble.members) == ["words", "vectors"] and ensemble.labels == ["politics", "sport"]
    texts, embeddings = posts["doc_text"].head(8).tolist(), vectors[:8]
    expected = 0.75 * models["words"].predict_proba(texts, embeddings) + 0.25 * models["vectors"].predict_proba(texts, embeddings)
    np.testing.assert_allclose(ensemble.predict_proba(texts, embeddings), expected)
    # Every model, the ensemble of trained ones too, uses one common cut when the shrinkage is 1.
    assert all(m.threshold_shrinkage == 1.0 and len(set(m.thresholds)) == 1 for m in models.values())


@pytest.mark.parametrize("members", [["words", "missing"], ["words", "mean_of_both"]])
def test_an_ensemble_of_models_must_name_other_trained_models(members):
    models = {**MODELS, "mean_of_both": {"kind": "ensemble", "of_models": members}}
    with pytest.raises(ValueError, match="of_models entry"):
        create_pipeline("demo", _topics_params(models))


@pytest.mark.parametrize("shrinkage", ["CV", 2, True])
def test_a_mistyped_threshold_shrinkage_stops_the_pipeline_before_it_runs(shrinkage):
    params = _topics_params(MODELS)
    params["topics"]["threshold_shrinkage"] = shrinkage
    with pytest.raises(ValueError, match=r'threshold shrinkage must be a share in \[0, 1\] or "cv"'):
        create_pipeline("demo", params)
