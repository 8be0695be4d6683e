"""Orchestration: the only layer that imports Ray.

Entry points: `runner.run_search` (check, prepare the experiment folder, start or attach to Ray, run or resume
the Tuner); `plan.plan_search` (the `SearchPlan`: where grid and Optuna searches differ, as Tune objects);
`trainable.fold_trial` / `trainable.cv_trial` (thin adapters to `training.fit.train_folds`); `session.ray_session`
(a local Ray of the search's own, or a cluster); `stop.stop_on_signals` (Ctrl-C and SIGTERM);
`progress.CompactProgress` (the progress line); `cluster_checks` (what no node can run, refused up front).
"""
