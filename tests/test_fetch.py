"""fetch_data: checksum-verified copies from a folder or archive, and a clear error when nothing works."""

import hashlib
import shutil

import pytest

from annotune.data.fetch import FetchError, RawSource, fetch


@pytest.fixture
def source_files(tmp_path):
    folder = tmp_path / "src" / "nested"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "b.csv").write_text("y\n2\n")
    (folder / "unrelated.txt").write_text("ignored")
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "a.csv", folder / "b.csv")}
    sums["c.csv"] = "0" * 64  # an official file this copy lacks
    return tmp_path / "src", RawSource(name="toy", url="http://127.0.0.1:9/toy.tgz", sha256=sums)


def test_fetch_from_folder_verifies_and_copies(tmp_path, source_files):
    folder, source = source_files
    copied = fetch(source, tmp_path / "out", environ={"ANNOTUNE_TOY_SOURCE": str(folder)})
    assert sorted(copied) == ["a.csv", "b.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.csv", "b.csv"]


def test_fetch_from_archive_via_data_dir(tmp_path, source_files):
    folder, source = source_files
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    archive = shutil.make_archive(str(tmp_path / "toy"), "gztar", folder)
    shutil.move(archive, data_dir / "toy.tgz")
    copied = fetch(source, tmp_path / "out", environ={"ANNOTUNE_TOY_SOURCE": str(data_dir / "toy.tgz")})
    assert sorted(copied) == ["a.csv", "b.csv"]


def test_corrupt_file_is_refused(tmp_path, source_files):
    folder, source = source_files
    (folder / "nested" / "a.csv").write_text("tampered\n")
    with pytest.raises(FetchError, match="a.csv: sha256 .* differs from the official"):
        fetch(source, tmp_path / "out", environ={"ANNOTUNE_TOY_SOURCE": str(folder)})


def test_nothing_works_names_url_setting_and_tries(tmp_path, source_files):
    _, source = source_files
    with pytest.raises(FetchError) as error:
        fetch(source, tmp_path / "out", environ={"ANNOTUNE_DATA_DIR": str(tmp_path / "nowhere")})
    message = str(error.value)
    assert "ANNOTUNE_DATA_DIR: " in message and str(tmp_path / "nowhere" / "toy") in message
    assert "official URL: http://127.0.0.1:9/toy.tgz" in message
    assert "Set ANNOTUNE_TOY_SOURCE" in message
