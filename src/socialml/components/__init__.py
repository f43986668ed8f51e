"""Plain Python library code with no Kedro dependency."""
