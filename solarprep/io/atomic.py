"""Durable, all-or-nothing writes of files and folders (zarr stores) next to their target.

Every writer of solarprep goes through :func:`atomic_path`: the data are written under a
temporary name in the target's folder, flushed to disk (``fsync`` of the file, or of every
file and folder of a store), renamed into place and the folder is flushed again, so that
the target holds either its old content or the complete new one, even after a crash or a
power loss. On any error, ``KeyboardInterrupt`` included, the temporary is removed.

Temporary names
    ``.{name}.tmp-{host}-{pid}-{random}``: ``host`` is a 6-hex-digit tag of the machine's
    name, ``pid`` the writing process. A process killed outright (``SIGKILL``, power loss)
    cannot clean up; the next write of the same target removes such leftovers
    (:func:`clean_stale`) when they are *stale*: written on this machine by a process that
    no longer exists, or (any machine, e.g. on a shared file system, or names of older
    versions ``.{name}.tmp-{pid}-{random}``) untouched for :data:`STALE_AGE` seconds. Only
    names of exactly this pattern for exactly this target are ever removed.

Replacing a folder
    An existing store is swapped with the new one in one atomic step (Linux
    ``renameat2(RENAME_EXCHANGE)``), so the final name always holds a complete store that
    xarray and zarr open directly; the old store is then deleted. Where the system or the
    file system cannot exchange (other systems, some network file systems), the old store is
    renamed to ``.{name}.old-{host}-{pid}-{random}`` and the new one renamed in: a crash
    between these two renames leaves the old store under that name, and the next
    :func:`clean_stale` of the target (every :func:`solarprep.save` and
    :func:`solarprep.open_dataset` does one) renames it back.

Public so that other writers (e.g. checkpoints) can share it: :func:`atomic_path`,
:func:`write_bytes`, :func:`write_text`, :func:`clean_stale`, :func:`fsync_tree`.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import logging
import os
import pathlib
import re
import secrets
import shutil
import socket
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["STALE_AGE", "atomic_path", "write_bytes", "write_text", "clean_stale",
           "temporary_name", "fsync_tree", "replace_folder"]

log = logging.getLogger(__name__)

#: Seconds after which a temporary whose owner cannot be checked is taken as abandoned.
STALE_AGE = 24 * 3600.0

_HOST = hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:6]
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?:(?P<host>[0-9a-f]{6})-)?"
                      r"(?P<pid>\d+)-(?P<token>[0-9a-f]{8})$")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


# --------------------------------------------------------------------------- public API


def temporary_name(path: str | os.PathLike, kind: str = "tmp") -> pathlib.Path:
    """A fresh temporary path next to ``path``: ``.{name}.{kind}-{host}-{pid}-{random}``."""
    path = pathlib.Path(path)
    return path.with_name(f".{path.name}.{kind}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yield a temporary path to write; on success move it durably to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The target, a file or a folder (whatever the caller writes at the temporary path).

    Yields
    ------
    pathlib.Path
        The temporary path (in the target's folder, so that the rename is atomic).

    Notes
    -----
    Stale temporaries of the same target are removed first (:func:`clean_stale`). After
    the ``with`` block the temporary is flushed (:func:`fsync_tree`), renamed over
    ``path`` (a folder by :func:`replace_folder`) and the folder flushed. If the block or
    the move fails, for any reason including ``KeyboardInterrupt``, the temporary is
    removed and the target is left as it was.
    """
    path = pathlib.Path(path)
    clean_stale(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise FileNotFoundError(f"{path}: nothing was written at the temporary {tmp.name}")
        fsync_tree(tmp)
        if tmp.is_dir() and not tmp.is_symlink():
            replace_folder(tmp, path)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        _remove(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    """Write ``data`` (bytes) to ``path`` atomically and durably; returns the path."""
    path = pathlib.Path(path)
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        fh.write(data)
    return path


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> pathlib.Path:
    """Write ``text`` to ``path`` atomically and durably; returns the path."""
    return write_bytes(path, text.encode(encoding))


def clean_stale(path: str | os.PathLike, *, max_age: float = STALE_AGE) -> list[pathlib.Path]:
    """Remove stale temporaries of ``path``; bring back a store lost between two renames.

    Parameters
    ----------
    path : str or os.PathLike
        The target whose ``.{name}.tmp-*`` and ``.{name}.old-*`` siblings are examined.
    max_age : float
        Seconds without modification after which a temporary is stale whatever its owner.

    Returns
    -------
    list of pathlib.Path
        The temporaries removed.

    Notes
    -----
    A temporary is stale when its owner process (same machine) no longer exists, or when
    it was last modified more than ``max_age`` seconds ago. A stale ``.old-*`` store is
    renamed back to ``path`` when ``path`` does not exist (a crash between the two renames
    of :func:`replace_folder`'s fallback), and removed otherwise.
    """
    path = pathlib.Path(path)
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(f".{path.name}.")]
    except OSError:
        return []
    removed, olds = [], []
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or m.group("name") != path.name or not _is_stale(m, entry, max_age):
            continue
        if m.group("kind") == "old":
            olds.append(pathlib.Path(entry.path))
            continue
        log.warning("removing %s, left by an interrupted write of %s", entry.path, path)
        _remove(pathlib.Path(entry.path))
        removed.append(pathlib.Path(entry.path))
    for old in sorted(olds, key=_mtime, reverse=True):
        if not (path.exists() or path.is_symlink()):
            log.warning("%s: restoring the previous store from %s (a replacement was "
                        "interrupted between its two renames)", path, old.name)
            os.replace(old, path)
            _fsync_dir(folder)
        else:
            log.warning("removing %s, the old store of an interrupted replacement", old)
            _remove(old)
            removed.append(old)
    return removed


def fsync_tree(path: str | os.PathLike) -> None:
    """Flush a file, or every file and folder under a folder, to the disk."""
    path = pathlib.Path(path)
    if path.is_symlink():
        return
    if not path.is_dir():
        _fsync_file(path)
        return
    for root, _dirs, files in os.walk(path):
        for name in files:
            _fsync_file(os.path.join(root, name))
        _fsync_dir(root)


def replace_folder(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Move the complete folder ``tmp`` to ``path``, replacing any existing ``path`` safely.

    With no ``path``, a plain rename. Otherwise the two are exchanged atomically where the
    system allows it (``path`` then always names a complete store) and the old one is
    deleted; elsewhere the old one is renamed aside first (see the module notes). The
    parent folder is flushed after the rename, so that the move survives a power loss.
    """
    tmp, path = pathlib.Path(tmp), pathlib.Path(path)
    if not (path.exists() or path.is_symlink()):
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return
    if _exchange(tmp, path):
        _fsync_dir(path.parent)
        _remove(tmp)            # now the old store
        return
    aside = temporary_name(path, "old")
    os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(aside, path)
        raise
    _fsync_dir(path.parent)
    _remove(aside)


# --------------------------------------------------------------------------- helpers


def _is_stale(match, entry, max_age):
    pid = int(match.group("pid"))
    if match.group("host") == _HOST and pid != os.getpid() and not _pid_alive(pid):
        return True
    return time.time() - _mtime(entry.path) > max_age


def _mtime(path):
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def _pid_alive(pid):
    """Whether process ``pid`` exists on this machine (assumed so where it cannot be told)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:         # EPERM: it exists, owned by someone else
        return True
    return True


def _exchange(a, b):
    """Atomically exchange two paths (Linux ``renameat2``); False where not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        log.debug("renameat2(RENAME_EXCHANGE) not supported here (%s)", os.strerror(err))
        return False
    raise OSError(err, f"cannot exchange {a} and {b}: {os.strerror(err)}")


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path):
    """Flush a folder's entries (POSIX only; other systems cannot open folders)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(path or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:   # some file systems refuse fsync on folders
        log.debug("fsync of folder %s: %s", path, exc)
    finally:
        os.close(fd)


def _remove(path):
    path = pathlib.Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
