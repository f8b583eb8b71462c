"""privstats: Secure Private Computing-as-a-Service for official statistics.

The names below are the public API; everything else may change between versions.
"""

from privstats.client import Federation
from privstats.data.identifiers import IdentifierRule
from privstats.data.readers import IdentifierSet, load_identifiers
from privstats.errors import (
    AuditError,
    AuthenticationError,
    ChannelTimeoutError,
    ComputationError,
    CryptoError,
    DatasetError,
    JobFailedError,
    ParameterError,
    PrivstatsError,
    ProtocolError,
    ServiceError,
    TransportError,
)
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

__version__ = "0.1.0"

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
