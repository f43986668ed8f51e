"""The errors a run ends with on purpose, because of its data or its settings rather than the code."""

from __future__ import annotations


class DataStop(ValueError):
    """The data cannot give what the run asks of it (no positive events, one class only, a missing column).

    Its message names the table or setting and what to do, so a command ended by one prints the message
    alone, without a traceback (``socialml.hooks.show_stops_without_traceback``).
    """


class SettingsError(ValueError):
    """A setting that is misspelt, mistyped or out of range; the message names it and what it may be.

    Raised while the pipelines are built where it can be, before any node runs, and printed alone like a
    :class:`DataStop`.
    """
