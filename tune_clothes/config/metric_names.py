"""Metric names, defined once: the training core reports them, Tune and the report read them. The other keys of
a trial's report (its fold, epochs, timings) are in `trial_record`."""

TRAIN_LOSS = "train/loss"
TRAIN_ACC = "train/acc"
TRAIN_PRECISION = "train/precision_macro"
TRAIN_RECALL = "train/recall_macro"
TRAIN_F1 = "train/f1_macro"
VAL_LOSS = "val/loss"
VAL_ACC = "val/acc"
VAL_PRECISION = "val/precision_macro"
VAL_RECALL = "val/recall_macro"
VAL_F1 = "val/f1_macro"
EPOCH = "epoch"
LR = "lr"

#: Scalars reported every epoch, in the order the report shows them.
EPOCH_SCALARS = (TRAIN_LOSS, TRAIN_ACC, TRAIN_PRECISION, TRAIN_RECALL, TRAIN_F1,
                 VAL_LOSS, VAL_ACC, VAL_PRECISION, VAL_RECALL, VAL_F1)

#: Metrics a search may optimise, with the direction that is better.
OPTIMISABLE = {VAL_ACC: "max", VAL_F1: "max", VAL_PRECISION: "max", VAL_RECALL: "max", VAL_LOSS: "min"}
