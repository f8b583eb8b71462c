"""What a computation kind declares, once, and everything else derives from.

A kind's module (``jobs/<kind>.py``) ends with one ``KIND = JobKind(...)``: its spec (a
pydantic model whose field descriptions are the command line's help), its roles and the
columns each role reads, what its release discloses, the privacy budget it spends, how
each role runs, and how its result renders. From that one declaration come the hub's job
kind, the node's policy check, ``Federation.submit``, ``privstats run KIND``,
``privstats submit KIND`` and the console's tables. :mod:`privstats.jobs.kinds` lists the
kinds, one line each.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from privstats.disclosure.budget import Budget
from privstats.disclosure.owner import NO_OWNER_RULES, OwnerRules
from privstats.errors import ParameterError
from privstats.jobs.render import Rendering, json_rendering
from privstats.jobs.spec import spec_error
from privstats.progress import Progress
from privstats.transport.channel import Channel

__all__ = [
    "NO_CONTEXT",
    "CliField",
    "JobKind",
    "LocalOption",
    "RoleContext",
    "RoleOutput",
    "RoleRunner",
]


@dataclass(frozen=True)
class RoleOutput:
    """What one role produced: the released result (or None) and data warnings.

    ``local_files`` (file name → text) stay with the party: the node writes them to its
    own results folder and never sends them to the hub (a querier's predictions, the
    trained model an office received).
    """

    result: dict[str, Any] | None
    warnings: list[str]
    local_files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RoleContext:
    """What a role learns from where it runs (the node or a local run), beyond the spec.

    ``peer_rows``: role → the row count the other roles' datasets declare (as the hub lists
    them; a role missing when unknown), which bounds what a peer may announce. ``owner``:
    the release rules the owner of this role's dataset imposes (its node's policy and
    release history). ``further_dataset``: the file of a further input the spec names by
    name (the linkage kind's clerical review): in a local run the name is the file; a node
    accepts only one of its own registered datasets, so a spec cannot make it read a file
    its owner did not offer.
    """

    peer_rows: Mapping[str, int] = field(default_factory=dict)
    owner: OwnerRules = NO_OWNER_RULES
    further_dataset: Callable[[str], str] = str


NO_CONTEXT = RoleContext()

RoleRunner = Callable[
    [str, Channel, Mapping[str, str], str, Any, Progress | None, RoleContext], RoleOutput
]
"""``run(role, channel, parties (role → party), dataset path, spec, progress, context)``."""


@dataclass(frozen=True)
class CliField:
    """How one spec field appears on the command line, where the default does not fit.

    By default field ``min_cell`` is the option ``--min-cell``; a tuple of names is
    repeatable and also takes comma-separated names (``--by region,sex``); a nested model's
    fields are options of their own. ``parse`` turns the option's texts into the field's
    value (``--bounds age=0:120``).
    """

    option: str | None = None
    aliases: tuple[str, ...] = ()
    split: bool = True
    hidden: bool = False
    help: str | None = None
    parse: Callable[[list[str]], Any] | None = None


@dataclass(frozen=True)
class LocalOption:
    """An option of ``privstats run KIND`` only (a local yardstick, an output file)."""

    name: str
    type: type
    default: Any
    help: str


@dataclass(frozen=True)
class JobKind:
    """One computation the service can run.

    ``roles`` names a kind's fixed roles. A kind with ``parties`` = (least, most) also
    takes any number of like parties in that range, as roles ``party1`` … ``partyN``.
    ``dataless_roles`` are fixed roles whose party brings no dataset (a coordinator).
    A kind that ``releases_records`` (synthetic microdata) may not read key columns, and
    its result waits at the node for the data owner's review before it is released.
    """

    name: str
    title: str
    """One line: what the kind computes (the help of its commands)."""
    roles: tuple[str, ...]
    result_role: str
    spec_type: type[BaseModel]
    columns: Callable[[Any, str], tuple[str, ...]]
    disclosure: Callable[[Any], dict[str, Any]]
    run_role: RoleRunner
    description: str = ""
    """A few lines for ``--help``: who learns what."""
    role_help: Mapping[str, str] = field(default_factory=dict)
    """Role (``party`` for numbered parties) → what its file or dataset holds."""
    parties: tuple[int, int] | None = None
    dataless_roles: tuple[str, ...] = ()
    releases_records: bool = False
    budget: Callable[[Any], Budget | None] = lambda _spec: None
    """The privacy budget a job of this kind spends (None: it spends none)."""
    render: Callable[[Mapping[str, Any]], Rendering] = json_rendering
    """The released result as tables and lines for a console or a page."""
    cli: Mapping[str, CliField] = field(default_factory=dict)
    """Spec field (``normalization.remove`` for nested ones) → how it is typed."""
    role_options: Mapping[str, str] = field(default_factory=dict)
    """Role → the option ``privstats run`` reads its file from (default ``--<role>``)."""
    local_options: tuple[LocalOption, ...] = ()
    finish_local: (
        Callable[[dict[str, Any], Mapping[str, Path], Any, Mapping[str, Any]], None] | None
    ) = None
    """Called after a local run with (result, files, spec, local options): may add to the
    result what only a local run can know (a yardstick) and write local outputs."""

    @property
    def command(self) -> str:
        """The kind's name on the command line: ``join-aggregate``."""
        return self.name.replace("_", "-")

    def file_roles(self) -> tuple[str, ...]:
        """The fixed roles that bring a dataset."""
        return tuple(role for role in self.roles if role not in self.dataless_roles)

    def check_roles(self, roles: Collection[str]) -> tuple[str, ...]:
        """The roles of a job in their canonical order; a ParameterError if they do not fit."""
        if self.parties is None:
            if set(roles) != set(self.roles):
                raise ParameterError(
                    f"a {self.name} job needs parties for roles {', '.join(self.roles)}; got "
                    f"{', '.join(sorted(roles)) or 'none'}",
                    parameter="parties",
                )
            return self.roles
        least, most = self.parties
        numbered = len(roles) - len(self.roles)
        expected = (*self.roles, *(f"party{i}" for i in range(1, numbered + 1)))
        if not least <= numbered <= most or set(roles) != set(expected):
            fixed = f"a party in role {', '.join(self.roles)} and " if self.roles else ""
            raise ParameterError(
                f"a {self.name} job needs {fixed}{least} to {most} parties in roles party1, "
                f"party2, …; got {', '.join(sorted(roles)) or 'none'}",
                parameter="parties",
            )
        return expected

    def parse(self, parameters: Mapping[str, Any]) -> Any:
        """Validate ``parameters``; errors become a ParameterError naming the field."""
        try:
            return self.spec_type(**parameters)
        except ValidationError as exc:
            raise spec_error(exc, f"{self.name} parameter") from exc


def from_tuple(run: Callable[..., tuple[Any, ...]]) -> RoleRunner:
    """A role runner from a job module's ``run_role`` returning (result, warnings[, files])."""

    def run_role(
        role: str,
        channel: Channel,
        parties: Mapping[str, str],
        path: str,
        spec: Any,
        progress: Progress | None,
        _context: RoleContext,
    ) -> RoleOutput:
        return RoleOutput(*run(role, channel, parties, path, spec, progress))

    return run_role
