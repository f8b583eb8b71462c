"""The privstats exception tree.

Every error a user can meet is one of these, with a message a statistician can act on and
fields that say where it happened, so that a service can show why a job failed::

    PrivstatsError
    ├── DatasetError          a file, column or value in the input data is unusable
    ├── MissingExtraError     an optional part is not installed (also an ImportError)
    ├── ParameterError        an argument or option has an invalid value (also a ValueError)
    ├── ProtocolError         a peer sent something the protocol does not allow
    ├── CryptoError           a value is not a valid key, scalar or group element
    ├── TransportError        a channel could not deliver or receive a message
    │   └── ChannelTimeoutError the peer did not answer in time
    ├── ComputationError      a party's role failed while running a computation
    ├── ServiceError          the hub refused a request or could not be reached
    │   └── AuthenticationError a token or signature was refused, or a request replayed
    ├── JobFailedError        a job ended failed, rejected or cancelled (who, which step)
    └── AuditError            the audit log's hash chain or a signature does not verify

Lower-level exceptions are translated at the boundary with ``raise … from exc``.
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "AuthenticationError",
    "ChannelTimeoutError",
    "ComputationError",
    "CryptoError",
    "DatasetError",
    "JobFailedError",
    "MissingExtraError",
    "ParameterError",
    "PrivstatsError",
    "ProtocolError",
    "ServiceError",
    "TransportError",
]


class PrivstatsError(Exception):
    """Base of every privstats error."""


class DatasetError(PrivstatsError):
    """Input data cannot be used: names the file, column and offending rows."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        column: str | None = None,
        rows: tuple[int, ...] = (),
    ) -> None:
        super().__init__(message)
        self.path = path
        self.column = column
        self.rows = rows


class MissingExtraError(PrivstatsError, ImportError):
    """An optional part of privstats is not installed; the message says which extra to install."""

    def __init__(self, extra: str, purpose: str) -> None:
        super().__init__(f"{purpose} needs the '{extra}' extra: pip install 'privstats[{extra}]'")
        self.extra = extra


class ParameterError(PrivstatsError, ValueError):
    """An argument has a value that cannot work; the message names it and the valid range."""

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class ProtocolError(PrivstatsError):
    """A peer's message broke the protocol (wrong type, version, size or content)."""

    def __init__(self, message: str, *, peer: str | None = None, step: str | None = None) -> None:
        super().__init__(message)
        self.peer = peer
        self.step = step


class CryptoError(PrivstatsError):
    """A byte string is not a valid scalar or group element; says which and where."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class TransportError(PrivstatsError):
    """A message could not be sent or received."""

    def __init__(self, message: str, *, peer: str | None = None) -> None:
        super().__init__(message)
        self.peer = peer


class ChannelTimeoutError(TransportError):
    """The peer did not send the expected message within the channel's timeout."""


class ComputationError(PrivstatsError):
    """A party's role in a computation failed; ``party`` and ``step`` say where."""

    def __init__(self, message: str, *, party: str | None = None, step: str | None = None) -> None:
        super().__init__(message)
        self.party = party
        self.step = step


class ServiceError(PrivstatsError):
    """The hub refused a request or could not be reached; ``status`` is the HTTP status."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ServiceError):
    """A token, signature or request timestamp was not accepted (or a request was replayed)."""


class JobFailedError(PrivstatsError):
    """A job ended without a result: failed, rejected or cancelled, with who and why."""

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        state: str,
        party: str | None = None,
        step: str | None = None,
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.state = state
        self.party = party
        self.step = step


class AuditError(PrivstatsError):
    """The audit log does not verify: ``seq`` is the first broken entry."""

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq
