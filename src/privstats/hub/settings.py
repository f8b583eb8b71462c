"""A hub's limits and clocks (``privstats hub`` options), checked when they are made."""

from __future__ import annotations

from dataclasses import dataclass

from privstats.errors import ParameterError

__all__ = ["HubSettings", "MiB"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class HubSettings:
    """Limits and clocks of one hub.

    ``max_body_bytes`` bounds every request body (default: the largest envelope plus
    4 MiB); ``max_result_bytes`` bounds the bodies of ``POST …/complete``, which carry
    released results (a synthetic file can be large). Both are enforced before
    authentication. ``max_waits_per_party`` caps one node's concurrent long-polls; a
    further one is answered at once with 429.
    """

    node_timeout: float = 60.0
    enrolment_ttl: float = 7 * 24 * 3600.0
    max_envelope_bytes: int = 2 * MiB
    max_fetch_bytes: int = 8 * MiB
    max_mailbox_bytes: int = 512 * MiB
    max_body_bytes: int | None = None
    max_result_bytes: int = 64 * MiB
    max_waits_per_party: int = 8
    watchdog_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_envelope_bytes", "max_result_bytes", "max_waits_per_party"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} must be at least 1", parameter=name)
        if self.body_limit < self.max_envelope_bytes:
            raise ParameterError(
                f"max_body_bytes ({self.body_limit}) must be at least max_envelope_bytes "
                f"({self.max_envelope_bytes}), or no envelope could be posted",
                parameter="max_body_bytes",
            )

    @property
    def body_limit(self) -> int:
        """The body limit of every route but completion."""
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        return self.max_envelope_bytes + 4 * MiB
