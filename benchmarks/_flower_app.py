"""Flower apps for ``benchmarks/fl_vs_flower.py``: the same model and training as privstats.

Each Flower client holds one office's training rows (already split and indexed as
privstats' offices do) and runs ``privstats.ml.models.train_local`` on the global model,
with the minibatch order privstats' office would use in that round: privstats' office keeps
one ``default_rng(seed + 1)`` for the whole run, which Flower's clients (re-created every
round) reproduce by replaying the permutations of the earlier rounds. The server is a
legacy ``FedAvg`` strategy (all clients every round, weighted by examples) driven by
``DefaultWorkflow``, optionally with ``SecAggPlusWorkflow`` and the ``secaggplus_mod``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.client import NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import Context, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from privstats.ml.models import Model, train_local


@dataclass
class Training:
    """What every client and the server agree on (the same values as privstats' FLSpec)."""

    model: dict[str, Any]  # Model.to_dict() of the initial global model
    parts: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]]  # per office
    rounds: int
    local_epochs: int
    batch_size: int
    lr: float
    l2: float
    seed: int
    final: dict[str, Any] = field(default_factory=dict)  # filled in by the server


class _Office(NumPyClient):
    def __init__(self, training: Training, index: int) -> None:
        self.training = training
        self.x, self.y = training.parts[index]

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> Any:
        t = self.training
        model = Model.from_dict(t.model)
        model.set_params(parameters[0])
        rng = np.random.default_rng(t.seed + 1)
        for _ in range((int(config["round"]) - 1) * t.local_epochs):
            rng.permutation(len(self.y))  # the earlier rounds' minibatch orders
        train_local(
            model,
            self.x,
            self.y,
            epochs=t.local_epochs,
            batch_size=t.batch_size,
            lr=t.lr,
            l2=t.l2,
            rng=rng,
        )
        return [model.get_params()], len(self.y), {}


class _KeepFinal(FedAvg):
    """FedAvg that keeps the last aggregated parameters for the caller."""

    def __init__(self, training: Training, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.training = training

    def aggregate_fit(self, server_round: int, results: Any, failures: Any) -> Any:
        parameters, metrics = super().aggregate_fit(server_round, results, failures)
        if parameters is not None:
            self.training.final["params"] = parameters_to_ndarrays(parameters)[0]
            self.training.final["round"] = server_round
        return parameters, metrics


def make_apps(
    training: Training, *, secagg: bool, clipping_range: float = 8.0
) -> tuple[ServerApp, ClientApp]:
    """The ServerApp and ClientApp of one run; the final model lands in ``training.final``."""
    offices = len(training.parts)
    max_weight = float(max(len(y) for _, y in training.parts))

    def client_fn(context: Context) -> Any:
        return _Office(training, int(context.node_config["partition-id"])).to_client()

    client_app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod] if secagg else None)
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        initial = Model.from_dict(training.model).get_params()
        strategy = _KeepFinal(
            training,
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=offices,
            min_evaluate_clients=0,
            min_available_clients=offices,
            initial_parameters=ndarrays_to_parameters([initial]),
            on_fit_config_fn=lambda server_round: {"round": server_round},
        )
        legacy = LegacyContext(
            context=context, config=ServerConfig(num_rounds=training.rounds), strategy=strategy
        )
        if secagg:
            workflow = DefaultWorkflow(
                fit_workflow=SecAggPlusWorkflow(
                    num_shares=offices,
                    reconstruction_threshold=offices - 1,
                    max_weight=max_weight,
                    clipping_range=clipping_range,
                )
            )
        else:
            workflow = DefaultWorkflow()
        workflow(grid, legacy)

    return server_app, client_app
