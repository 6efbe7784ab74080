"""Behavioural contract for ``BaseArtifactService`` implementations.

Every test takes the ``artifact_service`` fixture, which conftest.py parametrizes over
ADK's ``InMemoryArtifactService`` (the reference oracle) and our
``AsyncpgArtifactService`` opened through ``open_artifact_service`` on a fresh schema.
A test states one behaviour a caller may rely on, whichever backend it talks to.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.adk.artifacts import artifact_util
from google.adk.artifacts.base_artifact_service import BaseArtifactService
from google.adk.errors.input_validation_error import InputValidationError
from google.genai import types

APP = "art_app"
USER = "art_user"
SESSION = "s1"


def _blob(data: bytes, mime_type: str | None = "application/octet-stream") -> types.Part:
    return types.Part(inline_data=types.Blob(mime_type=mime_type, data=data))


async def _save(
    service: BaseArtifactService,
    filename: str,
    part: types.Part | dict[str, Any],
    session_id: str | None = SESSION,
    **extra: Any,
) -> int:
    return await service.save_artifact(
        app_name=APP,
        user_id=USER,
        filename=filename,
        artifact=part,
        session_id=session_id,
        **extra,
    )


async def _load(
    service: BaseArtifactService,
    filename: str,
    session_id: str | None = SESSION,
    version: int | None = None,
) -> types.Part | None:
    return await service.load_artifact(
        app_name=APP, user_id=USER, filename=filename, session_id=session_id, version=version
    )


# --- versions -------------------------------------------------------------------------------


async def test_versions_count_from_zero_and_each_loads_its_bytes(
    artifact_service: BaseArtifactService,
) -> None:
    payloads = [f"payload {i}".encode() for i in range(4)]
    versions = [await _save(artifact_service, "a.bin", _blob(p)) for p in payloads]
    assert versions == [0, 1, 2, 3]
    for version, payload in enumerate(payloads):
        assert await _load(artifact_service, "a.bin", version=version) == _blob(payload)
    assert await _load(artifact_service, "a.bin") == _blob(payloads[-1])
    assert await artifact_service.list_versions(
        app_name=APP, user_id=USER, filename="a.bin", session_id=SESSION
    ) == [0, 1, 2, 3]


async def test_versions_are_per_filename_and_scope(artifact_service: BaseArtifactService) -> None:
    assert await _save(artifact_service, "a", _blob(b"1")) == 0
    assert await _save(artifact_service, "b", _blob(b"1")) == 0
    assert await _save(artifact_service, "a", _blob(b"1"), session_id="s2") == 0
    assert await _save(artifact_service, "a", _blob(b"2")) == 1


@pytest.mark.parametrize("version", [-1, 1, 99])
async def test_missing_version_loads_as_none(
    artifact_service: BaseArtifactService, version: int
) -> None:
    await _save(artifact_service, "a", _blob(b"x"))
    assert await _load(artifact_service, "a", version=version) is None
    assert (
        await artifact_service.get_artifact_version(
            app_name=APP, user_id=USER, filename="a", session_id=SESSION, version=version
        )
        is None
    )


async def test_missing_artifact_gives_none_and_empty_lists(
    artifact_service: BaseArtifactService,
) -> None:
    common: dict[str, Any] = {
        "app_name": APP,
        "user_id": USER,
        "filename": "nope",
        "session_id": SESSION,
    }
    assert await artifact_service.load_artifact(**common) is None
    assert await artifact_service.list_versions(**common) == []
    assert await artifact_service.list_artifact_versions(**common) == []
    assert await artifact_service.get_artifact_version(**common) is None
    assert (
        await artifact_service.list_artifact_keys(app_name=APP, user_id=USER, session_id=SESSION)
        == []
    )
    await artifact_service.delete_artifact(**common)  # no error


async def test_other_user_and_app_see_nothing(artifact_service: BaseArtifactService) -> None:
    await _save(artifact_service, "a", _blob(b"x"))
    await _save(artifact_service, "user:u", _blob(b"x"))
    for app, user in [("other_app", USER), (APP, "other_user")]:
        assert (
            await artifact_service.load_artifact(
                app_name=app, user_id=user, filename="a", session_id=SESSION
            )
            is None
        )
        assert (
            await artifact_service.list_artifact_keys(
                app_name=app, user_id=user, session_id=SESSION
            )
            == []
        )


# --- scopes and keys ------------------------------------------------------------------------


async def test_user_scope_is_shared_by_every_session(
    artifact_service: BaseArtifactService,
) -> None:
    assert await _save(artifact_service, "user:profile.txt", types.Part(text="v0")) == 0
    assert await _save(artifact_service, "user:profile.txt", types.Part(text="v1"), "s2") == 1
    assert await _save(artifact_service, "user:profile.txt", types.Part(text="v2"), None) == 2
    for session_id in [SESSION, "s2", "s3", None]:
        loaded = await _load(artifact_service, "user:profile.txt", session_id=session_id)
        assert loaded == types.Part(text="v2")


async def test_keys_list_session_and_user_names_sorted(
    artifact_service: BaseArtifactService,
) -> None:
    for name in ["zeta.txt", "Alpha.txt", "b/c/d.pdf", "émoji-😀.txt", "a.txt"]:
        await _save(artifact_service, name, types.Part(text=name))
    await _save(artifact_service, "a.txt", types.Part(text="again"))
    await _save(artifact_service, "user:shared.png", _blob(b"png", "image/png"))
    await _save(artifact_service, "other-session.txt", types.Part(text="x"), session_id="s2")
    keys = await artifact_service.list_artifact_keys(app_name=APP, user_id=USER, session_id=SESSION)
    expected = ["zeta.txt", "Alpha.txt", "b/c/d.pdf", "émoji-😀.txt", "a.txt", "user:shared.png"]
    assert keys == sorted(expected)
    assert await artifact_service.list_artifact_keys(app_name=APP, user_id=USER) == [
        "user:shared.png"
    ]


# --- delete ---------------------------------------------------------------------------------


async def test_delete_removes_every_version_and_the_next_save_is_zero(
    artifact_service: BaseArtifactService,
) -> None:
    for i in range(3):
        await _save(artifact_service, "a", _blob(bytes([i])))
    await _save(artifact_service, "keep", _blob(b"k"))
    await artifact_service.delete_artifact(
        app_name=APP, user_id=USER, filename="a", session_id=SESSION
    )
    assert await _load(artifact_service, "a") is None
    for version in range(3):
        assert await _load(artifact_service, "a", version=version) is None
    assert await artifact_service.list_artifact_keys(
        app_name=APP, user_id=USER, session_id=SESSION
    ) == ["keep"]
    assert await _save(artifact_service, "a", _blob(b"new")) == 0
    assert await _load(artifact_service, "a") == _blob(b"new")
    assert await _load(artifact_service, "keep") == _blob(b"k")


async def test_delete_user_scoped_from_any_session(artifact_service: BaseArtifactService) -> None:
    await _save(artifact_service, "user:x", _blob(b"1"), session_id="s9")
    await artifact_service.delete_artifact(
        app_name=APP, user_id=USER, filename="user:x", session_id=SESSION
    )
    assert await _load(artifact_service, "user:x", session_id=None) is None


# --- payloads and metadata ------------------------------------------------------------------


@pytest.mark.parametrize(
    "part",
    [
        types.Part(text="hello"),
        types.Part(text=""),
        types.Part(text="ünïcødé 😀 \x00 nul and\nnewlines"),
        _blob(b""),
        _blob(bytes(range(256)) * 10, "image/png"),
        _blob(b"\x00\xff", None),
        types.Part(
            inline_data=types.Blob(mime_type="application/pdf", data=b"%PDF", display_name="r")
        ),
        types.Part(file_data=types.FileData(file_uri="gs://b/o.pdf", mime_type="application/pdf")),
    ],
    ids=["text", "empty-text", "unicode-text", "empty-bytes", "png", "no-mime", "display", "file"],
)
async def test_parts_round_trip_exactly(
    artifact_service: BaseArtifactService, part: types.Part
) -> None:
    await _save(artifact_service, "p", part)
    loaded = await _load(artifact_service, "p")
    if part == _blob(b""):  # ADK's rewind tombstone: an empty octet-stream loads as absent
        assert loaded is None
        return
    assert loaded == part
    assert loaded is not part


async def test_dict_artifacts_are_accepted(artifact_service: BaseArtifactService) -> None:
    data = {"inlineData": {"mimeType": "text/csv", "data": "YSxiCg=="}}
    assert await _save(artifact_service, "d.csv", data) == 0
    assert await _load(artifact_service, "d.csv") == _blob(b"a,b\n", "text/csv")


@pytest.mark.parametrize(
    ("part", "mime_type"),
    [
        (types.Part(text="t"), "text/plain"),
        (_blob(b"x", "image/jpeg"), "image/jpeg"),
        (_blob(b"x", None), None),
        (
            types.Part(file_data=types.FileData(file_uri="gs://b/o", mime_type="video/mp4")),
            "video/mp4",
        ),
    ],
    ids=["text", "inline", "inline-no-mime", "file"],
)
async def test_version_mime_type(
    artifact_service: BaseArtifactService, part: types.Part, mime_type: str | None
) -> None:
    await _save(artifact_service, "m", part)
    got = await artifact_service.get_artifact_version(
        app_name=APP, user_id=USER, filename="m", session_id=SESSION
    )
    assert got is not None
    assert got.mime_type == mime_type


async def test_custom_metadata_is_kept_per_version_with_its_types(
    artifact_service: BaseArtifactService,
) -> None:
    metadata: dict[str, Any] = {
        "str": "s",
        "int": 2**62,
        "float": 0.1,
        "exp": 1e300,
        "bool": True,
        "none": None,
        "list": [1, "two", 3.0, [False]],
        "nested": {"a": {"b": "c\x00"}},
    }
    await _save(artifact_service, "a", _blob(b"0"), custom_metadata=metadata)
    await _save(artifact_service, "a", _blob(b"1"))
    versions = await artifact_service.list_artifact_versions(
        app_name=APP, user_id=USER, filename="a", session_id=SESSION
    )
    assert [v.version for v in versions] == [0, 1]
    assert versions[0].custom_metadata == metadata
    assert type(versions[0].custom_metadata["float"]) is float
    assert type(versions[0].custom_metadata["int"]) is int
    assert versions[0].custom_metadata["exp"] == 1e300
    assert versions[1].custom_metadata == {}


async def test_artifact_versions_have_times_and_distinct_stable_uris(
    artifact_service: BaseArtifactService,
) -> None:
    for i in range(3):
        await _save(artifact_service, "a", _blob(bytes([i])))
    await _save(artifact_service, "user:u", _blob(b"u"))
    common: dict[str, Any] = {
        "app_name": APP,
        "user_id": USER,
        "filename": "a",
        "session_id": SESSION,
    }
    versions = await artifact_service.list_artifact_versions(**common)
    assert len({v.canonical_uri for v in versions}) == 3
    assert [v.create_time for v in versions] == sorted(v.create_time for v in versions)
    assert all(v.create_time > 1.6e9 for v in versions)
    latest = await artifact_service.get_artifact_version(**common)
    assert latest == versions[-1]
    again = await artifact_service.get_artifact_version(**common, version=1)
    assert again == versions[1]
    user = await artifact_service.get_artifact_version(
        app_name=APP, user_id=USER, filename="user:u", session_id="s7"
    )
    assert user is not None
    assert user.canonical_uri != versions[0].canonical_uri


async def test_unsupported_part_is_refused(artifact_service: BaseArtifactService) -> None:
    with pytest.raises(InputValidationError):
        await _save(artifact_service, "a", types.Part())
    assert await _load(artifact_service, "a") is None


# --- artifact:// references -----------------------------------------------------------------


def _ref(uri: str) -> types.Part:
    return types.Part(file_data=types.FileData(file_uri=uri))


async def test_reference_loads_its_target(artifact_service: BaseArtifactService) -> None:
    await _save(artifact_service, "target", _blob(b"t0"))
    await _save(artifact_service, "target", _blob(b"t1"))
    uri = artifact_util.get_artifact_uri(APP, USER, "target", 0, SESSION)
    assert await _save(artifact_service, "ref", _ref(uri)) == 0
    assert await _load(artifact_service, "ref") == _blob(b"t0")
    version = await artifact_service.get_artifact_version(
        app_name=APP, user_id=USER, filename="ref", session_id=SESSION
    )
    assert version is not None
    assert version.mime_type is None


async def test_user_scoped_reference_from_a_session(artifact_service: BaseArtifactService) -> None:
    await _save(artifact_service, "user:shared", types.Part(text="hi"), session_id=None)
    uri = artifact_util.get_artifact_uri(APP, USER, "user:shared", 0)
    await _save(artifact_service, "ref", _ref(uri))
    assert await _load(artifact_service, "ref") == types.Part(text="hi")


@pytest.mark.parametrize(
    "uri",
    [
        artifact_util.get_artifact_uri("other_app", USER, "t", 0, SESSION),
        artifact_util.get_artifact_uri(APP, "other_user", "t", 0, SESSION),
        artifact_util.get_artifact_uri(APP, USER, "t", 0, "other_session"),
        "artifact://not/a/valid/uri",
    ],
    ids=["app", "user", "session", "malformed"],
)
async def test_reference_outside_the_scope_is_refused(
    artifact_service: BaseArtifactService, uri: str
) -> None:
    with pytest.raises(InputValidationError):
        await _save(artifact_service, "ref", _ref(uri))
    assert await _load(artifact_service, "ref") is None


async def test_reference_cycle_is_bounded(artifact_service: BaseArtifactService) -> None:
    uri = artifact_util.get_artifact_uri(APP, USER, "loop", 0, SESSION)
    await _save(artifact_service, "loop", _ref(uri))
    with pytest.raises(InputValidationError):
        await _load(artifact_service, "loop")


async def test_rewind_tombstone_loads_as_none_but_counts_as_a_version(
    artifact_service: BaseArtifactService,
) -> None:
    await _save(artifact_service, "a", _blob(b"real"))
    tombstone = _blob(b"")
    assert await _save(artifact_service, "a", tombstone) == 1
    assert await _load(artifact_service, "a") is None
    assert await _load(artifact_service, "a", version=0) == _blob(b"real")
    assert await artifact_service.list_versions(
        app_name=APP, user_id=USER, filename="a", session_id=SESSION
    ) == [0, 1]


# --- ids ------------------------------------------------------------------------------------

_BAD_IDS = ["", " ", "../x", "/abs", "a/../b", "C:drive", "x\x00y", "a/sessions/b"]


@pytest.mark.parametrize("bad", _BAD_IDS)
@pytest.mark.parametrize("field", ["app_name", "user_id", "session_id"])
async def test_invalid_ids_are_refused_everywhere(
    artifact_service: BaseArtifactService, field: str, bad: str
) -> None:
    ids: dict[str, Any] = {"app_name": APP, "user_id": USER, "session_id": SESSION, field: bad}
    with pytest.raises(InputValidationError):
        await artifact_service.save_artifact(filename="f", artifact=_blob(b"x"), **ids)
    with pytest.raises(InputValidationError):
        await artifact_service.load_artifact(filename="f", **ids)
    with pytest.raises(InputValidationError):
        await artifact_service.list_versions(filename="f", **ids)
    with pytest.raises(InputValidationError):
        await artifact_service.list_artifact_keys(**ids)


@pytest.mark.parametrize("session_id", ["user", "user/x"])
async def test_session_named_user_is_refused_on_save(
    artifact_service: BaseArtifactService, session_id: str
) -> None:
    with pytest.raises(InputValidationError):
        await _save(artifact_service, "f", _blob(b"x"), session_id=session_id)


async def test_session_scoped_name_needs_a_session(artifact_service: BaseArtifactService) -> None:
    with pytest.raises(InputValidationError):
        await _save(artifact_service, "f", _blob(b"x"), session_id=None)
    with pytest.raises(InputValidationError):
        await _load(artifact_service, "f", session_id=None)
    with pytest.raises(InputValidationError):
        await artifact_service.delete_artifact(app_name=APP, user_id=USER, filename="f")
