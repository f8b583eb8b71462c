"""Fixtures of the hub tests: a fresh hub, and one with two enrolled nodes and an analyst."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hub_harness import Hub, MakeHub, TestClient

from privstats.hub.app import HubSettings, create_app
from privstats.hub.server import ADMIN_TOKEN_FILE, bootstrap_admin
from privstats.hub.store import Store


def hub_factory(folder: Path, stack: ExitStack) -> MakeHub:
    """Start hubs in ``folder`` (app lifespan and watchdog running) that ``stack`` stops."""
    count = 0

    def start(settings: HubSettings | None = None) -> Hub:
        nonlocal count
        count += 1
        data = folder / f"hub{count}"
        data.mkdir()
        store = Store.sqlite(data / "hub.db")
        stack.callback(store.close)
        assert bootstrap_admin(store, data) == data / ADMIN_TOKEN_FILE
        token = (data / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
        client = stack.enter_context(TestClient(create_app(store, settings)))
        return Hub(client=client, store=store, db_path=data / "hub.db", admin_token=token)

    return start


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[MakeHub]:
    with ExitStack() as stack:
        yield hub_factory(tmp_path, stack)


@pytest.fixture
def hub(make_hub: MakeHub) -> Hub:
    return make_hub()


@pytest.fixture
def federation(hub: Hub) -> Hub:
    return hub.federate()


@pytest.fixture(scope="module")
def make_module_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeHub]:
    """Start hubs shared by the tests of one module; they stop after its last test."""
    with ExitStack() as stack:
        yield hub_factory(tmp_path_factory.mktemp("hubs"), stack)


@pytest.fixture(scope="module")
def shared_federation(make_module_hub: MakeHub) -> Hub:
    """One federation for a module's tests that leave the registry as it is: they only
    make refused requests, or work on jobs of their own."""
    return make_module_hub().federate()
