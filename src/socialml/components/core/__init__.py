"""Shared machinery: ``parts`` (one way to build a swappable part from parameters) and ``durable``
(atomic writes, completed-run manifests). Imports nothing else of the project."""
