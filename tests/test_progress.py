"""The compact progress line, fed a fake stream of trial results as Tune's callbacks would (no Ray running):
epochs done of planned, the best fold mean with running trials' latest epochs marked provisional, the time
left from the first finished epoch, failures and retries, an interrupted search's true counts, cluster use."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tune_clothes.config import metric_names as M
from tune_clothes.config import trial_record as record
from tune_clothes.tuning.progress import ClusterUsage, CompactProgress, PlannedSearch, cluster_usage_from

EPOCHS = 4


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def trial(trial_id: str, lr: float, fold: int, status: str = "PENDING") -> SimpleNamespace:
    # a pending trial's last_result is not empty in Tune: it already holds the trial id and config
    return SimpleNamespace(trial_id=trial_id, config={"lr": lr, record.FOLD_PARAM: fold}, status=status,
                           last_result={"trial_id": trial_id}, error_msg=None,
                           placement_group_factory=SimpleNamespace(required_resources={"CPU": 1, "GPU": 0.5}))


def start(progress: CompactProgress, trials: list[SimpleNamespace], count: int) -> None:
    """Tune starts the first `count` trials."""
    for t in trials[:count]:
        progress.on_trial_start(0, trials, t)


def report(progress: CompactProgress, t: SimpleNamespace, epoch: int, val_acc: float, node: str = "n1") -> None:
    t.status = "RUNNING"
    t.last_result = {record.EPOCHS_DONE: epoch, record.EPOCHS_TOTAL: EPOCHS, M.VAL_ACC: val_acc, record.NODE_ID: node}
    progress.on_trial_result(0, [], t, t.last_result)


def run_to_the_end(progress: CompactProgress, t: SimpleNamespace, val_acc: float) -> None:
    """Every epoch of `t` at `val_acc`, then Tune's completion."""
    for epoch in range(1, EPOCHS + 1):
        report(progress, t, epoch, val_acc)
    t.status = "TERMINATED"
    progress.on_trial_complete(0, [], t)


@pytest.fixture
def search():
    clock = Clock()
    plan = PlannedSearch(M.VAL_ACC, "max", trials=6, epochs_per_trial=EPOCHS, folds_per_configuration=3)
    progress = CompactProgress(plan, clock=clock)
    trials = [trial(f"t{i}", lr, fold) for i, (fold, lr) in enumerate((f, lr) for f in range(3)
                                                                        for lr in (0.01, 0.001))]
    return progress, clock, trials


def test_before_any_epoch_the_line_has_the_plan_and_no_estimate(search):
    progress, clock, trials = search
    assert progress.line([], clock()) == ("epochs 0/24, trials 0/6 done, 0 running, 6 pending, 0 failed, 0 retried"
                                          " | best val/acc - | 0m00s elapsed, -")
    assert progress.line(trials, clock()).startswith("epochs 0/24, trials 0/6 done, 0 running, 6 pending")


def test_the_first_epoch_gives_the_time_left_and_a_provisional_best(search):
    progress, clock, trials = search
    clock.now = 10.0
    start(progress, trials, 2)
    clock.now = 20.0
    report(progress, trials[0], 1, 0.50)
    report(progress, trials[1], 1, 0.60)
    line = progress.line(trials, clock())
    assert "epochs 2/24, trials 0/6 done, 2 running, 4 pending" in line
    assert "best val/acc 0.6000 provisional (lr=0.001, 1/3 folds)" in line
    # 2 epochs in the 10 s since the first trial started: the 22 left take 110 s
    assert line.endswith("0m20s elapsed, ~1m50s left")


def test_a_finished_trial_beats_a_running_one_and_is_not_provisional(search):
    progress, clock, trials = search
    start(progress, trials, 2)
    run_to_the_end(progress, trials[0], 0.70)
    report(progress, trials[1], 3, 0.65)
    line = progress.line(trials, clock())
    assert "epochs 7/24, trials 1/6 done, 1 running, 4 pending" in line
    assert "best val/acc 0.7000 (lr=0.01, 1/3 folds)" in line
    report(progress, trials[2], 2, 0.20)  # lr=0.01 on fold 1: its mean drops to 0.45, provisional
    assert "best val/acc 0.6500 provisional (lr=0.001, 1/3 folds)" in progress.line(trials, clock())


def test_failures_and_retries_are_counted_and_a_failed_trial_plans_no_more_epochs(search):
    progress, clock, trials = search
    start(progress, trials, 1)
    report(progress, trials[0], 1, 0.5)
    trials[0].error_msg = "Traceback ...\nRuntimeError: injected crash"
    progress.on_trial_recover(0, trials, trials[0])
    report(progress, trials[0], 2, 0.5)
    trials[0].status = "ERROR"
    progress.on_trial_error(0, trials, trials[0])
    line = progress.line(trials, clock())
    assert "epochs 2/22, trials 0/6 done, 0 running, 5 pending, 1 failed, 1 retried" in line
    assert "best val/acc -" in line  # a failed trial's value does not count


def test_an_interrupted_search_tells_stopped_trials_from_not_started_ones(search):
    progress, clock, trials = search
    start(progress, trials, 3)
    run_to_the_end(progress, trials[0], 0.7)
    report(progress, trials[1], 2, 0.6)
    report(progress, trials[2], 1, 0.5)
    for t in trials:  # what Tune's cleanup leaves after an interruption
        t.status = "TERMINATED"
    line = progress.line(trials, clock())
    assert "epochs 7/24, trials 1/6 done, 0 running, 2 interrupted, 3 not started, 0 failed" in line
    assert line.endswith(" elapsed, -")  # no time left for a search that was stopped


def test_a_trial_stopped_early_by_the_scheduler_counts_as_done(search):
    progress, clock, trials = search
    start(progress, trials, 1)
    report(progress, trials[0], 1, 0.4)
    trials[0].status = "TERMINATED"
    progress.on_trial_complete(0, trials, trials[0])  # ASHA stopped it after one epoch
    assert progress.line(trials, clock()).startswith("epochs 1/21, trials 1/6 done, 0 running, 5 pending")


def test_on_a_cluster_the_line_says_how_many_nodes_and_gpus_are_busy(search):
    progress, clock, trials = search
    report(progress, trials[0], 1, 0.5, node="n1")
    report(progress, trials[1], 1, 0.5, node="n1")
    report(progress, trials[2], 1, 0.5, node="n2")
    nodes = [{"Alive": True, "Resources": {"CPU": 4, "GPU": 2}} for _ in range(3)] + [{"Alive": False}]
    assert cluster_usage_from(nodes, trials) == ClusterUsage(nodes_busy=2, nodes=3, gpus_busy=1.5, gpus=6)
    progress.cluster_usage = lambda running: cluster_usage_from(nodes, running)
    assert " | 2/3 nodes, 1.5/6 GPUs busy | " in progress.line(trials, clock())
    assert cluster_usage_from(nodes[:1], trials) is None  # one machine: nothing to add
    cpu_nodes = [{"Alive": True, "Resources": {"CPU": 4}} for _ in range(2)]
    progress.cluster_usage = lambda running: cluster_usage_from(cpu_nodes, running)
    assert " | 2/2 nodes busy | " in progress.line(trials, clock())



class SharedClock:
    """A clock whose pickled copies read the same time, as time.monotonic does in every process."""
    now = 0.0

    def __call__(self) -> float:
        return SharedClock.now


def test_a_resumed_search_counts_its_time_from_its_own_start():
    """Tune pickles the callbacks (with cloudpickle) when the search is set up, and `--resume` gets them back."""
    from ray import cloudpickle
    SharedClock.now = 50.0
    plan = PlannedSearch(M.VAL_ACC, "max", trials=6, epochs_per_trial=EPOCHS, folds_per_configuration=3)
    saved = cloudpickle.dumps(CompactProgress(plan, clock=SharedClock()))
    SharedClock.now = 3650.0  # resumed an hour later
    resumed = cloudpickle.loads(saved)
    trials = [trial(f"t{i}", 0.01, i) for i in range(6)]
    assert resumed.line(trials, SharedClock.now).endswith("| 0m00s elapsed, -")
    SharedClock.now += 30
    resumed.on_trial_start(0, trials, trials[0])
    SharedClock.now += 10
    report(resumed, trials[0], 1, 0.5)
    assert resumed.line(trials, SharedClock.now).endswith("| 0m40s elapsed, ~3m50s left")  # 1 epoch in 10 s
