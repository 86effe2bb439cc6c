"""streamrec's exceptions: one root, a branch per layer, so callers catch what they can handle.

::

    StreamrecError
    ├── StoreError                 the database could not be opened, read or written
    │   ├── DatabaseURLError       the URL names no database we can use
    │   ├── NotAStreamrecDatabase  the file or schema is not (a current) streamrec store
    │   ├── FilterError            a history filter (a time, a grouping) means nothing
    │   ├── ReadOnlyQueryError     `streamrec sql` refused a statement that is not one read
    │   ├── StoreUnavailable       unreachable or locked right now (the writer buffers and retries)
    │   └── UnknownStream          no stream has that id
    ├── ProjectionError            events cannot be folded (an unknown api, say)
    ├── RecorderError              recording could not start or was misused
    ├── ServerError                a server would not start as asked (a remote bind not allowed)
    └── ReplayError
        ├── NoMatchingRecording    replay asked for a request that was never recorded
        └── RecordedStreamError    the recorded stream itself ended in an error, replayed as such

The CLI maps every ``StreamrecError`` to one line on stderr and exit 1.
"""

from __future__ import annotations

__all__ = [
    "DatabaseURLError",
    "FilterError",
    "NoMatchingRecording",
    "NotAStreamrecDatabase",
    "ProjectionError",
    "ReadOnlyQueryError",
    "RecordedStreamError",
    "RecorderError",
    "ReplayError",
    "ServerError",
    "StoreError",
    "StoreUnavailable",
    "StoreWarning",
    "StreamrecError",
    "UnknownStream",
]


class StreamrecError(Exception):
    """Root of every error streamrec raises on purpose."""


class StoreError(StreamrecError):
    """The store could not be opened, read or written."""


class DatabaseURLError(StoreError):
    """The database URL is malformed or names a driver we cannot load."""


class NotAStreamrecDatabase(StoreError):
    """The database exists but is not a streamrec store (or is corrupt)."""


class FilterError(StoreError, ValueError):
    """A filter or grouping of the history cannot be understood (the CLI makes it a usage error)."""


class ReadOnlyQueryError(StoreError):
    """``streamrec sql`` refused the statement: it is not one query that only reads."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or is locked right now; the same write may succeed later.

    The writer keeps events in memory and retries on this error (and only on this
    one): anything else a write raises is about the data, and fails its stream.
    """


class UnknownStream(StoreError):
    """No recorded stream has the given id."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"no stream with id {stream_id!r} (see `streamrec ls`)")
        self.stream_id = stream_id


class ProjectionError(StreamrecError):
    """Events could not be folded into state."""


class RecorderError(StreamrecError):
    """Recording could not start, or a strict recording lost its store."""


class ServerError(StreamrecError):
    """A server (proxy, replay, ui) would not start as asked: a remote bind not allowed."""


class ReplayError(StreamrecError):
    """A recording could not be replayed."""


class NoMatchingRecording(ReplayError):
    """A request in replay mode has no recording; never a silent live call."""


class StoreWarning(UserWarning):
    """A storage failure that did not break the live stream (the recording is marked failed)."""


class RecordedStreamError(ReplayError):
    """Raised at the end of a replay whose recording failed, as the live stream did."""

    def __init__(self, error_type: str, message: str, status_code: int | None = None) -> None:
        super().__init__(f"recorded stream failed: {error_type}: {message}")
        self.error_type = error_type
        self.status_code = status_code
