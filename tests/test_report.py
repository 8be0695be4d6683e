"""report.html from an experiment folder: every section, numbers equal to the CSV files, text from the data
escaped, bounded size, and a real headless Chromium that loads every image without an error.

The folder here is written by `benchmarks.synthetic_experiment` (a grid search's files without training: fast),
with one configuration failed and one interrupted as such trials leave their files; the reports of real
searches are checked beside those searches (test_search, test_faults, test_final, test_repeated_search)."""
from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from headless_chromium import find_chromium, open_page, screenshot_path
from PIL import Image

from tune_clothes import report
from tune_clothes.analysis.leaderboard import config_labels
from tune_clothes.analysis.report.board import TOP_ROWS
from tune_clothes.analysis.report.errors import GALLERY_SIZE
from tune_clothes.analysis.report.gallery import THUMBNAIL_SIDE
from tune_clothes.analysis.report.inputs import read_inputs
from tune_clothes.analysis.report.oof import out_of_fold
from tune_clothes.analysis.report.page import write_report
from tune_clothes.analysis.summary import write_summary
from tune_clothes.benchmarks.synthetic_experiment import SyntheticData, write_synthetic_experiment
from tune_clothes.cli import run_command
from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.data.experiment_folder import CV_RESULTS_CSV, LEADERBOARD_CSV

SECTIONS = ("searched", "leaderboard", "spread", "compute", "curves", "effects", "errors", "adaptive", "final")
#: Class names that would break HTML, a CSV, or matplotlib's TeX parser if they were not escaped.
CLASSES = {"Pants": 16, "<script>alert(1)</script>": 12, 'T-Shirt & "Polo"': 14, "$\\frac{$": 10}
ERROR = "RuntimeError: <img src=x onerror=alert(1)> broke the trial"


class ReportPage(HTMLParser):
    """What a program reads in report.html: sections (does it apply?), tables (cells with their exact value
    and CSV column), images, and the text."""

    def __init__(self, html: str):
        super().__init__()
        self.sections: dict[str, bool] = {}
        self.tables: dict[str, list[list[dict]]] = {}
        self.images: list[dict[str, str]] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: dict | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections[attrs["id"]] = attrs["data-applies"] == "yes"
        elif tag == "table":
            self._table = attrs.get("data-table", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td" and self._table is not None:
            self._cell = {"column": attrs.get("data-column"), "value": attrs.get("data-value"), "text": ""}
            self.tables[self._table][-1].append(self._cell)
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "td":
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data

    def rows(self, table: str) -> list[dict[str, dict]]:
        """The table's body rows as column -> cell (cells without a CSV column left out)."""
        return [{cell["column"]: cell for cell in row if cell["column"]} for row in self.tables[table] if row]


def read_page(location: str | Path) -> tuple[str, ReportPage]:
    html = (Path(location) / "report.html").read_text(encoding="utf-8")
    return html, ReportPage(html)


def assert_numbers_equal_the_csv_files(location: str | Path, page: ReportPage, metric: str = M.VAL_ACC) -> None:
    """The page's leaderboard and fold scores hold exactly the numbers of leaderboard.csv and cv_results.csv."""
    board = pd.read_csv(Path(location) / LEADERBOARD_CSV).set_index("config")
    rows = page.rows("leaderboard")
    assert len(rows) == min(len(board), TOP_ROWS) > 0
    assert [row["config"]["text"] for row in rows] == list(board.index[:len(rows)])
    for row in rows:
        expected = board.loc[row["config"]["text"]]
        for column, cell in row.items():
            if column in ("config", "comparison", "status", "tied_with_best"):
                continue
            if pd.isna(expected[column]):
                assert cell["value"] is None and cell["text"] == "-", column
            else:
                assert float(cell["value"]) == expected[column], column
                digits = 0 if column == "rank" else 3 if column.startswith(("p_", "prob_")) else 4
                # a configuration ASHA stopped: its fold mean where it stopped, and that epoch
                at = f" at epoch {int(expected['stopped_epoch'])}" if column == "stopped_mean" else ""
                assert cell["text"] == f"{expected[column]:.{digits}f}{at}", column
        assert row["status"]["text"] == expected["status"]
        assert (row["tied_with_best"]["value"] == "True") == bool(expected["tied_with_best"])
    cv = pd.read_csv(Path(location) / CV_RESULTS_CSV)
    axes = [column.removeprefix("param_") for column in cv.columns if column.startswith("param_")]
    cv.index = config_labels(cv.rename(columns={f"param_{a}": a for a in axes}), axes)
    fold_rows = page.rows("fold_scores")
    assert fold_rows and any(column.startswith("split") for column in fold_rows[0])
    for row in fold_rows:
        expected = cv.loc[row["config"]["text"]]
        for column, cell in row.items():
            if column == "config":
                continue
            if pd.isna(expected[column]):
                assert cell["value"] is None and cell["text"] == "-", column
            else:
                assert float(cell["value"]) == expected[column], column


@pytest.fixture(scope="module")
def synthetic_report(tmp_path_factory):
    """A 2 x 2 grid on 3 folds, written without training; lr=0.01, batch_size=16 failed on fold 0 (its
    error.txt names an <img> tag) and lr=0.001, batch_size=16 was interrupted on fold 1."""
    root = tmp_path_factory.mktemp("synthetic")
    experiment = experiment_from_dict({
        "name": "synthetic", "storage": str(root / "results"),
        "dataset": {"kind": "clothing", "root": str(root / "data"), "cache_dir": str(root / "cache")},
        "model": {"name": "fashion_cnn"}, "train": {"epochs": 4, "image_size": 16}, "cv": {"folds": 3},
        "search": {"grid": {"lr": [0.01, 0.001], "batch_size": [8, 16]}}})
    location = Path(write_synthetic_experiment(experiment, SyntheticData(class_counts=CLASSES)))
    for trial in location.iterdir():
        params = json.loads((trial / "params.json").read_text()) if (trial / "params.json").is_file() else {}
        if params.get("batch_size") == 16 and params[record.FOLD_PARAM] == {0.01: 0, 0.001: 1}[params["lr"]]:
            lines = (trial / "result.json").read_text().splitlines()
            (trial / "result.json").write_text(lines[0] + "\n")  # it got one epoch in, then crashed or stopped
            if params["lr"] == 0.01:  # Tune's error.txt: every attempt failed (the first and its retries)
                attempt = "Failure # {n} (occurred at 2026-12-04_10-00-00)\nTraceback (most recent call last):\n  ...\n"
                (trial / "error.txt").write_text("".join(attempt.format(n=n) + f"{ERROR}\n" for n in range(
                    1, experiment.search.max_failures + 2)))
    write_summary(str(location))
    write_report(str(location))
    return location, *read_page(location)


def test_every_section_is_there_and_one_that_does_not_apply_says_why(synthetic_report):
    _, html, page = synthetic_report
    assert list(page.sections) == list(SECTIONS)
    assert {name for name, applies in page.sections.items() if not applies} == {"adaptive", "final", "compute"}
    assert "A grid search runs every configuration to the end" in html
    assert "This search recorded no network costs" in html  # its folder has no costs.json
    assert "No final model yet: python -m tune_clothes.final" in html
    assert "10 of 12 trials finished: the search is still running or was interrupted" in html


def test_the_numbers_are_those_of_leaderboard_csv_and_cv_results_csv(synthetic_report):
    location, _, page = synthetic_report
    assert_numbers_equal_the_csv_files(location, page)
    unfinished = {row["config"]["text"]: row for row in page.rows("unfinished")}
    assert unfinished["lr=0.01, batch_size=16"]["status"]["text"] == "failed"
    assert unfinished["lr=0.01, batch_size=16"]["error"]["text"] == ERROR
    assert unfinished["lr=0.001, batch_size=16"]["status"]["text"] == "incomplete"


def test_text_from_the_data_is_escaped_wherever_it_lands(synthetic_report):
    _, html, page = synthetic_report
    assert "<script" not in html and "<img src=x" not in html  # neither the class name nor the error ran
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "T-Shirt &amp; &#34;Polo&#34;" in html
    text = "".join(page.text)
    assert "<script>alert(1)</script>" in text and 'T-Shirt & "Polo"' in text and "$\\frac{$" in text
    per_class = [row[0]["text"] for row in page.tables["per_class"] if row]
    assert sorted(per_class) == sorted(CLASSES)  # a TeX-breaking class name was drawn, not parsed


def test_the_page_is_small_and_its_gallery_bounded(synthetic_report):
    _, html, page = synthetic_report
    assert len(html.encode()) < 10_000_000
    assert all(image["src"].startswith("data:image/") for image in page.images)  # nothing to fetch
    thumbnails = [image for image in page.images if image["alt"].startswith("true: ")]
    assert 0 < len(thumbnails) <= GALLERY_SIZE
    for image in thumbnails:
        pixels = Image.open(io.BytesIO(base64.b64decode(image["src"].split(",", 1)[1])))
        assert max(pixels.size) <= THUMBNAIL_SIDE
        true, predicted = re.match(r"true: (.*), predicted: (.*?)(?: \(\d+%\))?, img\d+$", image["alt"]).groups()
        assert true in CLASSES and predicted in CLASSES and true != predicted  # a mistake, both named


def test_out_of_fold_accuracy_of_each_fold_is_the_one_its_trial_reported(synthetic_report):
    location, _, page = synthetic_report
    assert check_out_of_fold(location) == 2  # the failed and the interrupted configuration are not complete
    rows = page.rows("fold_accuracy")
    assert len(rows) == 3
    for row in rows:
        assert row["predictions"]["value"] == row["val/acc"]["value"]
    assert "Each pool image is predicted exactly once in each of the 1 repeat(s)" in "".join(page.text)


def test_a_real_browser_loads_every_image_without_an_error(synthetic_report):
    if find_chromium() is None:
        pytest.skip("no Chromium on this machine: .ci/run installs Debian's chromium (apt-get install chromium)")
    location, _, page = synthetic_report
    check = open_page((location / "report.html").as_uri())
    screenshot_path("report_synthetic.png").write_bytes(check.screenshot)
    assert check.errors == []
    assert len(check.images) == len(page.images) > 10
    assert [alt for alt, complete, width, height in check.images if not (complete and width > 0 and height > 0)] == []
    assert Image.open(io.BytesIO(check.screenshot)).size[1] > 2000  # the whole page, not one screen


def test_the_report_command_prints_the_leaderboard_and_where_the_page_is(synthetic_report, capsys, tmp_path):
    location, _, _ = synthetic_report
    assert run_command(report.main, [str(location)]) == 0
    shown = capsys.readouterr().out
    assert "lr=0.001, batch_size=8" in shown and f"report: {location / 'report.html'}" in shown
    assert run_command(report.main, [str(tmp_path)]) == 2
    assert "no experiment.yaml here" in capsys.readouterr().err



def check_out_of_fold(location: str | Path) -> int:
    """For every configuration that finished every fold: each fold's saved predictions are of exactly its
    validation images, their accuracy is the val/acc its trial reported last, and with K-fold the folds of a
    repeat predict every pool image exactly once. Returns the configurations checked."""
    inputs = read_inputs(str(location))
    complete = inputs.board[inputs.board["status"] == "complete"]["config"]
    for config in complete:
        oof = out_of_fold(inputs, config)
        assert sorted(oof.folds) == list(range(inputs.plan.total_folds)) and not oof.missing
        trials = inputs.trials[inputs.trials["config"] == config].set_index("fold_index")
        for j, predictions in oof.folds.items():
            scheme, trial = trials.at[j, "scheme"], trials.at[j, "trial"]
            assert np.array_equal(np.sort(predictions.positions), inputs.plan.validation[scheme][j])
            last = json.loads((Path(location) / trial / "result.json").read_text().splitlines()[-1])
            reported = last[M.VAL_ACC] if record.FOLD_PARAM in last else last[f"folds/{j}/{M.VAL_ACC}"]
            assert predictions.accuracy() == pytest.approx(reported, abs=1e-12)
            assert predictions.epochs_done == last[record.EPOCHS_DONE]
        if trials["scheme"].iloc[0] == "kfold":
            for repeat in range(inputs.plan.repeats):
                assert np.array_equal(np.sort(oof.pooled(repeat).positions), inputs.plan.pool)
    return len(complete)


def test_predictions_being_written_or_missing_are_named_not_fatal(synthetic_report, tmp_path):
    """As a running search or an older tune_clothes leaves them: the latest predictions of one fold cut short
    (being copied), another fold's missing; the report draws what there is and says which folds it lacks."""
    import shutil
    location = tmp_path / "copy"
    shutil.copytree(synthetic_report[0], location)
    board = pd.read_csv(location / LEADERBOARD_CSV)
    best = board[board["is_best"]].iloc[0]
    for trial in location.iterdir():
        params = json.loads((trial / "params.json").read_text()) if (trial / "params.json").is_file() else {}
        if params and (params["lr"], params["batch_size"]) == (best["lr"], best["batch_size"]):
            files = sorted(trial.glob("checkpoint_*/*_val_predictions.npz"))
            if params[record.FOLD_PARAM] == 0:
                files[-1].write_bytes(files[-1].read_bytes()[:200])
            elif params[record.FOLD_PARAM] == 1:
                for file in files:
                    file.unlink()
    write_report(str(location))
    _, page = read_page(location)
    assert page.sections["errors"] and len(page.rows("fold_accuracy")) == 1
    text = " ".join(" ".join(page.text).split())
    assert "Fold 0: no checkpoint of its last epoch (4) holds predictions; found: unreadable" in text
    assert "Fold 1: no validation predictions in its checkpoints" in text
