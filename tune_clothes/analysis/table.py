"""The leaderboard as a text table for a terminal, with a legend that says which estimate each number is."""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from tune_clothes.analysis.leaderboard import config_labels
from tune_clothes.config.trial_record import ENDED_EARLY, ConfigurationStatus


def format_leaderboard(leaderboard: pd.DataFrame, metric: str, axes: Sequence[str], max_rows: int = 20) -> str:
    """The top `max_rows` rows of `summarize`'s leaderboard, a legend, failures and notes.

    `axes` are the axis columns shown in the config label (pass only the ones that vary to shorten it).
    """
    shown = leaderboard.head(max_rows)
    labels = pd.Series(config_labels(leaderboard, axes), index=leaderboard.index)  # digits that tell all apart
    confidence = leaderboard.attrs.get("confidence", 0.95)
    rows = list(shown.itertuples(index=False))
    columns = {
        "rank": [_format_rank(rank) for rank in shown["rank"]],
        "tied": ["*" if tied else "" for tied in shown["tied_with_best"]],
        "config": list(labels[shown.index]),
        f"{metric} mean ± std": [_format_mean_std(row, metric) for _, row in shown.iterrows()],
        f"{confidence * 100:g}% CI": [_format_interval(row, metric) for _, row in shown.iterrows()],
        "vs best": list(shown["comparison"]),
        "p_holm": [_format_number(p, 3) for p in shown["p_holm"]],
        "P(equiv)": [_format_number(p, 3) for p in shown["prob_equivalent"]],
        "P(best>)": [_format_number(p, 3) for p in shown["prob_best_better"]],
        "folds": [f"{row.folds_finished}/{row.folds_expected}" for row in rows],
        "status": list(shown["status"]),
    }
    if "gmacs" in shown.columns:  # the network's cost, when the search recorded it (costs.json)
        columns["params"] = [f"{p:.2f}M" if pd.notna(p) else "-" for p in shown["params_m"]]
        columns["GMACs"] = [_format_number(g, 3) for g in shown["gmacs"]]
    lines = _text_table(columns, left_aligned={"config", "status", "tied", "vs best"})
    if len(leaderboard) > len(shown):
        lines.append(f"... {len(leaderboard) - len(shown)} more configurations not shown")
    lines += _legend(leaderboard.attrs, confidence)
    if "gmacs" in shown.columns:
        lines.append("params, GMACs = the network's parameters and multiply-accumulates per image at its image size "
                     "(ptflops; as complexity --model prints)")
    if (leaderboard["status"] == ConfigurationStatus.STOPPED).any():
        lines += ["stopped = ASHA stopped it early, at a rung: its value is the fold mean at the epoch it reached",
                  "          ('at epoch N'), not comparable with a full run's; ranked after every other configuration"]
    if (leaderboard["status"] == ConfigurationStatus.ELIMINATED).any():
        lines += ["eliminated = the race stopped it at a rung, where its fold scores were separated from the best's",
                  "          there: its value is the fold mean at the epoch it reached ('at epoch N'); the note names",
                  "          the configuration it lost to and the evidence"]
    lines += _footnotes(leaderboard, labels)
    return "\n".join(lines)


def _legend(attrs: dict[str, Any], confidence: float) -> list[str]:
    alpha = f"{1 - confidence:.2g}"
    rope = attrs.get("rope", 0.01)
    repeats, folds = attrs.get("repeats", 1), attrs.get("folds")
    plan = f" ({repeats} repeats x {folds} folds)" if repeats > 1 and folds else ""
    return [
        f"CI      = {confidence * 100:g}% corrected resampled t-interval of the mean over the J finished folds "
        f"(Nadeau & Bengio 2003):",
        "          variance (1/J + n_val/n_train) * s^2, J-1 degrees of freedom",
        "p_holm  = two-sided corrected t-test against the best, paired on identical validation folds (else "
        "Welch-style",
        f"          unpaired), Holm-adjusted; * = tied with the best: p_holm >= {alpha}, or too few folds to test",
        "P(...)  = Bayesian correlated t-test (Benavoli et al. 2017): P(equiv) that the difference from the best is",
        f"          within the rope of +-{rope:g}, P(best>) that the best is better by more",
        f"folds   = finished/expected{plan}",
    ]


def _format_rank(rank: Any) -> str:
    return "-" if pd.isna(rank) else str(int(rank))


def _format_number(value: Any, digits: int) -> str:
    return "-" if pd.isna(value) else f"{value:.{digits}f}"


def _format_mean_std(row: pd.Series, metric: str) -> str:
    if row["status"] in ENDED_EARLY and pd.notna(row["stopped_mean"]):
        return f"{row['stopped_mean']:.4f} at epoch {int(row['stopped_epoch'])}"
    mean, std = row[f"{metric}/mean"], row[f"{metric}/std"]
    if pd.isna(mean):
        return "-"
    return f"{mean:.4f}" if pd.isna(std) else f"{mean:.4f} ± {std:.4f}"


def _format_interval(row: pd.Series, metric: str) -> str:
    low, high = row[f"{metric}/ci_low"], row[f"{metric}/ci_high"]
    return "-" if pd.isna(low) else f"[{low:.4f}, {high:.4f}]"


def _text_table(columns: dict[str, list[str]], left_aligned: set[str]) -> list[str]:
    widths = {name: max([len(name), *map(len, cells)]) for name, cells in columns.items()}

    def line(cells: dict[str, str]) -> str:
        aligned = (cells[n].ljust(widths[n]) if n in left_aligned else cells[n].rjust(widths[n])
                   for n in columns)
        return "  ".join(aligned).rstrip()

    rows = [dict(zip(columns, cells)) for cells in zip(*columns.values())]
    return [line({n: n for n in columns})] + [line(row) for row in rows]


def _footnotes(leaderboard: pd.DataFrame, labels: pd.Series, max_errors: int = 5) -> list[str]:
    """The first line of each failure's error (up to `max_errors`) and every note."""
    lines = []
    failed = leaderboard[leaderboard["status"] == ConfigurationStatus.FAILED]
    for index, row in failed.head(max_errors).iterrows():
        first_line = str(row["error"]).strip().splitlines()[0][:160] if str(row["error"]).strip() else ""
        lines.append(f"failed: {labels[index]}: {first_line}")
    if len(failed) > max_errors:
        lines.append(f"... {len(failed) - max_errors} more failed configurations (see the error column)")
    for index, row in leaderboard[leaderboard["note"] != ""].iterrows():
        lines.append(f"note: {labels[index]}: {row['note']}")
    return lines
