"""Audience models: age and sex from the items a user watched (``models``, ``deepsets``).
May import ``core``, ``data`` and ``evaluation``."""
