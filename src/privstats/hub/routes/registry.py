"""Registry routes: health, parties and their enrolment, people's tokens, datasets."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from privstats.hub import registry
from privstats.hub.access import need
from privstats.hub.bodies import DatasetIn, EnrolIn, PartyIn, TokenIn
from privstats.hub.context import Caller, State
from privstats.hub.store import Dataset, Party
from privstats.hub.views import dataset_view, party_view
from privstats.service.models import (
    DatasetDeclared,
    DatasetView,
    EnrolmentView,
    HealthView,
    PartyInvitation,
    PartyView,
    TokenCreated,
)
from privstats.version import __version__

__all__ = ["router"]

router = APIRouter(tags=["registry"])


@router.get("/health", response_model=HealthView)
def health() -> HealthView:
    return HealthView(status="ok", version=__version__)


@router.post("/parties", status_code=201, response_model=PartyInvitation)
def add_party(body: PartyIn, who: Caller, state: State) -> PartyInvitation:
    """Invite a party (admin): its one-time enrolment token, shown only here."""
    need(who, "admin")
    ttl = state.settings.enrolment_ttl
    with state.store.write() as session:
        token = registry.invite_party(session, who, body.name, body.description, ttl)
    return PartyInvitation(name=body.name, enrolment_token=token, expires_in=ttl)


@router.get("/parties", response_model=list[PartyView])
def list_parties(who: Caller, state: State) -> list[PartyView]:
    with state.store.read() as session:
        return [party_view(p) for p in session.scalars(select(Party).order_by(Party.name))]


@router.post("/enrol", response_model=EnrolmentView)
def enrol(body: EnrolIn, state: State) -> EnrolmentView:
    """A node enrols its public keys with a one-time token, signed with the key it enrols."""
    payload = {"name": body.name, "sign_key": body.sign_key, "box_key": body.box_key}
    registry.check_enrolment_proof(payload, body.signature)
    with state.store.write() as session:
        enrolled_at = registry.enrol_party(
            session, body.name, body.enrolment_token, body.sign_key, body.box_key, body.signature
        )
    return EnrolmentView(name=body.name, enrolled_at=enrolled_at)


@router.post("/tokens", status_code=201, response_model=TokenCreated)
def add_token(body: TokenIn, who: Caller, state: State) -> TokenCreated:
    """Create a person's bearer token (admin), shown only here."""
    need(who, "admin")
    with state.store.write() as session:
        token = registry.create_token(session, who, body.name, body.role)
    return TokenCreated(name=body.name, role=body.role, token=token)


@router.post("/datasets", response_model=DatasetDeclared)
def declare_dataset(body: DatasetIn, who: Caller, state: State) -> DatasetDeclared:
    """A node declares (or re-declares) a dataset's schema and row count, signed."""
    need(who, "node")
    statement = {
        "party": who.name,
        "name": body.name,
        "format": body.format,
        "rows": body.rows,
        "columns": [list(column) for column in body.columns],
        "key_columns": body.key_columns,
    }
    with state.store.write() as session:
        changed = registry.declare_dataset(session, who, statement, body.signature)
    return DatasetDeclared(party=who.name, name=body.name, changed=changed)


@router.get("/datasets", response_model=list[DatasetView])
def list_datasets(who: Caller, state: State) -> list[DatasetView]:
    with state.store.read() as session:
        query = select(Dataset).order_by(Dataset.party, Dataset.name)
        return [dataset_view(d) for d in session.scalars(query)]
