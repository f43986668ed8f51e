"""Progress of long steps, the one way the project shows it: a tqdm bar on a terminal or in a notebook; in a
log (a file, CI, Airflow) a plain log line at most once a minute. A bar redrawn with carriage returns is, in
a log, one line of thousands of redraws: 150 kB for the fine-tuning of one source."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import auto
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

TERMINAL_DELAY_S = 2.0  # a step shorter than this draws no bar
LOG_INTERVAL_S = 60.0  # in a log: nothing for a step shorter than this, then one line per interval and one at the end


class _LogLines:
    """A file for tqdm that turns each redraw into one log record (tqdm's carriage returns dropped)."""

    def write(self, text: str) -> None:
        line = text.strip("\r\n ")
        if line:
            logger.info(line)

    def flush(self) -> None:
        pass


def writes_to_terminal() -> bool:
    """Whether a bar can be redrawn in place: stderr is a terminal, or tqdm.auto found a notebook (whose
    stderr is no terminal but which draws widgets)."""
    return sys.stderr.isatty() or auto.notebook_tqdm is not auto.std_tqdm


def progress(iterable: Iterable[Any], desc: str, total: int | None = None, unit: str = "it",
             leave: bool = True) -> tqdm:
    """``iterable`` with its progress shown as this module says; steps shorter than a couple of seconds (on a
    terminal) or a minute (in a log) show nothing. ``leave=False`` clears a terminal's finished bar, for steps
    that a node repeats many times (a bootstrap per model); a log keeps its last line either way."""
    if writes_to_terminal():
        return tqdm(iterable, desc=desc, total=total, unit=unit, delay=TERMINAL_DELAY_S, leave=leave)
    # miniters=1: every step reads the clock, so tqdm's monitor thread never logs a stale count in between
    return tqdm(iterable, desc=desc, total=total, unit=unit, file=_LogLines(), ascii=True,
                delay=LOG_INTERVAL_S, mininterval=LOG_INTERVAL_S, miniters=1)
