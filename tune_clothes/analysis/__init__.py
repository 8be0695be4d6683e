"""Analysis of a search from its files on disk (no running Ray needed), also while it runs or after it stopped.

Entry points: `summary.write_summary` (leaderboard.csv, cv_results.csv, trials.csv, best_config.yaml and the
text table); `leaderboard.summarize` (fold statistics, ranks, the comparison with the best);
`table.format_leaderboard`; `cv_results.cv_results`; `results.load_trials`; `report.page.write_report`
(report.html, the story of a search on one page). The statistics themselves
(corrected resampled t, Welch-style unpaired test, Holm, Bayesian correlated t-test) are in `statistics`.
"""
