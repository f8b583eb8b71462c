"""Encrypted inference as a local job: a querier's records scored by another's model.

Two roles, each in its own process (:func:`privstats.jobs.local.run_local`). The *querier*
holds the data file and learns the predictions of its records; the *model holder* holds
the model file (:meth:`privstats.ml.models.Model.save`) and learns only how many records
and features were scored. The protocol and what each side learns are in
:mod:`privstats.protocols.he_inference`.

The data file's feature columns are the model's ``feature_names`` (the model holder
announces them); a model saved without names takes every column but ``label``, in file
order. With ``label``, the querier also reports the accuracy of its predictions.

``agreement_with_plaintext`` compares the encrypted-path predictions with the plaintext
model's predictions on the same records. Neither party could compute it in a real
deployment — the querier lacks the model, the model holder the records — so it is a
check that only this local run can make: the parent process reads both files after the
parties finished, for the report.
"""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from privstats.crypto.ckks import CkksParameters, require_tenseal
from privstats.data.readers import check_data_file, column_names
from privstats.data.sensors import read_feature_table
from privstats.data.tables import read_table
from privstats.disclosure.release_table import protect_counts
from privstats.errors import DatasetError, ParameterError, ProtocolError
from privstats.jobs.kind import JobKind, from_tuple
from privstats.jobs.local import PartyOutcome, ProgressSink
from privstats.jobs.local_run import run_kind_locally
from privstats.jobs.render import Rendering, figures_view
from privstats.jobs.spec import Spec
from privstats.ml.models import MLP, LogisticRegression, Model
from privstats.progress import Progress
from privstats.protocols import he_inference
from privstats.transport.channel import Channel

__all__ = [
    "KIND",
    "HeInferenceRun",
    "HeInferenceSpec",
    "plain_model",
    "read_records",
    "run_local_he_inference",
]

QUERIER, MODEL_HOLDER = "querier", "model_holder"


def plain_model(model: Model) -> he_inference.PlainModel:
    """``model``'s layers, hidden activation and standardizer as the protocol's plain arrays.

    The flat parameters are, layer by layer, the weight matrix (inputs × outputs, row-major)
    and the bias vector (:mod:`privstats.ml.models`). A ReLU network converts with no
    activation polynomial, which the protocol refuses.
    """
    if not isinstance(model, LogisticRegression | MLP):
        raise TypeError(f"model must be a LogisticRegression or MLP, not {type(model).__name__}")
    flat = model.get_params()
    weights, biases = [], []
    start = 0
    for fan_in, fan_out in itertools.pairwise((model.n_features, *model.hidden, model.n_classes)):
        weights.append(flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
        biases.append(flat[start : start + fan_out])
        start += fan_out
    standardizer = model.standardizer
    return he_inference.PlainModel(
        weights=tuple(weights),
        biases=tuple(biases),
        classes=model.classes,
        activation=model.poly_coefficients,
        mean=None if standardizer is None else standardizer.mean.copy(),
        scale=None if standardizer is None else standardizer.scale.copy(),
        feature_names=model.feature_names,
    )


def read_records(
    path: str | Path,
    feature_names: list[str] | tuple[str, ...] | None,
    n_features: int,
    *,
    label: str | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.str_] | None]:
    """The feature matrix of ``path`` in the model's feature order, and the labels if asked."""
    name = str(path)
    names = (
        list(feature_names)
        if feature_names is not None
        else [column for column in column_names(path) if column != label]
    )
    if len(names) != n_features:
        raise DatasetError(
            f"{name}: {len(names)} feature columns besides the label, the model has "
            f"{n_features} features; save the model with feature_names",
            path=name,
        )
    if label is not None:
        table = read_feature_table(path, label=label, features=names)
        return table.X, table.y
    values = read_table(path, values=names).values
    x = (
        np.column_stack([values[column] for column in names])
        if names
        else np.empty((0, 0), dtype=np.float64)
    )
    missing = np.flatnonzero(np.isnan(x).any(axis=1))
    if missing.size:
        raise DatasetError(
            f"{name}: {missing.size} records have missing feature values (first rows: "
            f"{(missing[:5] + 1).tolist()}); impute or drop them first",
            path=name,
            rows=tuple(int(r) + 1 for r in missing[:5]),
        )
    if not len(x):
        raise DatasetError(f"{name}: no records to score", path=name)
    return x, None


class HeInferenceSpec(Spec):
    """A service job's terms: the model's feature columns, an optional label, the cell rule.

    The querier releases to the job's recipients only the number of records scored, the
    count of records per predicted class (classes below ``min_cell`` withheld, with
    secondary suppression) and, with ``label``, the accuracy; the per-record predictions
    stay at the querier's node.
    """

    _option: ClassVar[str] = "he-inference option"

    features: tuple[str, ...] = Field(min_length=1)
    """The model's feature columns, in its order."""
    label: str | None = None
    """A label column of the querier's records: not a feature; adds the accuracy."""
    min_cell: int = Field(10, ge=1)
    """Predicted classes with fewer records are suppressed."""


def columns_used(spec: HeInferenceSpec, role: str) -> tuple[str, ...]:
    """The querier reads the features (and label); the model holder's model has the features."""
    if role == QUERIER and spec.label is not None:
        return (*spec.features, spec.label)
    return spec.features


def run_role(
    role: str,
    channel: Channel,
    parties: Mapping[str, str],
    path: str,
    spec: HeInferenceSpec,
    progress: Progress | None,
) -> tuple[dict[str, Any] | None, list[str], dict[str, str]]:
    """Run ``role`` of a service job; the querier keeps its predictions as a local file."""
    if role == MODEL_HOLDER:
        model = Model.load(path)
        named = model.feature_names is not None
        if (tuple(model.feature_names or ()) if named else len(spec.features)) != (
            spec.features if named else model.n_features
        ):
            raise ParameterError(
                f"{path}: the model's features differ from the job's ({', '.join(spec.features)})",
                parameter="features",
            )
        he_inference.model_holder(channel, parties[QUERIER], plain_model(model), progress=progress)
        return None, [], {}
    if role != QUERIER:
        raise ParameterError(f"unknown he_inference role {role!r}", parameter="role")
    holder = parties[MODEL_HOLDER]
    info = he_inference.receive_model_info(channel, holder)
    named = info.feature_names is not None
    if (tuple(info.feature_names or ()) if named else len(spec.features)) != (
        spec.features if named else info.n_features
    ):
        raise ProtocolError(
            "the model holder's model has other features than the job names", peer=holder
        )
    x, y = read_records(path, spec.features, info.n_features, label=spec.label)
    started = time.perf_counter()
    predictions = he_inference.querier(channel, holder, x, info=info, progress=progress)
    seconds = time.perf_counter() - started
    labels = [str(label) for label in predictions.labels]
    counts = {str(c): labels.count(str(c)) for c in info.classes}
    withheld = {
        label[0]
        for label in protect_counts(
            ("predicted",), {(c,): n for c, n in counts.items()}, min_cell=spec.min_cell
        ).withheld
    }
    result: dict[str, Any] = {
        "computation": "he_inference",
        "records": len(labels),
        "predicted_classes": {c: None if c in withheld else n for c, n in counts.items()},
        "min_cell": spec.min_cell,
        "records_per_second": round(len(labels) / seconds, 1),
        "protocol_seconds": round(seconds, 3),
    }
    if y is not None:
        result["accuracy"] = float(np.mean(np.asarray(labels) == y.astype(str)))
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["row", "predicted"])
    writer.writerows(enumerate(labels, start=1))
    return result, [], {"predictions.csv": table.getvalue()}


@dataclass(frozen=True)
class HeInferenceRun:
    """The report of a local encrypted-inference run, with what it cost each party."""

    result: dict[str, Any]
    outcomes: dict[str, PartyOutcome]


def run_local_he_inference(
    model_path: str | Path,
    data_path: str | Path,
    *,
    label: str | None = None,
    min_cell: int = 10,
    progress: ProgressSink | None = None,
) -> HeInferenceRun:
    """Run both roles in their own processes, as a service job runs them; add the checks
    only a local run can make.

    ``result``: the querier's release (``records``, ``predicted_classes`` below
    ``min_cell`` withheld, ``records_per_second`` over the querier's protocol time,
    ``protocol_seconds``, with ``label`` the ``accuracy``), plus ``seconds`` (wall time
    including process start-up), ``agreement_with_plaintext`` (see the module docstring)
    and ``ckks`` (the parameters used).
    """
    require_tenseal()
    for what, path in (("model", model_path), ("data", data_path)):
        check_data_file(path, f"{what} file")
    model = Model.load(model_path)  # fail early, in the caller, on a bad model file
    features = model.feature_names or tuple(
        name for name in column_names(data_path) if name != label
    )
    spec = HeInferenceSpec.build(features=features, label=label, min_cell=min_cell)
    depth = he_inference.circuit_depth(plain_model(model))
    run = run_kind_locally(
        KIND, {QUERIER: data_path, MODEL_HOLDER: model_path}, spec, progress=progress
    )
    # the check only a local run can make: both files are at hand in this process
    kept = csv.reader(io.StringIO(run.local_files[QUERIER]["predictions.csv"]))
    encrypted = [row[1] for row in list(kept)[1:]]
    x, _ = read_records(data_path, model.feature_names, model.n_features, label=label)
    plain = [str(model.classes[i]) for i in model.predict(x)]
    params = CkksParameters.for_depth(depth)
    result: dict[str, Any] = {
        **run.result,
        "agreement_with_plaintext": float(np.mean(np.asarray(encrypted) == np.asarray(plain))),
        "ckks": {
            "poly_modulus_degree": params.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(params.coeff_mod_bit_sizes),
            "scale_bits": params.scale_bits,
            "depth": depth,
            "security_bits": 128,
        },
    }
    return HeInferenceRun(result, run.outcomes)


# --------------------------------------------------------------------------- the kind


def render_result(result: Mapping[str, Any]) -> Rendering:
    """The release of a scoring job as a table of figures (a local run adds its yardsticks)."""
    figures = [("records", f"{result['records']:,}")]
    if "agreement_with_plaintext" in result:
        figures.append(
            ("agreement with plaintext model", f"{100 * result['agreement_with_plaintext']:.2f}%")
        )
    if "accuracy" in result:
        figures.append(("accuracy", f"{100 * result['accuracy']:.2f}%"))
    for name, count in (result.get("predicted_classes") or {}).items():
        figures.append((f"predicted {name}", "suppressed" if count is None else f"{count:,}"))
    figures.append(("records per second", f"{result['records_per_second']:,.0f}"))
    figures.append(("protocol seconds", f"{result['protocol_seconds']:.3f}"))
    ckks = result.get("ckks")
    if ckks:
        figures.append(
            (
                "CKKS parameters",
                f"N={ckks['poly_modulus_degree']}, q={ckks['coeff_mod_bit_sizes']}, "
                f"scale=2^{ckks['scale_bits']}, {ckks['security_bits']}-bit",
            )
        )
    return [figures_view("Encrypted inference (CKKS)", figures)]


KIND = JobKind(
    name="he_inference",
    title="Predictions for the querier's records from the model holder's model, under CKKS.",
    description=(
        "The querier encrypts its records with its own key; the model holder evaluates the "
        "model on the ciphertexts and learns only how many records and features there are. "
        "The querier keeps the predictions; the release holds counts per predicted class."
    ),
    roles=(QUERIER, MODEL_HOLDER),
    role_help={
        QUERIER: "The querier's records",
        MODEL_HOLDER: "The model holder's model (privstats JSON)",
    },
    result_role=QUERIER,
    spec_type=HeInferenceSpec,
    columns=columns_used,
    disclosure=lambda spec: {"min_cell": spec.min_cell},
    run_role=from_tuple(run_role),
    render=render_result,
    role_options={QUERIER: "--data", MODEL_HOLDER: "--model"},
)
