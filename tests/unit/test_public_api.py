"""The public API is explicit: ``__all__`` is sorted, complete and importable."""

from __future__ import annotations

import types

import privstats


def test_all_is_sorted_and_importable() -> None:
    assert privstats.__all__ == sorted(privstats.__all__)
    for name in privstats.__all__:
        assert hasattr(privstats, name), name


def test_every_public_name_is_in_all() -> None:
    public = {
        name
        for name, value in vars(privstats).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(privstats.__all__), public - set(privstats.__all__)


def test_every_error_is_a_privstats_error() -> None:
    for name in privstats.__all__:
        value = getattr(privstats, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, privstats.PrivstatsError), name
