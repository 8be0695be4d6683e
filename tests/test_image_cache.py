"""The decode-once cache and the decoder behind it: odd images, reuse, rebuilds, failures, parallel builds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_jpeg
from PIL import Image

from tune_clothes.config import CVConfig, DatasetConfig
from tune_clothes.data import image_cache
from tune_clothes.data.datasets import load_index
from tune_clothes.data.decode import ImageDecodeError, decode_image
from tune_clothes.data.folds import plan_folds
from tune_clothes.data.image_cache import ensure_image_cache
from tune_clothes.training.fold_data import fold_data, pool_data


def index_of(root: Path, cache: Path, **kw):
    return load_index(DatasetConfig(kind="clothing", root=str(root), cache_dir=str(cache), **kw))


def test_cache_rows_are_the_decoded_images(clothing_root, tmp_path):
    index = index_of(clothing_root, tmp_path)
    cache = ensure_image_cache(index, 16, tmp_path)
    images = cache.open()
    assert images.shape == (len(index), 16, 16, 3) and images.dtype == np.uint8
    assert not images.flags.writeable
    for i in (0, len(index) - 1):
        expected = decode_image(clothing_root / "images" / f"{index.ids[i]}.jpg", 16)
        assert np.array_equal(images[i], expected)
    assert cache.failed == {}


def test_cache_is_reused_and_rebuilt_when_an_image_changes(clothing_root, tmp_path, monkeypatch):
    index = index_of(clothing_root, tmp_path)
    first = ensure_image_cache(index, 16, tmp_path)
    builds = []
    monkeypatch.setattr(image_cache, "_build", _counting(builds, image_cache._build))
    assert ensure_image_cache(index, 16, tmp_path).path == first.path
    assert builds == []
    write_jpeg(clothing_root / "images" / f"{index.ids[0]}.jpg", seed=99, size=(30, 30))
    os.utime(clothing_root / "images" / f"{index.ids[0]}.jpg", ns=(1, 1))
    second = ensure_image_cache(index_of(clothing_root, tmp_path), 16, tmp_path)
    assert second.path != first.path and len(builds) == 1
    assert ensure_image_cache(index, 24, tmp_path).path != second.path  # another size, another file


def _counting(calls, real):
    def wrapper(*args):
        calls.append(args)
        return real(*args)
    return wrapper


def test_an_image_broken_after_validation_is_left_out_and_reported(clothing_root, tmp_path):
    index = index_of(clothing_root, tmp_path)
    (clothing_root / "images" / f"{index.ids[3]}.jpg").write_bytes(b"garbage")
    cache = ensure_image_cache(index, 16, tmp_path)
    assert list(cache.failed) == [3]
    assert index.ids[3] in cache.failed[3]
    assert not cache.open()[3].any()
    plan = plan_folds(index, CVConfig(folds=3), [None])
    parts = [fold_data(cache, index, plan, None, j) for j in range(3)]
    pool = pool_data(cache, index, plan, plan.fold(None, 0)[1])
    trained = np.concatenate([part.train.positions for part in parts])
    validated = np.concatenate([part.val.positions for part in parts])
    assert 3 not in trained and 3 not in validated and 3 not in pool.train.positions and 3 not in pool.val.positions
    assert sorted(validated) == [i for i in range(len(index)) if i != 3]  # every other image is still used
    assert len(pool.train.positions) == len(index) - 1


def test_parallel_build_equals_serial_build(clothing_root, tmp_path, monkeypatch):
    index = index_of(clothing_root, tmp_path)
    serial = ensure_image_cache(index, 16, tmp_path / "serial", workers=1).open()
    monkeypatch.setattr(image_cache, "CHUNK", 5)
    monkeypatch.setattr(image_cache, "PARALLEL_FROM", 0)
    parallel = ensure_image_cache(index, 16, tmp_path / "parallel", workers=2).open()
    assert np.array_equal(serial, parallel)


# A builder process for the test below: it writes to a shared log when it asks for the cache and when a build
# starts and ends, and a build goes on only once both processes have asked: so the other one asks while the
# build runs, whatever the machine's load, and must wait for it (without the lock it would build too).
BUILDER = """
import sys, time
from pathlib import Path
from tune_clothes.config import CVConfig, DatasetConfig
from tune_clothes.data import image_cache
from tune_clothes.data.datasets import load_index
root, cache, name = sys.argv[1:4]
log = Path(cache) / "builds.log"
def note(event):
    with open(log, "a") as out:  # one short append per line: lines of the two processes never mix
        out.write(f"{name} {event} {time.time()!r}\\n")
def slow_build(*args):
    note("start")
    deadline = time.monotonic() + 60
    while log.read_text().count(" ask ") < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    real_build(*args)
    note("end")
real_build, image_cache._build = image_cache._build, slow_build
index = load_index(DatasetConfig(kind="clothing", root=root, cache_dir=cache))
(Path(cache) / f"ready-{name}").touch()
while len(list(Path(cache).glob("ready-*"))) < 2:
    time.sleep(0.005)
note("ask")
path = image_cache.ensure_image_cache(index, 20, Path(cache)).path
note("got")
print(path)
"""


def test_two_processes_building_at_once_wait_for_one_build(clothing_root, tmp_path):
    index_of(clothing_root, tmp_path)  # warm the verification cache, so both builders get going together
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(clothing_root), str(tmp_path), name],
                              stdout=subprocess.PIPE, text=True) for name in ("a", "b")]
    paths = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(paths) == 1
    events = [line.split() for line in (tmp_path / "builds.log").read_text().splitlines()]
    builds = [(name, float(t)) for name, event, t in events if event == "start"]
    assert len(builds) == 1, f"both processes built the cache at once: {events}"  # the lock makes one wait
    end = max(float(t) for _, event, t in events if event == "end")
    assert all(float(t) < end for _, event, t in events if event == "ask")  # both asked during the build
    assert all(float(t) >= end for _, event, t in events if event == "got")  # the other waited for the build
    assert len(list((tmp_path / "images").glob("*.npy"))) == 1  # no temporary file left behind


def test_transparent_pixels_become_white(tmp_path):
    Image.new("RGBA", (8, 8), (10, 20, 30, 0)).save(tmp_path / "clear.png")
    assert (decode_image(tmp_path / "clear.png") == 255).all()


def test_tiny_and_large_images_decode_and_bombs_are_refused(tmp_path, monkeypatch):
    write_jpeg(tmp_path / "tiny.jpg", seed=1, size=(1, 1))
    assert decode_image(tmp_path / "tiny.jpg", 32).shape == (32, 32, 3)
    Image.new("RGB", (4000, 3000), (0, 90, 0)).save(tmp_path / "large.jpg")
    assert decode_image(tmp_path / "large.jpg", 64).shape == (64, 64, 3)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(tmp_path / "large.jpg", 64)


def test_a_cache_key_given_by_the_driver_is_used_without_reading_every_image(clothing_root, tmp_path, monkeypatch):
    from tune_clothes.data.datasets import content_key
    index = index_of(clothing_root, tmp_path)
    key = content_key(index)
    built = ensure_image_cache(index, 16, tmp_path, key=key)

    def refuse(_):
        raise AssertionError("a trial given the key must not stat every image again")
    monkeypatch.setattr(image_cache, "content_key", refuse)
    assert ensure_image_cache(index, 16, tmp_path, key=key).path == built.path


@pytest.mark.parametrize("kind", ["idx", "csv"])
def test_a_changed_fashion_mnist_file_gets_a_cache_of_its_own(fashion_mnist_files, tmp_path, kind):
    """The cache key of Fashion-MNIST follows its files: rewritten images (same labels, so the same index
    fingerprint) are cached anew, never served from the old cache."""
    import shutil

    from tune_clothes.data.fashion_mnist import write_fashion_csv, write_idx_images
    source = fashion_mnist_files.idx_dir if kind == "idx" else fashion_mnist_files.csv_file
    root = tmp_path / source.name
    (shutil.copytree if kind == "idx" else shutil.copy)(source, root)
    config = DatasetConfig(kind="fashion_mnist", root=str(root), cache_dir=str(tmp_path / "cache"))
    first = ensure_image_cache(load_index(config), 28, tmp_path / "cache")
    brighter = fashion_mnist_files.images // 2 + 100
    if kind == "idx":
        write_idx_images(root / "train-images-idx3-ubyte.gz", brighter)
    else:
        write_fashion_csv(root, brighter, fashion_mnist_files.labels)
    index = load_index(config)
    second = ensure_image_cache(index, 28, tmp_path / "cache")
    assert second.path != first.path and index.fingerprint() == load_index(config).fingerprint()
    np.testing.assert_array_equal(second.open()[..., 0], brighter)
    np.testing.assert_array_equal(first.open()[..., 0], fashion_mnist_files.images)  # the old one is intact
