"""The watchdog blames a silent node, not its own stall."""

from __future__ import annotations

from privstats.hub.context import silence_counted_from


def test_rounds_on_schedule_keep_counting_from_the_hubs_start() -> None:
    assert silence_counted_from(100.0, 170.0, 171.0, watchdog_seconds=1.0) == 100.0
    assert silence_counted_from(100.0, 170.0, 174.9, watchdog_seconds=1.0) == 100.0


def test_a_stalled_hub_counts_silence_afresh_from_its_wake_up() -> None:
    # 77 s between two rounds scheduled 1 s apart: the hub, not the node, was silent
    assert silence_counted_from(100.0, 170.0, 247.0, watchdog_seconds=1.0) == 247.0
    # the threshold scales with a slow watchdog
    assert silence_counted_from(100.0, 170.0, 215.0, watchdog_seconds=10.0) == 100.0
    assert silence_counted_from(100.0, 170.0, 221.0, watchdog_seconds=10.0) == 221.0
