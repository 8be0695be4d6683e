"""`python -m tune_clothes.download`: real HTTP against a server on 127.0.0.1 started by the test; never the network."""
from __future__ import annotations

import logging
import socket
import zipfile

import numpy as np
import pytest
from download_sites import IDX_NAMES, write_clothing_zip, write_fashion_site
from PIL import Image

from tune_clothes import download
from tune_clothes.cli import run_command
from tune_clothes.config.errors import DataError
from tune_clothes.data.archive import extract_zip_safely
from tune_clothes.data.download import download_clothing, download_fashion_mnist, fetch_to_file
from tune_clothes.data.fashion_mnist import load_fashion_mnist


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
