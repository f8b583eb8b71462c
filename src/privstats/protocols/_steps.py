"""Small pieces every protocol's party steps share: identifiers as bytes, progress reports."""

from __future__ import annotations

from collections.abc import Callable

from privstats.errors import ParameterError
from privstats.progress import Progress, no_progress

__all__ = ["Progress", "encode_identifier", "no_progress", "progress_counter"]


def encode_identifier(item: str | bytes) -> bytes:
    """An identifier as the UTF-8 bytes that are hashed; bytes pass through unchanged."""
    if isinstance(item, str):
        try:
            return item.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParameterError(
                f"identifier {item!r} is not valid Unicode text (it holds a lone surrogate)",
                parameter="ids",
            ) from exc
    if isinstance(item, bytes):
        return item
    raise TypeError(f"identifiers must be str or bytes, not {type(item).__name__}")


def progress_counter(report: Progress, step: str, total: int) -> Callable[[int], None]:
    """A tick function that reports the running count of ``step`` to ``report``.

    The step is reported once at zero straight away, so that a display shows it while
    its first chunk is still being worked on.
    """
    done = 0
    report(step, 0, total)

    def tick(n: int) -> None:
        nonlocal done
        done += n
        report(step, done, total)

    return tick
