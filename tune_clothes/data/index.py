"""`DatasetIndex`: which images a run uses, their labels, and what was left out and why."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class DatasetIndex:
    """The images of a dataset after validation and the class policy.

    `ids` name the images (a Clothing Dataset id is the file stem under `images/`; a csv or image_folder id is
    the file's path relative to the CSV's folder or the root; a Fashion-MNIST id is the row number in its file).
    `labels[i]` indexes `class_names`, which are sorted, so the mapping is stable. `test_positions` are the
    images the layout itself holds out (an image folder's test/): then they, not `cv.test_fraction`, are the
    locked holdout.
    """
    kind: str
    root: str
    ids: tuple[str, ...]
    labels: np.ndarray  # int64, one per id
    class_names: tuple[str, ...]
    dropped_classes: dict[str, int] = field(default_factory=dict)  # class -> images dropped by the policy
    excluded: dict[str, list[str]] = field(default_factory=dict)  # problem -> ids left out (missing, corrupt...)
    test_positions: tuple[int, ...] | None = None
    id_column: str | None = None  # the CSV column that names each image (csv kind), for cv.group_by

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.labels):
            raise ValueError(f"{len(self.ids)} ids but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {name: int(n) for name, n in zip(self.class_names, counts)}

    def fingerprint(self) -> str:
        """Identifies the images, their labels and the classes; the same on every machine with the same data."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self.kind, list(self.class_names)]).encode())
        for image_id, label in zip(self.ids, self.labels.tolist()):
            digest.update(f"{image_id}\t{label}\n".encode())
        if self.test_positions is not None:  # the same images split another way are other data
            digest.update(json.dumps(list(self.test_positions)).encode())
        return digest.hexdigest()[:16]
