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

A model_dir that is a URL (gs://..., core/fs.py) has no flock: there ``run.lock`` itself is the
lock. It is created only if absent (written under a temporary name, then renamed without
overwriting), read back to check it is ours (a token), and deleted on release. Nothing
releases it when the holder dies, so a lock left behind is taken over only when it names a
process of this host that no longer runs; one of another host is refused with the message
naming it and the file to delete once that run is known to be gone. Limits: an object
store's rename is a check then a copy, so two processes starting within the same moment
could both pass the check (the read-back catches the one whose copy lost); a pid reused on
the same host reads as alive (refused, never taken over wrongly).
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import sys
import uuid

from core import fs
from core.errors import RunDirError

LOCK_FILE = "run.lock"
# Locks this process holds, by path: a run object that was never closed (an exception in a
# notebook, a test) must not lock its own process out of the directory.
_HELD: dict[str, "RunLock"] = {}


class RunLock:
    def __init__(self, model_dir: str):
        self.path = os.path.join(model_dir, LOCK_FILE)
        self._fd: int | None = None  # the flock'ed file (local)
        self._token: str | None = None  # the lock file's token (URL)
        self.previous: dict | None = None  # the holder before us, when its lock was stale

    def acquire(self) -> "RunLock":
        """Takes the lock or raises RunDirError naming the live holder."""
        stale_own = _HELD.get(fs.realpath(self.path))
        if stale_own is not None:
            stale_own.release()
        if not fs.is_local(self.path):
            return self._acquire_file()
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
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(_record()) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        _HELD[fs.realpath(self.path)] = self
        return self

    def _acquire_file(self) -> "RunLock":
        """The lock of a URL model_dir: run.lock created if absent (module doc)."""
        where = os.path.dirname(self.path)
        try:
            holder = _read_file(self.path)
            if holder is not None:
                if not _dead_here(holder):
                    raise RunDirError(
                        f"model_dir {where} is in use by {describe(holder or None)} (its "
                        f"{LOCK_FILE}); wait for that run to end or stop it, or use another "
                        f"--model_dir (nothing releases a lock on a URL when its process "
                        f"dies: once that run is known to be gone, delete {self.path})")
                self.previous = holder
                fs.remove(self.path)
            record = _record()
            # Not "run.lock.tmp...": ram:// says a file exists when another's name extends it.
            tmp = os.path.join(where, f".lock.tmp{os.getpid()}")
            fs.write_text(tmp, json.dumps(record) + "\n")
            try:
                fs.rename(tmp, self.path, overwrite=False)
            except FileExistsError:
                fs.remove(tmp)
                return self._lost_race(where)
            if (_read_file(self.path) or {}).get("token") != record["token"]:
                return self._lost_race(where)
        except OSError as e:
            raise RunDirError(f"model_dir {where}: cannot create {LOCK_FILE} "
                              f"({e.strerror})") from None
        self._token = record["token"]
        _HELD[fs.realpath(self.path)] = self
        return self

    def _lost_race(self, where: str):
        raise RunDirError(f"model_dir {where} is in use by "
                          f"{describe(_read_file(self.path) or None)} (its {LOCK_FILE}, "
                          "taken at the same moment); wait for that run to end or stop it, "
                          "or use another --model_dir")

    def release(self) -> None:
        """Empties the file (the run ended cleanly) and unlocks it; a URL's lock file is
        deleted, if it is still ours."""
        if self._token is not None:
            _HELD.pop(fs.realpath(self.path), None)
            token, self._token = self._token, None
            try:
                if (_read_file(self.path) or {}).get("token") == token:
                    fs.remove(self.path)
            except OSError:
                pass  # the next run names this process; it is taken over on this host
            return
        if self._fd is None:
            return
        _HELD.pop(fs.realpath(self.path), None)
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None or self._token is not None

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


def _record() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "argv": sys.argv, "token": uuid.uuid4().hex}


def _read_file(path: str) -> dict | None:
    """The holder a URL's lock file names ({} when it cannot be parsed), None if absent."""
    try:
        text = fs.read_text(path).strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError):
        return {}
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _dead_here(holder: dict) -> bool:
    """Whether the holder is a process of this host that no longer runs."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's
    return False
