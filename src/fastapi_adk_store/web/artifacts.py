"""`artifacts_router(...)`: ADK api_server's artifact routes, plus streaming bytes.

The routes, bodies and JSON are those of `adk api_server` (camelCase, `None` fields left
out): list names, save (`POST .../artifacts`, ADK's `SaveArtifactRequest`), load (latest
or `?version=`), `versions`, `versions/metadata`, `versions/{id|latest}`,
`versions/{id}/metadata` and delete. Filenames may hold slashes (`a/b/c.pdf`); as in
ADK's api_server, the routes ending in `/versions...` win over a filename ending so.
Extensions: `GET .../artifacts/{name}/download` answers the raw bytes with the
artifact's MIME type, read a chunk at a time, and `PUT .../artifacts/{name}` saves the
request body as a new version the same way (its `Content-Type` is the MIME type).

Every route calls the artifact service only; errors become HTTP in `web.errors`.
"""

# No `from __future__ import annotations`: FastAPI evaluates the routes' annotations.

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from google.adk.artifacts.base_artifact_service import ArtifactVersion
from google.genai import types
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.responses import Response

from ..artifacts.service import AsyncpgArtifactService
from .deps import get_artifact_service
from .errors import Failure, invalid, store_route
from .models import ErrorCode, SaveArtifactRequest
from .sessions import SESSION_PATH, guarded_router

__all__ = ["artifacts_router"]


class _AnyPathConvertor(PathConvertor):
    """Starlette's `path` convertor, line breaks included: its `.*` stops at one, so a
    filename holding one would not reach any route."""

    regex = r"[\s\S]*"


register_url_convertor("artifact_path", _AnyPathConvertor())

ARTIFACTS_PATH = SESSION_PATH + "/artifacts"
ARTIFACT_PATH = ARTIFACTS_PATH + "/{artifact_name:artifact_path}"

Artifacts = Annotated[AsyncpgArtifactService, Depends(get_artifact_service)]
_MAX_VERSION = 2**31 - 1  # the version column is an integer
Version = Annotated[
    int | None, Query(ge=0, le=_MAX_VERSION, description="The version; the latest when omitted.")
]
_NOT_FOUND = "Artifact not found"
_VERSION_NOT_FOUND = "Artifact version not found"
_BINARY = {"schema": {"type": "string", "format": "binary"}}


@dataclass(frozen=True)
class _Session:
    """The session a route's path names (FastAPI fills it from the path)."""

    app_name: str
    user_id: str
    session_id: str

    def of(self, filename: str) -> dict[str, Any]:
        """The artifact service's keyword arguments for `filename` in this session."""
        return {
            "app_name": self.app_name,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "filename": filename,
        }


@dataclass(frozen=True)
class _Artifact(_Session):
    """The artifact a route's path names (FastAPI fills it from the path)."""

    artifact_name: str

    @property
    def key(self) -> dict[str, Any]:
        return self.of(self.artifact_name)


InSession = Annotated[_Session, Depends()]
Named = Annotated[_Artifact, Depends()]


def _found(model: BaseModel | None, detail: str = _NOT_FOUND) -> JSONResponse:
    """The model's JSON, or 404 ARTIFACT_NOT_FOUND when there is none."""
    if model is None:
        raise Failure(404, ErrorCode.ARTIFACT_NOT_FOUND, detail)
    return _json(model)


def _json(model: BaseModel) -> JSONResponse:
    """A model as ADK's api_server renders it (camelCase, no None fields)."""
    return JSONResponse(model.model_dump(mode="json", by_alias=True, exclude_none=True))


def _version_number(version_id: str) -> int | None:
    """`latest` -> None, else the number; a 422 otherwise (as ADK's api_server)."""
    if version_id == "latest":
        return None
    if not version_id.isascii() or not version_id.isdigit() or int(version_id) > _MAX_VERSION:
        invalid(("path", "version_id"), "Invalid version ID", version_id)
    return int(version_id)


def _route(
    router: APIRouter, method: str, path: str, name: str, model: Any, *statuses: int, **extra: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`store_route`, every artifact route answering 400 and 403 too."""
    return store_route(router, method, path, name, model, 400, 403, *statuses, **extra)


def _add_version_metadata(router: APIRouter) -> None:
    @_route(
        router,
        "get",
        ARTIFACT_PATH + "/versions/{version_id}/metadata",
        "get_artifact_version_metadata",
        ArtifactVersion,
        404,
    )
    async def get_artifact_version_metadata(
        named: Named, version_id: str, artifacts: Artifacts
    ) -> Response:
        """One version's metadata (`latest` for the newest)."""
        version = _version_number(version_id)
        found = await artifacts.get_artifact_version(**named.key, version=version)
        return _found(found, _VERSION_NOT_FOUND)

    @_route(
        router,
        "get",
        ARTIFACT_PATH + "/versions/metadata",
        "list_artifact_versions_metadata",
        list[ArtifactVersion],
    )
    async def list_artifact_versions_metadata(named: Named, artifacts: Artifacts) -> Response:
        """Every version's metadata, oldest first ([] when none)."""
        versions = await artifacts.list_artifact_versions(**named.key)
        return JSONResponse(
            [v.model_dump(mode="json", by_alias=True, exclude_none=True) for v in versions]
        )


async def _saved(artifacts: AsyncpgArtifactService, key: dict[str, Any], version: int) -> Response:
    """The answer to a save: the new version's metadata (as ADK's api_server); 404 when
    it was deleted between the two calls."""
    return _found(await artifacts.get_artifact_version(**key, version=version), _VERSION_NOT_FOUND)


def _add_save(router: APIRouter) -> None:
    @_route(router, "post", ARTIFACTS_PATH, "save_artifact", ArtifactVersion, 404, 413)
    async def save_artifact(
        session: InSession, body: SaveArtifactRequest, artifacts: Artifacts
    ) -> Response:
        """Save a new version; its metadata. A `user:` filename is the user's, in every
        session."""
        key = session.of(body.filename)
        version = await artifacts.save_artifact(
            **key, artifact=body.artifact, custom_metadata=body.custom_metadata
        )
        return await _saved(artifacts, key, version)


def _add_loads(router: APIRouter) -> None:
    @_route(
        router,
        "get",
        ARTIFACT_PATH + "/versions/{version_id}",
        "load_artifact_version",
        types.Part,
        404,
    )
    async def load_artifact_version(
        named: Named, version_id: str, artifacts: Artifacts
    ) -> Response:
        """One version's Part (`latest` for the newest)."""
        version = _version_number(version_id)
        return _found(await artifacts.load_artifact(**named.key, version=version))

    @_route(router, "get", ARTIFACTS_PATH, "list_artifact_names", list[str])
    async def list_artifact_names(session: InSession, artifacts: Artifacts) -> Response:
        """The session's filenames and the user's (`user:`), in code point order."""
        keys = await artifacts.list_artifact_keys(
            app_name=session.app_name, user_id=session.user_id, session_id=session.session_id
        )
        return JSONResponse(keys)

    @_route(router, "get", ARTIFACT_PATH + "/versions", "list_artifact_versions", list[int])
    async def list_artifact_versions(named: Named, artifacts: Artifacts) -> Response:
        """The version numbers, ascending ([] when none)."""
        return JSONResponse(await artifacts.list_versions(**named.key))


def _add_download(router: APIRouter) -> None:
    @_route(
        router,
        "get",
        ARTIFACT_PATH + "/download",
        "download_artifact",
        None,
        404,
        response_class=StreamingResponse,
        openapi_extra={"responses": {"200": {"content": {"application/octet-stream": _BINARY}}}},
    )
    async def download_artifact(
        named: Named, artifacts: Artifacts, version: Version = None
    ) -> Response:
        """The version's bytes (text as UTF-8) with its MIME type, streamed from one
        snapshot a chunk at a time; 404 for a file reference, which holds no bytes."""
        stack = AsyncExitStack()
        try:
            stream = await stack.enter_async_context(
                artifacts.open_artifact_stream(**named.key, version=version)
            )
            if stream is None or stream.part.file_data is not None:
                raise Failure(404, ErrorCode.ARTIFACT_NOT_FOUND, _NOT_FOUND)
        except BaseException:
            await stack.aclose()
            raise
        return StreamingResponse(
            _closing(stream.chunks, stack),
            media_type=stream.version.mime_type or "application/octet-stream",
            headers={
                "Content-Disposition": _attachment(named.artifact_name),
                "Content-Length": str(stream.size),
            },
            background=BackgroundTask(stack.aclose),
        )


async def _closing(chunks: AsyncIterator[bytes], stack: AsyncExitStack) -> AsyncIterator[bytes]:
    """The chunks, then the snapshot (connection) given back, however the response ends."""
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await stack.aclose()


def _attachment(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1] or "artifact"
    return f"attachment; filename*=UTF-8''{quote(name, safe='')}"


def _add_upload(router: APIRouter) -> None:
    @_route(
        router,
        "put",
        ARTIFACT_PATH,
        "upload_artifact",
        ArtifactVersion,
        404,
        413,
        openapi_extra={"requestBody": {"content": {"application/octet-stream": _BINARY}}},
    )
    async def upload_artifact(named: Named, request: Request, artifacts: Artifacts) -> Response:
        """Save the request body as a new version of inline bytes, read as it arrives;
        the body's `Content-Type` is its MIME type. Its metadata, as `POST` answers."""
        version = await artifacts.save_artifact_stream(
            **named.key,
            chunks=request.stream(),
            mime_type=request.headers.get("content-type") or "application/octet-stream",
        )
        return await _saved(artifacts, named.key, version)


def _add_load_and_delete(router: APIRouter) -> None:
    # After every route under ARTIFACT_PATH: `{artifact_name}` would take theirs.
    @_route(router, "get", ARTIFACT_PATH, "load_artifact", types.Part, 404)
    async def load_artifact(
        named: Named, artifacts: Artifacts, version: Version = None
    ) -> Response:
        """The Part of the latest version, or of `?version=`."""
        return _found(await artifacts.load_artifact(**named.key, version=version))

    @_route(router, "delete", ARTIFACT_PATH, "delete_artifact", None)
    async def delete_artifact(named: Named, artifacts: Artifacts) -> Response:
        """Delete every version (and the bytes no other version holds); missing is no error."""
        await artifacts.delete_artifact(**named.key)
        return JSONResponse(None)


def artifacts_router(*, identity: Callable[..., Any] | None = None, prefix: str = "") -> APIRouter:
    """ADK api_server's artifact routes (and the streaming ones), for `app.include_router`.

    Args:
        identity: a FastAPI dependency returning the caller's user id; a request whose
            path `user_id` differs gets 403. None: no check (put auth in front).
        prefix: a path prefix for every route.

    The routes use `get_artifact_service`, so `app.dependency_overrides` can swap it.
    """
    router = guarded_router(identity, prefix)
    _add_version_metadata(router)
    _add_save(router)
    _add_loads(router)
    _add_download(router)
    _add_upload(router)
    _add_load_and_delete(router)
    return router
