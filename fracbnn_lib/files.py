"""Files and folders that are never half-written, and folders that one writer holds at a time.

Standard library only (no torch, no numpy), so every layer can use it.

- :func:`atomic_write` writes a file through a temporary file beside it (``.<name>.<random>.tmp``)
  and a rename: a reader sees the old file or the new one, never a part. The new file gets the
  mode an ordinary ``open`` would give it (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.
- :func:`replace_folder` puts a folder built beside its target in the target's place: the old
  folder is moved aside, the new one renamed in, the old one deleted.
- :class:`FolderLock` holds ``<parent>/.<name>.lock`` (``fcntl.flock``) while a pipeline, a
  training run or an export writes ``<parent>/<name>``. A second writer is refused at once with
  :class:`FolderBusyError`, naming the first (its process id and command). The kernel drops the lock
  when its holder exits, however it exits, so a lock is never stale.
- :func:`remove_stale_temporaries` deletes the temporaries that killed writers left behind in a
  folder (call it while holding the folder's lock: then no live writer owns one).
- :func:`check_writable` checks, before any work, that a folder can be created and written
  (:class:`FolderError`, one line, otherwise).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


class FolderBusyError(RuntimeError):
    """Another process is writing the folder (the message names it and says what to do)."""


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_mode() -> int:
    """The mode ``open`` gives a new file under the current umask (``0o666 & ~umask``)."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """The mode ``mkdir`` gives a new folder under the current umask (``0o777 & ~umask``)."""
    return 0o777 & ~_umask()


def atomic_write(path: str | Path, data: bytes | str | Callable[[IO[Any]], Any], *, text: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename; returns ``path``.

    ``data``: bytes, a string (written as UTF-8 text), or a function that writes into the open
    handle (binary, or text with ``text=True``). The parent folder is created if needed. On any
    failure (a full disk, an exception in the writer, an interrupt) the temporary file is removed
    and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    as_text = text or isinstance(data, str)
    try:
        with os.fdopen(fd, "w" if as_text else "wb", **({"encoding": "utf-8"} if as_text else {})) as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def staging_folder(target: str | Path) -> Path:
    """A new empty folder beside ``target`` (``.<name>.<random>.tmp``) to build its replacement in."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent))


def replace_folder(staging: str | Path, target: str | Path, keep: Callable[[str], bool] | None = None) -> Path:
    """Put the folder ``staging`` (beside ``target``) in ``target``'s place; returns ``target``.

    The new folder gets the umask's folder mode. An existing ``target`` is renamed aside first and
    deleted only once the new folder is in place, so at every moment ``target`` is either the old
    folder or the new one. Entries of the old folder for whose names ``keep`` is true (and that the
    new one lacks) are moved into the new folder before the old one is deleted.
    """
    staging, target = Path(staging), Path(target)
    os.chmod(staging, folder_mode())
    aside = None
    if target.exists():
        aside = staging.with_name(f"{staging.name}.old")
        os.replace(target, aside)
    try:
        os.replace(staging, target)
    except BaseException:
        if aside is not None:
            os.replace(aside, target)
        raise
    if aside is None:
        return target
    try:
        for entry in sorted(aside.iterdir()):
            if keep is not None and keep(entry.name) and not (target / entry.name).exists():
                os.replace(entry, target / entry.name)
    except OSError as err:
        raise FolderError(f"{target} is in place, but moving {err.filename} back failed; it is in {aside}") from None
    shutil.rmtree(aside, ignore_errors=True)
    return target


def remove_stale_temporaries(folder: str | Path, of: str = "") -> list[Path]:
    """Delete the temporaries (``.<name>.*.tmp`` files and folders) in ``folder``; returns what was removed.

    ``of``: only the temporaries of the entry of that name (those :func:`atomic_write`,
    :func:`staging_folder` and :func:`replace_folder` make for it), e.g. a folder's own staging
    leftovers in its parent; else every temporary in ``folder``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in sorted(folder.glob(f".{of}.*{TEMP_SUFFIX}*" if of else f".*{TEMP_SUFFIX}*")):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


class FolderLock:
    """Exclusive writer's lock of ``folder`` (a context manager); :class:`FolderBusyError` if held elsewhere.

    The lock file ``<parent>/.<name>.lock`` sits beside the folder, so the folder itself can be
    replaced or deleted while it is held. It records the holder (``pid``, command, start time) for
    the message a second writer gets. ``what`` names the folder's kind in that message.
    """

    def __init__(self, folder: str | Path, what: str = "folder") -> None:
        self.folder = Path(folder)
        self.what = what
        self.path = self.folder.parent / f".{self.folder.name}.lock"
        self._handle: IO[str] | None = None

    def __enter__(self) -> FolderLock:
        try:
            import fcntl
        except ImportError:  # no flock on this platform: no lock
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until __exit__)
        except OSError as err:
            raise FolderError(
                f"cannot create the lock file {self.path} of {self.what} {self.folder} ({err.strerror}): "
                "choose a writable folder"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise FolderBusyError(
                f"{self.what} {self.folder} is being written by {holder}: wait for it to finish, "
                "or choose another folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
        handle.write(f"pid {os.getpid()} ({command[:200]}, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.close()
            self._handle = None


class FolderError(RuntimeError):
    """A folder that cannot be created or written (the message is one line and says what to do)."""


def check_writable(folder: str | Path, what: str = "folder") -> Path:
    """Check, before any work, that ``folder`` can be created (if missing) and written; returns it as a Path.

    Nothing is created: a probe file is written into ``folder`` or, if it does not exist yet, into
    its nearest existing parent, and removed at once. Raises :class:`FolderError` when ``folder`` or
    a parent is a file, or cannot be written (permissions, a read-only or full file system).
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == folder else f" (its parent {existing} is a file)"
        raise FolderError(f"{what} {folder} is a file, not a folder{where}: choose another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", suffix=TEMP_SUFFIX, dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise FolderError(f"cannot write into {what} {folder} ({reason}): choose a writable folder") from None
    return folder


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
