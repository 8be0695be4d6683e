"""What the download tests serve (with the `serve` fixture: a real HTTP server on 127.0.0.1, never the network):
archives and files shaped like the real ones, but tiny."""
from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from tune_clothes.data.fashion_mnist import write_idx_images, write_idx_labels

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


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


def write_fashion_site(folder: Path) -> dict[str, str]:
    """The four IDX .gz files, tiny; returns their MD5s."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5), ("t10k", 3)):
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in IDX_NAMES}
