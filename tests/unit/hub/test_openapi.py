"""The hub's OpenAPI document states the shape of every route's answer.

Nodes and clients read the hub's answers through ``privstats.service.models``; a route
without a declared response schema would be an answer nobody can check.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from hub_harness import API, Hub

from privstats.hub import routes as hub_routes
from privstats.service.models import JOB_STATES


def _openapi(hub: Hub) -> dict[str, Any]:
    response = hub.client.get(f"{API}/openapi.json")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or what its ``$ref`` names in the document's components."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    prefix = "#/components/schemas/"
    assert ref.startswith(prefix), ref
    resolved: dict[str, Any] = document["components"]["schemas"][ref.removeprefix(prefix)]
    return resolved


def _declared_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of every router in ``privstats.hub.routes``."""
    operations = set()
    for module_info in pkgutil.iter_modules(hub_routes.__path__):
        module = importlib.import_module(f"{hub_routes.__name__}.{module_info.name}")
        router = getattr(module, "router", None)
        for route in router.routes if isinstance(router, APIRouter) else ():
            if isinstance(route, APIRoute):
                operations.update((m.lower(), API + route.path) for m in route.methods)
    return operations


def test_every_route_is_in_the_openapi_document(hub: Hub) -> None:
    paths = _openapi(hub)["paths"]
    declared = _declared_routes()

    assert len(declared) >= 20  # the whole API, not an empty package
    assert {
        (method, path) for method, path in declared if method not in paths.get(path, {})
    } == set()


def test_every_route_declares_a_success_response_schema(hub: Hub) -> None:
    document = _openapi(hub)
    operations = [
        (method, path)
        for path, methods in document["paths"].items()
        for method in methods
        if method in ("get", "put", "post", "delete", "patch")
    ]
    assert len(operations) >= 20

    missing = []
    for method, path in operations:
        operation = document["paths"][path][method]
        schemas = [
            _resolve(document, content["schema"])
            for status, response in operation["responses"].items()
            if status.startswith("2")
            for content in response.get("content", {}).values()
            if content.get("schema")
        ]
        if not any(schema.get("type") or schema.get("properties") for schema in schemas):
            missing.append(f"{method.upper()} {path}")

    assert missing == [], f"routes without a 2xx response schema: {missing}"


def test_job_views_name_their_states(hub: Hub) -> None:
    schemas = _openapi(hub)["components"]["schemas"]

    state = schemas["JobView"]["properties"]["state"]
    assert state["enum"] == list(JOB_STATES)
    assert {"approvals", "failure", "parties", "pending_approvals"} <= set(
        schemas["JobView"]["required"]
    )


def test_the_relay_fetch_is_declared_as_msgpack(hub: Hub) -> None:
    operation = _openapi(hub)["paths"][f"{API}/jobs/{{job_id}}/messages"]["get"]

    assert list(operation["responses"]["200"]["content"]) == ["application/msgpack"]
