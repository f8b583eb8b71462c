"""What both parties of a coverage job agree on before it runs: :class:`CoverageSpec`.

Kept apart from :mod:`.coverage` (the roles and the release) so that each module holds
one thing; :mod:`.coverage` re-exports it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from privstats.data.identifiers import NormalizationSpec
from privstats.disclosure.dp_release import DpTerms
from privstats.errors import ParameterError
from privstats.jobs import coverage_dp, linkage_adjust
from privstats.jobs.spec import Spec
from privstats.linkage.match_keys import fields_of, parse_rules
from privstats.protocols.psi import DEFAULT_CHUNK_SIZE

__all__ = ["CoverageSpec"]


class CoverageSpec(Spec):
    """Everything both parties must agree on before a coverage computation runs."""

    _option: ClassVar[str] = "coverage option"

    _renamed: ClassVar[dict[str, str]] = {"source_key": "peer_key", "min_domain": "min_cell"}

    key: str = Field(
        min_length=1, description="Identifier column of the register (and of the source)."
    )
    peer_key: str | None = Field(
        None, description="Identifier column of the source, if named differently."
    )
    by: tuple[str, ...] = Field(
        (), description="Domain columns of the register, e.g. region,age_group."
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of the intervals.")
    method: Literal["wilson", "clopper-pearson"] = Field(
        "wilson", description="Interval method: wilson or clopper-pearson."
    )
    min_cell: int = Field(
        10, ge=1, description="Cells with fewer persons (register or matched) are suppressed."
    )
    normalization: NormalizationSpec = Field(
        NormalizationSpec(), description="How identifiers are normalised before matching."
    )
    chunk_size: int = Field(
        DEFAULT_CHUNK_SIZE, ge=1, le=262_144, description="Identifiers per protocol message."
    )
    dp: DpTerms | None = Field(
        None,
        description="Differential privacy terms (--dp-*): noise added inside the protocol "
        "instead of suppressing cells.",
    )
    match_keys: tuple[str, ...] = Field(
        (),
        description="Match-key rule, e.g. 'soundex(surname)+dob+sex' (repeatable): a person "
        "is covered when ANY rule's key matches the source's; without it, --key is matched.",
    )
    linkage_errors: tuple[float, ...] = Field((), description=linkage_adjust.FIELD_DESCRIPTION)
    source_fields: dict[str, str] = Field(
        {},
        description="A rule's column → the source's column where it is named differently "
        "(NAME=COL, repeatable).",
    )

    @field_validator("by")
    @classmethod
    def _distinct_columns(cls, by: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(by)) != len(by) or any(not col for col in by):
            raise ValueError(f"domain columns must be distinct and non-empty, got {list(by)}")
        return by

    @model_validator(mode="after")
    def _dp_terms(self) -> CoverageSpec:
        if self.dp is not None:
            coverage_dp.check_terms(self.dp, self.key, self.peer_key)
        return self

    @model_validator(mode="after")
    def _linkage_errors(self) -> CoverageSpec:
        if self.linkage_errors and self.dp is not None:
            raise ValueError("--linkage-errors does not combine with --dp-epsilon yet")
        try:
            linkage_adjust.given_errors(self.linkage_errors)
        except ParameterError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _match_keys(self) -> CoverageSpec:
        if not self.match_keys:
            if self.source_fields:
                raise ValueError("source_fields renames the columns of --match-key rules; give one")
            return self
        if self.dp is not None:
            raise ValueError(
                "--match-key does not combine with --dp-epsilon yet; use the table rules "
                "(--min-cell) or a common identifier (--key) with DP"
            )
        if self.peer_key is not None:
            raise ValueError(
                "with --match-key the source is read by the rules' columns, not --source-key; "
                "rename them with --source-field NAME=COL"
            )
        try:
            rules = parse_rules(self.match_keys)
        except ParameterError as exc:
            raise ValueError(str(exc)) from None
        unknown = sorted(set(self.source_fields) - set(fields_of(rules)))
        if unknown:
            raise ValueError(
                f"source_fields names {unknown}, which no --match-key rule reads "
                f"(the rules read {list(fields_of(rules))})"
            )
        return self
