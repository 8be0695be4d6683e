"""Which classes a run keeps: classes listed in `drop_classes` and classes below `min_images_per_class`
are dropped, and every dropped class is reported with its count, never silently lost."""
from __future__ import annotations

import collections
import difflib
from typing import Sequence

from tune_clothes.config.errors import DataError


def apply_class_policy(labels: Sequence[str], min_images_per_class: int,
                       drop_classes: Sequence[str], source: str) -> tuple[list[bool], dict[str, int]]:
    """A keep-flag per label, and dropped class -> number of images dropped with it."""
    counts = collections.Counter(labels)
    for name in drop_classes:
        if name not in counts:
            close = difflib.get_close_matches(name, list(counts), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; its classes are {sorted(counts)}"
            raise DataError(f"dataset.drop_classes: {name!r} is not a class of {source}{hint}")
    dropped = {name: n for name, n in sorted(counts.items())
               if name in drop_classes or n < min_images_per_class}
    kept = len(counts) - len(dropped)
    if kept < 2:
        raise DataError(f"{source}: only {kept} class(es) left after dataset.drop_classes={list(drop_classes)} and "
                        f"dataset.min_images_per_class={min_images_per_class} (dropped {dropped}); a classifier "
                        f"needs at least 2: lower min_images_per_class or drop fewer classes")
    return [label not in dropped for label in labels], dropped
