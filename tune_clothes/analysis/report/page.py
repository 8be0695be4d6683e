"""`write_report`: report.html of an experiment, one self-contained page built from the files on disk.

The page has the nine sections of the report, each from its own module; a section that does not apply yet
(no final model, a grid search has no adaptive part) says so. It needs no network, no server and no
JavaScript: figures are PNG data URIs, the style is inline, and a Content-Security-Policy forbids anything
else. Every text is escaped by Jinja2's autoescaping.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import logging
import time

import jinja2
import pandas as pd

from tune_clothes.analysis.report.adaptive import adaptive_section
from tune_clothes.analysis.report.board import leaderboard_section, spread_section
from tune_clothes.analysis.report.compute import compute_section
from tune_clothes.analysis.report.curves import curves_section
from tune_clothes.analysis.report.effects import effects_section
from tune_clothes.analysis.report.errors import errors_section
from tune_clothes.analysis.report.inputs import ReportInputs, partial_note, read_inputs
from tune_clothes.analysis.report.model_section import model_section
from tune_clothes.analysis.report.searched import searched_section
from tune_clothes.config.trial_record import ENDED_EARLY, TrialStatus
from tune_clothes.data import storage
from tune_clothes.data.experiment_folder import REPORT_HTML

log = logging.getLogger(__name__)
SECTIONS = (searched_section, leaderboard_section, spread_section, compute_section, curves_section, effects_section,
            errors_section, adaptive_section, model_section)


def write_report(location: str) -> str:
    """Write `<location>/report.html` and return its location."""
    started = time.perf_counter()
    page = render_report(read_inputs(location))
    target = storage.join(location, REPORT_HTML)
    storage.write_text(target, page)
    log.info("wrote %s (%.1f MB) in %.1f s", target, len(page.encode()) / 1e6, time.perf_counter() - started)
    return target


def write_report_after(location: str, what: str) -> str | None:
    """`write_report` once `what` is on disk and printed: a report that cannot be drawn is logged with the
    command that retries it, and changes nothing else (None)."""
    try:
        return write_report(location)
    except Exception:  # noqa: BLE001 - everything else is written: say what failed and how to retry
        log.exception("report.html could not be written; %s is complete: retry with python -m tune_clothes.report "
                      "%s", what, location)
        return None


def render_report(inputs: ReportInputs) -> str:
    sections = [build(inputs) for build in SECTIONS]
    environment = jinja2.Environment(loader=jinja2.PackageLoader("tune_clothes.analysis.report"),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.get_template("report.html").render(
        name=inputs.experiment.name, location=inputs.location, headline=headline(inputs), sections=sections,
        created=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=_version())


def headline(inputs: ReportInputs) -> str:
    """One sentence: how far the search got, and what is best so far."""
    trials = inputs.trials.drop_duplicates("trial")
    finished = int((trials["status"] == TrialStatus.FINISHED).sum())
    early = trials["status"].isin(ENDED_EARLY)
    expected = max(expected_trials(inputs), len(trials))
    ended = f" ({', '.join(f'{n} {s}' for s, n in trials[early]['status'].value_counts().items())} early)"
    state = (f"All {finished} trials finished." if finished == expected else
             f"All {expected} trials ended: {finished} finished{ended}." if finished + early.sum() == expected else
             f"{finished} of {expected} trials finished: the search is still running or was interrupted, or some "
             f"trials failed or were stopped early.")
    best = inputs.best()
    if best is None:
        shown = inputs.shown(1)
        if shown.empty:
            return f"{state} No configuration has a finished fold yet."
        partial = shown.iloc[0]
        return (f"{state} No configuration can be ranked yet; the best finished folds are those of "
                f"{partial['config']}{partial_note(partial)}: {inputs.metric} {partial[f'{inputs.metric}/mean']:.4f}.")
    metric = inputs.metric
    interval = (f", 95% CI [{best[f'{metric}/ci_low']:.4f}, {best[f'{metric}/ci_high']:.4f}]"
                if pd.notna(best[f"{metric}/ci_low"]) else "")
    tied = int(inputs.board["tied_with_best"].astype(bool).sum()) - 1
    return (f"{state} Best: {best['config']} with {metric} {best[f'{metric}/mean']:.4f} over "
            f"{best['folds_finished']} folds{interval}; {max(tied, 0)} other configuration(s) tied with it.")


def expected_trials(inputs: ReportInputs) -> int:
    """The trials the search runs when it finishes."""
    return inputs.experiment.planned_trials


def _version() -> str:
    try:
        return importlib.metadata.version("tune_clothes")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"
