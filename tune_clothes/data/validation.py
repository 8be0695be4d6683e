"""Finding what is wrong with a dataset's files, by name, before a search trips over it: the same report for
every layout that keeps one image per file (`listing.Listing`).

Decoding every image is the expensive part (~2 ms a photo); its verdicts are cached per file and
recomputed only for files whose size or modification time changed.
"""
from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tune_clothes.data import clothing, storage
from tune_clothes.data.decode import ImageDecodeError, decode_image
from tune_clothes.data.listing import Listing
from tune_clothes.data.process_pool import spawned_pool

log = logging.getLogger(__name__)
CHECK_SIZE = 64  # pixels: decoding at a reduced JPEG scale still reads (and checks) all the data
PARALLEL_FROM = 1000  # files; fewer are checked in this process (~2 ms each), more in a process pool


@dataclass
class ValidationResult:
    root: str
    rows: int  # images listed (rows of the CSV, files in class folders), as written
    class_counts: dict[str, int]  # rows per non-empty label, as written (before any class policy)
    missing_files: list[str] = field(default_factory=list)  # ids whose image file does not exist
    unlisted_files: list[str] = field(default_factory=list)  # image files that nothing lists
    corrupt_files: dict[str, str] = field(default_factory=dict)  # file name -> why it cannot be decoded
    duplicate_ids: list[str] = field(default_factory=list)  # ids listed more than once
    empty_labels: list[str] = field(default_factory=list)  # ids whose label is empty
    unsafe_ids: dict[str, str] = field(default_factory=dict)  # id -> why it was never opened
    not_images: list[str] = field(default_factory=list)  # left out by name (notes.txt): not a problem

    @property
    def ok(self) -> bool:
        return not (self.missing_files or self.unlisted_files or self.corrupt_files or self.duplicate_ids
                    or self.empty_labels or self.unsafe_ids)

    def to_json(self) -> dict:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def summary_lines(self, examples: int = 5) -> list[str]:
        lines = [f"{self.root}: {self.rows} images listed, {len(self.class_counts)} classes"]
        for name in ("missing_files", "unlisted_files", "corrupt_files", "duplicate_ids", "empty_labels",
                     "unsafe_ids", "not_images"):
            found = getattr(self, name)
            if found:
                shown = [f"{k} ({v})" for k, v in found.items()] if isinstance(found, dict) else list(found)
                more = f", ... ({len(found) - examples} more)" if len(found) > examples else ""
                lines.append(f"  {name.replace('_', ' ')}: {len(found)}: {', '.join(shown[:examples])}{more}")
        lines.append("  no problems found" if self.ok else "  problems found (see above)")
        return lines


def validate_clothing(root: Path, cache_dir: Path | None = None, workers: int | None = None) -> ValidationResult:
    """Check a Clothing Dataset folder. Raises DataError only when it is not such a folder at all."""
    return scan(clothing.listing(Path(root)), cache_dir, workers)


def scan(listing: Listing, cache_dir: Path | None = None, workers: int | None = None) -> ValidationResult:
    """What is wrong with the images a layout lists, and with its files."""
    rows, files_dir = listing.rows, listing.files_dir
    counts = collections.Counter(row.label for row in rows if row.label)
    report = ValidationResult(root=listing.source, rows=len(rows), class_counts=dict(sorted(counts.items())),
                              unsafe_ids=dict(listing.unsafe), not_images=list(listing.not_images))
    seen = collections.Counter(row.image for row in rows)
    report.duplicate_ids = sorted(image_id for image_id, n in seen.items() if n > 1 and image_id)
    report.empty_labels = [row.image for row in rows if not row.label]
    to_decode = []
    for row in rows:
        if row.image in report.unsafe_ids:
            continue
        name = listing.file_of(row.image)
        if (files_dir / name).is_file():
            to_decode.append(name)
        else:
            report.missing_files.append(row.image)
    listed = {listing.file_of(row.image) for row in rows if row.image not in report.unsafe_ids}
    report.unlisted_files = [name for name in listing.present if name not in listed]
    report.corrupt_files = check_decodable(files_dir, sorted(set(to_decode)), cache_dir, workers)
    return report


def check_decodable(images_dir: Path, names: list[str], cache_dir: Path | None,
                    workers: int | None) -> dict[str, str]:
    """File name -> why it cannot be decoded, for the names that cannot; cached verdicts are reused."""
    cache = DecodeVerdicts(images_dir, cache_dir)
    stats = {name: os.stat(images_dir / name) for name in names}
    todo = [name for name in names if cache.get(name, stats[name]) is None]
    if todo:
        log.info("decoding %d of %d images to check them (%d verdicts cached)", len(todo), len(names),
                 len(names) - len(todo))
    for name, verdict in zip(todo, _decode_verdicts([str(images_dir / n) for n in todo], workers)):
        cache.put(name, stats[name], verdict)
    cache.save()
    verdicts = {name: cache.get(name, stats[name]) for name in names}
    return {name: verdict for name, verdict in verdicts.items() if verdict}


def _decode_verdicts(paths: list[str], workers: int | None) -> list[str]:
    """'' for a good image, else the reason; in a pool of processes when there are many."""
    if len(paths) < PARALLEL_FROM or workers == 1:
        return [_verdict(p) for p in paths]
    with spawned_pool(workers, f"checking {len(paths)} images") as pool:
        return list(pool.map(_verdict, paths, chunksize=64))


def _verdict(path: str) -> str:
    try:
        decode_image(path, CHECK_SIZE)
        return ""
    except ImageDecodeError as err:
        return str(err)


class DecodeVerdicts:
    """Per-file decode verdicts on disk, keyed by (size, mtime): a changed file is checked again."""

    def __init__(self, images_dir: Path, cache_dir: Path | None):
        self.path = None
        self.entries: dict[str, list] = {}
        if cache_dir is not None:
            key = hashlib.sha256(str(Path(images_dir).resolve()).encode()).hexdigest()[:16]
            self.path = Path(cache_dir) / "verify" / f"{key}.json"
            if self.path.is_file():
                try:
                    self.entries = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    log.warning("ignoring an unreadable verification cache %s", self.path)

    def get(self, name: str, stat: os.stat_result) -> str | None:
        """'' for a good image, the reason for a bad one, None when unknown or the file changed since."""
        entry = self.entries.get(name)
        if entry and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
            return entry[2]
        return None

    def put(self, name: str, stat: os.stat_result, verdict: str) -> None:
        self.entries[name] = [stat.st_size, stat.st_mtime_ns, verdict]

    def save(self) -> None:
        if self.path is not None:  # atomic: a concurrent reader sees the old or the new file, never half
            storage.write_text(str(self.path), json.dumps(self.entries))
