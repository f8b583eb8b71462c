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
    from privstats.data.identifiers import IdentifierRule
    from privstats.data.readers import IdentifierSet, load_identifiers
    from privstats.jobs.aggregate import AggregateRun, AggregateSpec, run_local_aggregate
    from privstats.jobs.coverage import CoverageRun, CoverageSpec, run_local_coverage
    from privstats.jobs.join_aggregate import (
        JoinAggregateRun,
        JoinAggregateSpec,
        run_local_join_aggregate,
    )
    from privstats.stats.coverage import (
        PopulationEstimate,
        Proportion,
        dual_system_estimate,
        proportion_interval,
    )


_LAZY: dict[str, str] = {
    "AggregateRun": "privstats.jobs.aggregate",
    "AggregateSpec": "privstats.jobs.aggregate",
    "CoverageRun": "privstats.jobs.coverage",
    "CoverageSpec": "privstats.jobs.coverage",
    "Federation": "privstats.client",
    "IdentifierRule": "privstats.data.identifiers",
    "IdentifierSet": "privstats.data.readers",
    "JoinAggregateRun": "privstats.jobs.join_aggregate",
    "JoinAggregateSpec": "privstats.jobs.join_aggregate",
    "PopulationEstimate": "privstats.stats.coverage",
    "Proportion": "privstats.stats.coverage",
    "dual_system_estimate": "privstats.stats.coverage",
    "load_identifiers": "privstats.data.readers",
    "proportion_interval": "privstats.stats.coverage",
    "run_local_aggregate": "privstats.jobs.aggregate",
    "run_local_coverage": "privstats.jobs.coverage",
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
    "ChannelTimeoutError",
    "ComputationError",
    "CoverageRun",
    "CoverageSpec",
    "CryptoError",
    "DatasetError",
    "Federation",
    "IdentifierRule",
    "IdentifierSet",
    "JobFailedError",
    "JoinAggregateRun",
    "JoinAggregateSpec",
    "MissingExtraError",
    "ParameterError",
    "PopulationEstimate",
    "PrivstatsError",
    "Proportion",
    "ProtocolError",
    "ServiceError",
    "TransportError",
    "__version__",
    "dual_system_estimate",
    "load_identifiers",
    "proportion_interval",
    "run_local_aggregate",
    "run_local_coverage",
    "run_local_join_aggregate",
]
