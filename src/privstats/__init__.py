"""privstats: Secure Private Computing-as-a-Service for official statistics.

The names below are the public API; everything else may change between versions. The
exceptions load at once; the other names load on first use, so that a party process that
needs one computation does not import the service client and every other computation.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from privstats.errors import (
    AuditError,
    AuthenticationError,
    ChannelTimeoutError,
    ComputationError,
    CryptoError,
    DatasetError,
    JobFailedError,
    MissingExtraError,
    ParameterError,
    PrivstatsError,
    ProtocolError,
    ServiceError,
    TransportError,
)
from privstats.version import __version__

if _TYPE_CHECKING:
    from privstats.client import Federation
    from privstats.data.identifiers import IdentifierRule, NormalizationSpec
    from privstats.data.readers import IdentifierSet, load_identifiers
    from privstats.disclosure.budget import Budget
    from privstats.disclosure.report import PrivacyReport
    from privstats.jobs.aggregate import AggregateRun, AggregateSpec, run_local_aggregate
    from privstats.jobs.coverage import CoverageRun, CoverageSpec, run_local_coverage
    from privstats.jobs.fl_train import FlTrainSpec, run_local_fl_train
    from privstats.jobs.he_inference import HeInferenceSpec, run_local_he_inference
    from privstats.jobs.join_aggregate import (
        JoinAggregateRun,
        JoinAggregateSpec,
        run_local_join_aggregate,
    )
    from privstats.jobs.kinds import get_kind
    from privstats.jobs.local_run import LocalRun, run_kind_locally
    from privstats.jobs.synthesize import SynthesizeSpec
    from privstats.stats.coverage import (
        PopulationEstimate,
        Proportion,
        dual_system_estimate,
        proportion_interval,
    )


_LAZY: dict[str, str] = {
    "AggregateRun": "privstats.jobs.aggregate",
    "AggregateSpec": "privstats.jobs.aggregate",
    "Budget": "privstats.disclosure.budget",
    "CoverageRun": "privstats.jobs.coverage",
    "CoverageSpec": "privstats.jobs.coverage",
    "Federation": "privstats.client",
    "FlTrainSpec": "privstats.jobs.fl_train",
    "HeInferenceSpec": "privstats.jobs.he_inference",
    "IdentifierRule": "privstats.data.identifiers",
    "IdentifierSet": "privstats.data.readers",
    "JoinAggregateRun": "privstats.jobs.join_aggregate",
    "JoinAggregateSpec": "privstats.jobs.join_aggregate",
    "LocalRun": "privstats.jobs.local_run",
    "NormalizationSpec": "privstats.data.identifiers",
    "PopulationEstimate": "privstats.stats.coverage",
    "PrivacyReport": "privstats.disclosure.report",
    "Proportion": "privstats.stats.coverage",
    "SynthesizeSpec": "privstats.jobs.synthesize",
    "dual_system_estimate": "privstats.stats.coverage",
    "get_kind": "privstats.jobs.kinds",
    "load_identifiers": "privstats.data.readers",
    "proportion_interval": "privstats.stats.coverage",
    "run_kind_locally": "privstats.jobs.local_run",
    "run_local_aggregate": "privstats.jobs.aggregate",
    "run_local_coverage": "privstats.jobs.coverage",
    "run_local_fl_train": "privstats.jobs.fl_train",
    "run_local_he_inference": "privstats.jobs.he_inference",
    "run_local_join_aggregate": "privstats.jobs.join_aggregate",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'privstats' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AggregateRun",
    "AggregateSpec",
    "AuditError",
    "AuthenticationError",
    "Budget",
    "ChannelTimeoutError",
    "ComputationError",
    "CoverageRun",
    "CoverageSpec",
    "CryptoError",
    "DatasetError",
    "Federation",
    "FlTrainSpec",
    "HeInferenceSpec",
    "IdentifierRule",
    "IdentifierSet",
    "JobFailedError",
    "JoinAggregateRun",
    "JoinAggregateSpec",
    "LocalRun",
    "MissingExtraError",
    "NormalizationSpec",
    "ParameterError",
    "PopulationEstimate",
    "PrivacyReport",
    "PrivstatsError",
    "Proportion",
    "ProtocolError",
    "ServiceError",
    "SynthesizeSpec",
    "TransportError",
    "__version__",
    "dual_system_estimate",
    "get_kind",
    "load_identifiers",
    "proportion_interval",
    "run_kind_locally",
    "run_local_aggregate",
    "run_local_coverage",
    "run_local_fl_train",
    "run_local_he_inference",
    "run_local_join_aggregate",
]
