"""Recorded wire JSON back into the SDK's own chunk objects, the way each SDK builds them.

Each SDK parses a stream event without strict validation, so that a field a
newer server adds does not break an older client; we go through the same
entry points: ``construct_type`` for openai and anthropic,
``GenerateContentResponse._from_response`` (which drops unknown fields) for
google-genai. Events an SDK never hands to its caller have no SDK object:
Anthropic's ``ping`` gives None, and an in-stream error raises, as the SDK does.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import RecordedStreamError, ReplayError

__all__ = ["to_sdk"]


def to_sdk(api: str, data: dict[str, Any]) -> Any:
    """The SDK object for one decoded chunk of ``api`` (None for an event the SDK skips).

    Raises ``RecordedStreamError`` for an error event (the SDK raises there too) and
    ``ReplayError`` if the SDK is not installed.
    """
    try:
        if api == "openai.chat.completions":
            from openai._models import construct_type
            from openai.types.chat import ChatCompletionChunk

            _raise_for_error(api, data.get("error"))
            return construct_type(type_=ChatCompletionChunk, value=data)
        if api == "openai.responses":
            from openai._models import construct_type
            from openai.types.responses import ResponseStreamEvent

            return construct_type(type_=ResponseStreamEvent, value=data)
        if api == "anthropic.messages":
            from anthropic._models import construct_type as anthropic_construct
            from anthropic.types import RawMessageStreamEvent

            kind = data.get("type")
            if kind == "ping":
                return None
            if kind == "error":
                _raise_for_error(api, data.get("error") or {})
            return anthropic_construct(type_=RawMessageStreamEvent, value=data)
        if api == "google.generate_content":
            from google.genai import types

            _raise_for_error(api, data.get("error"))
            return types.GenerateContentResponse._from_response(
                response=copy.deepcopy(data), kwargs={}
            )
    except ImportError as exc:
        raise ReplayError(f"SDK objects for {api} need its SDK installed: {exc}") from None
    raise ReplayError(f"no SDK objects for api {api!r}")


def _raise_for_error(api: str, error: Any) -> None:
    if error is None:
        return
    if isinstance(error, dict):
        kind = error.get("type") or error.get("status") or error.get("code") or "error"
        message = error.get("message", "")
        code = error.get("code")
        status = code if isinstance(code, int) and not isinstance(code, bool) else None
        raise RecordedStreamError(str(kind), str(message), status)
    raise RecordedStreamError("error", str(error))
