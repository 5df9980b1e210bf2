"""Models: the ``ChatModel`` protocol, profiles and defaults, the two transports (the
OpenAI wire over httpx, and LiteLLM for everything else), provider errors, prices, the
completion cache, replay, health checks and the embedded llama.cpp server.

Importing this package imports neither LiteLLM nor httpx; each is loaded when used.
"""
