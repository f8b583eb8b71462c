"""Atomic text writes: whole file or the old one, owner-only when private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from privstats.files import write_text_atomically


def test_the_file_is_replaced_whole_and_private_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "token"
    write_text_atomically(path, "old\n", private=True)
    write_text_atomically(path, "new\n", private=True)
    assert path.read_text(encoding="utf-8") == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["token"]


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_text_atomically(path, "old")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomically(path, "bad \udc80")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
