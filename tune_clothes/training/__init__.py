"""The training core: one configuration on one fold, or on several folds in lock-step. Imports no Ray.

Entry points: `fit.train_folds` (and its one-fold form `fit.fit`) with `fit.Callback`s
(`callbacks.CheckpointCallback`, `callbacks.TensorBoardCallback`); `fold_data.fold_data` (a fold's images from
the image cache); `standalone.train_fold` (what the `train` command runs); `models.build_model` (any network
`model.name` names; `networks.check_network` refuses one that cannot work), `augment.build_transform`,
`metrics.epoch_metrics`.
"""
