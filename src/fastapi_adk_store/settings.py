"""`StoreSettings`: every knob of the store, read from `ADK_STORE_*` variables and `.env`.

Validation errors name the environment variable, not the field:

    pydantic_core.ValidationError: 1 validation error for StoreSettings
    ADK_STORE_MAX_SIZE
      Input should be greater than or equal to 1 ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_core import InitErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from .defaults import (
    APP_STATE_TABLE,
    ARTIFACTS_DELETE_WITH_SESSION,
    EARLIEST_TIMESTAMP,
    EMBEDDED_DATA_DIR,
    EVENTS_TABLE,
    EXTENSION_KEYS,
    JSON_DEPTH_CEILING,
    MAX_ARTIFACT_BYTES,
    MAX_EVENT_BYTES,
    MAX_JSON_DEPTH,
    MAX_PAGE_SIZE,
    MAX_TIMESTAMP,
    MEMORY_MAX_TEXT_BYTES,
    MEMORY_SCHEMA_TABLE,
    MEMORY_SEARCH_LIMIT,
    MEMORY_TABLE,
    MEMORY_TEXT_SEARCH_CONFIG,
    MEMORY_TOMBSTONE_TABLE,
    MIN_TIMESTAMP,
    POOL_MAX_SIZE,
    POOL_OPTIONS,
    SCHEMA_TABLE,
    SESSION_TABLE,
    SLOW_CALL_MS,
    USER_STATE_TABLE,
)

__all__ = ["ENV_PREFIX", "StoreSettings", "env_name"]

ENV_PREFIX = "ADK_STORE_"

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


def env_name(*loc: str | int) -> str:
    """The environment variable of a settings field (nested keys joined by `__`)."""
    return ENV_PREFIX + "__".join(str(part) for part in loc).upper()


class StoreSettings(BaseSettings):
    """Settings of the store, its pool and its FastAPI plugin.

    Every field is read from `ADK_STORE_<FIELD>` (nested keys with `__`, e.g.
    `ADK_STORE_SERVER_SETTINGS__APPLICATION_NAME=api`) and from `./.env`; keyword
    arguments win over both. An empty variable counts as unset.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        use_attribute_docstrings=True,
        validate_default=True,
    )

    dsn: SecretStr | None = None
    """PostgreSQL DSN, e.g. postgresql://user:pass@host/db (unset, with no host: embedded)."""
    host: str | None = None
    """Server host, when not given in the DSN."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Server port, when not given in the DSN."""
    user: str | None = None
    """Database user, when not given in the DSN."""
    password: SecretStr | None = None
    """Database password, when not given in the DSN."""
    database: str | None = None
    """Database name, when not given in the DSN."""
    min_size: int | None = Field(default=None, ge=0)
    """Connections opened at start and kept (unset: min(10, max_size); 0: start without a DB)."""
    max_size: int = Field(default=POOL_MAX_SIZE, ge=1)
    """Most connections the pool opens (per process)."""
    max_queries: int = Field(default=50000, ge=1)
    """Queries after which a pooled connection is replaced."""
    max_inactive_connection_lifetime: float = Field(default=300.0, ge=0)
    """Seconds an idle pooled connection lives (0 keeps it forever)."""
    command_timeout: float | None = Field(default=None, gt=0)
    """Seconds a statement may run before it is cancelled (unset: no limit)."""
    connect_timeout: float = Field(default=60.0, gt=0)
    """Seconds to wait for a new connection."""
    statement_cache_size: int = Field(default=100, ge=0)
    """Prepared statements cached per connection (0 for PgBouncer transaction pooling)."""
    max_cached_statement_lifetime: int = Field(default=300, ge=0)
    """Seconds a cached prepared statement lives (0 keeps it forever)."""
    max_cacheable_statement_size: int = Field(default=15360, ge=0)
    """Longest statement text (bytes) that is cached (0: no limit)."""
    ssl: SslMode | None = None
    """TLS mode: disable, allow, prefer, require, verify-ca or verify-full (unset: prefer)."""
    server_settings: dict[str, str] = Field(default_factory=dict)
    """PostgreSQL settings for every connection (ADK_STORE_SERVER_SETTINGS__<NAME>=value)."""
    session_table: str = SESSION_TABLE
    """Table of sessions."""
    events_table: str = EVENTS_TABLE
    """Table of events."""
    app_state_table: str = APP_STATE_TABLE
    """Table of app-wide (app:) state."""
    user_state_table: str = USER_STATE_TABLE
    """Table of user-wide (user:) state."""
    schema_table: str = SCHEMA_TABLE
    """Table recording the applied schema version."""
    owner_id_column: str | None = None
    """Owner column DDL added to sessions, e.g. 'tenant_id INTEGER NOT NULL REFERENCES t(id)'."""
    create_tables: bool = True
    """Create missing tables at app start (under an advisory lock; safe with many workers)."""
    max_event_bytes: int = Field(default=MAX_EVENT_BYTES, gt=0)
    """Largest event JSON accepted, in bytes; larger events get 413 (on every entry point)."""
    max_json_depth: int = Field(default=MAX_JSON_DEPTH, ge=1, le=JSON_DEPTH_CEILING)
    """Deepest nesting of objects and arrays accepted in a state or an event (422 beyond)."""
    min_timestamp: float = Field(default=MIN_TIMESTAMP, ge=EARLIEST_TIMESTAMP)
    """Earliest event timestamp accepted, epoch seconds (422 before)."""
    max_timestamp: float = Field(default=MAX_TIMESTAMP, le=MAX_TIMESTAMP)
    """Latest event timestamp accepted, epoch seconds (422 after; at most year 9999)."""
    max_page_size: int = Field(default=MAX_PAGE_SIZE, ge=1)
    """Largest page (sessions or events) the router returns; also the default page size."""
    embedded_data_dir: Path = EMBEDDED_DATA_DIR
    """Data directory of the embedded PostgreSQL used when no DSN or host is set."""
    max_artifact_bytes: int = Field(default=MAX_ARTIFACT_BYTES, gt=0)
    """Largest artifact payload accepted, in bytes; larger saves get 413 (every entry point)."""
    artifacts_delete_with_session: bool = ARTIFACTS_DELETE_WITH_SESSION
    """Deleting a session (service or DELETE route) deletes its artifacts, not `user:` ones."""
    slow_call_ms: float = Field(default=SLOW_CALL_MS, ge=0)
    """A service call slower than this (milliseconds) logs a warning (0: never; per process)."""

    memory_enabled: bool = False
    """Open the memory service (and create its tables) in the plugin's lifespan."""
    memory_table: str = MEMORY_TABLE
    """Table of memories (the memory service)."""
    memory_tombstone_table: str = MEMORY_TOMBSTONE_TABLE
    """Table of deleted memories' ids (so re-adding a session does not restore them)."""
    memory_schema_table: str = MEMORY_SCHEMA_TABLE
    """Table recording the memory schema's applied version."""
    memory_search_limit: int = Field(default=MEMORY_SEARCH_LIMIT, ge=1)
    """Most memories a search returns."""
    memory_text_search_config: str = Field(
        default=MEMORY_TEXT_SEARCH_CONFIG, pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$"
    )
    """Text-search configuration of memory search ('simple' or 'english'); set before first use."""
    memory_max_text_bytes: int = Field(default=MEMORY_MAX_TEXT_BYTES, ge=1)
    """Most UTF-8 bytes of a memory's text that are indexed (the content is kept whole)."""

    def memory_options(self) -> dict[str, Any]:
        """The `memory_*` options of `open_memory_service` for these settings."""
        return {
            name: getattr(self, name)
            for name in (
                "memory_table",
                "memory_tombstone_table",
                "memory_schema_table",
                "memory_search_limit",
                "memory_text_search_config",
                "memory_max_text_bytes",
            )
        }

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
            return
        except ValidationError as error:
            renamed = _renamed(error)
        # Raised outside the except block: the original (with the raw inputs, secrets
        # included) must not ride along as __context__.
        raise renamed

    @model_validator(mode="after")
    def _check_timestamp_range(self) -> StoreSettings:
        if self.min_timestamp >= self.max_timestamp:
            raise ValueError(
                f"{env_name('min_timestamp')} ({self.min_timestamp}) must be below "
                f"{env_name('max_timestamp')} ({self.max_timestamp})"
            )
        return self

    @model_validator(mode="after")
    def _check_pool_bounds(self) -> StoreSettings:
        if self.min_size is not None and self.min_size > self.max_size:
            raise ValueError(
                f"{env_name('min_size')} ({self.min_size}) is greater than "
                f"{env_name('max_size')} ({self.max_size}): lower the first or raise the second"
            )
        return self

    @property
    def wants_embedded(self) -> bool:
        """True when neither a DSN nor a host is set: the plugin starts embedded PostgreSQL."""
        return self.dsn is None and self.host is None

    def pool_options(self, *, dsn: str | None = None) -> dict[str, Any]:
        """The seed's pool options (`AsyncpgConfig(pool_config=...)`) for these settings.

        Secrets are revealed here and nowhere else. `dsn` (e.g. an embedded server's)
        replaces the configured one; unset options are left out, so the defaults apply.
        """
        options: dict[str, Any] = {}
        for name in POOL_OPTIONS:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                options[name] = value
        if dsn is not None:
            options["dsn"] = dsn
        return options

    def extension_config(self) -> dict[str, dict[str, Any]]:
        """Table settings in the seed's `extension_config={"adk": {...}}` shape."""
        adk = {key: getattr(self, key) for key in EXTENSION_KEYS}
        return {"adk": {key: value for key, value in adk.items() if value is not None}}

    def artifact_options(self) -> dict[str, Any]:
        """The artifact service's options (`compose.build_artifact_service`)."""
        return {"max_artifact_bytes": self.max_artifact_bytes}


_SECRET_FIELDS = frozenset({"dsn", "password"})
_REDACTED = "**********"


def _redacted(loc: tuple[str | int, ...], value: Any) -> Any:
    """The input an error shows, without secrets: a model-wide check gets every field."""
    if loc and loc[0] in _SECRET_FIELDS:
        return _REDACTED
    if not loc and isinstance(value, dict):
        return {key: _REDACTED if key in _SECRET_FIELDS else item for key, item in value.items()}
    return value


def _renamed(error: ValidationError) -> ValidationError:
    """The same errors, located by environment variable instead of field name, and with
    the DSN and password left out of the inputs they show."""
    details: list[InitErrorDetails] = []
    for item in error.errors(include_url=False):
        detail = InitErrorDetails(
            type=item["type"],
            loc=(env_name(*item["loc"]),) if item["loc"] else (),
            input=_redacted(item["loc"], item["input"]),
        )
        if "ctx" in item:
            detail["ctx"] = item["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(error.title, details)
