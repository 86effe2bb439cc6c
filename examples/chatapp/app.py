"""A small application with module-level SDK clients, as real code has them.

The clients are built at import time and take their keys and base URLs from
the environment; nothing here knows about streamrec.
"""

from __future__ import annotations

import anthropic
import openai

OPENAI = openai.OpenAI(max_retries=2)
CLAUDE = anthropic.Anthropic(max_retries=2)


def summarize(text: str) -> str:
    """A one-line summary, streamed from OpenAI's chat completions."""
    stream = OPENAI.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Summarize in one line."},
            {"role": "user", "content": text},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def ask_claude(question: str) -> str:
    """An answer streamed from Anthropic's messages API."""
    with CLAUDE.messages.stream(
        model="claude-haiku-4-5", max_tokens=256, messages=[{"role": "user", "content": question}]
    ) as stream:
        return "".join(stream.text_stream)


def compare(question: str) -> tuple[str, str]:
    """The same question to both providers."""
    return summarize(question), ask_claude(question)
