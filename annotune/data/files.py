"""Writing without harm to the user's files: where an output may go, one writer per output, folders replaced
whole. annotate and export check their outputs with these before any model loads, so a refused run stops at
once and has written nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from annotune.errors import DataError


def same_file(a: Path, b: Path) -> bool:
    """Whether the paths name one file: the same path once symlinks are resolved, or hard links of one file."""
    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_can_create(path: Path, option: str) -> None:
    """``path`` (a file or folder to write) can be created: every existing folder above it is a folder this
    process may create files in. Probed with an unnamed temporary file: permissions alone do not tell (root
    passes every permission check, yet cannot write in /proc or on a read-only mount)."""
    ancestor = _nearest_existing(Path(path).absolute().parent)
    if not ancestor.is_dir():
        raise DataError(f"{option} {path}: {ancestor} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as exc:
        raise DataError(f"{option} {path}: cannot write in {ancestor} ({exc.strerror or exc})") from None


@contextlib.contextmanager
def created_folders(folder: Path) -> Iterator[None]:
    """``folder`` and the folders above it that are missing, created for the block; when the block fails,
    those still empty are removed again, so that a refused run leaves nothing behind."""
    missing = []
    above = Path(folder).absolute()
    while not above.exists():
        missing.append(above)
        above = above.parent
    Path(folder).mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for created in missing:  # the deepest first
            with contextlib.suppress(OSError):  # not empty: the run wrote there, keep it
                created.rmdir()
        raise


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, refusal: str) -> Iterator[None]:
    """Hold ``lock_path`` for the block; when another process holds it, stop at once with ``refusal``
    (a DataError). The lock file is removed at the end while still held: removed after the release, a process
    that had opened it in between could lock the removed file while a third one locks a new one."""
    from filelock import FileLock, Timeout

    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise DataError(refusal) from None
    try:
        yield
    finally:
        Path(lock_path).unlink(missing_ok=True)
        lock.release()


@contextlib.contextmanager
def replaced_folder(folder: Path) -> Iterator[Path]:
    """A temporary sibling of ``folder`` to write into; when the block ends without an error it takes
    ``folder``'s place (renames: an earlier ``folder`` is only removed once the new one is complete), and
    on an error it is removed and ``folder`` stays as it was."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # not tempfile.mkdtemp: its folders are private (0700), and this one becomes the user's folder
    staging = folder.with_name(f".{folder.name}.writing-{uuid.uuid4().hex[:12]}")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if folder.exists():
        previous = staging.with_name(staging.name + ".previous")
        os.replace(folder, previous)
        os.replace(staging, folder)
        shutil.rmtree(previous)
    else:
        os.replace(staging, folder)
