"""Small C++ libraries built on the user's machine with the system compiler and cached by content hash.

Used by the C-simulation backend (:mod:`fracbnn_lib.hw.csim_build`) and the fused gate kernel
(:mod:`fracbnn_lib.kernels.fused`). A library is built once into a cache folder
(``$FRACBNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/fracbnn``, else ``~/.cache/fracbnn``) under a name
that hashes everything it is built from; a build writes into a temporary folder and renames the
result, under a lock file, so two processes building at once compile once and never load a
half-written library; a cached library is loaded only if its SHA-256 still matches the one its
build recorded (a damaged cache is rebuilt, never loaded). ``CXX`` chooses the compiler (default ``g++``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


class NativeBuildError(RuntimeError):
    """A native library cannot be built (its message is one line and says what to do)."""


def cache_dir() -> Path:
    """Where built libraries are kept: ``$FRACBNN_CACHE_DIR``, ``$XDG_CACHE_HOME/fracbnn`` or ``~/.cache/fracbnn``."""
    configured = os.environ.get("FRACBNN_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fracbnn"


def compiler(error: type[Exception] = NativeBuildError) -> str:
    """The C++ compiler (``$CXX``, default ``g++``) as a path; ``error`` if it is not installed."""
    name = os.environ.get("CXX") or "g++"
    path = shutil.which(name)
    if path is None:
        raise error(f"C++ compiler {name!r} not found: install g++ (e.g. apt-get install g++) or set CXX")
    return path


def compiler_identity(cxx: str) -> bytes:
    """What identifies a compiler binary for a cache key: its resolved path, size, mtime and the machine."""
    resolved = Path(cxx).resolve()
    stat = resolved.stat()
    return f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}:{platform.machine()}".encode()


def content_hash(tag: str, parts: Iterable[bytes]) -> str:
    """A 20-hex-digit SHA-256 of ``tag`` and ``parts`` (each part delimited, so the split is unambiguous)."""
    digest = hashlib.sha256(tag.encode() + b"\0")
    for part in parts:
        digest.update(len(part).to_bytes(8, "little") + part)
    return digest.hexdigest()[:20]


@contextlib.contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (``fcntl.flock``; no lock where fcntl does not exist)."""
    with open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _digest_path(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def intact(library: Path) -> bool:
    """Whether ``library`` is the file its build wrote: its SHA-256 equals the one recorded beside it.

    A library cut short (a full disk, a copied cache, a killed copy) would crash the process that
    loads it (SIGBUS), so a cached library is loaded only when this holds.
    """
    digest = _digest_path(library)
    try:
        return library.is_file() and digest.read_text().strip() == _file_sha256(library)
    except OSError:
        return False


def build_cached(
    library_name: str,
    command: Callable[[Path, Path], list[str]],
    what: str,
    error: type[Exception] = NativeBuildError,
) -> Path:
    """The library ``cache_dir() / library_name``, built with ``command(work, target)`` if not cached.

    ``command`` receives a private temporary folder (where it may write generated headers) and the
    path to write the library to, and returns the compiler command line. The library's SHA-256 is
    recorded beside it (``<name>.sha256``); a cached library that does not match it (:func:`intact`)
    is built again. Raises ``error`` (one line, naming ``what``) if the cache folder cannot be
    created or the build fails.
    """
    folder = cache_dir()
    library = folder / library_name
    if intact(library):
        return library
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise error(f"cannot create the build cache {folder} ({err.strerror}): set FRACBNN_CACHE_DIR") from None
    with build_lock(folder / ".build.lock"), tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as work:
        if intact(library):  # built by another process while this one waited for the lock
            return library
        target = Path(work) / library.name
        result = subprocess.run(command(Path(work), target), capture_output=True, text=True)
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if "error" in line] or result.stderr.splitlines()
            first = errors[0].strip() if errors else f"exit status {result.returncode}"
            raise error(f"building the {what} failed: {first}")
        digest = Path(work) / _digest_path(library).name
        digest.write_text(_file_sha256(target) + "\n")
        os.replace(target, library)  # a library without its digest (a crash here) is not intact: built again
        os.replace(digest, _digest_path(library))
    return library
