"""`final`, `evaluate` and `predict` after real searches: a tiny Fashion-MNIST search with a locked holdout (the
one extra search here), and the shared demo-data search `clean_search` (no holdout)."""
from __future__ import annotations

import csv
import importlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import search_and_summarize, tiny_space, trial_dirs
from PIL import Image
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from test_fashion_mnist import write_idx_split

from tune_clothes import evaluate, predict
from tune_clothes.cli import run_command
from tune_clothes.config import metric_names as M
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist, write_fashion_csv
from tune_clothes.packaging.bundle import MODEL_PT, load_bundle
from tune_clothes.training.augment import IMAGENET_MEAN, IMAGENET_STD
from tune_clothes.tuning.faults import ENV_VAR

final = importlib.import_module("tune_clothes.final")  # the command (tune_clothes.final is the API's function)

pytestmark = pytest.mark.slow
SIDE = 16


def striped_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST-shaped images a tiny CNN tells apart in a few epochs: class = stripe direction and period."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rows, cols = np.mgrid[0:28, 0:28]
    images = []
    for label in labels:
        period = (4, 7, 14, 28)[label % 3 if label < 9 else 3]
        along = (rows, cols, rows + cols)[label // 3] if label < 9 else rows
        stripes = np.sign(np.sin(2 * np.pi * (along + rng.uniform(0, period)) / period))
        images.append(np.clip(128 + 100 * stripes + rng.normal(0, 20, (28, 28)), 0, 255).astype(np.uint8))
    return np.stack(images), labels


@pytest.fixture(scope="module")
def fashion_search(ray_local, tmp_path_factory):
    """Fashion-MNIST (200 training images, a test split, a CSV of it), 2 folds, a 20% locked holdout."""
    root = tmp_path_factory.mktemp("fashion")
    write_idx_split(root / "idx", "train", *striped_images(200, 0))
    write_idx_split(root / "idx", "test", *striped_images(50, 1))
    write_fashion_csv(root / "test.csv", *striped_images(50, 1))
    space = tiny_space(root, "fashion", lrs=(0.003,), dataset={"kind": "fashion_mnist", "root": str(root / "idx")},
                       train={"epochs": 4}, cv={"folds": 2, "test_fraction": 0.2})
    return root, search_and_summarize(experiment_from_dict(space))


def run(command, *args: str) -> int:
    return run_command(command.main, [str(a) for a in args])


def test_final_refits_on_the_pool_and_measures_the_locked_test_once(fashion_search, capsys):
    root, summary = fashion_search
    location = Path(summary.location)
    assert run(final, location) == 0
    shown = capsys.readouterr().out
    folder = location / "final"
    info = json.loads((folder / "model.json").read_text())
    assert info["training"]["strategy"] == "refit" and info["configuration"]["axes"] == {"lr": 0.003}
    refit_rows = [json.loads(line) for line in (folder / "refit" / "pool" / "result.json").read_text().splitlines()]
    assert [row[M.EPOCH] for row in refit_rows] == list(range(info["training"]["epochs"]))
    assert "as many optimizer steps as the fold models took to reach their best val/acc: they did after" in shown
    assert "acc*              CV 0." in shown and ", test 0." in shown and "locked holdout (40 images" in shown
    assert f"report: {location / 'report.html'}" in shown  # rewritten, with the model in its final section
    from test_report import read_page
    assert read_page(location)[1].sections["final"]
    test = json.loads((folder / "test_metrics.json").read_text())
    expected = recompute_holdout_metrics(folder, location, root)
    assert test["metrics"]["acc"]["value"] == pytest.approx(expected["acc"]) and expected["acc"] > 0.5
    for name in ("precision_macro", "recall_macro", "f1_macro"):
        assert test["metrics"][name]["value"] == pytest.approx(expected[name]), name
    assert test["confusion_matrix"] == expected["confusion_matrix"]
    assert info["export"]["top1_agreement"] == 1.0 and info["export"]["max_abs_score_diff"] <= 1e-3
    card = (folder / "model_card.md").read_text()
    assert "| acc\\* |" in card and "locked test (40 images)" in card and "Ankle boot" in card


def recompute_holdout_metrics(folder: Path, location: Path, root: Path) -> dict:
    """The holdout's metrics without tune_clothes' inference code: PIL resize, numpy normalisation, sklearn."""
    holdout = json.loads((location / "folds.json").read_text())["holdout"]
    images, labels = load_fashion_mnist(root / "idx")
    grey = np.stack([np.asarray(Image.fromarray(images[i]).resize((SIDE, SIDE), Image.Resampling.BILINEAR))
                     for i in holdout]).astype(np.float32)
    batch = (np.repeat(grey[..., None], 3, axis=3) / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    network = load_bundle(folder / MODEL_PT).network()
    with torch.inference_mode():
        predicted = network(torch.from_numpy(batch.transpose(0, 3, 1, 2)).float()).argmax(dim=1).numpy()
    truth = labels[holdout]
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, average="macro", zero_division=0)
    return {"acc": float(np.mean(truth == predicted)), "precision_macro": precision, "recall_macro": recall,
            "f1_macro": f1, "confusion_matrix": confusion_matrix(truth, predicted, labels=range(10)).tolist()}


def test_evaluate_and_predict_take_fashion_mnist_files_and_grey_images_of_any_size(fashion_search, tmp_path,
                                                                                    capsys):
    root, summary = fashion_search
    folder = Path(summary.location) / "final"
    if not (folder / "model.json").is_file():
        assert run(final, summary.location) == 0
    reports = []
    for data in (root / "idx", root / "test.csv"):  # the IDX test split and the same images as CSV
        assert run(evaluate, folder, data, "--json", "--cache-dir", tmp_path) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0]["metrics"] == reports[1]["metrics"] and reports[0]["images"] == 50
    assert "note" not in reports[0]  # the test split: no image of it was trained on
    assert reports[0]["metrics"]["acc"]["value"] > 0.5  # 10 classes: chance is 0.1
    images, labels = striped_images(12, 1)
    for i, image in enumerate(images):  # grey PNGs at 40 px, and one as a colour JPEG
        big = Image.fromarray(image).resize((40, 40))
        (big.convert("RGB") if i == 0 else big).save(tmp_path / f"{i:02d}.{'jpg' if i == 0 else 'png'}")
    assert run(predict, folder, tmp_path, "--topk", "1", "--backend", "onnx", "--out", tmp_path / "p.csv") == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text())))
    assert len(rows) == 12 and all(row["error"] == "" for row in rows)
    right = [row["label_1"] == FASHION_MNIST_CLASSES[label] for row, label in zip(rows, labels)]
    assert sum(right) > 6


def test_the_report_shows_the_final_model_beside_the_cv_estimate(fashion_search):
    from test_report import read_page

    from tune_clothes.analysis.report.page import write_report
    _, summary = fashion_search
    folder = Path(summary.location) / "final"
    if not (folder / "model.json").is_file():
        assert run(final, summary.location) == 0
    write_report(summary.location)
    html, page = read_page(summary.location)
    assert all(page.sections[name] for name in ("final", "errors"))  # Fashion-MNIST's grey thumbnails too
    info = json.loads((folder / "model.json").read_text())
    rows = page.rows("final_estimates")
    assert len(rows) == 4 and rows[0]["metric"]["text"] == "acc*"  # the metric the search ranked by
    acc = rows[0]
    assert float(acc["cv_mean"]["value"]) == info["cv_estimate"]["statistics"][M.VAL_ACC]["mean"]
    assert float(acc["test"]["value"]) == info["test"]["metrics"]["acc"]["value"]
    assert float(acc["test_ci_low"]["value"]) == info["test"]["metrics"]["acc"]["ci_low"]
    assert any(image["alt"] == "confusion matrix on the locked test set" for image in page.images)
    assert "The locked test set (40 images), evaluated once" in html


def test_ensemble_averages_the_fold_models_at_their_best_checkpoints(fashion_search, tmp_path, capsys):
    _, summary = fashion_search
    assert run(final, summary.location, "--strategy", "ensemble", "--out", tmp_path / "ensemble") == 0
    info = json.loads((tmp_path / "ensemble" / "model.json").read_text())
    members = info["training"]["members"]
    assert info["model"]["members"] == 2 and sorted(m["fold_index"] for m in members) == [0, 1]
    for member in members:  # the best epoch of its own fold, as result.json recorded it
        rows = [json.loads(line) for line in (Path(summary.location) / member["trial"] / "result.json").open()]
        best = max(rows, key=lambda row: (row[M.VAL_ACC], -row[M.EPOCH]))
        assert member["epoch"] == best[M.EPOCH] and member[M.VAL_ACC] == best[M.VAL_ACC]
    assert info["test"]["images"] == 40 and "ensemble of lr=0.003" in capsys.readouterr().out


def test_demo_search_to_an_interrupted_final_resumed_then_predict_and_evaluate(clean_search, tmp_path,
                                                                              monkeypatch, capsys):
    experiment, summary = clean_search
    location = Path(summary.location)
    chosen = yaml.safe_load((location / "best_config.yaml").read_text())
    chosen["train"]["lr"] = 0.001  # the configuration to build, whichever won
    (tmp_path / "chosen.yaml").write_text(yaml.safe_dump(chosen))
    out = tmp_path / "model"
    command = [location, "--config", tmp_path / "chosen.yaml", "--epochs", 25, "--out", out]
    crashes = [{"kind": "crash", "epoch": epoch, "batch": 1, "once_dir": str(tmp_path / "fired")} for epoch in (1, 2)]
    monkeypatch.setenv(ENV_VAR, json.dumps(crashes))  # the first attempt crashes in epoch 1, its retry in epoch 2
    assert run(final, *command) == 1
    assert "the refit trial failed after 1 retries, with 2 of 25 epochs done" in capsys.readouterr().err
    assert not (out / "model.pt").exists()
    assert run(final, *command) == 2  # never started again by accident
    assert "an unfinished refit is there: add --resume" in capsys.readouterr().err
    monkeypatch.delenv(ENV_VAR)
    assert run(final, *command, "--resume") == 0
    shown = capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "refit" / "pool" / "result.json").read_text().splitlines()]
    assert [row[M.EPOCH] for row in rows] == list(range(25))  # each epoch once: the retry and the resume continued
    assert "final model: refit of lr=0.001" in shown and "epochs: 25, as --epochs asked" in shown
    assert "test: none, the experiment has no locked holdout" in shown and not (out / "test_metrics.json").exists()
    data = Path(experiment.dataset.root)
    tables = {}
    for backend in ("torch", "onnx"):
        assert run(predict, out, data / "images", "--backend", backend, "--out", tmp_path / f"{backend}.csv") == 0
        tables[backend] = list(csv.DictReader(io.StringIO((tmp_path / f"{backend}.csv").read_text())))
    assert len(tables["torch"]) == 75
    assert [row["label_1"] for row in tables["torch"]] == [row["label_1"] for row in tables["onnx"]]
    assert run(evaluate, out, data, "--json", "--cache-dir", tmp_path / "cache") == 0
    shown = capsys.readouterr()
    report = json.loads(shown.out)
    assert report["images"] == 75 and report["metrics"]["acc"]["value"] > 0.6  # 5 classes: chance is 0.2
    assert "is the data this model was built from" in shown.err and "not how it does on new ones" in report["note"]
    assert run(final, *command) == 2
    assert "a final model is already there" in capsys.readouterr().err


def test_final_refuses_what_it_cannot_build_from(clean_search, tmp_path, capsys):
    location = Path(clean_search[1].location)
    assert run(final, tmp_path) == 2
    assert "no experiment.yaml here" in capsys.readouterr().err
    partial = tmp_path / "partial"
    shutil.copytree(location, partial, ignore=shutil.ignore_patterns("checkpoint_*", "final"))
    for trial in trial_dirs(partial):
        if trial.name.endswith("_fold2"):
            shutil.rmtree(trial)  # the last fold of every configuration never ran
    assert run(final, partial, "--strategy", "ensemble") == 2
    error = capsys.readouterr().err
    assert "is incomplete (2 of 3 folds finished)" in error and "--resume" in error
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({**yaml.safe_load((location / "best_config.yaml").read_text()),
                                                          "train": {"lr": 0.5}}))
    assert run(final, location, "--config", tmp_path / "other.yaml", "--out", tmp_path / "x") == 2
    assert "no configuration of this search has lr=0.5" in capsys.readouterr().err
    for trial in trial_dirs(partial):
        shutil.rmtree(trial)
    assert run(final, partial) == 2
    assert "no fold of any configuration has finished" in capsys.readouterr().err
    assert run(final, location, "--resume", "--out", tmp_path / "y") == 2
    assert "--resume: no refit was started" in capsys.readouterr().err


def test_after_final_no_tensorboard_run_of_the_experiment_shows_rays_bookkeeping(fashion_search):
    """`tensorboard --logdir` on the experiment, as the README says, after `final`: the refit's run has the
    project's metrics under their own names, as the search's trials have; no `ray/...` tag anywhere."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    _, summary = fashion_search
    location = Path(summary.location)
    if not (location / "final" / "model.json").is_file():
        assert run(final, location) == 0
    runs = sorted({path.parent for path in location.rglob("events.out.tfevents.*")})
    assert location / "final" / "refit" / "pool" in runs
    for folder in runs:
        tags = EventAccumulator(str(folder)).Reload().Tags()["scalars"]
        assert not [tag for tag in tags if tag.startswith("ray/")], folder
    refit_tags = EventAccumulator(str(location / "final" / "refit" / "pool")).Reload().Tags()["scalars"]
    assert {M.TRAIN_LOSS, M.VAL_ACC} <= set(refit_tags)


def test_the_python_api_gives_what_the_commands_give(fashion_search, tmp_path, capsys):
    """Leaderboard, best configuration, the final model's test numbers, evaluate and predict: from Python as from
    the commands, on the same search."""
    import pandas as pd

    import tune_clothes as tc
    root, summary = fashion_search
    results = tc.load_results(summary.location)
    written = (Path(summary.location) / "leaderboard.csv").read_text()  # what the search command wrote
    assert results.leaderboard.to_csv(index=False) == written and len(results.leaderboard) == 1
    best_yaml = Path(summary.location) / "best_config.yaml"
    assert results.best_config == summary.best == {"lr": 0.003}
    assert results.best_experiment == tc.load_experiment(best_yaml)
    assert run(final, summary.location, "--strategy", "ensemble", "--out", tmp_path / "command") == 0
    model = tc.final(results, strategy="ensemble", out=tmp_path / "python")
    assert model.test_metrics == json.loads((tmp_path / "command" / "test_metrics.json").read_text())
    assert model.test_metrics["images"] == 40
    capsys.readouterr()
    assert run(evaluate, tmp_path / "command", root / "test.csv", "--json", "--cache-dir", tmp_path) == 0
    assert model.evaluate(root / "test.csv", cache_dir=tmp_path) == json.loads(capsys.readouterr().out)
    images, _ = striped_images(5, 2)
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    assert run(predict, tmp_path / "command", *(tmp_path / f"{i}.png" for i in range(5)), "--topk", "2") == 0
    shown = pd.read_csv(io.StringIO(capsys.readouterr().out))
    from_files = model.predict([tmp_path / f"{i}.png" for i in range(5)], topk=2)
    assert from_files["label_1"].tolist() == shown["label_1"].tolist()
    np.testing.assert_allclose(from_files["prob_1"], shown["prob_1"], atol=1e-6)
    # in memory as from the files (the PNGs are lossless); the ONNX model agrees with PyTorch
    in_memory = model.predict([*images[:2], Image.fromarray(images[2]), *images[3:]], topk=2)
    pd.testing.assert_frame_equal(in_memory.drop(columns="path"), from_files.drop(columns="path"))
    assert in_memory["path"].isna().all() and from_files["path"].tolist() == [str(tmp_path / f"{i}.png")
                                                                             for i in range(5)]
    onnx = model.predict(list(images), topk=2, backend="onnx")
    np.testing.assert_allclose(onnx["prob_1"], in_memory["prob_1"], atol=1e-4)
