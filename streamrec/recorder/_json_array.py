"""Splitting a streamed JSON array into its elements' exact text, as the bytes arrive.

Gemini's ``streamGenerateContent`` without ``?alt=sse`` answers with one JSON array
(``application/json``) that grows element by element, each a whole
``GenerateContentResponse``, pretty-printed and separated as ``}\\n,\\r\\n{`` (what
llm-gemini's recorded cassettes hold). Each element is a chunk, stored as its exact
text; replay frames them back (``providers.frame_json_array``).

A JSON parser would give values, not the bytes they came from (ijson's ``items``
included), so this is a scanner that only tracks nesting and strings: elements are
cut where their nesting closes, whatever the network split.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["JSONArraySplitter"]

_STRUCTURE = re.compile(r'[][{}"]')
_IN_STRING = re.compile(r'["\\]')


class JSONArraySplitter:
    """Feed bytes as they arrive; get back the text of each element completed so far."""

    def __init__(self) -> None:
        # bytes that are not UTF-8 become surrogate escapes: stored exactly, replayed as received
        self._text = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._depth = 0  # 1 inside the array, 2 and more inside an element
        self._in_string = False
        self._escaped = False  # a backslash ended the last feed inside a string
        self._parts: list[str] = []  # the open element's text from earlier feeds
        self.closed = False
        """The array's closing ``]`` arrived (what follows it is ignored)."""

    @property
    def pending(self) -> bool:
        """An element has begun and not ended."""
        return self._depth >= 2

    def feed(self, data: bytes) -> list[str]:
        """The elements that ``data`` completed (possibly none)."""
        text = self._text.decode(data)
        if self.closed or not text:
            return []
        done: list[str] = []
        start = 0 if self._depth >= 2 else -1
        i, end = 0, len(text)
        while i < end:
            if self._escaped:
                self._escaped, i = False, i + 1
                continue
            if self._in_string:
                found = _IN_STRING.search(text, i)
                if found is None:
                    break
                i = found.end()
                if found.group() == '"':
                    self._in_string = False
                elif i < end:
                    i += 1  # the escaped character, a quote or a backslash included
                else:
                    self._escaped = True
                continue
            found = _STRUCTURE.search(text, i)
            if found is None:
                break
            i, mark = found.end(), found.group()
            if mark == '"':
                self._in_string = True
            elif mark in "[{":
                if self._depth == 1:
                    start = found.start()
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 1:
                    self._parts.append(text[start:i])
                    done.append("".join(self._parts))
                    self._parts, start = [], -1
                elif self._depth <= 0:
                    self.closed = True
                    return done
        if start >= 0:
            self._parts.append(text[start:])
        return done
