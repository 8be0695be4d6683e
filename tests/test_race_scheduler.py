"""The race's Tune scheduler without a search: a resumed race reads what it knew from the experiment folder, and an
elimination after the resume names the configuration it lost to, even one that reported before the resume."""
from __future__ import annotations

import json
from types import SimpleNamespace

from tune_clothes.config import trial_record as record
from tune_clothes.config.loader import experiment_with_overrides
from tune_clothes.tuning.race import RaceScheduler

METRIC, EPOCHS = "val/acc", 4
GOOD, HOPELESS = [0.80, 0.82, 0.78], [0.10, 0.10, 0.10]


def report(trial_id: str, config: dict, epoch: int, scores: list[float]) -> dict:
    return {"trial_id": trial_id, "config": config, record.EPOCHS_DONE: epoch, record.EPOCHS_TOTAL: EPOCHS,
            METRIC: sum(scores) / len(scores), **{record.fold_key(j, METRIC): v for j, v in enumerate(scores)}}


def test_an_elimination_after_a_resume_names_the_configuration_that_reported_before_it(tmp_path):
    before = tmp_path / "lr=0.001_trial1"
    before.mkdir()
    (before / "result.json").write_text(json.dumps(report("t1", {"lr": 0.001}, 1, GOOD)) + "\n")
    experiment = experiment_with_overrides({"search": {"metric": METRIC, "algorithm": "grid", "scheduler": "race"},
                                            "train": {"epochs": EPOCHS}}, [], "test")
    race = RaceScheduler(experiment, dict.fromkeys(range(3), 0.5), EPOCHS, str(tmp_path))
    after = SimpleNamespace(trial_id="t2", config={"lr": 0.3}, relative_logdir="lr=0.3_trial2")
    (tmp_path / after.relative_logdir).mkdir()
    assert race.on_trial_result(None, after, report("t2", {"lr": 0.3}, 1, HOPELESS)) == "STOP"
    ended = record.read_ended_early((tmp_path / after.relative_logdir / record.ENDED_FILE).read_text())
    assert ended["status"] is record.TrialStatus.ELIMINATED and ended["eliminated_at"] == 1
    assert ended["lost_to"] == {"lr": 0.001}
