"""artifacts_router: every route, its errors, identity, nested names, streaming, and the
same JSON as ADK's own api_server for the same calls."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from google.adk.artifacts.in_memory_artifact_service import InMemoryArtifactService

from fastapi_adk_store import AsyncpgArtifactService
from fastapi_adk_store.settings import StoreSettings
from fastapi_adk_store.web.models import ErrorCode
from fastapi_adk_store.web.plugin import ADKStore

from ._helpers import (
    GENAI_UNKNOWN_ENUM,
    PoolOptions,
    adk_api_server_client,
    bearer_user,
    client_for,
    make_app,
    make_settings,
)

ARTIFACTS = "/apps/a/users/u/sessions/s/artifacts"
NESTED = "reports/2024/q1.pdf"
PDF = b"%PDF-1.7 not really"


def _inline(data: bytes, mime_type: str = "application/pdf") -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime_type, "data": base64.urlsafe_b64encode(data).decode()}}


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def _artifact_app(settings: StoreSettings, **router_options: Any) -> FastAPI:
    plugin = ADKStore(settings)
    app = make_app(plugin)
    app.include_router(plugin.artifacts_router(**router_options))
    return app


@pytest.fixture
async def client(store_settings: StoreSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with the session and artifact routers."""
    app = _artifact_app(store_settings)
    async with LifespanManager(app) as manager, client_for(manager) as client:
        yield client


async def _save(client: httpx.AsyncClient, filename: str, part: dict[str, Any], **body: Any) -> Any:
    response = await client.post(ARTIFACTS, json={"filename": filename, "artifact": part, **body})
    assert response.status_code == 200, response.text
    return response.json()


# --- routes -------------------------------------------------------------------------------


async def test_save_returns_the_version_metadata(client: httpx.AsyncClient) -> None:
    """POST .../artifacts answers ADK's ArtifactVersion JSON; versions count from 0."""
    first = await _save(client, "a.txt", {"text": "one"})
    second = await _save(client, "a.txt", _inline(PDF), customMetadata={"k": [1, 2.5]})
    assert set(first) == {"version", "canonicalUri", "customMetadata", "createTime", "mimeType"}
    assert (first["version"], first["mimeType"], first["customMetadata"]) == (0, "text/plain", {})
    assert (
        first["canonicalUri"] == "artifact://apps/a/users/u/sessions/s/artifacts/a.txt/versions/0"
    )
    assert (second["version"], second["mimeType"]) == (1, "application/pdf")
    assert second["customMetadata"] == {"k": [1, 2.5]}
    assert second["createTime"] >= first["createTime"]


async def test_load_latest_by_query_and_by_version_path(client: httpx.AsyncClient) -> None:
    """GET loads the latest Part, `?version=N` and `versions/N` that one, `latest` the newest."""
    await _save(client, NESTED, {"text": "draft"})
    await _save(client, NESTED, _inline(PDF))
    url = f"{ARTIFACTS}/{NESTED}"
    assert (await client.get(url)).json() == _inline(PDF)
    assert (await client.get(url, params={"version": 0})).json() == {"text": "draft"}
    assert (await client.get(f"{url}/versions/0")).json() == {"text": "draft"}
    assert (await client.get(f"{url}/versions/latest")).json() == _inline(PDF)


async def test_list_names_holds_session_and_user_scoped_files(client: httpx.AsyncClient) -> None:
    """GET .../artifacts lists the session's filenames and the user's `user:` ones, sorted."""
    await _save(client, NESTED, {"text": "x"})
    await _save(client, "b.txt", {"text": "x"})
    other = "/apps/a/users/u/sessions/other/artifacts"
    await client.post(other, json={"filename": "user:avatar.png", "artifact": _inline(b"png")})
    await client.post(other, json={"filename": "private.txt", "artifact": {"text": "x"}})
    assert (await client.get(ARTIFACTS)).json() == ["b.txt", NESTED, "user:avatar.png"]
    assert (await client.get(f"{ARTIFACTS}/user:avatar.png")).json() == _inline(b"png")


async def test_versions_and_their_metadata(client: httpx.AsyncClient) -> None:
    """`versions` lists the numbers; `versions/metadata` and `versions/{id}/metadata` the
    ArtifactVersions the saves answered."""
    saved = [
        await _save(client, NESTED, {"text": str(i)}, customMetadata={"i": i}) for i in range(3)
    ]
    url = f"{ARTIFACTS}/{NESTED}/versions"
    assert (await client.get(url)).json() == [0, 1, 2]
    assert (await client.get(f"{url}/metadata")).json() == saved
    assert (await client.get(f"{url}/1/metadata")).json() == saved[1]
    assert (await client.get(f"{url}/latest/metadata")).json() == saved[2]
    missing = f"{ARTIFACTS}/nothing/versions"
    assert [(await client.get(u)).json() for u in (missing, f"{missing}/metadata")] == [[], []]


async def test_delete_removes_every_version_and_is_idempotent(client: httpx.AsyncClient) -> None:
    """DELETE answers 200 null, again for a missing artifact; the artifact is gone."""
    await _save(client, NESTED, {"text": "x"})
    await _save(client, NESTED, {"text": "y"})
    first, second = (
        await client.delete(f"{ARTIFACTS}/{NESTED}"),
        await client.delete(f"{ARTIFACTS}/{NESTED}"),
    )
    assert (first.status_code, first.json(), second.status_code) == (200, None, 200)
    assert _error(await client.get(f"{ARTIFACTS}/{NESTED}")) == (404, ErrorCode.ARTIFACT_NOT_FOUND)
    assert (await client.get(ARTIFACTS)).json() == []


async def test_route_names_and_prefix(store_settings: StoreSettings) -> None:
    """Routes are named adk_store:<operation>; `prefix=` applies to each."""
    app = _artifact_app(store_settings, prefix="/v1")
    path = app.url_path_for(
        "adk_store:load_artifact", app_name="a", user_id="u", session_id="s", artifact_name=NESTED
    )
    assert path == f"/v1{ARTIFACTS}/{NESTED}"
    paths = app.openapi()["paths"]
    operations = [m for path, ops in paths.items() if path.startswith("/v1") for m in ops]
    assert len(operations) == 10


# --- errors -------------------------------------------------------------------------------


async def test_missing_artifact_and_version_are_404(client: httpx.AsyncClient) -> None:
    """A missing artifact or version is 404 with ADK's detail and our code."""
    await _save(client, "a.txt", {"text": "x"})
    for url, detail in [
        (f"{ARTIFACTS}/nothing", "Artifact not found"),
        (f"{ARTIFACTS}/a.txt?version=5", "Artifact not found"),
        (f"{ARTIFACTS}/a.txt/versions/5", "Artifact not found"),
        (f"{ARTIFACTS}/a.txt/versions/5/metadata", "Artifact version not found"),
        (f"{ARTIFACTS}/nothing/download", "Artifact not found"),
    ]:
        response = await client.get(url)
        assert _error(response) == (404, ErrorCode.ARTIFACT_NOT_FOUND), url
        assert response.json()["detail"] == detail


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"{ARTIFACTS}/a.txt/versions/one", id="version-word"),
        pytest.param(f"{ARTIFACTS}/a.txt/versions/-1/metadata", id="negative-version-id"),
        pytest.param(f"{ARTIFACTS}/a.txt/versions/99999999999", id="version-too-big"),
        pytest.param(f"{ARTIFACTS}/a.txt?version=-1", id="negative-query"),
        pytest.param(f"{ARTIFACTS}/a.txt/download?version=x", id="download-query"),
    ],
)
async def test_bad_versions_are_422(client: httpx.AsyncClient, url: str) -> None:
    """A version that is not a number (or `latest`) is 422, FastAPI's shape."""
    response = await client.get(url)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] in {"path", "query"}


@pytest.mark.parametrize(
    ("session_id", "body"),
    [
        pytest.param("s", {"filename": "", "artifact": {"text": "x"}}, id="empty-filename"),
        pytest.param("s", {"filename": "a", "artifact": {}}, id="empty-part"),
        pytest.param("user", {"filename": "a", "artifact": {"text": "x"}}, id="user-session"),
        pytest.param("%20", {"filename": "a", "artifact": {"text": "x"}}, id="blank-session"),
        pytest.param(
            "s",
            {"filename": "a", "artifact": {"fileData": {"fileUri": "artifact://bad"}}},
            id="bad-reference",
        ),
    ],
)
async def test_input_adk_refuses_is_400(
    client: httpx.AsyncClient, session_id: str, body: dict[str, Any]
) -> None:
    """What ADK's artifact services refuse (InputValidationError) is 400, as ADK's save."""
    response = await client.post(f"/apps/a/users/u/sessions/{session_id}/artifacts", json=body)
    assert _error(response) == (400, ErrorCode.INVALID_ARTIFACT_INPUT), response.text


@pytest.mark.parametrize(
    ("method", "url"),
    [
        pytest.param("GET", f"{ARTIFACTS}/a%00b", id="nul-filename"),
        pytest.param("GET", "/apps/a%00/users/u/sessions/s/artifacts", id="nul-app"),
        pytest.param("PUT", "/apps/a/users/u/sessions/s%00/artifacts/x", id="nul-session-upload"),
        pytest.param("GET", f"{ARTIFACTS}/a%00b/download", id="nul-download"),
    ],
)
async def test_ids_adk_refuses_in_the_path_are_400(
    client: httpx.AsyncClient, method: str, url: str
) -> None:
    """A NUL character in a path id or filename is 400, never a 500 (PostgreSQL text
    could not hold it)."""
    response = await client.request(method, url, content=b"x" if method == "PUT" else None)
    assert _error(response) == (400, ErrorCode.INVALID_ARTIFACT_INPUT), response.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"artifact": {"text": "x"}}, id="no-filename"),
        pytest.param({"filename": "a", "artifact": {"text": 5}}, id="text-not-string"),
        pytest.param(
            {"filename": "a", "artifact": {"executableCode": {"code": "x", "language": "KLINGON"}}},
            id="unknown-enum",
            marks=pytest.mark.filterwarnings(GENAI_UNKNOWN_ENUM),
        ),
        pytest.param(
            {"filename": "a", "artifact": {"executableCode": {"code": "x", "language": 3}}},
            id="enum-not-string",
        ),
        pytest.param({"filename": "a", "artifact": {"text": "x"}, "customMetadata": 1}, id="meta"),
    ],
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """A body that is no SaveArtifactRequest is 422, and nothing is saved."""
    response = await client.post(ARTIFACTS, json=body)
    assert response.status_code == 422, response.text
    assert (await client.get(ARTIFACTS)).json() == []


async def test_too_large_is_413(pool_options: PoolOptions) -> None:
    """Over `max_artifact_bytes`, a save (JSON or streamed) is 413 ARTIFACT_TOO_LARGE."""
    app = _artifact_app(make_settings(pool_options, max_artifact_bytes=1000))
    async with LifespanManager(app) as manager, client_for(manager) as client:
        saved = await client.post(
            ARTIFACTS, json={"filename": "a", "artifact": _inline(b"x" * 1001)}
        )
        uploaded = await client.put(f"{ARTIFACTS}/b", content=b"x" * 1001)
        assert _error(saved) == _error(uploaded) == (413, ErrorCode.ARTIFACT_TOO_LARGE)
        assert "ADK_STORE_MAX_ARTIFACT_BYTES" in saved.json()["detail"]
        assert (await client.get(ARTIFACTS)).json() == []
        assert (await client.put(f"{ARTIFACTS}/c", content=b"x" * 1000)).status_code == 200


# --- streaming ----------------------------------------------------------------------------


async def test_download_streams_the_bytes_with_their_mime_type(client: httpx.AsyncClient) -> None:
    """GET .../download answers the raw bytes, the MIME type, an attachment name."""
    await _save(client, NESTED, _inline(PDF))
    await _save(client, NESTED, {"text": "héllo"})
    latest = await client.get(f"{ARTIFACTS}/{NESTED}/download")
    first = await client.get(f"{ARTIFACTS}/{NESTED}/download", params={"version": 0})
    assert (first.content, first.headers["content-type"]) == (PDF, "application/pdf")
    assert first.headers["content-disposition"] == "attachment; filename*=UTF-8''q1.pdf"
    assert int(first.headers["content-length"]) == len(PDF)
    assert latest.content == "héllo".encode()
    assert latest.headers["content-type"].startswith("text/plain")


async def test_download_of_a_file_reference_is_404(client: httpx.AsyncClient) -> None:
    """A file_data part holds a URI, no bytes: nothing to download."""
    part = {"fileData": {"fileUri": "gs://bucket/x.pdf", "mimeType": "application/pdf"}}
    await _save(client, "ref", part)
    assert (await client.get(f"{ARTIFACTS}/ref")).json() == part
    assert _error(await client.get(f"{ARTIFACTS}/ref/download")) == (404, "ARTIFACT_NOT_FOUND")


async def test_upload_streams_the_body_into_a_version(client: httpx.AsyncClient) -> None:
    """PUT .../artifacts/{name} saves the body (a few chunks here) with its Content-Type;
    it loads as inline data and downloads byte for byte."""
    data = bytes(range(256)) * 12_000  # about 3 MB: three 1 MiB chunks

    async def body() -> AsyncIterator[bytes]:
        for at in range(0, len(data), 100_000):
            yield data[at : at + 100_000]

    url = f"{ARTIFACTS}/{NESTED}"
    response = await client.put(url, content=body(), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert (response.json()["version"], response.json()["mimeType"]) == (0, "image/png")
    assert (await client.get(url)).json() == _inline(data, "image/png")
    downloaded = await client.get(f"{url}/download")
    assert (downloaded.content == data, downloaded.headers["content-type"]) == (True, "image/png")
    empty = await client.put(f"{ARTIFACTS}/empty", content=b"")
    assert empty.json()["mimeType"] == "application/octet-stream"


# --- identity -----------------------------------------------------------------------------


@pytest.fixture
async def guarded(store_settings: StoreSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app whose artifact router checks the caller's identity."""
    app = _artifact_app(store_settings, identity=bearer_user)
    async with LifespanManager(app) as manager, client_for(manager) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "url"),
    [
        pytest.param("GET", ARTIFACTS, id="list"),
        pytest.param("POST", ARTIFACTS, id="save"),
        pytest.param("GET", f"{ARTIFACTS}/{NESTED}", id="load"),
        pytest.param("PUT", f"{ARTIFACTS}/{NESTED}", id="upload"),
        pytest.param("DELETE", f"{ARTIFACTS}/{NESTED}", id="delete"),
        pytest.param("GET", f"{ARTIFACTS}/{NESTED}/download", id="download"),
        pytest.param("GET", f"{ARTIFACTS}/{NESTED}/versions", id="versions"),
        pytest.param("GET", f"{ARTIFACTS}/{NESTED}/versions/metadata", id="versions-metadata"),
        pytest.param("GET", f"{ARTIFACTS}/{NESTED}/versions/0", id="version"),
        pytest.param("GET", f"{ARTIFACTS}/{NESTED}/versions/0/metadata", id="version-metadata"),
    ],
)
async def test_identity_refuses_other_users_with_403(
    guarded: httpx.AsyncClient, method: str, url: str
) -> None:
    """Another caller gets 403 FORBIDDEN_USER on every route, and nothing is written."""
    body = {"filename": NESTED, "artifact": {"text": "x"}} if method == "POST" else None
    mallory = {"Authorization": "Bearer mallory"}
    response = await guarded.request(method, url, json=body, headers=mallory)
    assert _error(response) == (403, ErrorCode.FORBIDDEN_USER)
    owner = {"Authorization": "Bearer u"}
    assert (await guarded.get(ARTIFACTS, headers=owner)).json() == []
    own = await guarded.post(ARTIFACTS, json={"filename": "f", "artifact": {}}, headers=owner)
    assert own.status_code == 400  # through the guard, to the service


# --- the same JSON as ADK's api_server ----------------------------------------------------


def _normal(key: str, value: Any) -> Any:
    if key == "createTime":
        return type(value).__name__
    if key == "canonicalUri":  # ADK's in-memory service says memory://, ours artifact://
        return value.partition("://")[2]
    return _shape(value)


def _shape(value: Any) -> Any:
    """JSON with creation times replaced by their type and URIs by their path: what
    must match ADK."""
    if isinstance(value, dict):
        return {key: _normal(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return value


async def _script(client: httpx.AsyncClient) -> list[tuple[int, Any]]:
    """The same calls against either server, answers reduced to status and shape."""
    other = "/apps/a/users/u/sessions/other/artifacts"
    calls = [
        client.post(ARTIFACTS, json={"filename": NESTED, "artifact": _inline(PDF)}),
        client.post(
            ARTIFACTS,
            json={"filename": NESTED, "artifact": {"text": "v1"}, "customMetadata": {"k": 1}},
        ),
        client.post(other, json={"filename": "user:shared.txt", "artifact": {"text": "u"}}),
        client.post(
            ARTIFACTS, json={"filename": "b", "artifact": {"fileData": {"fileUri": "gs://b/x"}}}
        ),
        client.get(ARTIFACTS),
        client.get(f"{ARTIFACTS}/{NESTED}"),
        client.get(f"{ARTIFACTS}/{NESTED}", params={"version": 0}),
        client.get(f"{ARTIFACTS}/{NESTED}/versions"),
        client.get(f"{ARTIFACTS}/{NESTED}/versions/metadata"),
        client.get(f"{ARTIFACTS}/{NESTED}/versions/latest"),
        client.get(f"{ARTIFACTS}/{NESTED}/versions/0"),
        client.get(f"{ARTIFACTS}/{NESTED}/versions/1/metadata"),
        client.get(f"{ARTIFACTS}/{NESTED}/versions/latest/metadata"),
        client.get(f"{ARTIFACTS}/user:shared.txt"),
        client.get(f"{ARTIFACTS}/b"),
        client.get(f"{ARTIFACTS}/missing"),
        client.get(f"{ARTIFACTS}/{NESTED}/versions/7"),
        client.get(f"{ARTIFACTS}/{NESTED}/versions/7/metadata"),
        client.get(f"{ARTIFACTS}/{NESTED}/versions/x"),
        client.get(f"{ARTIFACTS}/missing/versions"),
        client.get(f"{ARTIFACTS}/missing/versions/metadata"),
        client.post(ARTIFACTS, json={"filename": "c", "artifact": {}}),
        client.post(
            "/apps/a/users/u/sessions/user/artifacts",
            json={"filename": "c", "artifact": {"text": "x"}},
        ),
        client.post(ARTIFACTS, json={"artifact": {"text": "x"}}),
        client.delete(f"{ARTIFACTS}/{NESTED}"),
        client.delete(f"{ARTIFACTS}/{NESTED}"),
        client.get(f"{ARTIFACTS}/{NESTED}"),
        client.get(ARTIFACTS),
    ]
    answers = []
    for call in calls:
        response = await call
        body = response.json()
        if response.status_code == 422:
            body = None  # ADK answers "Invalid version ID" as a string, we in FastAPI's shape
        elif response.status_code >= 400:
            body = {"detail": body["detail"]}  # ours adds `code`
        answers.append((response.status_code, _shape(body)))
    return answers


@pytest.mark.filterwarnings("ignore:\\[EXPERIMENTAL\\]:UserWarning")
async def test_same_answers_as_adk_api_server_on_in_memory(client: httpx.AsyncClient) -> None:
    """One script of calls: our router and ADK's api_server on ADK's in-memory artifact
    service (the reference) answer with the same status codes and the same JSON."""
    async with adk_api_server_client(artifacts=InMemoryArtifactService()) as adk:
        theirs = await _script(adk)
    assert await _script(client) == theirs


@pytest.mark.filterwarnings("ignore:\\[EXPERIMENTAL\\]:UserWarning")
async def test_adk_api_server_reads_our_json_on_the_same_database(
    store_settings: StoreSettings,
) -> None:
    """ADK's api_server over our artifact service answers exactly the JSON our router does."""
    app = _artifact_app(store_settings)
    async with LifespanManager(app) as manager, client_for(manager) as client:
        service: AsyncpgArtifactService = app.state.adk_artifact_service
        await _save(client, NESTED, _inline(PDF), customMetadata={"k": {"x": None}})
        await _save(client, NESTED, {"text": "t"})
        await client.put(f"{ARTIFACTS}/up.bin", content=b"raw", headers={"Content-Type": "a/b"})
        async with adk_api_server_client(artifacts=service) as adk:
            for url in [
                ARTIFACTS,
                f"{ARTIFACTS}/{NESTED}",
                f"{ARTIFACTS}/{NESTED}?version=0",
                f"{ARTIFACTS}/{NESTED}/versions",
                f"{ARTIFACTS}/{NESTED}/versions/metadata",
                f"{ARTIFACTS}/{NESTED}/versions/0/metadata",
                f"{ARTIFACTS}/up.bin",
            ]:
                ours, theirs = await client.get(url), await adk.get(url)
                assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()), url
