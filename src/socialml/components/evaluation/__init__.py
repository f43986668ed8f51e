"""How every system is measured: evaluation protocols (``protocols``: which rows are held out),
quality metrics (``metrics``), comparison tables and their MLflow metrics (``tables``) and the
A/B comparison of served feeds (``ab_test``). May import ``core`` and ``data``; models are passed in,
never imported."""
