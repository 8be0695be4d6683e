"""The statistics of fold scores, pure (numpy and scipy only) and below every layer that decides with them: the
leaderboard's comparisons (`analysis`), the race that stops configurations early (`tuning`) and the replay
benchmark call the same functions.

Entry points: `fold_tests` (the corrected resampled t-estimate, Welch, Holm, the Bayesian correlated t-test's
probabilities) and `race` (which configurations the evidence separates from the best at a rung).
"""
