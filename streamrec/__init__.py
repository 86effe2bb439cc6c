"""streamrec: record streaming LLM responses into SQL, rebuild their state, replay them offline."""

from .errors import NoMatchingRecording, StreamrecError
from .events import SSEEvent
from .projection import CallResponse, StreamState, ToolCall
from .recorder import AsyncRecordingTransport, RecordedStream, RecordingTransport, Redact, record
from .replay import ReplayStream, replay, replay_async, replay_stream
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
    "replay",
    "replay_async",
    "replay_stream",
]

__version__ = "0.1.0"
