"""One way to run trials on Ray Tune, for the search and the final refit alike: the same checks before and
once Ray is up, the same quiet output, the same TensorBoard runs in the project's terms, the same retries,
checkpoints and resume, and the same clean stop on Ctrl-C or SIGTERM. What differs between the two (which
trials, in which order, which scheduler, which progress line) is a `TunerSpec`."""
from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable

from ray import tune

from tune_clothes.config import Experiment
from tune_clothes.training.networks import check_network
from tune_clothes.training.weights import fetch_pretrained_weights
from tune_clothes.tuning.cluster_checks import check_shared_storage, check_trials_fit, cluster_nodes, this_machine
from tune_clothes.tuning.endings import RecordEarlyEndings
from tune_clothes.tuning.retries import NoRetryOfRepeatedFailures
from tune_clothes.tuning.session import RayTarget, cluster_address, ray_session
from tune_clothes.tuning.stop import stop_on_signals
from tune_clothes.tuning.tensorboard import ProjectTensorBoard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    """Where and how the trials run."""
    address: str | None = None  # a running Ray cluster; None: RAY_ADDRESS, else a new local Ray
    num_cpus: int | None = None  # of a new local Ray (None: all)
    verbose: bool = False  # Ray's own status table and worker logs
    wait_for_nodes: bool = False  # an autoscaler will add nodes with the CPUs and GPUs trials ask for

    def target(self) -> RayTarget:
        return RayTarget(cluster_address(self.address), self.num_cpus, self.verbose)


@dataclass(frozen=True)
class TunerSpec:
    """What a Tuner runs, each part named for what it is."""
    experiment: Experiment  # resources per trial, retries, the metric
    trainable: Callable  # the trial function with its shared inputs bound (`tune.with_parameters`)
    location: str  # Tune's experiment folder: its state and one folder per trial
    progress: tune.Callback  # what the user reads while it runs
    trial_folder: Callable[[Any], str]  # trial -> its folder's name, which is TensorBoard's run name
    searcher: Any = None  # Tune's search algorithm: which trials, in which order (None: `trials` of param_space)
    scheduler: Any = None  # stops trials early (None: every trial runs to its end)
    trials: int = 1  # Tune's num_samples
    param_space: dict[str, Any] = field(default_factory=dict)
    keep_best_checkpoint: bool = True  # the best epoch's checkpoint by the metric besides the latest (else latest)
    reports_the_metric: bool = True  # the trials report `search.metric` (a rehearsal does not)


def check_before_ray(experiment: Experiment, options: RayOptions) -> None:
    """What is refused before Ray starts: a network that does not exist or cannot take the image size, trials
    too big for this machine (for a local Ray), and pretrained weights that cannot be fetched (once, here, not
    in every trial)."""
    networks = experiment.axis_values("name")
    for network, size in itertools.product(networks, experiment.axis_values("image_size")):
        check_network(network, size)
    if options.target().address is None:
        check_trials_fit(experiment, [this_machine(experiment, options.num_cpus)], "this machine",
                         options.wait_for_nodes)
    for network, pretrained in itertools.product(networks, experiment.axis_values("pretrained")):
        if network != "fashion_cnn":  # it has none; the config refuses pretrained weights for it
            fetch_pretrained_weights(network, pretrained)


def check_on_ray(experiment: Experiment, options: RayOptions, storage_root: str) -> None:
    """What is checked once Ray is up: trials too big for any node of a cluster, and a results storage every
    node can see."""
    if options.target().address is not None:
        check_trials_fit(experiment, cluster_nodes(), "the Ray cluster", options.wait_for_nodes)
    check_shared_storage(storage_root)


def fit_on_ray(spec: TunerSpec, options: RayOptions, resume: bool, storage_root: str,
               before_fit: Callable[[], None] = lambda: None) -> tuple[tune.ResultGrid | None, int | None]:
    """Start (or attach to) Ray, check what only a running Ray can tell, call `before_fit`, then run the trials
    (or resume them) until they end or SIGINT/SIGTERM stops them. Returns Tune's results and the signal that
    stopped the run (None when it ran to its end)."""
    quiet_tune(options.verbose)
    with ray_session(options.target(), spec.location), stop_on_signals() as stop:
        check_on_ray(spec.experiment, options, storage_root)
        before_fit()
        results = build_tuner(spec, resume, options.verbose).fit()
    return results, stop.signum


def build_tuner(spec: TunerSpec, resume: bool, verbose: bool) -> tune.Tuner:
    resources = spec.experiment.resources
    trainable = tune.with_resources(spec.trainable, {"cpu": resources.cpus_per_trial,
                                                      "gpu": resources.gpus_per_trial})
    if resume and tune.Tuner.can_restore(spec.location):  # not when killed before Tune saved anything
        log.info("resuming %s: finished trials are kept, the others continue from their last checkpoint",
                 spec.location)
        return tune.Tuner.restore(spec.location, trainable=trainable, resume_unfinished=True, resume_errored=True,
                                  param_space=spec.param_space)
    search = spec.experiment.search
    return tune.Tuner(
        trainable, param_space=spec.param_space,
        tune_config=tune.TuneConfig(metric=search.metric if spec.reports_the_metric else None,
                                    mode=search.mode if spec.reports_the_metric else None, search_alg=spec.searcher,
                                    scheduler=spec.scheduler, num_samples=spec.trials,
                                    max_concurrent_trials=resources.max_concurrent_trials,
                                    trial_dirname_creator=spec.trial_folder,
                                    reuse_actors=True),  # no process per trial
        run_config=_run_config(spec, verbose))


def _run_config(spec: TunerSpec, verbose: bool) -> tune.RunConfig:
    search = spec.experiment.search
    keep = (tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute=search.metric,
                                  checkpoint_score_order=search.mode)  # the best by the metric; Ray keeps the latest
            if spec.keep_best_checkpoint and spec.reports_the_metric else tune.CheckpointConfig(num_to_keep=1))
    return tune.RunConfig(
        name=os.path.basename(spec.location), storage_path=os.path.dirname(spec.location), checkpoint_config=keep,
        failure_config=tune.FailureConfig(max_failures=search.max_failures),
        # ProjectTensorBoard replaces Ray's TensorBoard logger
        callbacks=[spec.progress, ProjectTensorBoard(spec.experiment), RecordEarlyEndings(spec.location),
                   NoRetryOfRepeatedFailures(spec.location, search.max_failures)],
        verbose=2 if verbose else 0)


class _DropReplacedMessages(logging.Filter):
    """Tune's messages that this package says better itself: its stop notice and resume hint (ours name the
    command), the trials it lists as not completed, and the metrics it cannot read for trials not started."""
    REPLACED = ("Stop signal received", "Experiment has been interrupted", "Trials did not complete",
                "Failed to fetch metrics")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.REPLACED)


def quiet_tune(verbose: bool) -> None:
    """Set before Tune runs (they hold for a resumed run too, which restores Tune's own RunConfig)."""
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # SIGINT is ours: see stop.py
    # Tune warns whenever it snapshots the experiment state often, which one checkpoint per epoch makes it do
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not verbose:
        # Tune's newer console output prints a banner (and a wrong TensorBoard path) even at verbose=0
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        for name in ("ray.tune.tune", "ray.tune.analysis.experiment_analysis"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _DropReplacedMessages) for f in logger.filters):
                logger.addFilter(_DropReplacedMessages())
