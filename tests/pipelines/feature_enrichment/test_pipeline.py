from socialml.pipelines.feature_enrichment import create_pipeline


def params_with(**tables: set[str]) -> dict:
    """Parameters of an environment whose sources fill the given canonical tables."""
    return {"sources": {s: {"layout": s} for s in tables},
            "ingestion": {"layouts": {s: {t: {} for t in ts} for s, ts in tables.items()}}}


def test_feature_tables_are_built_only_where_their_inputs_exist():
    params = params_with(demo={"users", "posts", "feed_events", "regions", "views", "items", "clients", "holdings"},
                         bank={"clients", "holdings"}, survey={"answers"})
    every = create_pipeline("demo", params)
    assert every.outputs() == {"demo.feat_user_features", "demo.feat_post_features", "demo.feat_viewer_history",
                               "demo.feat_client_features"}
    assert "demo.prm_regions" in every.inputs()
    assert create_pipeline("bank", params).outputs() == {"bank.feat_client_features"}
    assert not create_pipeline("survey", params).nodes
