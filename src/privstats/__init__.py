"""privstats: Secure Private Computing-as-a-Service for official statistics.

The names below are the public API; everything else may change between versions.
"""

from privstats.data.identifiers import IdentifierRule
from privstats.data.readers import IdentifierSet, load_identifiers
from privstats.errors import (
    ChannelTimeoutError,
    ComputationError,
    CryptoError,
    DatasetError,
    ParameterError,
    PrivstatsError,
    ProtocolError,
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
    "ChannelTimeoutError",
    "ComputationError",
    "CoverageRun",
    "CoverageSpec",
    "CryptoError",
    "DatasetError",
    "IdentifierRule",
    "IdentifierSet",
    "ParameterError",
    "PopulationEstimate",
    "PrivstatsError",
    "Proportion",
    "ProtocolError",
    "TransportError",
    "__version__",
    "dual_system_estimate",
    "load_identifiers",
    "proportion_interval",
    "run_local_coverage",
]
