"""The data layer: canonical table schemas (``canonical``), ingestion with row-level checks
(``ingest``), the embedded demo platform (``demo_platform``, ``demo_lexicon``) and feature tables
(``features``). May import ``core``."""
