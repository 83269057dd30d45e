"""The OpenAPI document: served without a session, valid, and true to the app's routes."""

from __future__ import annotations

from typing import Any

import schemathesis

from gateway.web.openapi import DOCUMENT
from tests.web.conftest import Client

METHODS = {"get", "put", "post", "delete", "patch"}
JSON = "application/json"
STREAMED = ("/api/v1/events/stream", "200")  # Server-Sent Events; its errors are JSON


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def routed(client: Client) -> set[tuple[str, str]]:
    found = set()
    for route in client.gateway.web_app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path", "")
        if route.method != "HEAD":
            found.add((route.method, path))
    return found


async def test_the_document_is_served_without_a_session(client: Client) -> None:
    status, body, _ = await client.call("GET", "/api/v1/openapi.json")
    assert status == 200 and body == DOCUMENT
    assert body["openapi"].startswith("3.1")


async def test_every_native_route_is_documented_and_nothing_else(client: Client) -> None:
    routes = routed(client)
    native = {(m, p) for m, p in routes if p.startswith("/api/v1/")}
    docs = documented(DOCUMENT)
    assert native == {(m, p) for m, p in docs if p.startswith("/api/v1/")}
    assert docs <= routes  # the other documented paths (OpenDoor) exist too


def test_the_document_is_valid_openapi() -> None:
    schema = schemathesis.openapi.from_dict(DOCUMENT)
    schema.validate()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(documented(DOCUMENT))


def test_every_operation_documents_its_errors_as_json() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert "413" in statuses, (method, path)
            if operation.get("security") != []:
                assert "401" in statuses, (method, path)
            for status, answer in operation["responses"].items():
                media = ["text/event-stream"] if (path, status) == STREAMED else [JSON]
                assert list(answer["content"]) == media, (method, path)
