"""One local runner for every kind: each role in its own process, files on this machine.

``privstats run KIND`` and the library's ``run_local_*`` functions go through
:func:`run_kind_locally`: the roles run exactly as a node runs them (the kind's
``run_role``), over TCP on loopback instead of the hub's relay.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privstats.data.readers import check_data_file
from privstats.disclosure.owner import NO_OWNER_RULES, OwnerRules
from privstats.errors import ComputationError, DatasetError, ParameterError
from privstats.jobs.kind import JobKind, RoleContext, RoleOutput
from privstats.jobs.local import PartyOutcome, ProgressSink, run_local
from privstats.progress import Progress
from privstats.transport.channel import Channel

__all__ = ["LocalRun", "local_parties", "run_kind_locally"]


@dataclass(frozen=True)
class LocalRun:
    """The released result of a local run (with ``seconds``), every party's data warnings,
    what running cost each party, and the files each role keeps for itself."""

    result: dict[str, Any]
    warnings: list[str]
    outcomes: dict[str, PartyOutcome]
    local_files: dict[str, dict[str, str]]


def local_parties(kind: JobKind, files: Mapping[str, str | Path]) -> dict[str, str]:
    """Role → party name of a local run: fixed roles are their own parties; the other
    entries of ``files`` (party name → file) are the numbered parties, in order."""
    numbered = [name for name in files if name not in kind.roles]
    missing = [role for role in kind.file_roles() if role not in files]
    if missing:
        raise ParameterError(
            f"a {kind.name} run needs a file for role {', '.join(missing)}", parameter=missing[0]
        )
    parties = {role: role for role in kind.roles}
    if kind.parties is None:
        if numbered:
            raise ParameterError(
                f"a {kind.name} run has roles {', '.join(kind.roles)}; got also "
                f"{', '.join(numbered)}",
                parameter="parties",
            )
        return parties
    least, most = kind.parties
    if not least <= len(numbered) <= most:
        raise ParameterError(
            f"{_article(kind.name)} {kind.name} run needs {least} to {most} parties, got "
            f"{len(numbered)}",
            parameter="party",
        )
    parties.update({f"party{i}": name for i, name in enumerate(numbered, start=1)})
    return parties


def refuse_shared_files(parties: Mapping[str, str | Path]) -> None:
    """Refuse two like parties given the same file, or files with the same contents: their
    records would be pooled twice. Contents are compared by SHA-256, only between files
    of equal size. The files must exist (:func:`check_data_file`)."""
    by_size: dict[int, list[str]] = {}
    for name, path in parties.items():
        by_size.setdefault(Path(path).stat().st_size, []).append(name)
    for names in by_size.values():
        seen: dict[bytes, str] = {}
        for name in names if len(names) > 1 else ():
            with open(parties[name], "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").digest()
            if digest in seen:
                first = seen[digest]
                same = Path(parties[first]).resolve() == Path(parties[name]).resolve()
                what = "the same file" if same else "files with identical contents"
                raise DatasetError(
                    f"parties {first!r} and {name!r} are given {what} ({parties[first]}, "
                    f"{parties[name]}); its records would be counted twice. Give each party "
                    "the file of its own records",
                    path=str(parties[name]),
                )
            seen[digest] = name


def _role_process(
    channel: Channel,
    progress: Progress,
    *,
    kind: str,
    role: str,
    parties: dict[str, str],
    path: str,
    spec: Any,
    owner: OwnerRules,
) -> RoleOutput:
    from privstats.jobs.kinds import get_kind  # the registry: imported in the party's process

    context = RoleContext(owner=owner)
    return get_kind(kind).run_role(role, channel, parties, path, spec, progress, context)


def run_kind_locally(
    kind: JobKind,
    files: Mapping[str, str | Path],
    spec: Any,
    *,
    progress: ProgressSink | None = None,
    timeout: float = 600.0,
    owners: Mapping[str, OwnerRules] | None = None,
) -> LocalRun:
    """Run every role of ``kind`` on this machine, each in its own process.

    ``files``: a fixed role → its file, and for kinds of like parties, party name → file.
    ``owners``: role → the release rules its data owner imposes (none by default).
    """
    parties = local_parties(kind, files)
    like = {party: files[party] for role, party in parties.items() if role not in kind.roles}
    paths = {role: str(files[role]) for role in kind.file_roles()}
    paths |= {role: "" for role in kind.dataless_roles}
    paths |= {role: str(files[party]) for role, party in parties.items() if party in like}
    for role in kind.file_roles():
        check_data_file(paths[role], f"{role} file")
    for party, path in like.items():
        check_data_file(path, f"file of party {party!r}")
    refuse_shared_files(like)
    started = time.perf_counter()
    outcomes = run_local(
        {
            party: (
                _role_process,
                {
                    "kind": kind.name,
                    "role": role,
                    "parties": parties,
                    "path": paths[role],
                    "spec": spec,
                    "owner": (owners or {}).get(role, NO_OWNER_RULES),
                },
            )
            for role, party in parties.items()
        },
        progress=progress,
        timeout=timeout,
    )
    seconds = time.perf_counter() - started
    outputs: dict[str, RoleOutput] = {
        role: outcomes[party].output for role, party in parties.items()
    }
    released = outputs[kind.result_role].result
    if released is None:
        raise ComputationError(f"the {kind.result_role} role of {kind.name} released nothing")
    return LocalRun(
        {**released, "seconds": round(seconds, 3)},
        [warning for output in outputs.values() for warning in output.warnings],
        outcomes,
        {role: dict(output.local_files) for role, output in outputs.items() if output.local_files},
    )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
