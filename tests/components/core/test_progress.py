"""Progress of long steps: a bar on a terminal, plain log lines in a log."""

from __future__ import annotations

import io
import logging
import sys
import time
from pathlib import Path

from socialml.components.core import progress as progress_module
from socialml.components.core.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def slow(steps: int, seconds: float = 0.03):
    for step in range(steps):
        time.sleep(seconds)
        yield step


def test_in_a_log_a_long_step_logs_plain_lines_and_its_end(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(progress_module, "LOG_INTERVAL_S", 0.05)
    with caplog.at_level(logging.INFO, logger=progress_module.__name__):
        assert list(progress(slow(10), desc="embedding (cpu)", total=10, unit="batch")) == list(range(10))
    lines = [record.getMessage() for record in caplog.records]
    assert 2 <= len(lines) <= 11  # one per interval (at most one per step) and the last, not every redraw
    assert all(line.startswith("embedding (cpu):") and "\r" not in line for line in lines)
    assert "10/10" in lines[-1] and "100%" in lines[-1]
    assert sys.stderr.getvalue() == ""  # nothing redrawn with carriage returns


def test_in_a_log_a_short_step_shows_nothing(monkeypatch, caplog):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with caplog.at_level(logging.INFO, logger=progress_module.__name__):
        assert list(progress(slow(3), desc="bootstrap", leave=False)) == [0, 1, 2]
    assert caplog.records == [] and sys.stderr.getvalue() == ""


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_nothing_is_logged(monkeypatch, caplog):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress_module, "TERMINAL_DELAY_S", 0.0)
    with caplog.at_level(logging.INFO, logger=progress_module.__name__):
        bar = progress(slow(5), desc="fine-tuning epoch 1", total=5, unit="batch")
        for _ in bar:
            bar.set_postfix(loss=0.5, refresh=False)
    assert "\rfine-tuning epoch 1: 100%" in terminal.getvalue() and "loss=0.5" in terminal.getvalue()
    assert caplog.records == []


def test_every_bar_of_the_project_goes_through_progress():
    """A plain tqdm bar would write its redraws, carriage returns and all, into a run's log again."""
    helper = Path(progress_module.__file__)
    package = helper.parents[2]  # src/socialml
    direct = [str(path.relative_to(package)) for path in package.rglob("*.py")
              if path != helper and "tqdm" in path.read_text(encoding="utf-8")]
    assert direct == []
