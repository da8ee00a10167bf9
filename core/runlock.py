"""One training process per run directory: an advisory lock on ``model_dir/run.lock``.

Two trainings on one model_dir would both run, do every step twice, overwrite each other's
checkpoints and duplicate every metrics line. The lock is an `fcntl.flock` on ``run.lock``,
which the kernel releases when the holding process dies (kill -9 included), so a lock left by
a dead process is simply taken over -- no stale-lock heuristics, no timeouts. The file holds
the holder's host, pid, start time and command line, for the message a second process gets.

Only training takes the lock (under MultiWorkerMirroredStrategy: the chief); evaluations read
the run and write into their own eval_only/<name>/ directory. flock works on local disks and
on NFSv4; on file systems without it (some FUSE mounts) the lock cannot be taken and the run
says so instead of proceeding unprotected.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import sys

from core.errors import RunDirError

LOCK_FILE = "run.lock"
# Locks this process holds, by path: a run object that was never closed (an exception in a
# notebook, a test) must not lock its own process out of the directory.
_HELD: dict[str, "RunLock"] = {}


class RunLock:
    def __init__(self, model_dir: str):
        self.path = os.path.join(model_dir, LOCK_FILE)
        self._fd: int | None = None
        self.previous: dict | None = None  # the holder before us, when its lock was stale

    def acquire(self) -> "RunLock":
        """Takes the lock or raises RunDirError naming the live holder."""
        stale_own = _HELD.get(os.path.realpath(self.path))
        if stale_own is not None:
            stale_own.release()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunDirError(f"model_dir {os.path.dirname(self.path)}: cannot create "
                              f"{LOCK_FILE} ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirError(
                    f"model_dir {os.path.dirname(self.path)} is in use by "
                    f"{describe(holder)} (its {LOCK_FILE}); wait for that run to end or "
                    "stop it, or use another --model_dir") from None
            raise RunDirError(f"model_dir {os.path.dirname(self.path)}: cannot lock "
                              f"{LOCK_FILE} ({e.strerror}); this file system does not "
                              "support flock") from None
        previous = _read(fd)
        if previous and previous.get("pid") is not None:
            self.previous = previous
        record = {"host": socket.gethostname(), "pid": os.getpid(),
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds"),
                  "argv": sys.argv}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        _HELD[os.path.realpath(self.path)] = self
        return self

    def release(self) -> None:
        """Empties the file (the run ended cleanly) and unlocks it."""
        if self._fd is None:
            return
        _HELD.pop(os.path.realpath(self.path), None)
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def describe(holder: dict | None) -> str:
    if not holder:
        return "another process"
    return (f"pid {holder.get('pid')} on host {holder.get('host')} since "
            f"{holder.get('started')}")


def _read(fd: int) -> dict | None:
    try:
        text = os.pread(fd, 65536, 0).decode("utf-8", "replace").strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None
