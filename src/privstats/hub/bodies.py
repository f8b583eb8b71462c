"""What callers may send the hub: request bodies, each field bounded in length and pattern.

Names are short lowercase identifiers; free texts have no control characters, so no text a
caller sends can forge a line in a log or a table. Bounds keep one request's work small.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "MAX_ROWS",
    "NAME_PATTERN",
    "TEXT_PATTERN",
    "ApprovalIn",
    "CompleteIn",
    "DatasetIn",
    "EnrolIn",
    "FailIn",
    "HeartbeatIn",
    "JobIn",
    "PartyIn",
    "TokenIn",
]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
"""Printable text: no control characters (no newlines that could forge log or table lines)."""
MAX_ROWS = 2**53
"""The largest row count a dataset may declare (exact as a JSON number everywhere)."""

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Reason = Annotated[str, Field(max_length=10_000)]
ColumnName = Annotated[str, Field(min_length=1, max_length=128, pattern=TEXT_PATTERN)]
TypeName = Annotated[str, Field(min_length=1, max_length=128, pattern=TEXT_PATTERN)]


class PartyIn(BaseModel):
    name: Name
    description: str = Field("", max_length=500, pattern=TEXT_PATTERN)


class TokenIn(BaseModel):
    name: Name
    role: Literal["admin", "analyst", "auditor"] = "analyst"


class EnrolIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    enrolment_token: str
    sign_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    box_key: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: str


class DatasetIn(BaseModel):
    name: Name
    format: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,15}$")
    rows: int = Field(ge=0, le=MAX_ROWS)
    columns: list[tuple[ColumnName, TypeName]] = Field(max_length=10_000)
    key_columns: list[ColumnName] = Field(max_length=100)
    signature: str = Field(max_length=256)


class JobIn(BaseModel):
    kind: Name
    parameters: dict[str, Any]
    parties: dict[Name, Name] = Field(max_length=1000)
    datasets: dict[Name, Name] = Field(max_length=1000)
    recipients: list[Name] | None = Field(None, min_length=1, max_length=100)
    node_timeout: float | None = Field(None, gt=0, le=86_400)


class ApprovalIn(BaseModel):
    decision: Literal["approve", "reject"]
    reason: Reason = ""
    manifest_hash: str
    signature: str


class HeartbeatIn(BaseModel):
    step: str | None = Field(None, max_length=64, pattern=TEXT_PATTERN)


class CompleteIn(BaseModel):
    result: dict[str, Any] | None = None
    result_commitment: str | None = Field(pattern=r"^[0-9a-f]{64}$")
    salt: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    signature: str = Field(max_length=256)


class FailIn(BaseModel):
    step: str | None = Field(None, max_length=64, pattern=TEXT_PATTERN)
    reason: Reason
