"""Built-in reducers, one module per wire format; importing this package registers them."""

from . import anthropic, google, openai_chat, openai_realtime, openai_responses  # noqa: F401
