"""Every private google-adk name this package uses, imported in one place.

google-adk may move or change these in any release; `tests/test_adk_private.py` imports
each, so an upgrade that breaks one fails there first, with its name.
"""

from __future__ import annotations

from google.adk.auth.auth_credential import (
    _redact_credential_secrets as redact_credential_secrets,
)
from google.adk.errors._stale_session_error import StaleSessionError as ADKStaleSessionError
from google.adk.events._internal_metadata import mark_restored, public_event, public_session
from google.adk.memory._utils import format_timestamp as format_memory_timestamp
from google.adk.sessions._session_util import extract_state_delta
from google.adk.utils._function_call_names import CLIENT_FUNCTION_CALL_NAMES

__all__ = [
    "CLIENT_FUNCTION_CALL_NAMES",
    "ADKStaleSessionError",
    "extract_state_delta",
    "format_memory_timestamp",
    "mark_restored",
    "public_event",
    "public_session",
    "redact_credential_secrets",
]

# --- artifacts ----------------------------------------------------------------------------

from google.adk.artifacts.artifact_util import (
    _MAX_ARTIFACT_REFERENCE_DEPTH as MAX_ARTIFACT_REFERENCE_DEPTH,
)
from google.adk.artifacts.artifact_util import (
    _is_rewind_tombstone as is_rewind_tombstone,
)
from google.adk.artifacts.artifact_util import (
    _validate_session_id_for_flat_storage as validate_session_id_for_flat_storage,
)

__all__ += [
    "MAX_ARTIFACT_REFERENCE_DEPTH",
    "is_rewind_tombstone",
    "validate_session_id_for_flat_storage",
]
