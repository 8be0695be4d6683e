"""A trial's status from the files on disk: one ASHA stopped (Tune ended it before its last epoch) is `stopped`,
one the search was interrupted in (Tune had it running) stays `incomplete`; no Ray needed."""
from __future__ import annotations

import json
from pathlib import Path

from conftest import tiny_space

from tune_clothes.analysis.results import load_trials
from tune_clothes.config import metric_names as M
from tune_clothes.config.loader import experiment_from_dict


def write_trial(location: Path, name: str, lr: float, epochs_done: int, epochs: int = 3) -> None:
    (location / name).mkdir(parents=True)
    (location / name / "params.json").write_text(json.dumps({"lr": lr, M.FOLD: 0}))
    lines = [{M.VAL_ACC: 0.1 * e, M.EPOCHS_DONE: e, M.EPOCHS_TOTAL: epochs} for e in range(1, epochs_done + 1)]
    (location / name / "result.json").write_text("\n".join(map(json.dumps, lines)))


def write_state(location: Path, file_name: str, statuses: dict[str, str]) -> None:
    trial_data = [[json.dumps({"relative_logdir": name, "status": status}), "{}"] for name, status in statuses.items()]
    (location / file_name).write_text(json.dumps({"trial_data": trial_data}))


def test_stopped_is_what_tune_ended_early_and_interrupted_stays_incomplete(tmp_path):
    experiment = experiment_from_dict(tiny_space(tmp_path, "status", lrs=(0.1, 0.2, 0.3)))
    for name, lr, done in (("a", 0.1, 1), ("b", 0.2, 1), ("c", 0.3, 3)):
        write_trial(tmp_path, name, lr, done)
    write_state(tmp_path, "experiment_state-2026-01-01_00-00-00.json", {"a": "RUNNING", "b": "RUNNING", "c": "RUNNING"})
    write_state(tmp_path, "experiment_state-2026-01-02_00-00-00.json", {"a": "TERMINATED", "b": "RUNNING",
                                                                        "c": "TERMINATED"})  # the newest
    trials = load_trials(str(tmp_path), experiment)
    trials = trials[trials["status"] != "not started"].set_index("trial")  # folds 1 and 2 never ran
    assert trials["status"].to_dict() == {"a": "stopped", "b": "incomplete", "c": "finished"}
    assert trials.loc["a", "epochs_done"] == 1 and trials.loc["a", M.VAL_ACC] == 0.1
    (tmp_path / "experiment_state-2026-01-02_00-00-00.json").write_text("{cut short")  # unreadable: no guess
    assert set(load_trials(str(tmp_path), experiment)["status"]) == {"incomplete", "finished", "not started"}
