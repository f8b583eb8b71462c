"""The computation kinds the service runs: one line per kind.

Each line names the module whose ``KIND`` (a :class:`~privstats.jobs.kind.JobKind`)
declares the kind; modules are imported when a kind is first used, so a party process
that runs one computation does not import the others. Adding a kind means writing its
module and adding its line here (see "Adding a kind" in docs/architecture.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from privstats.errors import ParameterError
from privstats.jobs.kind import JobKind, RoleOutput, RoleRunner

__all__ = ["KINDS", "KIND_MODULES", "JobKind", "RoleOutput", "RoleRunner", "get_kind"]

KIND_MODULES: dict[str, str] = {
    "coverage": "privstats.jobs.coverage",
    "aggregate": "privstats.jobs.aggregate",
    "join_aggregate": "privstats.jobs.join_aggregate",
    "fl_train": "privstats.jobs.fl_train",
    "he_inference": "privstats.jobs.he_inference",
    "synthesize": "privstats.jobs.synthesize",
    "secure_count": "privstats.jobs.secure_count",
    "linkage_coverage": "privstats.jobs.linkage_coverage",
}
"""Kind name → the module that declares it."""


class _Registry(Mapping[str, JobKind]):
    """Kind name → its declaration, imported on first use."""

    def __getitem__(self, name: str) -> JobKind:
        module = importlib.import_module(KIND_MODULES[name])
        kind = getattr(module, "KIND", None)
        if not isinstance(kind, JobKind) or kind.name != name:
            raise TypeError(f"{module.__name__}.KIND must be the JobKind named {name!r}")
        return kind

    def __iter__(self) -> Iterator[str]:
        return iter(KIND_MODULES)

    def __len__(self) -> int:
        return len(KIND_MODULES)


KINDS: Mapping[str, JobKind] = _Registry()


def get_kind(name: str) -> JobKind:
    """The kind called ``name``; a ParameterError listing the known kinds otherwise."""
    if name not in KIND_MODULES:
        raise ParameterError(
            f"unknown computation kind {name!r}; known kinds: {', '.join(sorted(KINDS))}",
            parameter="kind",
        )
    return KINDS[name]
