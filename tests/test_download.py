"""`python -m tune_clothes.download`: real HTTP against a server on 127.0.0.1 started by the test; never the network."""
from __future__ import annotations

import errno
import functools
import hashlib
import io
import logging
import os
import shutil
import socket
import stat
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tune_clothes import download
from tune_clothes.cli import run_command
from tune_clothes.config.errors import DataError
from tune_clothes.data.archive import ArchiveLimits, extract_zip_safely
from tune_clothes.data.download import download_clothing, download_fashion_mnist, fetch_to_file
from tune_clothes.data.fashion_mnist import load_fashion_mnist, write_idx_images, write_idx_labels

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def serve(monkeypatch):
    """serve(folder) -> the base URL of an HTTP server for that folder, stopped after the test."""
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy set in the environment must not see these requests
    servers = []

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jpeg_bytes(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 255 - shade, 0)).save(out, format="JPEG")
    return out.getvalue()


def write_clothing_zip(path: Path, extra: dict[str, bytes] | None = None) -> None:
    """A small archive shaped like GitHub's: everything under one top folder."""
    ids = ["a1", "b2", "c3"]
    rows = "".join(f"{image_id},7,{label},False\n" for image_id, label in zip(ids, ["Shirt", "Hat", "Shirt"]))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("clothing-dataset-master/", b"")
        archive.writestr("clothing-dataset-master/images.csv", "image,sender_id,label,kids\n" + rows)
        archive.writestr("clothing-dataset-master/README.md", "test data\n")
        for shade, image_id in enumerate(ids):
            archive.writestr(f"clothing-dataset-master/images/{image_id}.jpg", jpeg_bytes(80 * shade))
        for name, data in (extra or {}).items():
            info = zipfile.ZipInfo(name)
            if name.endswith("link"):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)


def test_clothing_download_unpacks_and_validates(tmp_path, serve, capsys):
    (tmp_path / "site").mkdir()
    write_clothing_zip(tmp_path / "site" / "master.zip")
    dest = tmp_path / "out" / "clothing"
    argv = ["clothing", str(dest), "--url", f"{serve(tmp_path / 'site')}/master.zip"]
    assert run_command(download.main, argv) == 0
    assert "ready in" in capsys.readouterr().out
    assert sorted(p.name for p in dest.iterdir()) == ["README.md", "images", "images.csv"]
    assert sorted(p.name for p in (dest / "images").iterdir()) == ["a1.jpg", "b2.jpg", "c3.jpg"]
    assert Image.open(dest / "images" / "c3.jpg").size == (8, 8)
    assert [p.name for p in dest.parent.iterdir()] == ["clothing"]  # the temporary folder is gone


def test_clothing_download_with_problems_exits_1(tmp_path, serve, capsys):
    (tmp_path / "site").mkdir()
    write_clothing_zip(tmp_path / "site" / "master.zip", {"clothing-dataset-master/images/zz.jpg": b"not a jpeg"})
    dest = tmp_path / "clothing"
    assert run_command(download.main, ["clothing", str(dest), "--url", f"{serve(tmp_path / 'site')}/master.zip"]) == 1
    assert "has problems" in capsys.readouterr().err
    assert (dest / "images" / "zz.jpg").is_file()  # kept: the report says what to do about it


def test_unsafe_archive_members_never_leave_the_folder(tmp_path, serve, caplog):
    absolute_target = tmp_path / "absolute-evil.txt"
    extra = {"../evil.txt": b"x", "clothing-dataset-master/../../evil2.txt": b"x", str(absolute_target): b"x",
             "clothing-dataset-master/images/escape-link": b"../../../../etc", "C:/evil3.txt": b"x",
             "clothing-dataset-master\\..\\evil4.txt": b"x"}
    (tmp_path / "site").mkdir()
    write_clothing_zip(tmp_path / "site" / "master.zip", extra)
    dest = tmp_path / "deep" / "er" / "clothing"
    with caplog.at_level(logging.WARNING):
        report = download_clothing(dest, url=f"{serve(tmp_path / 'site')}/master.zip")
    assert report.ok  # the unsafe members were skipped; the rest is a complete dataset
    assert "skipped 6 unsafe archive member(s)" in caplog.text
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {"site/master.zip", "deep/er/clothing/images.csv", "deep/er/clothing/README.md",
                       *(f"deep/er/clothing/images/{i}.jpg" for i in ("a1", "b2", "c3"))}
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_extract_keeps_an_archive_without_a_single_top_folder(tmp_path):
    archive = tmp_path / "flat.zip"
    outside = tmp_path / "absolute.txt"  # under tmp_path, so that even a broken extractor writes nowhere else
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("images.csv", "image,label\n")
        zipped.writestr("images/a.jpg", b"1")
        zipped.writestr(str(outside), b"x")
    assert extract_zip_safely(archive, tmp_path / "out") == [str(outside)]
    assert not outside.exists()
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")) == [
        "images", "images.csv", "images/a.jpg"]


def test_fetch_streams_and_logs_progress(tmp_path, serve, caplog):
    (tmp_path / "site").mkdir()
    payload = np.random.default_rng(0).bytes(3 * 2**20 + 5)  # a bit over 3 MiB: three progress lines
    (tmp_path / "site" / "big.bin").write_bytes(payload)
    with caplog.at_level(logging.INFO, logger="tune_clothes.data.download"):
        assert fetch_to_file(f"{serve(tmp_path / 'site')}/big.bin", tmp_path / "big.bin") == len(payload)
    assert (tmp_path / "big.bin").read_bytes() == payload
    assert [m for m in caplog.messages if "%)" in m] == ["downloaded 1.0 MB (33%)", "downloaded 2.1 MB (67%)",
                                                         "downloaded 3.1 MB (100%)"]


def test_clothing_offline_is_one_line_with_what_to_do(tmp_path, closed_port, capsys):
    url = f"http://127.0.0.1:{closed_port}/master.zip"
    dest = tmp_path / "clothing"
    assert run_command(download.main, ["clothing", str(dest), "--url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download the Clothing Dataset from " + url) and err.count("\n") == 1
    assert "refused" in err and f"set dataset.root: {dest}" in err
    assert list(tmp_path.iterdir()) == []  # nothing half-written, not even the folder


@pytest.mark.parametrize("served, words", [(None, "HTTP Error 404"), (b"<html>not a zip</html>", "not a zip")])
def test_clothing_bad_answers(tmp_path, serve, served, words):
    (tmp_path / "site").mkdir()
    if served is not None:
        (tmp_path / "site" / "master.zip").write_bytes(served)
    with pytest.raises(DataError, match=words):
        download_clothing(tmp_path / "clothing", url=f"{serve(tmp_path / 'site')}/master.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_clothing_refuses_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "images.csv").write_text("image,label\n")
    assert run_command(download.main, ["clothing", str(tmp_path), "--url", "http://127.0.0.1:9/x.zip"]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def write_fashion_site(folder: Path) -> dict[str, str]:
    """The four IDX .gz files, tiny; returns their MD5s."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5), ("t10k", 3)):
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in IDX_NAMES}


def test_fashion_mnist_download_checks_md5s(tmp_path, serve):
    md5s = write_fashion_site(tmp_path / "site")
    dest = tmp_path / "fashion"
    paths = download_fashion_mnist(dest, base_url=serve(tmp_path / "site") + "/", resources=list(md5s.items()))
    assert [p.name for p in paths] == list(IDX_NAMES)
    assert sorted(p.name for p in dest.iterdir()) == sorted(IDX_NAMES)  # no temporary folder left
    images, labels = load_fashion_mnist(dest, "test")
    expected_images, expected_labels = load_fashion_mnist(tmp_path / "site", "test")
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)


def test_fashion_mnist_keeps_files_already_there(tmp_path, serve):
    md5s = write_fashion_site(tmp_path / "site")
    dest = tmp_path / "fashion"
    dest.mkdir()
    (tmp_path / "site" / IDX_NAMES[0]).rename(dest / IDX_NAMES[0])  # only here: the server would answer 404
    download_fashion_mnist(dest, base_url=serve(tmp_path / "site"), resources=list(md5s.items()))
    assert sorted(p.name for p in dest.iterdir()) == sorted(IDX_NAMES)


def test_fashion_mnist_md5_mismatch_leaves_nothing(tmp_path, serve, capsys):
    """The command expects torchvision's MD5s of the published files, which these test files do not have."""
    write_fashion_site(tmp_path / "site")
    dest = tmp_path / "fashion"
    assert run_command(download.main, ["fashion_mnist", str(dest), "--url", serve(tmp_path / "site")]) == 2
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte.gz" in err and "MD5 is not 8d4fb7e6c68d591d4c3dfef9ec88bf0d" in err
    assert not dest.exists()


def test_fashion_mnist_offline_says_what_to_fetch(tmp_path, closed_port, capsys):
    base = f"http://127.0.0.1:{closed_port}/fm"
    dest = tmp_path / "fashion"
    assert run_command(download.main, ["fashion_mnist", str(dest), "--url", base]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download train-images-idx3-ubyte.gz from") and err.count("\n") == 1
    assert all(f"{base}/{name}" in err for name in IDX_NAMES) and f"put the files in {dest}" in err
    dest.mkdir()  # a folder that was there before stays, without any temporary folder in it
    assert run_command(download.main, ["fashion_mnist", str(dest), "--url", base]) == 2
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("dataset", ["clothing", "fashion_mnist"])
def test_a_silent_server_times_out(tmp_path, dataset):
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/data"
        with pytest.raises(DataError, match="timed out"):
            if dataset == "clothing":
                download_clothing(tmp_path / "out", url=url, timeout_s=0.3)
            else:
                download_fashion_mnist(tmp_path / "out", base_url=url, resources=[("a.gz", "0" * 32)], timeout_s=0.3)
    assert list(tmp_path.iterdir()) == []


# ---- archives that would fill the disk, and disks that are full or cannot be written --------------------------

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
