"""Section 1, what was searched: the axes and their values, the fixed settings, the dataset (classes with
counts, what the class policy dropped, what validation left out), the folds, resources, time and nodes, and
the versions that ran it."""
from __future__ import annotations

import datetime
import math

import pandas as pd

from tune_clothes.analysis.report.blocks import Cell, Facts, Section, Table, Text
from tune_clothes.analysis.report.inputs import TIMESTAMP, ReportInputs
from tune_clothes.config import Choice, Experiment
from tune_clothes.config.labels import digits_to_tell_apart, readable
from tune_clothes.config.search_space import Axis
from tune_clothes.config.trial_record import TUNE_TIME_TOTAL, SearchMode
from tune_clothes.data.folds import scheme_name


def searched_section(inputs: ReportInputs) -> Section:
    experiment = inputs.experiment
    blocks = [Facts(_search_facts(inputs)), _axes_table(experiment), Facts(_fixed_settings(experiment))]
    blocks += _dataset_blocks(inputs)
    blocks.append(Facts(_folds_facts(inputs) + _resources_facts(inputs)))
    if inputs.versions:
        blocks.append(Facts((("versions", ", ".join(f"{name} {version}" for name, version in
                                                    inputs.versions.items())),)))
    return Section("searched", "What was searched", blocks)


def _search_facts(inputs: ReportInputs) -> tuple[tuple[str, str], ...]:
    search = inputs.experiment.search
    rungs = f"first rung after {search.grace_period} epoch(s), each next one {search.reduction_factor} times later"
    race = (f", a race eliminating configurations the evidence separates from the best ({rungs}; "
            f"{search.race_rule} rule, alpha {search.race_alpha:g} over the rungs)")
    scheduler = {"asha": f", ASHA stopping weak configurations early ({rungs})", "race": race}.get(search.scheduler, "")
    if search.algorithm == "grid" and search.search_mode is SearchMode.FOLD_TRIALS:
        how = f"grid: every configuration on every fold ({len(inputs.board)} configurations)"
    elif search.algorithm == "grid":
        how = f"grid of {len(inputs.board)} configurations, each trained on all folds in lock-step{scheduler}"
    else:
        how = (f"Optuna (TPE) proposing {search.num_samples} configurations, each trained on all folds in "
               f"lock-step{scheduler}")
    counts = inputs.trials.drop_duplicates("trial")["status"].value_counts()
    trials = ", ".join(f"{count} {status}" for status, count in counts.items()) or "none yet"
    return (("search", how), ("metric", f"{search.metric} ({'higher' if search.mode == 'max' else 'lower'} is "
                                        f"better)"),
            ("trials", f"{inputs.trials['trial'].nunique()} started: {trials}"),
            ("cost", inputs.cost),
            ("experiment folder", inputs.location))


def _axes_table(experiment: Experiment) -> Table | Text:
    axes = experiment.search.axes
    if not axes:
        return Text("No search axes: one configuration, cross-validated.")
    rows = tuple((Cell(axis), Cell(_axis_values(values))) for axis, values in axes.items())
    return Table(("axis", "values"), rows, name="axes", caption="Search axes")


def _axis_values(values: Axis) -> str:
    if isinstance(values, Choice):
        digits = digits_to_tell_apart(values.values)
        return ", ".join(readable(value, digits) for value in values.values)
    scale = "log scale" if values.log else "linear scale"
    return f"from {values.low:g} to {values.high:g} ({scale}{', whole numbers' if values.integer else ''})"


def _fixed_settings(experiment: Experiment) -> tuple[tuple[str, str], ...]:
    """The training settings every configuration shares (the searched ones are in the axes table)."""
    searched = set(experiment.search.axes)
    model, train = experiment.model, experiment.train
    described = [model.name if "name" not in searched else None,
                 "pretrained" if model.pretrained and "pretrained" not in searched else None,
                 "frozen backbone" if model.freeze_backbone and "freeze_backbone" not in searched else None]
    shared = [text for text in described if text]
    items = [("model", ", ".join(shared))] if shared else []
    for name in ("epochs", "batch_size", "lr", "image_size", "augment", "step_lr", "class_weights",
                 "weight_decay"):
        if name not in searched:
            items.append((f"train.{name}", str(getattr(train, name))))
    return tuple(items)


def _dataset_blocks(inputs: ReportInputs) -> list:
    data = inputs.dataset
    if not data:
        return [Text("The experiment folder has no dataset.json (an older tune_clothes wrote it).")]
    plan = inputs.plan
    facts = [("dataset", f"{data.get('kind')} at {data.get('root')}"),
             ("images", f"{data.get('images')} used: {len(plan.pool)} in the cross-validation pool, "
                        f"{data.get('holdout_images', len(plan.holdout))} in the locked holdout"),
             ("fingerprint", str(data.get("fingerprint")))]
    dropped = data.get("dropped_classes") or {}
    facts.append(("dropped by the class policy", ", ".join(f"{name} ({count} images)" for name, count in
                                                            dropped.items()) or "nothing"))
    excluded = data.get("excluded") or {}
    facts.append(("left out by validation", ", ".join(f"{count} {problem}" for problem, count in
                                                      excluded.items() if count) or "nothing"))
    counts = data.get("class_counts") or {}
    total = sum(counts.values()) or 1
    rows = tuple((Cell(name), Cell(str(count), count, "class_count", "num", bar=count / max(counts.values())),
                  Cell(f"{100 * count / total:.1f}%", css="num")) for name, count in counts.items())
    return [Facts(tuple(facts)), Table(("class", "images", "share"), rows, name="classes", caption="Classes")]


def _folds_facts(inputs: ReportInputs) -> list[tuple[str, str]]:
    plan, cv = inputs.plan, inputs.experiment.cv
    schemes = ", ".join(plan.validation) or scheme_name(cv.split)
    grouped = f", grouped by {plan.group_by}" if plan.group_by else ""
    return [("folds", f"{plan.folds} folds x {plan.repeats} repeat(s) = {plan.total_folds} per configuration "
                      f"({schemes}{grouped}, seed {plan.seed})"),
            ("locked holdout", _holdout(inputs))]


def _holdout(inputs: ReportInputs) -> str:
    plan = inputs.plan
    if not plan.test_fraction:
        return "none"
    if inputs.dataset.get("kind") == "image_folder" and inputs.experiment.cv.test_fraction != plan.test_fraction:
        return f"the dataset's test/ folder: {len(plan.holdout)} images, {plan.test_fraction:.0%} of them"
    return f"{plan.test_fraction:g} of the images"


def _resources_facts(inputs: ReportInputs) -> list[tuple[str, str]]:
    resources = inputs.experiment.resources
    limit = resources.max_concurrent_trials
    items = [("resources per trial", f"{resources.cpus_per_trial:g} CPU, {resources.gpus_per_trial:g} GPU"
                                     + (f"; at most {limit} trials at once" if limit else ""))]
    history = inputs.history
    if history.empty:
        return items + [("time", "no trial has reported an epoch yet")]
    start, end = history["start"].min(), history[TIMESTAMP].max()
    trial_seconds = history.groupby("trial")[TUNE_TIME_TOTAL].max()
    nodes = sorted(str(n) for n in inputs.trials["node"].dropna().unique())
    items += [("wall time", f"{_duration(end - start)}, from the first trial's start "
                            f"({_when(start)}) to the last report ({_when(end)})"),
              ("trial time", f"{_trial_time(trial_seconds.sum())} (the sum of every trial's training time)"),
              ("nodes used", f"{len(nodes)}" + (f": {', '.join(n[:12] for n in nodes)}" if nodes else ""))]
    return items


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _trial_time(seconds: float) -> str:
    return f"{seconds / 3600:.2f} trial-hours" if seconds >= 3600 else f"{seconds / 60:.1f} trial-minutes"


def _when(timestamp: float) -> str:
    if pd.isna(timestamp):
        return "unknown"
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
