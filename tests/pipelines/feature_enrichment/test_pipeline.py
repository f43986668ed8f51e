from socialml.pipelines.feature_enrichment import create_pipeline


def test_feature_tables_are_built_only_where_their_inputs_exist():
    every = create_pipeline("demo", {"users", "posts", "feed_events", "regions", "views", "items", "clients", "holdings"})
    assert every.outputs() == {"demo.feat_user_features", "demo.feat_post_features", "demo.feat_viewer_history",
                               "demo.feat_client_features"}
    assert "demo.prm_regions" in every.inputs()
    bank = create_pipeline("bank", {"clients", "holdings"})
    assert bank.outputs() == {"bank.feat_client_features"}
    assert not create_pipeline("survey", {"answers"}).nodes
