"""Live searches with a scheduler over a grid: `scheduler: race` eliminates a hopeless learning rate (status, the
configuration it lost to, the cost line, the report's race rows) and a resumed raced search keeps its
eliminations without training them again; a grid with ASHA runs one lock-step trial per configuration."""
from __future__ import annotations

import importlib
import json
import signal
import threading
from pathlib import Path

import pytest
from conftest import search_and_summarize, tiny_space, trial_dirs
from ray_nodes import wait_for
from test_fashion_mnist import write_idx_split
from test_final import striped_images

from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import experiment_from_dict
from tune_clothes.tuning.faults import ENV_VAR
from tune_clothes.tuning.runner import SearchOptions
from tune_clothes.tuning.stop import SearchInterrupted

pytestmark = pytest.mark.slow
HOPELESS, GOOD = 5.0, 0.003  # Adam at lr=5 learns nothing: about chance accuracy on every fold


def raced_space(root: Path, name: str) -> dict:
    """Fashion-MNIST-shaped striped images a tiny CNN learns in an epoch or two (`test_final`), 3 folds."""
    write_idx_split(root / "idx", "train", *striped_images(200, 0))
    return tiny_space(root, name, lrs=(HOPELESS, GOOD), dataset={"kind": "fashion_mnist", "root": str(root / "idx")},
                      train={"epochs": 4}, cv={"folds": 3},
                      search={"scheduler": "race", "race_alpha": 0.3, "grace_period": 1})


@pytest.fixture(scope="module")
def raced(ray_local, tmp_path_factory):
    """The race, interrupted (SIGINT) once the hopeless rate is eliminated while the good one is held in its
    third epoch, then resumed."""
    root = tmp_path_factory.mktemp("race")
    experiment = experiment_from_dict(raced_space(root, "raced"))
    location = Path(experiment.storage) / experiment.name
    hold = {"kind": "hold", "epoch": 2, "axes": {"lr": GOOD}, "release_file": str(root / "release")}

    def interrupt_after_the_elimination() -> None:
        wait_for(lambda: list(location.glob(f"lr={HOPELESS:g}*/{record.ENDED_FILE}")), 240, "the elimination")
        signal.raise_signal(signal.SIGINT)  # as Ctrl-C: the search saves its state and stops
    watcher = threading.Thread(target=interrupt_after_the_elimination, daemon=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VAR, json.dumps([hold]))
        watcher.start()
        with pytest.raises(SearchInterrupted):
            search_and_summarize(experiment)
    before = {t.name: (t / "result.json").read_text() for t in trial_dirs(location)}
    (root / "release").touch()
    return before, search_and_summarize(experiment, SearchOptions(resume=True))


def test_the_hopeless_rate_is_eliminated_and_says_what_it_lost_to(raced):
    _, summary = raced
    board = summary.leaderboard.set_index("lr")
    assert board.loc[GOOD, "status"] == "complete" and bool(board.loc[GOOD, "is_best"])
    hopeless = board.loc[HOPELESS]
    assert hopeless["status"] == "eliminated" and hopeless["eliminated_at"] <= hopeless["stopped_epoch"] < 4
    assert hopeless["lost_to"] == f"lr={GOOD:g}" and hopeless["eliminated_p"] < 0.3 / 3
    assert f"worse than lr={GOOD:g}" in hopeless["note"] and "eliminated = the race stopped it" in summary.table
    trained = 3 * 4 + 3 * int(hopeless["stopped_epoch"])  # lock-step trials: each epoch trains the 3 folds
    assert summary.cost == f"trained {trained:,} of the 24 epochs a full grid would to the end ({trained / 24:.0%})"


def test_a_resumed_race_keeps_its_eliminations_and_does_not_train_them_again(raced):
    before, summary = raced
    location = Path(summary.location)
    (eliminated,) = [name for name in before if name.startswith(f"lr={HOPELESS:g}")]
    assert (location / eliminated / "result.json").read_text() == before[eliminated]
    assert len(trial_dirs(location)) == 2  # one lock-step trial per configuration, not one per fold
    ended = record.read_ended_early((location / eliminated / record.ENDED_FILE).read_text())
    assert ended["status"] is record.TrialStatus.ELIMINATED and ended["lost_to"] == {"lr": GOOD}


def test_the_report_shows_the_race(raced):
    from test_report import read_page

    from tune_clothes.analysis.report.page import write_report
    _, summary = raced
    write_report(summary.location)
    html, page = read_page(summary.location)
    assert page.sections["adaptive"] and "eliminated" in html
    rows = page.rows("race_rungs")
    assert sum(int(row["eliminated"]["value"]) for row in rows) == 1
    assert summary.cost in html


def test_a_grid_with_asha_trains_each_configuration_in_one_lockstep_trial(ray_local, tmp_path):
    space = tiny_space(tmp_path, "grid-asha", lrs=(HOPELESS, GOOD, 0.001), train={"epochs": 3}, cv={"folds": 2},
                       search={"scheduler": "asha", "grace_period": 1})
    summary = search_and_summarize(experiment_from_dict(space))
    trials = trial_dirs(Path(summary.location))
    assert len(trials) == 3 and all("_trial" in t.name for t in trials)
    params = [json.loads((t / "params.json").read_text()) for t in trials]
    assert all(record.FOLD_PARAM not in p for p in params) and sorted(p["lr"] for p in params) == [0.001, GOOD,
                                                                                                     HOPELESS]
    board = summary.leaderboard
    assert set(board["status"]) <= {"complete", "stopped"} and (board["status"] == "complete").any()
    assert (board["folds_expected"] == 2).all()


def test_final_refuses_an_eliminated_configuration_and_names_the_best_that_finished(raced, tmp_path, capsys):
    import yaml

    final = importlib.import_module("tune_clothes.final")  # the command
    from tune_clothes.cli import run_command
    _, summary = raced
    named = yaml.safe_load((Path(summary.location) / "best_config.yaml").read_text())
    named["train"]["lr"] = HOPELESS
    (tmp_path / "hopeless.yaml").write_text(yaml.safe_dump(named))
    assert run_command(final.main, [summary.location, "--config", str(tmp_path / "hopeless.yaml"),
                                    "--strategy", "ensemble", "--out", str(tmp_path / "model")]) == 2
    error = capsys.readouterr().err
    labels = summary.leaderboard.set_index("lr")["config"]
    assert f"configuration {labels[HOPELESS]} is eliminated" in error
    assert f"the best that did is {labels[GOOD]}" in error
