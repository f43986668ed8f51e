"""The template process of ``socialml-serve``: it imports the workers' libraries once and forks each worker.

Started by the supervisor (``serving.supervisor``), at idle CPU priority. It answers two messages on
the channel the supervisor gave it:

* ``preload``: import the modules that a loaded worker listed (``WorkerOptions.modules_file``), in
  the order the worker imported them, so that the next worker forked finds them imported (torch,
  transformers, MLflow, CatBoost and Kedro take about half of a fresh worker's start-up);
* ``fork`` with the write end of a status pipe attached: fork a worker (``serving.worker.serve``)
  and answer its pid.

A worker forked from here shares the template's imported modules copy-on-write. The template never
loads a model, opens a Kedro session or serves a request, so nothing it holds is stale in a worker.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import logging
import os
import signal
import socket
import sys
import warnings
from pathlib import Path

from socialml.serving.worker import WorkerOptions, exit_with, lower_priority, serve

logger = logging.getLogger("socialml.serving")


def preload(modules_file: Path) -> int:
    """Import the modules listed in ``modules_file`` that are not imported yet; how many were imported."""
    try:
        names = json.loads(modules_file.read_text())
    except (OSError, ValueError) as error:
        logger.warning("not preloading: %s", error)
        return 0
    imported = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the worker's own import shows them
        for name in names:
            if name in sys.modules:
                continue
            try:
                importlib.import_module(name)
                imported += 1
            except Exception:  # a module that imports only as a side effect of another; the worker imports it
                continue
    gc.freeze()  # what the workers inherit stays out of their collector's walks and off their copied pages
    return imported


def fork_worker(options: WorkerOptions, listener_fd: int, status_fd: int, channel: socket.socket) -> int:
    """A forked worker's pid; the child serves and never returns here."""
    pid = os.fork()
    if pid:
        os.close(status_fd)
        return pid
    channel.close()  # the supervisor sees the channel close only when the template itself exits
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the worker's own subprocesses are waited for as usual
    code = 0
    try:
        serve(options, listener_fd, status_fd)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        logger.exception("the worker stopped")
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> None:
    lower_priority()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="the listening socket the workers serve on")
    parser.add_argument("--channel-fd", type=int, required=True, help="the supervisor's end of the channel")
    parser.add_argument("--supervisor", type=int, required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--families", required=True)
    parser.add_argument("--env", default=None)
    parser.add_argument("--feed-log", default=None)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    exit_with(args.supervisor)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped as they exit (the supervisor holds pidfds)
    options = WorkerOptions(Path(args.project), tuple(args.families.split(",")), args.control, args.supervisor,
                            args.env, Path(args.feed_log) if args.feed_log else None, args.tracking_uri)
    channel = socket.socket(fileno=args.channel_fd)
    while True:
        message, fds, _, _ = socket.recv_fds(channel, 1024, 1)
        if not message:  # the supervisor closed the channel
            return
        if message == b"preload":
            logger.info("template: %d modules imported for the next workers", preload(options.modules_file))
        elif message == b"fork" and fds:
            channel.send(str(fork_worker(options, args.fd, fds[0], channel)).encode())
        else:
            for fd in fds:
                os.close(fd)
            logger.error("template: unknown message %r", message)


if __name__ == "__main__":
    main()
