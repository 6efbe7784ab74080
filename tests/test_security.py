"""Every route with a user in its path is guarded by `identity`, in structure and behaviour.

The routers are found generically (every public `*_router` method of `ADKStore` and every
`*_router` function the package exports), so a router added later is checked too.
Routes without `{user_id}` must be listed in `EXEMPT`, with the reason.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fastapi.routing
import httpx
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from google.adk.events.event import Event

import fastapi_adk_store
from fastapi_adk_store import ADKStore, AsyncpgSessionService, StoreSettings

from ._helpers import client_for

RouterFactory = Callable[..., APIRouter]
Identity = Callable[..., Any]

USER_PARAM = "user_id"
APP = "sec"
# Routes without a user in the path, and why they need no identity check.
EXEMPT: dict[tuple[str, str], str] = {
    ("GET", "/health"): "no user in the path: schema version and pool numbers only",
    ("GET", "/metrics"): "no user in the path: process-wide counts by operation and pool "
    "numbers, no ids among the labels",
}
# A minimal valid body for each route that takes one (by route name).
BODIES: dict[str, Any] = {
    "adk_store:create_session": {"sessionId": "intruder", "state": {"k": "evil"}},
    "adk_store:create_session_with_id": {"k": "evil"},
    "adk_store:update_session": {"stateDelta": {"k": "evil"}},
    "adk_store:append_event": {
        "author": "user",
        "invocationId": "evil",
        "actions": {"stateDelta": {"k": "evil"}},
    },
    "adk_store:add_session_to_memory": {"sessionId": "s-alice"},
    "adk_store:save_artifact": {"filename": "evil.txt", "artifact": {"text": "evil"}},
}
# Path values that differ from the default (a create must not hit an existing id).
PATH_OVERRIDES: dict[str, dict[str, str]] = {
    "adk_store:create_session_with_id": {"session_id": "intruder-2"},
    "adk_store:get_artifact_version_metadata": {"version_id": "0"},
    "adk_store:load_artifact_version": {"version_id": "latest"},
}
# Path parameters the routes share: `{name}` or `{name:convertor}`.
_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
DEFAULT_ARTIFACT = "reports/evil.pdf"


async def alice() -> str:
    """The identity dependency of these tests: the caller is always alice."""
    return "alice"


def router_factories(plugin: ADKStore) -> dict[str, RouterFactory]:
    """Every router the package offers: ADKStore's `*_router` methods, exported functions."""
    factories: dict[str, RouterFactory] = {}
    for name in sorted(dir(ADKStore)):
        if name.endswith("_router") and not name.startswith("_"):
            factories[f"ADKStore.{name}"] = getattr(plugin, name)
    for name in sorted(fastapi_adk_store.__all__):
        if name.endswith("_router"):
            factories[name] = getattr(fastapi_adk_store, name)
    return factories


def _takes_identity(factory: RouterFactory) -> bool | None:
    """True/False when the signature says; None when it only has **kwargs."""
    parameters = inspect.signature(factory).parameters
    if "identity" in parameters:
        return True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return False


def build_router(factory: RouterFactory, identity: Identity | None) -> APIRouter:
    """The router with `identity=` when it takes one (else without: the checker judges)."""
    takes = _takes_identity(factory)
    if identity is None or takes is False:
        return factory()
    if takes:
        return factory(identity=identity)
    try:  # **kwargs passed on: the wrapped factory decides
        return factory(identity=identity)
    except TypeError as error:
        if "identity" not in str(error):
            raise
        return factory()


def app_with_routers(plugin: ADKStore, routers: list[APIRouter]) -> FastAPI:
    """An app with these routers only (no docs routes)."""
    app = FastAPI(lifespan=plugin.lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    for router in routers:
        app.include_router(router)
    return app


def every_router_app(plugin: ADKStore, identity: Identity | None) -> FastAPI:
    routers = [build_router(f, identity) for f in router_factories(plugin).values()]
    return app_with_routers(plugin, routers)


@dataclass(frozen=True)
class Route:
    """An API route as the app serves it (its path with any include prefix)."""

    name: str
    path: str
    methods: frozenset[str]
    dependant: Dependant
    has_body: bool


def api_routes(app: FastAPI) -> list[Route]:
    """Every API route of the app, routers included (FastAPI >= 0.13x includes lazily)."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iter_contexts(app.routes)) if iter_contexts else app.routes
    routes: list[Route] = []
    for context in contexts:
        original = getattr(context, "original_route", context)
        assert isinstance(original, APIRoute), f"a route this check cannot inspect: {context}"
        dependant = context.dependant
        assert isinstance(dependant, Dependant)
        routes.append(
            Route(
                name=str(context.name),
                path=str(context.path),
                methods=frozenset(context.methods),
                dependant=dependant,
                has_body=context.body_field is not None,
            )
        )
    return routes


def _tree(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from _tree(child)


def _guarded(dependant: Dependant, identity: Identity) -> bool:
    """Some dependency takes the path's user_id and depends on `identity` itself."""
    return any(
        any(p.name == USER_PARAM for p in node.path_params)
        and any(child.call is identity for child in node.dependencies)
        for node in _tree(dependant)
        if node is not dependant
    )


def unguarded_user_routes(app: FastAPI, identity: Identity) -> list[str]:
    """`METHOD path` of every route with `{user_id}` whose dependencies lack the guard."""
    return [
        f"{','.join(sorted(route.methods))} {route.path}"
        for route in api_routes(app)
        if f"{{{USER_PARAM}}}" in route.path and not _guarded(route.dependant, identity)
    ]


def user_routes(app: FastAPI) -> list[Route]:
    return [route for route in api_routes(app) if f"{{{USER_PARAM}}}" in route.path]


def test_every_user_route_depends_on_identity(store_settings: StoreSettings) -> None:
    """With identity= given, no route with a user in its path misses the guard."""
    app = every_router_app(ADKStore(store_settings), alice)
    assert len(user_routes(app)) >= 8
    assert unguarded_user_routes(app, alice) == []


def test_routes_without_a_user_are_listed_as_exempt(store_settings: StoreSettings) -> None:
    """Each route without `{user_id}` is in EXEMPT (with a reason) and takes no user id."""
    app = every_router_app(ADKStore(store_settings), alice)
    others = [route for route in api_routes(app) if f"{{{USER_PARAM}}}" not in route.path]
    found = {(method, route.path) for route in others for method in route.methods}
    assert found - EXEMPT.keys() == set(), "a new route without a user: review, then list it"
    assert EXEMPT.keys() - found == set(), "an exempt route is gone: drop it from EXEMPT"
    for route in others:
        names = {
            field.name
            for node in _tree(route.dependant)
            for field in (*node.query_params, *node.header_params, *node.cookie_params)
        }
        assert USER_PARAM not in names, f"{route.path} selects a user outside the path"


def test_the_checker_reports_routers_built_without_identity(
    store_settings: StoreSettings,
) -> None:
    """Not vacuous: without identity= every user route is reported, and a mix is caught."""
    plugin = ADKStore(store_settings)
    bare = every_router_app(plugin, None)
    assert len(unguarded_user_routes(bare, alice)) == len(user_routes(bare)) >= 8
    mixed = app_with_routers(plugin, [plugin.sessions_router(identity=alice, prefix="/ok")])
    mixed.include_router(plugin.sessions_router(prefix="/open"))
    reported = unguarded_user_routes(mixed, alice)
    assert len(reported) >= 8
    assert all(" /open/" in line for line in reported)
    # another callable is not the identity the check asks for
    assert len(unguarded_user_routes(every_router_app(plugin, alice), str)) >= 8


def _path(route: Route, user_id: str, session_id: str) -> str:
    values = {
        "app_name": APP,
        "user_id": user_id,
        "session_id": session_id,
        "artifact_name": DEFAULT_ARTIFACT,
    }
    values.update(PATH_OVERRIDES.get(route.name, {}))
    missing = [name for name in _PATH_PARAM.findall(route.path) if name not in values]
    assert not missing, f"{route.path}: give the test a value for {missing}"
    return _PATH_PARAM.sub(lambda match: values[match.group(1)], route.path)


async def _call(
    client: httpx.AsyncClient, route: Route, user_id: str, session_id: str
) -> httpx.Response:
    (method,) = route.methods
    kwargs: dict[str, Any] = {}
    if route.has_body:
        assert route.name in BODIES, f"{route.name}: give the test a minimal valid body"
        kwargs["json"] = BODIES[route.name]
    return await client.request(method, _path(route, user_id, session_id), **kwargs)


async def _bobs_data(service: AsyncpgSessionService) -> tuple[str, list[str], dict[str, Any]]:
    session = await service.get_session(app_name=APP, user_id="bob", session_id="s-bob")
    assert session is not None
    listed = await service.list_sessions(app_name=APP, user_id="bob")
    state = await service.get_user_state(app_name=APP, user_id="bob")
    return session.model_dump_json(), sorted(s.id for s in listed.sessions), state


async def test_another_users_routes_answer_403_and_touch_nothing(
    store_settings: StoreSettings, service: AsyncpgSessionService
) -> None:
    """Caller alice, path user bob: 403 FORBIDDEN_USER on every route, bob's data as it was.

    The same requests on alice's own paths are neither 403 nor 422, so the bodies are valid
    and the 403 comes from the identity check.
    """
    bob = await service.create_session(
        app_name=APP, user_id="bob", session_id="s-bob", state={"k": "bob", "user:c": 1}
    )
    await service.append_event(bob, Event(author="user", invocation_id="i-1"))
    await service.create_session(app_name=APP, user_id="alice", session_id="s-alice")
    before = await _bobs_data(service)
    plugin = ADKStore(store_settings, memory_enabled=True)
    checked = 0
    for label, factory in router_factories(plugin).items():
        app = app_with_routers(plugin, [build_router(factory, alice)])
        async with LifespanManager(app) as manager, client_for(manager) as client:
            for route in user_routes(app):
                response = await _call(client, route, "bob", "s-bob")
                where = f"{label}: {route.name} {route.path}"
                assert response.status_code == 403, (where, response.text)
                assert response.json()["code"] == "FORBIDDEN_USER", where
                checked += 1
            assert await _bobs_data(service) == before, label
            for route in user_routes(app):
                response = await _call(client, route, "alice", "s-alice")
                assert response.status_code not in (403, 422), (route.name, response.text)
                assert response.status_code < 500, (route.name, response.text)
    assert checked >= 8
    assert await _bobs_data(service) == before
