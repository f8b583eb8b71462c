"""Writing a file so that readers see the old one or the whole new one, never half of it.

The text goes to a new temporary file beside the target, created with ``O_EXCL`` and
``O_NOFOLLOW`` under a random name (so nothing planted there, such as a symbolic link to
another file, is ever opened or truncated) and set to exactly the requested mode with
``fchmod`` (neither the umask nor an old file's mode decides it); then it is renamed over
the target. A rename replaces a symbolic link at the target itself; it never writes where
the link points.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["write_text_atomically"]

_PRIVATE, _PUBLIC = 0o600, 0o644


def write_text_atomically(path: str | Path, text: str, *, private: bool = False) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, then rename.

    ``private``: the file is readable by its owner only (tokens, predictions), and a folder
    created for it too; otherwise the file is 0644.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
    mode = _PRIVATE if private else _PUBLIC
    partial = target.with_name(f".{target.name}.{secrets.token_hex(8)}.partial")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(partial, flags, _PRIVATE)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1  # the file object owns it now
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        partial.unlink(missing_ok=True)
        raise
