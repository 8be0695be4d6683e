"""Analysis of a search from its files on disk (no running Ray needed), also while it runs or after it stopped.

Entry points: `summary.write_summary` (leaderboard.csv, trials.csv, best_config.yaml and the text table);
`leaderboard.summarize` (fold statistics, ranks, ties with the best); `results.load_trials`.
"""
