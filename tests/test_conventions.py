"""Project conventions, checked in every configuration environment."""

from __future__ import annotations

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from socialml.registry import held_out_set, registry_gates, served_models
from tests.conftest import PROJECT_ROOT

LAYERS = {"raw", "intermediate", "primary", "feature", "model_input", "models", "model_output", "reporting"}
LAYER_OF_PREFIX = {"raw_": "raw", "int_": "intermediate", "prm_": "primary", "feat_": "feature",
                   "mi_": "model_input", "mdl_": "models", "mo_": "model_output", "rpt_": "reporting"}
IN_MEMORY_HANDOFFS = ("counts_",)  # row counts passed from each ingest node to the report node
MEMORY_DATASETS = ("kedro.io.MemoryDataset", "MemoryDataset")


@pytest.fixture(scope="module", params=["base", "test", "real", "postgres"])
def env_context(request):
    bootstrap_project(PROJECT_ROOT)
    env = None if request.param == "base" else request.param
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOCIALML_PLATFORM_DB_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
        with KedroSession.create(project_path=PROJECT_ROOT, env=env) as session:
            context = session.load_context()
            every_pipeline = sum(pipelines.values(), start=pipelines["__default__"])
            yield request.param, context, every_pipeline, _dataset_configs(context, every_pipeline)


def _dataset_configs(context, pipeline) -> list[tuple[str, str, dict]]:
    """(full name, name without namespace, resolved catalog config) of every dataset the pipeline uses
    (resolved once per environment: resolving patterns is most of these tests' time)."""
    resolver = context.catalog.config_resolver  # `context.catalog` reads every config file again on each access
    return [(name, name.rsplit(".", 1)[-1], resolver.resolve_pattern(name))
            for name in sorted(d for d in pipeline.datasets() if not d.startswith("params:") and d != "parameters")]


def test_every_persisted_dataset_has_a_layer_matching_its_prefix(env_context):
    env, _, _, configs = env_context
    problems = []
    for name, short, config in configs:
        if config.get("type") in MEMORY_DATASETS:
            if not short.startswith(IN_MEMORY_HANDOFFS):
                problems.append(f"{name}: not persisted (no catalog entry)")
            continue
        layer = config.get("metadata", {}).get("kedro-viz", {}).get("layer")
        expected = next((lay for prefix, lay in LAYER_OF_PREFIX.items() if short.startswith(prefix)), None)
        if layer not in LAYERS or layer != expected:
            problems.append(f"{name}: layer {layer!r}, name prefix asks for {expected!r}")
    assert not problems, f"[{env}] " + "\n".join(problems)


def test_each_pipeline_runs_on_its_own(env_context):
    """`kedro run --pipelines NAME` loads what NAME does not produce: none of it may be an in-memory handoff.
    (A whole run already saves and reloads every persisted dataset between nodes.)"""
    env, _, _, configs = env_context
    in_memory = {name for name, _, config in configs if config.get("type") in MEMORY_DATASETS}
    needs_memory = {name: sorted(in_memory & pipeline.inputs()) for name, pipeline in pipelines.items()}
    assert not {name: free for name, free in needs_memory.items() if free}, f"[{env}] {needs_memory}"


def test_every_parameter_a_node_reads_exists(env_context):
    env, context, pipeline, _ = env_context
    params = context.config_loader["parameters"]
    missing = []
    for name in pipeline.datasets():
        if not name.startswith("params:"):
            continue
        node = params
        for key in name.removeprefix("params:").split("."):
            if not isinstance(node, dict) or key not in node:
                missing.append(name)
                break
            node = node[key]
    assert not missing, f"[{env}] nodes read parameters that do not exist: {missing}"


def test_reports_and_models_are_versioned(env_context):
    env, _, _, configs = env_context
    unversioned = []
    for name, short, config in configs:
        if short.startswith(("rpt_", "mdl_", "mo_")) and "Mlflow" not in config.get("type", "") \
                and not config.get("versioned"):
            unversioned.append(name)
    assert not unversioned, f"[{env}] {unversioned}"


def test_each_pipeline_family_is_registered(env_context):
    env, _, _, _ = env_context
    assert {"__default__", "ingestion", "feature_enrichment", "evaluation"} <= set(pipelines)
    assert len(pipelines["ingestion"].nodes) > 0 and len(pipelines["evaluation"].nodes) > 0


def test_real_environment_has_one_namespace_per_shared_data_set(env_context):
    env, _, _, _ = env_context
    if env != "real":
        pytest.skip("real configuration only")
    namespaces = {n.namespace.split(".")[0] for n in pipelines["ingestion"].nodes}
    assert namespaces == {"karpov_social", "movielens_100k", "survey_answers_ru", "ru_intents_dev", "telegram_news_topics",
                          "sensitive_topics_multilabel", "rusentiment", "santander_sample"}


def test_the_default_pipeline_needs_nothing_but_raw_data_and_parameters(env_context):
    """Every free input is a raw table (or a parameter): `kedro run` works from an empty data/ folder."""
    env, _, _, _ = env_context
    free = {d for d in pipelines["__default__"].inputs() if not d.startswith("params:") and d != "parameters"}
    assert {d for d in free if not d.rsplit(".", 1)[-1].startswith("raw_")} == set(), env


def test_every_gated_model_has_its_held_out_parameters(env_context):
    env, context, _, _ = env_context
    params = context.params
    gates = registry_gates(params)
    for family, aliases in served_models(params).items():
        gate = gates.get(family)
        if gate is None:
            continue
        for dataset_name in aliases.values():
            source = dataset_name.split(".", 1)[0]
            if source in params["sources"]:  # another environment's source is registered by that environment
                held_out_set(gate, source, params)  # a KeyError names the missing parameter


def test_environments_on_other_data_keep_their_own_registry_and_exported_models():
    """The registry's gate never compares models of different data sets, so an environment on other data
    than the demo's needs its own MLflow store (else the demo's version keeps 'champion') and export folder."""
    from kedro.config import OmegaConfigLoader

    from socialml.settings import CONFIG_LOADER_ARGS

    stores = {}
    for env in ("local", "test", "real"):
        loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
        params = loader["parameters"]
        stores[env] = (loader["mlflow"]["server"]["mlflow_tracking_uri"], params["serving"]["exported_models"])
    assert len({uri for uri, _ in stores.values()}) == 3, stores
    assert len({folder for _, folder in stores.values()}) == 3, stores


def test_a_test_run_writes_no_file_that_kedro_run_reads():
    """`kedro run --env test` beside `kedro run` (as the README shows) must not replace the demo's tables,
    models or reports: the app shows those tables beside the models of the default registry."""
    from kedro.config import OmegaConfigLoader

    from socialml.settings import CONFIG_LOADER_ARGS

    def filepaths(env: str) -> dict[str, str]:
        loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
        return {name: entry["filepath"] for name, entry in loader["catalog"].items()
                if isinstance(entry, dict) and "filepath" in entry}

    base, test = filepaths("local"), filepaths("test")
    assert base.keys() == test.keys() and len(base) > 40
    assert all(path.startswith("data/test/") for path in test.values()), test
    assert not set(base.values()) & set(test.values())
