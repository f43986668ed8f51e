"""The one kind of error a run ends with on purpose, because of the data rather than the code."""

from __future__ import annotations


class DataStop(ValueError):
    """The data cannot give what the run asks of it (no positive events, one class only, a missing column).

    Its message names the table or setting and what to do, so a command ended by one prints the message
    alone, without a traceback (``socialml.hooks.show_stops_without_traceback``).
    """
