"""streamrec: record streaming LLM responses into SQL, rebuild their state, replay them offline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import exports

if TYPE_CHECKING:
    from .errors import NoMatchingRecording, StreamrecError
    from .events import SSEEvent
    from .projection import CallResponse, StreamState, ToolCall
    from .recorder import (
        AsyncRecordingTransport,
        RecordedStream,
        RecordingTransport,
        Redact,
        record,
    )
    from .replay import ReplayStream, recorded, replay, replay_async, replay_stream
    from .store import Store

__all__ = [
    "AsyncRecordingTransport",
    "CallResponse",
    "NoMatchingRecording",
    "RecordedStream",
    "RecordingTransport",
    "Redact",
    "ReplayStream",
    "SSEEvent",
    "Store",
    "StreamState",
    "StreamrecError",
    "ToolCall",
    "record",
    "recorded",
    "replay",
    "replay_async",
    "replay_stream",
]

__version__ = "0.1.0"

# `streamrec.replay` is both a subpackage and the function users call. The import system binds a
# subpackage onto its parent when it first loads it, which would shadow the function whenever the
# subpackage is imported before the name is read (e.g. by the pytest plugin). Load the (cheap, lazy)
# subpackage now and drop the binding, so the name always resolves to the function below.
from . import replay as _replay_part

del globals()["replay"], _replay_part

# where each export lives: imported on first use, so `import streamrec` (and a CLI start) is cheap
__getattr__, __dir__ = exports(
    __name__,
    {
        "AsyncRecordingTransport": ".recorder",
        "CallResponse": ".projection",
        "NoMatchingRecording": ".errors",
        "RecordedStream": ".recorder",
        "RecordingTransport": ".recorder",
        "Redact": ".recorder",
        "ReplayStream": ".replay",
        "SSEEvent": ".events",
        "Store": ".store",
        "StreamState": ".projection",
        "StreamrecError": ".errors",
        "ToolCall": ".projection",
        "record": ".recorder",
        "recorded": ".replay",
        "replay": ".replay",
        "replay_async": ".replay",
        "replay_stream": ".replay",
    },
    globals(),
)
