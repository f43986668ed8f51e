"""Library code of the five systems, with no knowledge of Kedro: pipelines, serving and the app import it.

Packages, each importing only the ones before it in this list (``tests/components/test_layout.py``
checks it, and that no module imports itself in a cycle):

- ``core``: how swappable parts are built from parameters, durable writes.
- ``data``: canonical table schemas, ingestion and its row-level checks, the demo platform, features.
- ``evaluation``: evaluation protocols (splits), quality metrics, comparison tables, the A/B test.
- ``text``: encoders and their cache, answer clustering, sentiment, topic classifiers.
- ``recsys``: recommenders, the post feed, cross-sell.
- ``audience``: age and sex from what a user watched.

``text``, ``recsys`` and ``audience`` do not import each other.
"""
