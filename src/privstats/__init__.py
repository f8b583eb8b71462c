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
from privstats.jobs.coverage import CoverageRun, CoverageSpec, run_local_coverage
from privstats.stats.coverage import (
    PopulationEstimate,
    Proportion,
    dual_system_estimate,
    proportion_interval,
)

__version__ = "0.1.0"

__all__ = [
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
    "run_local_coverage",
]
