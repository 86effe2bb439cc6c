"""Recorded wire JSON back into the SDK's own chunk objects, the way each SDK builds them.

The SDKs construct stream objects without validation (so a field a newer
server adds does not break an older client); we do the same through their
``construct_type``.
"""

from __future__ import annotations

from typing import Any

from ..errors import ReplayError

__all__ = ["to_sdk"]


def to_sdk(api: str, data: dict[str, Any]) -> Any:
    """The SDK object for one decoded chunk of ``api``; ReplayError if the SDK is missing."""
    try:
        if api == "openai.chat.completions":
            from openai._models import construct_type
            from openai.types.chat import ChatCompletionChunk

            return construct_type(type_=ChatCompletionChunk, value=data)
        if api == "openai.responses":
            from openai._models import construct_type
            from openai.types.responses import ResponseStreamEvent

            return construct_type(type_=ResponseStreamEvent, value=data)
        if api == "anthropic.messages":
            from anthropic._models import construct_type as anthropic_construct
            from anthropic.types import RawMessageStreamEvent

            return anthropic_construct(type_=RawMessageStreamEvent, value=data)
        if api == "google.generate_content":
            from google.genai import types

            return types.GenerateContentResponse.model_validate(data)
    except ImportError as exc:
        raise ReplayError(f"SDK objects for {api} need its SDK installed: {exc}") from None
    raise ReplayError(f"no SDK objects for api {api!r}")
