"""Built-in reducers, one module per wire format; importing this package registers them."""

from . import openai_chat  # noqa: F401
