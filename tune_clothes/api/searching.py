"""`search` and `dry_run`: what the search command runs, from Python. Ray is imported only once the input is
checked, and a search started here stops on Ctrl-C (a notebook's "interrupt") as it does in a shell."""
from __future__ import annotations

import logging

from tune_clothes.analysis.summary import write_summary
from tune_clothes.analysis.tensorboard_curves import write_configuration_curves
from tune_clothes.api.experiments import ExperimentSource, Overrides, load_experiment
from tune_clothes.api.progress import progress_shown
from tune_clothes.api.results import SearchResults
from tune_clothes.config import Experiment
from tune_clothes.config.errors import UserError
from tune_clothes.data import storage as files  # not `storage`: search() takes an argument of that name
from tune_clothes.data.experiment_folder import EXPERIMENT_YAML

log = logging.getLogger(__name__)


def search(space: ExperimentSource, overrides: Overrides = None, *, name: str | None = None,
           storage: str | None = None, resume: bool = False, address: str | None = None,
           num_cpus: int | None = None, wait_for_nodes: bool = False, verbose: bool = False) -> SearchResults:
    """Run every configuration of `space` on every fold (as `python -m tune_clothes.search`), write its results
    (leaderboard.csv, cv_results.csv, trials.csv, best_config.yaml, report.html) and return them.

    `space`: a search-space YAML file, a dict, an `Experiment`, or an experiment folder (to resume it).
    `resume=True` continues the interrupted experiment at `<storage>/<name>`. `address`: a running Ray cluster
    (default: RAY_ADDRESS, else a local Ray of `num_cpus` CPUs, all by default). Progress is logged at INFO (shown
    on stderr when nothing configured logging). Ctrl-C stops the search cleanly and raises `SearchInterrupted`,
    whose `results` hold what finished (None when it stopped before starting); a second Ctrl-C ends the process
    (in a notebook: the kernel) at once."""
    experiment = load_experiment(space, overrides, name=name, storage=storage)
    return run_and_summarize(experiment, resume, ray_options(address, num_cpus, verbose, wait_for_nodes))[0]


def run_and_summarize(experiment: Experiment, resume: bool, ray) -> tuple[SearchResults, str | None]:
    """The search, then its files and report; returns the results and report.html (None when it could not be
    drawn, which is logged with the command that retries it)."""
    from tune_clothes.tuning.runner import SearchOptions, run_search  # imports Ray: after the input is checked
    from tune_clothes.tuning.stop import SearchInterrupted
    with progress_shown():
        try:
            location = run_search(experiment, SearchOptions(resume, ray))
        except SearchInterrupted as stopped:
            started = files.exists(files.join(stopped.location, EXPERIMENT_YAML))
            stopped.results = summarize(stopped.location)[0] if started else None
            stopped.add_note(f"what finished is kept in {stopped.location}: tune_clothes.load_results(...) reads it, "
                             f"tune_clothes.search(..., resume=True) continues it" if started else
                             "the search stopped before it started; nothing was saved")
            raise
        return summarize(location)


def summarize(location: str) -> tuple[SearchResults, str | None]:
    """Write the search's files, TensorBoard's per-configuration runs and report.html. The results are on disk
    before the report is drawn: a report or runs that cannot be written are logged, with the command that
    retries them, and change nothing else."""
    from tune_clothes.analysis.report.page import write_report_after  # matplotlib and Jinja2: only when needed
    results = SearchResults(write_summary(location))
    try:
        write_configuration_curves(location)
    except Exception:  # noqa: BLE001 - every result is already written: say what failed, how to retry
        log.exception("TensorBoard's cv_mean runs could not be written; the results are complete: retry with "
                      "python -m tune_clothes.report %s", location)
    return results, write_report_after(location, "the search's results")


def dry_run(space: ExperimentSource, overrides: Overrides = None, *, address: str | None = None,
            num_cpus: int | None = None, verbose: bool = False):
    """Rehearse every distinct trial of the search for a few steps on Ray, as the search would run it; returns a
    `DryRun`: `ok`, `rehearsed` (each distinct trial with its measurements or its error) and `estimate` (what
    the search will cost, `estimate.line()`; None when a rehearsal failed). Nothing is kept on disk."""
    experiment = load_experiment(space, overrides)
    from tune_clothes.tuning.dry_run import dry_run_search
    from tune_clothes.tuning.runner import SearchOptions
    with progress_shown():
        return dry_run_search(experiment, SearchOptions(False, ray_options(address, num_cpus, verbose, False)))


def ray_options(address: str | None, num_cpus: int | None, verbose: bool, wait_for_nodes: bool):
    """Where the trials run, checked (Ray's `RayOptions`)."""
    if num_cpus is not None and num_cpus < 1:
        raise UserError(f"num_cpus {num_cpus}: must be at least 1")
    from tune_clothes.tuning.tuner import RayOptions  # imports Ray
    return RayOptions(address, num_cpus, verbose, wait_for_nodes)
