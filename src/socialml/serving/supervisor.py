"""``socialml-serve``: the supervisor that owns the service's socket and swaps worker processes on reload.

    socialml-serve [--project .] [--env ENV] [--host 127.0.0.1] [--port 8000] [--families feed,topics,...]
                   [--feed-log PATH] [--tracking-uri URI]

``--families`` defaults to the families the environment serves (each whose ``serving`` source is among
its ``sources``). The supervisor binds the port and starts a template process (``serving.template``), which forks a
worker (``serving.worker``): a process that loads the families' registered models, then serves HTTP
on the inherited socket. ``POST /admin/reload`` (on the worker) asks the supervisor, over a private
Unix socket, for a new worker: forked from the template, which has imported what the last worker
imported, it loads the current registered models beside the running one (at low CPU priority, in a
process of its own, so no request waits behind the load), says when it is ready, and starts accepting
on the same socket; the old worker then answers its last requests with ``Connection: close`` for
``DRAIN_S`` and exits gracefully. A new worker that fails to load is stopped and its reason returned;
the old one keeps serving. A worker that dies on its own is replaced, and so is the template. Each
reload is a fresh process, so memory does not grow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from socialml.serving.families import FAMILIES, checked_families

logger = logging.getLogger("socialml.serving")

DRAIN_S = 1.0  # the old worker closes each connection after its next answer for this long, then exits
LOAD_TIMEOUT_S = 900.0  # a worker that has not loaded its models by then is stopped
STOP_TIMEOUT_S = 30.0


class Worker:
    """A worker process (a child of the template), watched through a pidfd, and the pipe on which it says
    whether it loaded its models."""

    def __init__(self, pid: int, status_read: int) -> None:
        self.pid = pid
        self._status = os.fdopen(status_read, "r")
        try:
            self._handle: int | None = os.pidfd_open(pid)
        except ProcessLookupError:  # exited (and was reaped) before we looked
            self._handle = None

    def exited(self, timeout: float = 0.0) -> bool:
        """Whether the worker has exited, waiting up to ``timeout`` seconds for it to."""
        return self._handle is None or bool(select.select([self._handle], [], [], timeout)[0])

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """The worker's status line: ``{"ready": true, "models": [...]}`` or ``{"ready": false, "reason": ...}``."""
        ready, _, _ = select.select([self._status], [], [], timeout)
        line = self._status.readline() if ready else ""
        if not line:
            reason = (f"the new worker did not load its models within {timeout:.0f} s" if not ready else
                      "the new worker exited while loading; see its log")
            return {"ready": False, "reason": reason}
        return json.loads(line)

    def _signal(self, number: int) -> None:
        if not self.exited():
            with contextlib.suppress(ProcessLookupError):  # it exited since we looked
                signal.pidfd_send_signal(self._handle, number)

    def stop(self, drain: bool) -> None:
        """Let the worker finish what it is answering and exit (SIGUSR1: drain first; SIGTERM: exit)."""
        if drain:
            self._signal(signal.SIGUSR1)
            time.sleep(DRAIN_S)
        self._signal(signal.SIGTERM)
        if not self.exited(STOP_TIMEOUT_S):
            self._signal(signal.SIGKILL)
            self.exited(STOP_TIMEOUT_S)
        self._status.close()
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None  # exited, as far as anyone asks again


class Template:
    """The template process (``serving.template``): imports the workers' libraries once and forks each worker."""

    def __init__(self, args: list[str], listener: socket.socket, control_path: str) -> None:
        self._channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "socialml.serving.template", "--fd", str(listener.fileno()),
             "--channel-fd", str(theirs.fileno()), "--supervisor", str(os.getpid()), "--control", control_path,
             *args], pass_fds=(listener.fileno(), theirs.fileno()))
        theirs.close()
        self._channel.settimeout(LOAD_TIMEOUT_S)  # a fork waits for the preload before it, never longer

    def alive(self) -> bool:
        return self.process.poll() is None

    def preload(self) -> None:
        """Have the template import what the last loaded worker imported (in the background, at idle priority)."""
        try:
            self._channel.send(b"preload")
        except OSError as error:  # it has exited: the supervisor's watch starts another
            logger.warning("the template process did not take the preload: %s", error)

    def fork(self) -> Worker:
        """A new worker, forked from the template; its status comes on a pipe of its own."""
        status_read, status_write = os.pipe()
        try:
            socket.send_fds(self._channel, [b"fork"], [status_write])
            pid = self._channel.recv(32)
            if not pid:
                raise ConnectionError(f"the template process exited (code {self.process.wait()})")
        except OSError:  # ConnectionError, or no answer within LOAD_TIMEOUT_S
            os.close(status_read)
            raise
        finally:
            os.close(status_write)
        return Worker(int(pid), status_read)

    def stop(self) -> None:
        self._channel.close()  # the template returns when its channel closes
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Supervisor:
    def __init__(self, worker_args: list[str], host: str, port: int) -> None:
        self.worker_args = worker_args
        self.listener = socket.create_server((host, port), backlog=2048)
        self.listener.set_inheritable(True)
        self._control_dir = tempfile.mkdtemp(prefix="socialml-serve-")  # private (0700): only this user reloads
        self.control_path = os.path.join(self._control_dir, "control.sock")
        self.current: Worker | None = None
        self._template: Template | None = None
        self._swap = threading.Lock()
        self._stopping = threading.Event()

    def _new_worker(self) -> tuple[Worker | None, dict[str, Any]]:
        """A worker started beside any running one, and its status; stopped again if it did not load."""
        if self._template is None or not self._template.alive():
            self._template = Template(self.worker_args, self.listener, self.control_path)
        try:
            worker = self._template.fork()
        except OSError as error:
            return None, {"ready": False, "reason": f"no worker could be started: {error}"}
        status = worker.wait_ready(LOAD_TIMEOUT_S)
        if not status["ready"]:
            worker.stop(drain=False)
            return None, status
        self._template.preload()  # what this worker imported, for the next one
        return worker, status

    def start(self) -> dict[str, Any]:
        """Start the first worker; its status (a failure ends the service)."""
        worker, status = self._new_worker()
        if status["ready"]:
            self.current = worker
        return status

    def reload(self) -> dict[str, Any]:
        """A new worker beside the current one; the swap if it loads, its reason if it does not."""
        with self._swap:
            started = time.monotonic()
            worker, status = self._new_worker()
            if not status["ready"]:
                logger.error("reload failed, the running worker keeps serving: %s", status["reason"])
                return {"reloaded": False, "reason": status["reason"]}
            old, self.current = self.current, worker
            threading.Thread(target=old.stop, args=(True,), daemon=True).start()
            logger.info("reloaded in %.1f s: worker %d took over from %d", time.monotonic() - started,
                        worker.pid, old.pid)
            return {"reloaded": True, "models": status["models"]}

    def serve_control(self) -> None:
        """Answer reload requests from the workers on the private Unix socket (one at a time)."""
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.control_path)
        server.listen(16)
        server.settimeout(0.5)
        while not self._stopping.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(None)
                if connection.makefile("r").readline().strip() == "reload":
                    connection.sendall((json.dumps(self.reload()) + "\n").encode())
        server.close()

    def watch(self) -> None:
        """Replace a worker or a template that dies on its own, until the supervisor is stopped."""
        while not self._stopping.wait(1.0):
            with self._swap:
                if self._template is not None and not self._template.alive():
                    logger.error("the template process exited (code %s); starting another",
                                 self._template.process.returncode)
                    self._template = Template(self.worker_args, self.listener, self.control_path)
                    self._template.preload()
                if self.current is not None and self.current.exited():
                    logger.error("worker %d exited; starting another", self.current.pid)
                    self.current.stop(drain=False)  # closes what watched it
                    worker, status = self._new_worker()
                    if status["ready"]:
                        self.current = worker

    def stop(self) -> None:
        self._stopping.set()
        if self.current is not None:
            self.current.stop(drain=False)
        if self._template is not None:
            self._template.stop()
        self.listener.close()
        shutil.rmtree(self._control_dir, ignore_errors=True)


def reload_token(project: Path) -> str | None:
    """The admin token: ``SOCIALML_RELOAD_TOKEN``, else ``reload_token`` in ``conf/local/serving.yml``."""
    token = os.environ.get("SOCIALML_RELOAD_TOKEN")
    local = project / "conf" / "local" / "serving.yml"
    if not token and local.exists():
        token = (yaml.safe_load(local.read_text()) or {}).get("reload_token")
    return str(token) if token else None


def ask_for_reload(control_path: str) -> dict[str, Any]:
    """What a worker's reload route calls: the supervisor's answer to ``reload``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(control_path)
        connection.sendall(b"reload\n")
        line = connection.makefile("r").readline()
    return json.loads(line) if line else {"reloaded": False, "reason": "the supervisor closed the connection"}


def environment_defaults(project: Path, env: str | None, families: tuple[str, ...] | None
                         ) -> tuple[Path, tuple[str, ...]]:
    """The file the environment's ``ab_test`` pipeline reads the served feeds from (``raw_served_feed_log``),
    and ``families``, by default those the environment serves (``models.environment_families``)."""
    from socialml.serving.models import environment_families, project_context

    with project_context(project, env) as context:
        feed_log = project / context.config_loader["catalog"]["raw_served_feed_log"]["filepath"]
        return feed_log, families or environment_families(context.params, env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the registered SocialML models over HTTP.")
    parser.add_argument("--project", default=".", help="the Kedro project folder (default: here)")
    parser.add_argument("--env", default=None, help="Kedro environment whose catalog and parameters to use")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--feed-log", default=None,
                        help="JSON-lines log of served feeds (default: the environment's raw_served_feed_log, "
                             "data/01_raw/serving/feed_log.jsonl in base)")
    parser.add_argument("--families", default=None,
                        help=f"comma-separated model families to serve, of {','.join(FAMILIES)} (default: those the "
                             "environment serves: each whose `serving` source is among its sources)")
    parser.add_argument("--tracking-uri", default=None,
                        help="the MLflow tracking server with the Model Registry (default: the project's mlflow.yml)")
    args = parser.parse_args(argv)
    try:
        named = (checked_families(f.strip() for f in args.families.split(",") if f.strip())
                 if args.families is not None else None)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        project = Path(args.project).resolve()
        environment_log, families = environment_defaults(project, args.env, named)
    except ValueError as error:
        parser.error(str(error))
    feed_log = Path(args.feed_log) if args.feed_log else environment_log
    feed_log.parent.mkdir(parents=True, exist_ok=True)
    worker_args = ["--project", str(project), "--families", ",".join(families), "--feed-log", str(feed_log)]
    worker_args += ["--env", args.env] if args.env else []
    worker_args += ["--tracking-uri", args.tracking_uri] if args.tracking_uri else []

    if reload_token(project) is None:
        logger.info("POST /admin/reload is disabled: set SOCIALML_RELOAD_TOKEN to enable it")
    supervisor = Supervisor(worker_args, args.host, args.port)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    status = supervisor.start()
    if not status["ready"]:
        supervisor.stop()
        sys.exit(f"socialml-serve: the models did not load: {status['reason']}")
    for task in (supervisor.serve_control, supervisor.watch):
        threading.Thread(target=task, daemon=True).start()
    logger.info("serving %s on http://%s:%d", ", ".join(families), args.host, args.port)
    stop.wait()
    supervisor.stop()


if __name__ == "__main__":
    main()
