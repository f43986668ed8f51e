"""Kedro pipelines: thin adapters over socialml.components."""
