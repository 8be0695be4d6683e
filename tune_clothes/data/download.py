"""Fetching the two public datasets: the Clothing Dataset (a GitHub archive) and Fashion-MNIST (four IDX .gz files).

Everything is fetched under a temporary name and renamed into place only when complete, so an interrupted or
failed download never leaves something that looks like a finished dataset. A network failure becomes a
one-line DataError that says what to fetch by hand and where to put it; a full disk or a folder that cannot
be written becomes one that names the folder.
"""
from __future__ import annotations

import contextlib
import errno
import http.client
import logging
import shutil
import socket
import ssl
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from tune_clothes.config.errors import DataError
from tune_clothes.data.archive import ArchiveLimits, extract_zip_safely

if TYPE_CHECKING:
    from tune_clothes.data.validation import ValidationResult

log = logging.getLogger(__name__)
CLOTHING_URL = "https://github.com/alexeygrigorev/clothing-dataset/archive/refs/heads/master.zip"
TIMEOUT_S = 60.0  # seconds without an answer from the server before a download is given up
CHUNK_BYTES = 1 << 20
# urlopen raises URLError (HTTPError, DNS failure, refused connection); a broken or stalled transfer raises
# the others while the body is read.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


# ---- Clothing Dataset ----------------------------------------------------------------------------------------

def download_clothing(dest: Path, url: str = CLOTHING_URL, timeout_s: float = TIMEOUT_S,
                      limits: ArchiveLimits = ArchiveLimits()) -> ValidationResult:
    """Download the Clothing Dataset archive from `url`, unpack it into `dest` (images.csv, images/), check it.

    `dest` must not exist yet or be empty. An archive over `limits` (a zip bomb) is refused. Returns the
    validation report, whose summary is also logged.
    """
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DataError(f"{dest} already exists and is not an empty folder: download into a new folder, or delete "
                        f"it first to download again")
    staging = _make_staging_dir(dest.parent, prefix=f".{dest.name}.download-")
    try:
        with _disk_errors(dest):
            archive = _fetch_clothing_archive(url, staging / "archive.zip", dest, timeout_s)
            unpacked = staging / "unpacked"
            extract_zip_safely(archive, unpacked, limits, source=url)
            if not (unpacked / "images.csv").is_file():
                raise DataError(f"the archive from {url} has no images.csv at its top: is the URL that of the "
                                f"Clothing Dataset ({CLOTHING_URL})?")
            if dest.exists():
                dest.rmdir()  # empty, checked above
            unpacked.rename(dest)  # the last step: the folder appears complete or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("unpacked the Clothing Dataset into %s; checking it", dest)
    from tune_clothes.data.validation import validate_clothing  # decodes images: only when asked

    report = validate_clothing(dest)
    for line in report.summary_lines():
        log.log(logging.INFO if report.ok else logging.WARNING, "%s", line)
    return report


def _fetch_clothing_archive(url: str, archive: Path, dest: Path, timeout_s: float) -> Path:
    try:
        fetch_to_file(url, archive, timeout_s)
    except NETWORK_ERRORS as err:
        raise DataError(f"could not download the Clothing Dataset from {url} ({_reason(err)}): on a machine "
                        f"with a network, download that zip, unpack it so that {dest} holds images.csv and "
                        f"images/, and set dataset.root: {dest}") from None
    if not zipfile.is_zipfile(archive):
        raise DataError(f"what {url} sent is not a zip archive: is the URL right? The Clothing Dataset is "
                        f"at {CLOTHING_URL}")
    return archive


def fetch_to_file(url: str, path: Path, timeout_s: float = TIMEOUT_S) -> int:
    """Stream `url` to `path`, logging progress; returns the number of bytes. Raises the network's errors."""
    request = urllib.request.Request(url, headers={"User-Agent": "tune_clothes"})
    log.info("downloading %s", url)
    with urllib.request.urlopen(request, timeout=timeout_s) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)  # bytes; 0 when the server does not say
        step = max(total // 10, CHUNK_BYTES) if total else 16 * CHUNK_BYTES  # bytes between progress lines
        done, next_report = 0, step
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            done += len(chunk)
            if done >= next_report:
                share = f" ({100 * done / total:.0f}%)" if total else ""
                log.info("downloaded %.1f MB%s", done / 1e6, share)
                next_report += step
    if total and done != total:
        raise http.client.IncompleteRead(b"", total - done)
    log.info("downloaded %.1f MB from %s", done / 1e6, url)
    return done


# ---- Fashion-MNIST ----------------------------------------------------------------------------------------

def download_fashion_mnist(dest: Path, base_url: str | None = None,
                           resources: Sequence[tuple[str, str]] | None = None,
                           timeout_s: float = TIMEOUT_S) -> list[Path]:
    """Fetch the Fashion-MNIST IDX .gz files into `dest` and check their MD5s; returns their paths.

    `resources` are (file name, MD5) pairs and `base_url` the folder they are fetched from; by default both are
    torchvision's (`FashionMNIST.resources`, then each of `FashionMNIST.mirrors` in turn). Files already in
    `dest` with the right MD5 are kept; the others appear only once all of them have been fetched.
    """
    from torchvision.datasets import FashionMNIST  # imports torch: only when asked
    from torchvision.datasets.utils import check_integrity

    dest = Path(dest).expanduser().absolute()
    mirrors = [base_url] if base_url else list(FashionMNIST.mirrors)
    resources = list(resources if resources is not None else FashionMNIST.resources)
    todo = [(name, md5) for name, md5 in resources if not check_integrity(dest / name, md5)]
    if len(todo) < len(resources):
        log.info("%d of the %d files are already in %s", len(resources) - len(todo), len(resources), dest)
    created = not dest.exists()
    staging = _make_staging_dir(dest, prefix=".download-")
    try:
        with _disk_errors(dest):
            for name, md5 in todo:
                _fetch_from_mirrors(name, md5, mirrors, staging, dest, [n for n, _ in resources], timeout_s)
            for name, _ in todo:
                (staging / name).replace(dest / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(dest.iterdir()):
            dest.rmdir()  # a failed first download leaves no trace
    log.info("Fashion-MNIST is in %s", dest)
    return [dest / name for name, _ in resources]


def _fetch_from_mirrors(name: str, md5: str, mirrors: list[str], staging: Path, dest: Path,
                        all_names: list[str], timeout_s: float) -> None:
    from torchvision.datasets.utils import download_url

    failures = []
    for mirror in mirrors:
        url = _join_url(mirror, name)
        log.info("downloading %s", url)
        try:
            with _socket_timeout(timeout_s):
                download_url(url, str(staging), filename=name, md5=md5)
            return
        except NETWORK_ERRORS as err:
            failures.append(f"{url} ({_reason(err)})")
        except RuntimeError:  # torchvision's "File not found or corrupted.": the MD5 did not match
            failures.append(f"{url} (its MD5 is not {md5}: a corrupt transfer, or not the published file)")
        (staging / name).unlink(missing_ok=True)
    by_hand = " ".join(_join_url(mirrors[0], n) for n in all_names)
    raise DataError(f"could not download {name} from {'; '.join(failures)}: on a machine with a network, download "
                    f"{by_hand}, put the files in {dest}, and set dataset.root: {dest}")


# ---- shared ------------------------------------------------------------------------------------------------

def _make_staging_dir(parent: Path, prefix: str) -> Path:
    with _disk_errors(parent):
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


@contextlib.contextmanager
def _disk_errors(folder: Path) -> Iterator[None]:
    """A write that fails (a full disk, no permission, a read-only disk, a file where a folder should be)
    becomes one DataError that names `folder`; network errors pass through."""
    try:
        yield
    except NETWORK_ERRORS:
        raise
    except OSError as err:
        if err.errno in DISK_FULL:
            problem, fix = "the disk is full", "free some space there, or download into another folder"
        elif err.errno in (errno.EEXIST, errno.ENOTDIR):
            problem, fix = "a file is where a folder must be", "choose another folder"
        else:
            problem, fix = "it cannot be written", "choose a folder you can write to"
        where = f"; {err.filename}" if err.filename and str(err.filename) != str(folder) else ""
        raise DataError(f"cannot download into {folder}: {problem} ({err.strerror or err}{where}): {fix}") from None


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """torchvision's download_url takes no timeout, so set the default one (process-wide) while it runs."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _join_url(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def _reason(err: Exception) -> str:
    """A short reason: 'HTTP Error 404: Not Found', '[Errno 111] Connection refused', 'timed out'."""
    if isinstance(err, urllib.error.HTTPError):
        return str(err)
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err) or type(err).__name__
