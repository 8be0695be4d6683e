"""Metric names, defined once: the training core reports them, Tune and the report read them."""
from typing import Mapping

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

# Keys of every trial report besides the metrics: which fold, and how far the trial got (finished when equal).
FOLD = "fold"
EPOCHS_DONE = "epochs_done"
EPOCHS_TOTAL = "epochs_total"
NODE_ID = "node_id"  # the Ray node that ran the epoch (nodes on one machine share an IP address)
REPORTED_AT = "time/reported_at"  # when the epoch was reported, in Unix seconds: a search's timeline


def is_final_report(result: Mapping) -> bool:
    """Whether a trial's report is its last: every epoch ran (a trial that stopped early never says so)."""
    return result.get(EPOCHS_DONE) is not None and result.get(EPOCHS_DONE) == result.get(EPOCHS_TOTAL)
