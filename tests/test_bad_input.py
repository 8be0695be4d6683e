"""Malformed search spaces and command lines are refused by `python -m tune_clothes.search` with exit status 2
and one line on stderr that names the file or key, the offending value, and the fix; no traceback, no Ray
started, and no experiment folder left behind.

Each case is one row of CASES: a tiny valid search space (conftest's `tiny_space`) with one thing broken.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml
from conftest import tiny_space, write_jpeg

from tune_clothes.cli import run_command
from tune_clothes.data.synthetic import generate_synthetic_dataset
from tune_clothes.data.validation import validate_clothing
from tune_clothes.search import main

NAME = "bad"  # the experiment's name: its folder would be {tmp}/results/bad
IMAGES_PER_CLASS = 15  # as in tiny_space; fewer than the 20 folds of the folds case


@dataclass(frozen=True)
class Case:
    """One malformed input. "{tmp}" in `args`, `space`, `expect` and `forbid` stands for the case's folder."""
    id: str
    expect: tuple[str, ...]  # substrings of stderr: the file or key, the value, the fix
    sections: dict = field(default_factory=dict)  # merged into tiny_space's sections (a non-dict replaces one)
    text: str | None = None  # the space file's raw text instead of tiny_space's YAML
    args: tuple[str, ...] = ()  # after --space
    space: str = "{tmp}/space.yaml"  # what --space names
    forbid: tuple[str, ...] = ()  # substrings stderr must not contain (a misleading hint)
    prepare: Callable[[Path], None] | None = None  # makes the folder's state before the command runs
    env: dict = field(default_factory=dict)  # environment variables while the command runs


def _existing_experiment(tmp: Path) -> None:
    folder = tmp / "results" / NAME
    folder.mkdir(parents=True)
    (folder / "experiment.yaml").write_text("name: bad\n")


def _photos(tmp: Path, classes: dict[str, int], others: dict[str, str] = {}) -> Path:
    """An image folder {tmp}/photos: `classes` name -> JPEGs in it, `others` relative path -> text file."""
    for name, count in classes.items():
        (tmp / "photos" / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            write_jpeg(tmp / "photos" / name / f"{i}.jpg", seed=i)
    for relative, text in others.items():
        (tmp / "photos" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "photos" / relative).write_text(text)
    return tmp / "photos"


def _link_outside(tmp: Path) -> None:
    photos = _photos(tmp, {"a": 4, "b": 4})
    write_jpeg(tmp / "elsewhere.jpg", seed=9)
    (photos / "b" / "borrowed.jpg").symlink_to(tmp / "elsewhere.jpg")


def _labels_csv(tmp: Path, header: str, paths: list[str]) -> None:
    _photos(tmp, {"a": 4, "b": 4})
    rows = [f"{path},{'a' if i % 2 else 'b'}" for i, path in enumerate(paths)]
    (tmp / "photos" / "labels.csv").write_text("\n".join([header, *rows]) + "\n")


IMAGE_FOLDER = ("--set", "dataset.kind=image_folder", "--set", "dataset.root={tmp}/photos")
CSV_DATASET = ("--set", "dataset.kind=csv", "--set", "dataset.root={tmp}/photos/labels.csv")
GOOD_PATHS = [f"{c}/{i}.jpg" for c in "ab" for i in range(4)]

CASES = [
    # unknown keys
    Case("unknown-key", ("{tmp}/space.yaml", "'train.lrr'", "did you mean 'train.lr'?"), {"train": {"lrr": 0.1}}),
    Case("unknown-section", ("{tmp}/space.yaml", "'trian'", "did you mean 'train'?"), {"trian": {"epochs": 2}}),
    Case("unknown-key-no-close-match", ("{tmp}/space.yaml", "'train.momentum'", "train.lr", "train.batch_size"),
         {"train": {"momentum": 0.9}}, forbid=("did you mean",)),
    # wrong types
    Case("epochs-not-a-number", ("{tmp}/space.yaml", "train.epochs='three'", "whole number"),
         {"train": {"epochs": "three"}}),
    Case("lr-not-a-number", ("{tmp}/space.yaml", "train.lr='fast'", "a number"), {"train": {"lr": "fast"}}),
    Case("section-not-a-mapping", ("{tmp}/space.yaml", "train must be a mapping, got 5"), {"train": 5}),
    Case("grid-not-a-list", ("{tmp}/space.yaml", "search.grid.lr=0.01", "list"),
         {"search": {"grid": {"lr": 0.01}}}),
    # empty lists
    Case("grid-empty-list", ("{tmp}/space.yaml", "search.grid.lr", "non-empty list"), {"search": {"grid": {"lr": []}}}),
    Case("optuna-no-choices", ("{tmp}/space.yaml", "search.space.lr.choices", "non-empty list"),
         {"search": {"algorithm": "optuna", "grid": {}, "space": {"lr": {"choices": []}}}}),
    # nonsense values
    Case("negative-lr", ("{tmp}/space.yaml", "train.lr=-0.1", "(0, 10]"), {"train": {"lr": -0.1}}),
    Case("negative-lr-in-grid", ("{tmp}/space.yaml", "search.grid.lr[1]", "train.lr=-0.1", "(0, 10]"),
         {"search": {"grid": {"lr": [0.01, -0.1]}}}),
    Case("batch-size-0", ("{tmp}/space.yaml", "train.batch_size=0", "at least 1"), {"train": {"batch_size": 0}}),
    Case("one-fold", ("{tmp}/space.yaml", "cv.folds=1", "[2, 100]"), {"cv": {"folds": 1}}),
    Case("probability-1.5", ("{tmp}/space.yaml", "augment.p_flip=1.5", "[0, 1]"), {"augment": {"p_flip": 1.5}}),
    Case("image-too-small-for-model", ("{tmp}/space.yaml", "train.image_size=16", "resnet18 needs at least 32"),
         {"model": {"name": "resnet18"}}),
    Case("unknown-model", ("model.name='mobilenet_v3_smal'", "did you mean mobilenet_v3_small", "resnet18",
                           "fashion_cnn", "torchvision"), {"model": {"name": "mobilenet_v3_smal"}}),
    Case("network-cannot-take-the-size", ("model.name='alexnet'", "cannot take 16 x 16 images",
                                          "Output size is too small", "train.image_size"),
         {"model": {"name": "alexnet"}}),
    Case("unknown-dataset-kind", ("{tmp}/space.yaml", "dataset.kind='imagenet'", "'synthetic'", "'clothing'"),
         {"dataset": {"kind": "imagenet"}}),
    Case("unknown-metric", ("{tmp}/space.yaml", "search.metric='val/accuracy'", "'val/acc'"),
         {"search": {"metric": "val/accuracy"}}),
    Case("bad-name", ("name='../escape'", "letters, digits"), args=("--name", "../escape")),
    # missing files
    Case("missing-space-file", ("{tmp}/missing.yaml", "no such file", "search_spaces/demo.yaml"),
         space="{tmp}/missing.yaml"),
    Case("missing-dataset-root", ("{tmp}/no-such-dataset", "no such folder", "images.csv", "tune_clothes.download"),
         args=("--set", "dataset.kind=clothing", "--set", "dataset.root={tmp}/no-such-dataset")),
    # files that are not a search space
    Case("yaml-syntax-error", ("{tmp}/space.yaml", "not valid YAML", "line 2"), text="name: bad\ntrain: {epochs: 3\n"),
    Case("yaml-is-a-list", ("{tmp}/space.yaml", "must be a mapping", "list"), text="- train\n- cv\n"),
    Case("yaml-is-a-scalar", ("{tmp}/space.yaml", "must be a mapping", "str"), text="just some words\n"),
    Case("yaml-is-empty", ("{tmp}/space.yaml", "empty"), text="", forbid=("NoneType",)),
    # bad --set
    Case("set-without-equals", ("--set 'train.epochs'", "key=value"), args=("--set", "train.epochs")),
    Case("set-unknown-key", ("'train.lrr'", "did you mean 'train.lr'?"), args=("--set", "train.lrr=0.1")),
    Case("set-into-a-scalar", ("--set 'name.x=1'", "'name' is not a section"), args=("--set", "name.x=1")),
    # resources and data the search cannot run with
    Case("gpus-on-a-cpu-machine", ("resources.gpus_per_trial=1", "0 GPUs", "gpus_per_trial=0", "--wait-for-nodes"),
         {"resources": {"gpus_per_trial": 1}}),
    Case("more-cpus-than-the-machine", ("resources.cpus_per_trial=4096", "CPUs", "--set resources.cpus_per_trial=",
                                        "--wait-for-nodes"), {"resources": {"cpus_per_trial": 4096}}),
    # offline: no cached weights (an empty torch hub folder), and every download refused by a closed proxy port
    Case("pretrained-offline", ("model.pretrained=true", "could not download", "model.pretrained: /path/to/"),
         {"model": {"name": "resnet18", "pretrained": True}, "train": {"image_size": 32}},
         env={"TORCH_HOME": "{tmp}/torch", "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}),
    Case("pretrained-offline-torchvision-network", ("model.pretrained=true",
                                                    "could not download the mobilenet_v3_small ImageNet weights",
                                                    "model.pretrained: /path/to/mobilenet_v3_small-"),
         {"model": {"name": "mobilenet_v3_small", "pretrained": True}},
         env={"TORCH_HOME": "{tmp}/torch", "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}),
    # a user's own photos: an image folder, a CSV of paths and labels
    Case("empty-class-folder", ("{tmp}/photos", "1 class folder(s) hold no image (b/)", "*.jpg",
                                "dataset.drop_classes"), args=IMAGE_FOLDER,
         prepare=lambda tmp: [_photos(tmp, {"a": 4}), (tmp / "photos" / "b").mkdir()]),
    Case("folder-of-non-images", ("{tmp}/photos", "b/ (2 files that are not images)", "add images"),
         args=IMAGE_FOLDER, prepare=lambda tmp: _photos(tmp, {"a": 4}, {"b/notes.txt": "x", "b/scan.pdf": "x"})),
    Case("link-leading-outside", ("{tmp}/photos", "'b/borrowed.jpg' (a link leading outside the folder)",
                                  "copy the files"), args=IMAGE_FOLDER, prepare=_link_outside),
    Case("csv-missing-column", ("{tmp}/photos/labels.csv", "missing column(s) ['path']", "found ['file', 'label']",
                                "dataset.path_column"), args=CSV_DATASET,
         prepare=lambda tmp: _labels_csv(tmp, "file,label", GOOD_PATHS)),
    Case("csv-path-escaping-the-root", ("{tmp}/photos/labels.csv", "1 path(s) lead outside {tmp}/photos",
                                        "'../elsewhere.jpg'", "relative to the CSV's folder"), args=CSV_DATASET,
         prepare=lambda tmp: _labels_csv(tmp, "path,label", [*GOOD_PATHS, "../elsewhere.jpg"])),
    Case("group-by-in-an-image-folder", ("cv.group_by='shop'", "no columns to group by", "set it to null"),
         args=(*IMAGE_FOLDER, "--set", "cv.group_by=shop"), prepare=lambda tmp: _photos(tmp, {"a": 4, "b": 4})),
    Case("more-folds-than-images", ("cv.folds=20", f"has {IMAGES_PER_CLASS}", "dataset.min_images_per_class"),
         {"cv": {"folds": 20}}),
    # cross-validation and statistics
    Case("group-by-not-a-column", ("images.csv", "cv.group_by='senderid'", "'sender_id'", "or to null"),
         {"cv": {"group_by": "senderid"}}),
    Case("repeats-with-group-by", ("{tmp}/space.yaml", "cv.repeats=2", "barely change with the seed",
                                   "cv.group_by to null"), {"cv": {"repeats": 2, "group_by": "sender_id"}}),
    Case("negative-rope", ("{tmp}/space.yaml", "search.rope=-0.01", ">= 0"), {"search": {"rope": -0.01}}),
    # search axes
    Case("optuna-low-not-below-high", ("{tmp}/space.yaml", "search.space.lr", "low=0.1, high=0.01", "low < high"),
         {"search": {"algorithm": "optuna", "grid": {}, "space": {"lr": {"low": 0.1, "high": 0.01}}}}),
    Case("grid-value-twice", ("{tmp}/space.yaml", "search.grid.lr=[0.01, 0.001, 0.01]", "twice"),
         {"search": {"grid": {"lr": [0.01, 0.001, 0.01]}}}),
    Case("axis-not-a-field", ("{tmp}/space.yaml", "search.grid.momentum", "lr", "batch_size", "image_size"),
         {"search": {"grid": {"momentum": [0.9, 0.99]}}}, forbid=("did you mean",)),
    Case("axis-is-not-a-search-axis", ("{tmp}/space.yaml", "search.grid.folds", "cv.folds"),
         {"search": {"grid": {"folds": [3, 5]}}}, forbid=("did you mean 'search.grid.lr'",)),
    # experiment folders
    Case("resume-what-does-not-exist", ("--resume", "{tmp}/results/bad", "without --resume"), args=("--resume",)),
    Case("experiment-exists", ("{tmp}/results/bad", "already exists", "--resume", "--name"),
         prepare=_existing_experiment),
]

# argparse's own errors: SystemExit(2) with the usage and the message on stderr
ARGPARSE_CASES = [
    Case("num-cpus-0", ("--num-cpus 0", "at least 1"), args=("--num-cpus", "0")),
    Case("num-cpus-negative", ("--num-cpus -2", "at least 1"), args=("--num-cpus", "-2")),
    Case("num-cpus-not-a-number", ("--num-cpus", "'two'", "invalid int"), args=("--num-cpus", "two")),
    Case("unknown-option", ("unrecognized arguments", "--epochs"), args=("--epochs", "3")),
]


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The synthetic dataset (15 images per class) and the cache folder, made once for every case."""
    folder = tmp_path_factory.mktemp("data")
    root = generate_synthetic_dataset(folder / "synthetic", images_per_class=IMAGES_PER_CLASS, seed=0)
    # Check the images now, in this process: the search would spawn a process pool for 75 images (~3 s)
    validate_clothing(root, folder / "cache", workers=1)
    return {"root": str(root), "cache_dir": str(folder / "cache")}


@pytest.fixture(autouse=True)
def ray_must_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input is refused before Ray: starting it fails the test (even if another test left a Ray running)."""
    def refuse(*args, **kwargs):
        raise AssertionError("ray.init was called: bad input must be refused before Ray starts")
    monkeypatch.setattr("ray.init", refuse)
    monkeypatch.setattr("ray.is_initialized", lambda: False)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)  # the GPU case means a machine without GPUs


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def _write_space(case: Case, tmp: Path, shared: dict) -> None:
    if case.text is not None:
        (tmp / "space.yaml").write_text(case.text)
        return
    sections = {"dataset": dict(shared)}
    for section, values in case.sections.items():
        both = isinstance(values, dict) and isinstance(sections.get(section), dict)
        sections[section] = {**sections[section], **values} if both else values
    (tmp / "space.yaml").write_text(yaml.safe_dump(tiny_space(tmp, NAME, **sections), sort_keys=False))


def _folder_listing(tmp: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp)) for p in (tmp / "results").rglob("*")) if (tmp / "results").exists() else []


def _run(case: Case, tmp: Path, shared: dict, capsys: pytest.CaptureFixture) -> tuple[int, str, str, list[str]]:
    """Run the command for `case`: (exit status, stdout, stderr, the storage folder's listing before)."""
    _write_space(case, tmp, shared)
    if case.prepare:
        case.prepare(tmp)
    before = _folder_listing(tmp)
    argv = ["--space", _fill(case.space, tmp), *(_fill(a, tmp) for a in case.args)]
    try:
        status = run_command(main, argv)
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err, before


def _check_message(case: Case, tmp: Path, err: str) -> None:
    for text in case.expect:
        assert _fill(text, tmp) in err, f"{case.id}: {_fill(text, tmp)!r} not in {err!r}"
    for text in case.forbid:
        assert _fill(text, tmp) not in err, f"{case.id}: misleading {_fill(text, tmp)!r} in {err!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_and_exit_status_2(case: Case, tmp_path: Path, shared_data: dict,
                                                       capsys: pytest.CaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, _fill(value, tmp_path))
    status, out, err, before = _run(case, tmp_path, shared_data, capsys)
    assert "Traceback" not in out + err
    assert status == 2, f"{case.id}: exit status {status}; stderr: {err!r}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{case.id}: not one error line: {err!r}"
    _check_message(case, tmp_path, err)
    assert _folder_listing(tmp_path) == before, f"{case.id}: the storage folder changed"


@pytest.mark.parametrize("case", ARGPARSE_CASES, ids=[c.id for c in ARGPARSE_CASES])
def test_bad_arguments_are_usage_errors(case: Case, tmp_path: Path, shared_data: dict,
                                        capsys: pytest.CaptureFixture) -> None:
    status, out, err, before = _run(case, tmp_path, shared_data, capsys)
    assert "Traceback" not in out + err
    assert status == 2, f"{case.id}: exit status {status}; stderr: {err!r}"
    assert "usage:" in err
    _check_message(case, tmp_path, err)
    assert _folder_listing(tmp_path) == before, f"{case.id}: the storage folder changed"


def test_a_missing_space_argument_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_command(main, [])
    assert exit_.value.code == 2
    assert "--space" in capsys.readouterr().err


def test_the_valid_space_the_cases_break_gets_past_every_check(tmp_path: Path, shared_data: dict,
                                                               capsys: pytest.CaptureFixture) -> None:
    """The control: unbroken, the same space and data reach the point of starting Ray (refused here)."""
    _write_space(Case("valid", ()), tmp_path, shared_data)
    with pytest.raises(AssertionError, match="ray.init was called"):
        run_command(main, ["--space", str(tmp_path / "space.yaml")])
