"""Atomic text writes: whole file or the old one, owner-only when private."""

from __future__ import annotations

import os
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


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep\n", encoding="utf-8")
    folder = tmp_path / "results"
    folder.mkdir()
    target = folder / "model.json"
    target.symlink_to(outside)
    write_text_atomically(target, "new\n", private=True)
    assert outside.read_text(encoding="utf-8") == "keep\n"
    assert not target.is_symlink()
    assert target.read_text(encoding="utf-8") == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_symlink_planted_as_the_temporary_file_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep\n", encoding="utf-8")
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / ".token.partial").symlink_to(outside)  # where the writer used to write
    write_text_atomically(folder / "token", "secret\n", private=True)
    assert outside.read_text(encoding="utf-8") == "keep\n"
    assert (folder / "token").read_text(encoding="utf-8") == "secret\n"
    assert not (folder / "token").is_symlink()


def test_the_mode_is_the_requested_one_whatever_was_there_or_the_umask(tmp_path: Path) -> None:
    stale = tmp_path / ".token.partial"  # left by a crash, world-readable
    stale.write_text("x", encoding="utf-8")
    stale.chmod(0o666)
    old = tmp_path / "token"
    old.write_text("old", encoding="utf-8")
    old.chmod(0o666)
    write_text_atomically(old, "new", private=True)
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    previous = os.umask(0o077)
    try:
        write_text_atomically(tmp_path / "report.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o644


def test_a_private_files_new_folder_is_owner_only(tmp_path: Path) -> None:
    write_text_atomically(tmp_path / "results" / "job" / "held.json", "{}", private=True)
    assert stat.S_IMODE((tmp_path / "results" / "job").stat().st_mode) == 0o700
