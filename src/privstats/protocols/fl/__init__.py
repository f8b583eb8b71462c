"""Federated training: offices train one classifier, a coordinator combines their updates.

Several offices each hold a feature table (sensor features of their survey respondents,
a label column, optionally a subject column); a *coordinator* holds no data. They train
one model — multinomial logistic regression or a small MLP (``privstats.ml.models``) —
without pooling the data. Party steps over a :class:`~privstats.transport.channel.Channel`:
:func:`party` for each office (roles party1 … partyN), :func:`coordinator`::

    setup      each office sends the coordinator its class labels and feature names; the
               coordinator sends back the union of the classes (or the terms' list)
    standardize  secure aggregation of [n, Σx, Σx²] per feature; the coordinator builds
               the standardizer from the pooled sums and sends the initial model
    round r    the coordinator sends the global parameters; each office adds up its
               validation records' cross-entropy, count and correct predictions under
               them, runs local SGD (FedProx adds μ/2·‖w − w_global‖²) on its training
               records and contributes n_i·(w_i − w_global), n_i and those validation sums
               to a secure aggregation; the coordinator uses the pooled mean update as the
               pseudo-gradient of a server optimiser (FedAdam by default, FedYogi) or
               applies it (FedAvg, FedProx)
    stop       after a warm-up of ``min_rounds``, when the pooled validation loss has not
               improved for ``patience`` rounds, or at the round cap ``rounds``; the model
               kept is the one with the lowest pooled validation loss
    evaluate   each office computes the final model's confusion matrix on its held-out
               subjects; secure aggregation gives the coordinator only their sum

Each office's subjects (records without a subject column) are split once, from the public
seed, into held-out (``holdout``, for the evaluation), validation (``validation`` of the
rest, for early stopping) and training (:func:`partition`). What the parties agree on is
a :class:`Terms` (``privstats.jobs.fl_train.FlTrainSpec`` is one).

Threat model: offices and coordinator semi-honest; secure aggregation
(``privstats.protocols.secagg``) hides each office's update, statistics and confusion
matrix from the coordinator and the other offices, tolerating offices that drop out of a
round: an office that drops out is left out of the later rounds and of the evaluation, and
the result names it under ``dropped`` with the step it was lost at. What is revealed: to
the coordinator, each office's class labels and feature names, the pooled statistics, the
pooled update and pooled validation sums of every round and the pooled confusion matrix;
to the offices, the global model of every round. Updates are encoded in fixed point with
``frac_bits`` fractional bits (error ≤ 2^−(f+1) per weighted coordinate). Without
differential privacy the sequence of global models can still reveal something about the
training records (membership inference); that is what the DP option is for: with
``epsilon`` set, each office trains by DP-SGD (``privstats.ml.dp``) calibrated so that all
its rounds together spend (ε, δ), and the result's ``outside_epsilon`` lists what is
released that ε does not cover. The hub, when the job runs through it, relays sealed
messages (``privstats.transport.relay``) and sees who sends to whom, their sizes and
timing — so also which offices dropped out — never their contents.
"""

from privstats.protocols.fl.common import (
    GlobalParams,
    Hello,
    InitialModel,
    Partition,
    PrivacyReport,
    Setup,
    Terms,
    new_model,
    partition,
    pooled_metrics,
    validation_sums,
)
from privstats.protocols.fl.coordinator import EarlyStopping, coordinator
from privstats.protocols.fl.party import party

__all__ = [
    "EarlyStopping",
    "GlobalParams",
    "Hello",
    "InitialModel",
    "Partition",
    "PrivacyReport",
    "Setup",
    "Terms",
    "coordinator",
    "new_model",
    "partition",
    "party",
    "pooled_metrics",
    "validation_sums",
]
