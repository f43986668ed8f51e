"""A worker of ``socialml-serve``: forked by the template process (``serving.template``), not started by hand.

It starts at idle CPU priority (so that the worker already serving keeps the cores while this one
loads), loads the families' registered models, returns to normal priority, tells the supervisor on
the status pipe whether that worked, and then serves HTTP on the socket it inherited. SIGUSR1 makes
it drain (every answer closes its connection); SIGTERM makes uvicorn finish the requests in flight
and exit. Once loaded it writes the names of the modules it imported, so that the template can
import them before it forks the next worker.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import select
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("socialml.serving")


@dataclass(frozen=True)
class WorkerOptions:
    """What every worker of one service serves, and how it reaches its supervisor."""

    project: Path
    families: tuple[str, ...]
    control: str  # the supervisor's Unix socket for reload requests
    supervisor: int  # its pid: a worker whose supervisor is gone exits
    env: str | None = None
    feed_log: Path | None = None
    tracking_uri: str | None = None

    @property
    def modules_file(self) -> Path:
        """Where a loaded worker lists the modules it imported (the supervisor's private folder)."""
        return Path(self.control).parent / "modules.json"


def lower_priority() -> None:
    """Run this thread, and every thread it starts, only on CPU time that other processes leave idle.

    SCHED_IDLE (else niceness 19) is per thread on Linux and inherited by new threads and forked
    children: set first thing, it covers the imports, the model loading and the threads libraries
    start while loading.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 19)
        except (AttributeError, OSError):  # not Linux, or not allowed: load at normal priority
            pass


def restore_priority() -> bool:
    """Every thread of this process back to normal scheduling, now that it serves; False if not allowed."""
    try:
        for task in os.listdir("/proc/self/task"):
            tid = int(task)
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, tid, 0)
    except (AttributeError, OSError, ValueError):
        return False
    return True


def exit_with(supervisor: int) -> None:
    """Exit this process when the supervisor does (killed), instead of holding the port; a daemon thread."""

    def watch() -> None:
        try:
            handle = os.pidfd_open(supervisor)
        except ProcessLookupError:
            os._exit(1)
        select.select([handle], [], [])  # readable once the supervisor has exited
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def write_modules(path: Path) -> None:
    """The modules this process imported, in import order, written atomically (a reader never sees half)."""
    names = [name for name, module in list(sys.modules.items())
             if module is not None and name not in ("__main__", "__mp_main__")]
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(names))
    os.replace(partial, path)


def serve(options: WorkerOptions, listener_fd: int, status_fd: int) -> None:
    """Load the models, report on ``status_fd``, serve on ``listener_fd`` until stopped (SystemExit(1) if not loaded).

    Runs at the idle priority it was forked with from the template, until its models are loaded."""
    exit_with(options.supervisor)
    import uvicorn
    from threadpoolctl import threadpool_limits

    from socialml.serving.app import create_app
    from socialml.serving.loading import ServiceOptions
    from socialml.serving.models import load_serving_models
    from socialml.serving.supervisor import ask_for_reload, reload_token

    # Requests run concurrently in threads: one BLAS thread each, or they fight over the cores.
    threadpool_limits(1)
    with os.fdopen(status_fd, "w") as status:
        try:
            models = load_serving_models(options.project, options.env, options.families, options.tracking_uri)
            models.warm_up()
            # The loaded models' objects live as long as the worker: out of the collector's sight, a full
            # collection no longer walks them while requests wait (0.3 s each with every family).
            gc.freeze()
        except Exception as error:  # reported to the supervisor, who answers the reload with it
            logger.error("the models did not load", exc_info=error)
            status.write(json.dumps({"ready": False, "reason": f"{type(error).__name__}: {error}"}) + "\n")
            raise SystemExit(1) from None
        try:
            write_modules(options.modules_file)
        except OSError as error:  # the next worker then imports for itself: slower, not wrong
            logger.warning("could not list the imported modules for the next worker: %s", error)
        if not restore_priority():
            logger.warning("could not return to normal CPU priority after loading: this worker serves at low priority")
        status.write(json.dumps({"ready": True, "models": [m.as_dict() for m in models.served]}) + "\n")

    draining = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: draining.set())
    app = create_app(lambda: models, options.families, ServiceOptions(options.feed_log),
                     reload_token=reload_token(options.project), reloader=lambda: ask_for_reload(options.control),
                     draining=draining.is_set)
    listener = socket.socket(fileno=listener_fd)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30)).run(sockets=[listener])
