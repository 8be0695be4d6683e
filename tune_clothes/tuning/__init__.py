"""Orchestration: the only layer that imports Ray.

Entry points: `runner.run_search` (prepare the experiment folder, start or attach to Ray, run or resume the
Tuner); `plan.plan_search` (the `SearchPlan`: where grid and Optuna searches differ, as Tune objects);
`trainable.fold_trial` / `trainable.cv_trial` (thin adapters to `training.fit.train_folds`).
"""
