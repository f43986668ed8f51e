"""A worker of ``socialml-serve`` (started by ``serving.supervisor``, not by hand).

It loads the families' registered models in a thread at low CPU priority (a thread's niceness is its
own on Linux, so the process that is serving keeps the cores), tells the supervisor on the status pipe
whether that worked, and then serves HTTP on the socket it inherited. SIGUSR1 makes it drain (every
answer closes its connection); SIGTERM makes uvicorn finish the requests in flight and exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

LOW_PRIORITY = 10  # niceness of the thread that loads the models


def _load_at_low_priority(load):
    result: dict = {}

    def work() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY)
        except (AttributeError, OSError):  # not Linux, or not allowed: load at normal priority
            pass
        try:
            models = load()
            models.warm_up()
            result["models"] = models
        except BaseException as error:  # reported to the supervisor, who answers the reload with it
            result["error"] = error

    loader = threading.Thread(target=work, name="model-load")
    loader.start()
    loader.join()
    return result


def _exit_with_parent(parent: int) -> None:
    """A worker whose supervisor is gone (killed) stops too, instead of holding the port."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def main(argv: list[str] | None = None) -> None:
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

    from socialml.serving.app import create_app, reload_token
    from socialml.serving.loading import ServiceOptions
    from socialml.serving.models import load_serving_models
    from socialml.serving.supervisor import ask_for_reload

    # Requests run concurrently in threads: one BLAS thread each, or they fight over the cores.
    threadpool_limits(1)
    families = args.families.split(",")
    project = Path(args.project)
    loaded = _load_at_low_priority(lambda: load_serving_models(project, args.env, families, args.tracking_uri))
    with os.fdopen(args.status_fd, "w") as status:
        if "error" in loaded:
            error = loaded["error"]
            logging.getLogger("socialml.serving").error("the models did not load", exc_info=error)
            status.write(json.dumps({"ready": False, "reason": f"{type(error).__name__}: {error}"}) + "\n")
            raise SystemExit(1)
        models = loaded["models"]
        status.write(json.dumps({"ready": True, "models": [m.as_dict() for m in models.served]}) + "\n")

    draining = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: draining.set())
    token = reload_token(project)
    app = create_app(lambda: models, families, ServiceOptions(Path(args.feed_log) if args.feed_log else None),
                     reload_token=token, reloader=lambda: ask_for_reload(args.control), draining=draining.is_set)
    listener = socket.socket(fileno=args.fd)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30)).run(sockets=[listener])


if __name__ == "__main__":
    main()
