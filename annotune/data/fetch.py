"""Put a dataset's raw files in one folder, each checked against its known sha256.

Where the files come from (official URL, local folder, local archive) is a machine setting, not a
tracked param: the checksums make every source give the same bytes, and dvc.lock records the result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from annotune.errors import FetchError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawSource:
    name: str  # dataset name; also the folder name under ANNOTUNE_DATA_DIR
    url: str | dict[str, str]  # official archive (.tgz/.tar.gz/.zip), or file name -> URL, for users with internet
    sha256: dict[str, str]  # every file we know, by file name

    @property
    def env_var(self) -> str:
        return f"ANNOTUNE_{self.name.upper()}_SOURCE"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def candidate_sources(source: RawSource, environ: dict[str, str] | None = None) -> list[tuple[str, str | dict]]:
    """(setting, location) pairs in the order they are tried."""
    environ = os.environ if environ is None else environ
    candidates = []
    if environ.get(source.env_var):
        candidates.append((source.env_var, environ[source.env_var]))
    if environ.get("ANNOTUNE_DATA_DIR"):
        candidates.append(("ANNOTUNE_DATA_DIR", str(Path(environ["ANNOTUNE_DATA_DIR"]) / source.name)))
    candidates.append(("official URL", source.url))
    return candidates


def _download(url: str, path: Path) -> None:
    log.info("downloading %s", url)
    with urllib.request.urlopen(url, timeout=60) as response, path.open("wb") as fh:
        shutil.copyfileobj(response, fh)


def _files_from(location: str | dict[str, str], workdir: Path) -> Path:
    """A folder holding the files found at ``location`` (folder, archive, URL, or file name -> URL)."""
    if isinstance(location, dict):
        folder = workdir / "downloaded"
        folder.mkdir()
        for name, url in location.items():
            _download(url, folder / name)
        return folder
    if location.startswith(("http://", "https://")):
        archive = workdir / Path(location).name
        _download(location, archive)
        location = str(archive)
    path = Path(location).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        extracted = workdir / "extracted"
        unpack(path, extracted)
        return extracted
    raise FileNotFoundError(f"{path} is neither a folder nor an archive")


def unpack(archive: Path, into: Path) -> None:
    """Extract refusing members that would land outside ``into`` (links, absolute paths, '..')."""
    try:
        shutil.unpack_archive(str(archive), into, filter="data")
    except TypeError:  # Python before 3.11.4 has no extraction filters: check tar members ourselves
        if not tarfile.is_tarfile(archive):
            shutil.unpack_archive(str(archive), into)  # zipfile already strips absolute paths and '..'
            return
        root = into.resolve()
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()) or not (root / member.name).resolve().is_relative_to(root):
                    raise FetchError(f"{archive}: refusing unsafe archive member {member.name!r}") from None
            tar.extractall(into)


def collect(source: RawSource, found: Path, out_dir: Path) -> dict[str, str]:
    """Copy every known file under ``found`` (at any depth) into ``out_dir``, verifying checksums."""
    by_name = {p.name: p for p in sorted(found.rglob("*")) if p.is_file() and p.name in source.sha256}
    if not by_name:
        raise FileNotFoundError(f"none of the expected files ({', '.join(source.sha256)}) are in {found}")
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    for name, path in sorted(by_name.items()):
        actual = sha256_of(path)
        if actual != source.sha256[name]:
            raise FetchError(
                f"{path}: sha256 {actual} differs from the official {source.sha256[name]}; "
                "the file is corrupt or not the official release"
            )
        shutil.copyfile(path, out_dir / name)
        copied[name] = actual
    missing = sorted(set(source.sha256) - set(copied))
    if missing:
        log.warning("%s: partial copy, not found: %s", source.name, ", ".join(missing))
    return copied


def _urls(source: RawSource) -> str:
    return ", ".join(source.url.values()) if isinstance(source.url, dict) else source.url


def fetch(source: RawSource, out_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    tried = []
    for setting, location in candidate_sources(source, environ):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                found = _files_from(location, Path(tmp))
                if out_dir.exists():
                    shutil.rmtree(out_dir)
                copied = collect(source, found, out_dir)
            except FetchError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is reported with its source below
                tried.append(f"  {setting}: {location} -> {type(exc).__name__}: {exc}")
                continue
        log.info("%s: %d files from %s (%s)", source.name, len(copied), location, setting)
        return copied
    raise FetchError(
        f"could not get the {source.name} files. Tried:\n" + "\n".join(tried) + "\n"
        f"Set {source.env_var} to a local folder or archive holding them (or ANNOTUNE_DATA_DIR to a folder "
        f"with a '{source.name}/' subfolder), or make {_urls(source)} reachable."
    )
