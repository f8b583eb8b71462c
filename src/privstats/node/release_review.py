"""A result held at the node until its data owner releases or withholds it.

Jobs that release record-level data (synthetic microdata) do not send their result to the
hub when the computation ends. The node keeps it in the job's results folder
(``held-result.json``, owner-only) beside the files the owner reviews, and the owner
answers with ``privstats node release JOB`` or ``privstats node withhold JOB --reason …``,
which write ``release-decision.json`` there. The node agent reads the decision on its next
poll — also after a restart — and only then completes the job (sending exactly the held
result) or fails it with the owner's reason. Files, not the hub, carry the decision: the
review happens next to the data, and nothing leaves before it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from privstats.errors import ParameterError
from privstats.files import write_text_atomically

__all__ = [
    "AWAITING_REVIEW",
    "ReleaseDecision",
    "decide",
    "decision_of",
    "forget_held",
    "held_result",
    "hold",
    "is_held",
]

AWAITING_REVIEW = "awaiting the data owner's release review"
"""The step a held job shows at the hub."""

_HELD = "held-result.json"
_DECISION = "release-decision.json"
_PAST = {"release": "released", "withhold": "withheld"}


@dataclass(frozen=True)
class ReleaseDecision:
    """The owner's answer: ``release`` the held result, or ``withhold`` it (with a reason)."""

    action: Literal["release", "withhold"]
    note: str
    at: float


def hold(folder: Path, result: dict[str, Any]) -> None:
    """Keep ``result`` in ``folder`` until the owner decides."""
    write_text_atomically(folder / _HELD, json.dumps(result), private=True)


def is_held(folder: Path) -> bool:
    return (folder / _HELD).is_file()


def held_result(folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((folder / _HELD).read_text(encoding="utf-8"))
    return result


def forget_held(folder: Path) -> None:
    """Drop the held copy once the hub has it (the reviewed files stay)."""
    (folder / _HELD).unlink(missing_ok=True)


def decision_of(folder: Path) -> ReleaseDecision | None:
    """The owner's decision on the result held in ``folder``, if made."""
    path = folder / _DECISION
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return ReleaseDecision(data["action"], str(data["note"]), float(data["at"]))


def decide(
    folder: Path, job_id: str, action: Literal["release", "withhold"], note: str
) -> ReleaseDecision:
    """Record the owner's decision on job ``job_id``'s held result; it cannot be changed."""
    if not is_held(folder):
        held = sorted(p.parent.name for p in folder.parent.glob(f"*/{_HELD}"))
        raise ParameterError(
            f"job {job_id} has no result awaiting review at this node (awaiting: "
            f"{', '.join(held) or 'none'})",
            parameter="job",
        )
    earlier = decision_of(folder)
    if earlier is not None:
        raise ParameterError(
            f"job {job_id}'s result was already {_PAST[earlier.action]} here; a decision is final",
            parameter="job",
        )
    if action == "withhold" and not note.strip():
        raise ParameterError("say why the release is withheld (--reason)", parameter="reason")
    decision = ReleaseDecision(action, note, time.time())
    write_text_atomically(
        folder / _DECISION,
        json.dumps({"action": action, "note": note, "at": decision.at}),
        private=True,
    )
    return decision
