"""File-system calls on run directories (model_dir, best/, damaged/, config.yaml,
metrics.jsonl, ...), so that a run may live on any file system TensorFlow knows: a local
path, or a URL such as ``gs://bucket/runs/r50`` (``ram://`` in the tests).

A path with a scheme (``<scheme>://``, except ``file://``) goes through `tf.io.gfile`; a local
path through `os`/`shutil`, as before. Why two routes: a local run keeps exactly the
behaviour its tests pin down -- errors with their errno (a full disk is recognised by
ENOSPC, engine/checkpoints.py), POSIX rename, symlinks left alone by --clean, flock -- and
TensorFlow is imported only for a URL. A gfile error is raised as OSError
(FileNotFoundError, FileExistsError, PermissionError, else OSError EIO) with TensorFlow's
message, so callers handle one kind of error.

What object stores and TensorFlow's in-memory ``ram://`` file system do differently:
- directories: on an object store a directory is a name prefix. ``ram://`` answers
  `IsDirectory` (and `FileExists`) true for any prefix of a stored name -- ``DIR/ckpt-2`` "is a
  directory" because ``DIR/ckpt-2.index`` exists, ``best`` because ``best.json.tmp1`` does. So
  `isdir` here also requires the parent to list the name, and `exists` is `isfile or isdir`;
- ``ram://`` opens an existing file for writing without emptying it (writes land after the
  old bytes): `open_file` deletes it first there;
- rename is a copy then a delete (not atomic; each object is written whole, so a reader
  never sees half a file, which is what the atomic writes here are for);
- there is no flock (core/runlock.py takes another kind of lock there).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import shutil
from typing import IO, Any

_LOCAL_SCHEME = "file://"


def is_local(path: str) -> bool:
    """True for an OS path (or file://...), False for a URL such as gs://bucket/dir."""
    path = str(path)
    return "://" not in path or path.startswith(_LOCAL_SCHEME)


def _local(path: str) -> str:
    path = str(path)
    return path[len(_LOCAL_SCHEME):] if path.startswith(_LOCAL_SCHEME) else path


def _gfile():
    import tensorflow as tf  # only for URLs
    return tf.io.gfile


@contextlib.contextmanager
def _as_oserror(path: str):
    """A TensorFlow file-system error as the OSError of the same meaning."""
    import tensorflow as tf
    try:
        yield
    except tf.errors.NotFoundError as e:
        raise FileNotFoundError(errno.ENOENT, e.message, path) from None
    except tf.errors.AlreadyExistsError as e:
        raise FileExistsError(errno.EEXIST, e.message, path) from None
    except tf.errors.PermissionDeniedError as e:
        raise PermissionError(errno.EACCES, e.message, path) from None
    except tf.errors.OpError as e:
        raise OSError(errno.EIO, e.message or type(e).__name__, path) from None


# ----------------------------------------------------------------------------- paths
def abspath(path: str) -> str:
    """os.path.abspath of a local path; a URL as it is (abspath would make it cwd/gs:/...)."""
    return os.path.abspath(_local(path)) if is_local(path) else str(path)


def realpath(path: str) -> str:
    """The path that identifies a file: symlinks resolved locally; a URL as it is."""
    return os.path.realpath(_local(path)) if is_local(path) else str(path).rstrip("/")


def same_dir(a: str, b: str) -> bool:
    return realpath(a) == realpath(b)


# ----------------------------------------------------------------------------- queries
def isdir(path: str) -> bool:
    if is_local(path):
        return os.path.isdir(_local(path))
    gfile, path = _gfile(), str(path).rstrip("/")
    try:
        if not gfile.isdir(path):
            return False
        parent, name = path.rsplit("/", 1)
        # ram:// calls any prefix of a stored name a directory (module doc).
        return name in {n.rstrip("/") for n in gfile.listdir(parent)}
    except Exception:  # noqa: BLE001 -- an unlistable parent: not a directory we can use
        return False


def isfile(path: str) -> bool:
    if is_local(path):
        return os.path.isfile(_local(path))
    gfile = _gfile()
    try:
        return gfile.exists(path) and not gfile.isdir(path)
    except Exception:  # noqa: BLE001
        return False


def exists(path: str) -> bool:
    if is_local(path):
        return os.path.exists(_local(path))
    return isfile(path) or isdir(path)


def listdir(path: str) -> list[str]:
    """The names in a directory ([] when it is not one)."""
    if is_local(path):
        path = _local(path)
        return os.listdir(path) if os.path.isdir(path) else []
    if not isdir(path):
        return []
    with _as_oserror(path):
        return [n.rstrip("/") for n in _gfile().listdir(path)]


def matching(directory: str, pattern: str) -> list[str]:
    """Paths of the entries of ``directory`` whose name matches the fnmatch ``pattern``
    (one level; the directory's own name is never read as a pattern)."""
    return [os.path.join(directory, n) for n in sorted(listdir(directory))
            if fnmatch.fnmatchcase(n, pattern)]


def files_of(prefix: str) -> list[str]:
    """The files of a checkpoint prefix: ``<prefix>.<anything>``."""
    directory, base = os.path.split(prefix)
    return [os.path.join(directory, n) for n in sorted(listdir(directory))
            if n.startswith(base + ".")]


def size(path: str) -> int:
    if is_local(path):
        return os.path.getsize(_local(path))
    with _as_oserror(path):
        return _gfile().stat(path).length


# ----------------------------------------------------------------------------- changes
def makedirs(path: str) -> None:
    if is_local(path):
        os.makedirs(_local(path), exist_ok=True)
        return
    with _as_oserror(path):
        _gfile().makedirs(path)


def remove(path: str) -> None:
    if is_local(path):
        os.remove(_local(path))
        return
    with _as_oserror(path):
        _gfile().remove(path)


def rmtree(path: str, ignore_errors: bool = False) -> None:
    if is_local(path):
        shutil.rmtree(_local(path), ignore_errors=ignore_errors)
        return
    try:
        with _as_oserror(path):
            _gfile().rmtree(path)
    except OSError:
        if not ignore_errors:
            raise


def rename(src: str, dst: str, overwrite: bool = True) -> None:
    """Moves a file or directory, replacing a file ``dst`` (os.replace); FileExistsError
    when ``dst`` exists and not ``overwrite`` (URLs only: the lock file of core/runlock.py)."""
    if is_local(src) and is_local(dst):
        if not overwrite:
            raise ValueError("rename without overwrite is for URLs (local: os.link, flock)")
        os.replace(_local(src), _local(dst))
        return
    with _as_oserror(src):
        _gfile().rename(src, dst, overwrite=overwrite)


def copy(src: str, dst: str) -> None:
    """Copies a file, replacing ``dst`` (metadata too where the file system keeps it)."""
    if is_local(src) and is_local(dst):
        shutil.copy2(_local(src), _local(dst))
        return
    with _as_oserror(src):
        _gfile().copy(src, dst, overwrite=True)


# ----------------------------------------------------------------------------- contents
def open_file(path: str, mode: str = "r",
              encoding: str | None = None) -> IO[Any] | _GFileAsOSError:
    """open() for a local path, tf.io.gfile.GFile for a URL (text modes decode UTF-8)."""
    if is_local(path):
        return open(_local(path), mode, encoding=encoding)
    if mode.startswith("w") and str(path).startswith("ram://") and isfile(path):
        remove(path)  # ram:// opens an existing file for writing without emptying it
    return _GFileAsOSError(path, mode)


class _GFileAsOSError:
    """A GFile whose TensorFlow errors (on open, read, write and close) are OSErrors."""

    def __init__(self, path: str, mode: str):
        self.path = path
        with _as_oserror(path):
            self._f = _gfile().GFile(path, mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        with _as_oserror(self.path):
            yield from self._f

    def read(self, n: int = -1):
        with _as_oserror(self.path):
            return self._f.read(n)

    def write(self, data) -> None:
        with _as_oserror(self.path):
            self._f.write(data)

    def close(self) -> None:
        with _as_oserror(self.path):
            self._f.close()


def read_text(path: str) -> str:
    with open_file(path, "r", encoding="utf-8") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    with open_file(path, "w") as f:
        f.write(text)


def write_bytes(path: str, data: bytes) -> None:
    with open_file(path, "wb") as f:
        f.write(data)


def append_text(path: str, text: str) -> None:
    """Appends to a file (an object store rewrites the whole object: metrics.jsonl and
    history.jsonl stay small)."""
    with open_file(path, "a") as f:
        f.write(text)


def write_atomic(path: str, text: str) -> None:
    """Writes ``path`` whole: through a temporary name then a rename, so a reader (or a
    kill) never finds half a file under the final name."""
    tmp = f"{path}.tmp{os.getpid()}"
    write_text(tmp, text)
    rename(tmp, path)
