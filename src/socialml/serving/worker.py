"""A worker of ``socialml-serve`` (started by ``serving.supervisor``, not by hand).

It starts at idle CPU priority (so that the worker already serving keeps the cores while this one
imports and loads), loads the families' registered models, returns to normal priority, tells the
supervisor on the status pipe whether that worked, and then serves HTTP on the socket it inherited.
SIGUSR1 makes it drain (every answer closes its connection); SIGTERM makes uvicorn finish the
requests in flight and exit.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

logger = logging.getLogger("socialml.serving")


def lower_priority() -> None:
    """Run this thread, and every thread it starts, only on CPU time that other processes leave idle.

    SCHED_IDLE (else niceness 19) is per thread on Linux and inherited by new threads: set first
    thing, it covers the imports, the model loading and the threads libraries start while loading.
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


def _exit_with_parent(parent: int) -> None:
    """A worker whose supervisor is gone (killed) stops too, instead of holding the port."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def main(argv: list[str] | None = None) -> None:
    lower_priority()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="the listening socket inherited from the supervisor")
    parser.add_argument("--status-fd", type=int, required=True)
    parser.add_argument("--control", required=True, help="the supervisor's Unix socket for reload requests")
    parser.add_argument("--project", required=True)
    parser.add_argument("--env", default=None)
    parser.add_argument("--families", required=True)
    parser.add_argument("--feed-log", default=None)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()

    import uvicorn
    from threadpoolctl import threadpool_limits

    from socialml.serving.app import create_app
    from socialml.serving.loading import ServiceOptions
    from socialml.serving.models import load_serving_models
    from socialml.serving.supervisor import ask_for_reload, reload_token

    # Requests run concurrently in threads: one BLAS thread each, or they fight over the cores.
    threadpool_limits(1)
    project = Path(args.project)
    with os.fdopen(args.status_fd, "w") as status:
        try:
            models = load_serving_models(project, args.env, args.families.split(","), args.tracking_uri)
            models.warm_up()
            # The loaded models' objects live as long as the worker: out of the collector's sight, a full
            # collection no longer walks them while requests wait (0.3 s each with every family).
            gc.freeze()
        except Exception as error:  # reported to the supervisor, who answers the reload with it
            logger.error("the models did not load", exc_info=error)
            status.write(json.dumps({"ready": False, "reason": f"{type(error).__name__}: {error}"}) + "\n")
            raise SystemExit(1) from None
        if not restore_priority():
            logger.warning("could not return to normal CPU priority after loading: this worker serves at low priority")
        status.write(json.dumps({"ready": True, "models": [m.as_dict() for m in models.served]}) + "\n")

    draining = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: draining.set())
    app = create_app(lambda: models, args.families.split(","),
                     ServiceOptions(Path(args.feed_log) if args.feed_log else None), reload_token=reload_token(project),
                     reloader=lambda: ask_for_reload(args.control), draining=draining.is_set)
    listener = socket.socket(fileno=args.fd)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30)).run(sockets=[listener])


if __name__ == "__main__":
    main()
