"""Writing a file so that readers see the old one or the whole new one, never half of it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_text_atomically"]


def write_text_atomically(path: str | Path, text: str, *, private: bool = False) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, then rename.

    ``private``: the file is readable by its owner only (tokens, predictions).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
