"""Recording live streams: iterator wrappers (and, later, transports and the proxy) over one ``Recording``."""

from ._recording import Recording
from ._redact import is_secret_key, scrub
from ._stream import RecordedStream, record
from ._wire import to_wire

__all__ = ["RecordedStream", "Recording", "is_secret_key", "record", "scrub", "to_wire"]
