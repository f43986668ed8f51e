"""Writes that a killed process cannot tear.

A file is written beside its final path under a hidden ``.partial`` name and moved into place
(``os.replace``, atomic on one filesystem) only once it was written whole, so a reader sees the
old file or the new one, never half of one. A versioned dataset's half-written version has no
file under its real name, so it is never taken as the latest.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import IO, Any

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    """Where a file is written before it is moved to ``path``: hidden, unique, same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")


class AtomicFile:
    """A file object that becomes ``path`` when closed normally and is discarded when its block fails."""

    def __init__(self, path: str | Path, mode: str = "wb", **open_args: Any) -> None:
        self.path = Path(path)
        self.temp = partial_path(self.path)
        self.file: IO = open(self.temp, mode, **open_args)  # noqa: SIM115 - closed by close()/__exit__
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temp, self.path)

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self.file.close()
        self.temp.unlink(missing_ok=True)


class AtomicLocalFileSystem:
    """An fsspec local filesystem whose writes are atomic; every other call goes to the wrapped one."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs

    def __getattr__(self, name: str) -> Any:
        if name == "fs":  # not set yet (an instance being unpickled): no wrapped filesystem to ask
            raise AttributeError(name)
        return getattr(self.fs, name)

    def __reduce__(self) -> tuple:
        # A catalog pickled with its datasets (kedro-mlflow's pipeline models) unpickles still atomic.
        return AtomicLocalFileSystem, (self.fs,)

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if not any(flag in mode for flag in "wxa") or "a" in mode:
            return self.fs.open(path, mode, **kwargs)
        local = Path(self.fs._strip_protocol(path))
        local.parent.mkdir(parents=True, exist_ok=True)
        open_args = {k: kwargs[k] for k in ("encoding", "errors", "newline") if k in kwargs}
        return AtomicFile(local, mode.replace("x", "w"), **open_args)


def remove_abandoned_partials(folder: str | Path) -> list[Path]:
    """Delete the ``.partial`` files under ``folder`` whose writing process is gone (a killed run's leftovers)."""
    removed = []
    for path in Path(folder).rglob(f".*{PARTIAL_SUFFIX}"):
        pid = path.name[: -len(PARTIAL_SUFFIX)].rsplit(".", 1)[-1].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def process_alive(pid: int) -> bool:
    """Whether a process of this host still runs (a killed run's files and MLflow runs are told by it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_writes_atomic(dataset: Any) -> bool:
    """Route a file dataset's writes through :class:`AtomicLocalFileSystem` (local files only).

    kedro-datasets' file datasets all write through their fsspec filesystem (``_fs``); object
    stores already publish whole objects, so only the local filesystem is wrapped.
    """
    fs = getattr(dataset, "_fs", None)
    if fs is None or isinstance(fs, AtomicLocalFileSystem) or "file" not in _protocols(fs):
        return False
    dataset._fs = AtomicLocalFileSystem(fs)
    return True


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = getattr(fs, "protocol", ())
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
