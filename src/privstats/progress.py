"""How long work reports how far it has got: one callback type for every layer."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "no_progress"]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(step, done, total)`` while a party works through a step."""


def no_progress(step: str, done: int, total: int) -> None:
    """A progress report that goes nowhere."""
    return None
