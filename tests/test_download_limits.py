"""Downloads that must not fill the disk or leave half a dataset: zip bombs refused before anything is
unpacked, a full disk and an unwritable target each one clear error naming the folder, with nothing left
behind that looks like a dataset."""
from __future__ import annotations

import errno
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from download_sites import IDX_NAMES, write_clothing_zip, write_fashion_site

from tune_clothes import download
from tune_clothes.cli import run_command
from tune_clothes.config.errors import DataError
from tune_clothes.data.archive import ArchiveLimits, extract_zip_safely
from tune_clothes.data.download import download_clothing, download_fashion_mnist


def write_zip_bomb(path: Path, unpacked_bytes: int) -> None:
    """The clothing archive with one more 'image' of zeros, which deflate shrinks about 1000 times."""
    write_clothing_zip(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("clothing-dataset-master/images/zeros.jpg", bytes(unpacked_bytes))


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path, serve):
    (tmp_path / "site").mkdir()
    write_zip_bomb(tmp_path / "site" / "master.zip", unpacked_bytes=4 * 2**20)
    assert (tmp_path / "site" / "master.zip").stat().st_size < 20_000  # small as a file, 4 MiB unpacked
    url = f"{serve(tmp_path / 'site')}/master.zip"
    with pytest.raises(DataError) as caught:
        download_clothing(tmp_path / "clothing", url=url)
    message = str(caught.value)
    assert message.startswith(f"{url}: refusing to unpack it: 'clothing-dataset-master/images/zeros.jpg'")
    assert "over the 100:1 limit" in message and "zip bomb" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no folder, no temporary files


def test_an_archive_over_the_size_limit_is_refused(tmp_path):
    write_clothing_zip(tmp_path / "master.zip")
    unpacked = sum(info.file_size for info in zipfile.ZipFile(tmp_path / "master.zip").infolist())
    with pytest.raises(DataError, match=f"would unpack to {unpacked} bytes, over the {unpacked - 1} bytes limit"):
        extract_zip_safely(tmp_path / "master.zip", tmp_path / "out", ArchiveLimits(max_total_bytes=unpacked - 1))
    assert list((tmp_path / "out").iterdir()) == []
    extract_zip_safely(tmp_path / "master.zip", tmp_path / "out", ArchiveLimits(max_total_bytes=unpacked))
    assert (tmp_path / "out" / "images.csv").is_file()  # the limit is inclusive: the same archive fits


class FullDisk:
    """`open` for the modules under test, on a disk with `free` bytes left: writing more raises ENOSPC, as a
    real full disk does, after writing what still fits."""

    def __init__(self, free: int):
        self.free = free

    def open(self, path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)
        if "w" not in mode and "a" not in mode:
            return handle
        disk, write = self, handle.write

        def write_until_full(data):
            if len(data) > disk.free:
                write(data[:disk.free])
                disk.free = 0
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            disk.free -= len(data)
            return write(data)
        handle.write = write_until_full
        return handle


@pytest.mark.parametrize("fills_up_while", ["downloading", "unpacking"])
def test_a_full_disk_is_one_clear_error_and_leaves_nothing(tmp_path, serve, monkeypatch, capsys, fills_up_while):
    from tune_clothes.data import archive as archive_module
    from tune_clothes.data import download as download_module
    (tmp_path / "site").mkdir()
    write_clothing_zip(tmp_path / "site" / "master.zip")
    size = (tmp_path / "site" / "master.zip").stat().st_size
    disk = FullDisk(free=size // 2 if fills_up_while == "downloading" else size + 700)  # 700: images.csv fits
    monkeypatch.setattr(download_module, "open", disk.open, raising=False)
    monkeypatch.setattr(archive_module, "open", disk.open, raising=False)
    dest = tmp_path / "clothing"
    argv = ["clothing", str(dest), "--url", f"{serve(tmp_path / 'site')}/master.zip"]
    assert run_command(download.main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot download into {dest}: the disk is full (No space left on device; ")
    assert err.count("\n") == 1 and "free some space there, or download into another folder" in err
    assert disk.free == 0  # the disk did fill up, at the stage this case is about
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # nothing half-unpacked, no temporary folder


def test_a_full_disk_while_fetching_fashion_mnist(tmp_path, serve, monkeypatch, capsys):
    import torchvision.datasets.utils
    md5s = write_fashion_site(tmp_path / "site")
    disk = FullDisk(free=(tmp_path / "site" / IDX_NAMES[0]).stat().st_size + 10)  # the first file fits
    monkeypatch.setattr(torchvision.datasets.utils, "open", disk.open, raising=False)
    dest = tmp_path / "fashion"
    with pytest.raises(DataError) as caught:
        download_fashion_mnist(dest, base_url=serve(tmp_path / "site"), resources=list(md5s.items()))
    assert str(caught.value).startswith(f"cannot download into {dest}: the disk is full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # not even the first, complete, file


@pytest.mark.parametrize("dataset", ["clothing", "fashion_mnist"])
def test_a_target_that_cannot_be_a_folder_is_one_clear_error(tmp_path, capsys, dataset):
    (tmp_path / "notes.txt").write_text("a file, where the download wants a folder\n")
    dest = tmp_path / "notes.txt" / "data"
    assert run_command(download.main, [dataset, str(dest), "--url", "http://127.0.0.1:9/x"]) == 2
    err = capsys.readouterr().err
    folder = dest.parent if dataset == "clothing" else dest  # clothing unpacks next to it, then renames
    assert err.startswith(f"error: cannot download into {folder}: a file is where a folder must be")
    assert err.count("\n") == 1 and "choose another folder" in err
    assert (tmp_path / "notes.txt").read_text().startswith("a file")


def test_an_archive_larger_than_the_free_space_is_refused_before_unpacking(tmp_path, serve, monkeypatch):
    (tmp_path / "site").mkdir()
    write_clothing_zip(tmp_path / "site" / "master.zip")
    url = f"{serve(tmp_path / 'site')}/master.zip"
    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real_usage(path)._replace(free=100))
    dest = tmp_path / "clothing"
    with pytest.raises(DataError, match=rf"^cannot download into {dest}: the disk is full \(the archive unpacks "
                                        rf"to \d+ bytes but only 100 bytes are free\)"):
        download_clothing(dest, url=url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
