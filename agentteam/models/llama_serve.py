"""The embedded model's server process: llama-cpp-python's own OpenAI-compatible server,
with the model state of every conversation prefix kept between calls.

``python -m agentteam.models.llama_serve`` takes llama_cpp.server's arguments (and
``--states N``). Three things differ from ``python -m llama_cpp.server --cache true``:

- States are kept without the logits buffer. llama-cpp-python's ``save_state`` copies
  ``n_batch x n_vocab`` floats per state (512 x 262,144 = 512 MB for Gemma 3) next to the
  8-40 MB of KV cache that matter; with ``logits_all`` off nothing reads them back.
- At most ``--states`` states are kept (the newest), so a long chat with a few agents
  keeps one state per agent (and one for the selector), not every state it ever made.
- Every completion reports its usage, streamed or not, with
  ``prompt_tokens_details.cached_tokens``: the prompt tokens that were not evaluated
  again because a kept state (or the live context) already held them.

Each agent's next prompt extends its previous one (``conversation.prompts`` keeps it
byte-stable), so its call restores the agent's state and evaluates only what was said
since. Runs in the server's process only; agentteam never imports it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from typing import Any

DEFAULT_STATES = 8


def _reusing_llama():
    """A ``llama_cpp.Llama`` subclass that counts what each completion evaluated."""
    import llama_cpp
    from llama_cpp.llama import LlamaState

    class ReusingLlama(llama_cpp.Llama):
        # Set on an already loaded model (``__class__`` swap): no __init__ runs, so the
        # counters start as class attributes.
        _prompt: tuple[int, int] | None = None   # (evaluated, total) of this prompt
        _sampled = 0

        def eval(self, tokens):
            first = self._prompt is None
            super().eval(tokens)
            if first:   # generate() evaluates the prompt's new part in one call
                self._prompt = (len(tokens), self.n_tokens)

        def sample(self, *args, **kwargs):
            self._sampled += 1
            return super().sample(*args, **kwargs)

        def save_state(self) -> LlamaState:
            size = llama_cpp.llama_state_get_size(self._ctx.ctx)
            buf = (ctypes.c_uint8 * int(size))()
            n = int(llama_cpp.llama_state_get_data(self._ctx.ctx, buf, size))
            if n > int(size):
                raise RuntimeError("Failed to copy llama state data")
            # One row of logits: load_state broadcasts it, and nothing reads it (the
            # sampler works on the context's own logits).
            return LlamaState(input_ids=self.input_ids.copy(), scores=self.scores[:1].copy(),
                              n_tokens=self.n_tokens, llama_state=ctypes.string_at(buf, n),
                              llama_state_size=n, seed=self._seed)

        def _create_completion(self, *args, **kwargs):
            self._prompt, self._sampled = None, 0
            inner = super()._create_completion(*args, **kwargs)
            try:
                for chunk in inner:
                    choices = chunk.get("choices") or [{}]
                    if choices[0].get("finish_reason") is not None:
                        chunk["usage"] = self._usage(chunk.get("usage") or {})
                    yield chunk
            finally:
                inner.close()

        def _usage(self, stock: dict) -> dict:
            evaluated, total = self._prompt or (0, 0)
            prompt = stock.get("prompt_tokens", total)
            completion = stock.get("completion_tokens", self._sampled)
            return {"prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "prompt_tokens_details": {"cached_tokens": max(0, prompt - evaluated)}}

    return ReusingLlama


def _state_cache(capacity_bytes: int, states: int):
    """llama-cpp-python's RAM cache (longest-prefix lookup), holding at most ``states``."""
    from llama_cpp.llama_cache import LlamaRAMCache

    class StateCache(LlamaRAMCache):
        def __setitem__(self, key, value) -> None:
            super().__setitem__(key, value)
            while len(self.cache_state) > states:
                self.cache_state.popitem(last=False)

    return StateCache(capacity_bytes)


def adopt(llama: Any, capacity_bytes: int, states: int) -> None:
    """Make a loaded model keep its prefix states and report what it reused."""
    llama.__class__ = _reusing_llama()
    llama.set_cache(_state_cache(capacity_bytes, states))


def main(argv: list[str] | None = None) -> None:
    """Parse llama_cpp.server's arguments, load the model, adopt it, serve."""
    import uvicorn
    from llama_cpp.server import app as server_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    parser = argparse.ArgumentParser(prog="agentteam.models.llama_serve")
    add_args_from_model(parser, Settings)
    parser.add_argument("--states", type=int, default=DEFAULT_STATES,
                        help="how many prefix states to keep")
    args = parser.parse_args(argv)
    server: Any = parse_model_from_args(ServerSettings, args)
    model: Any = parse_model_from_args(ModelSettings, args)
    app = server_app.create_app(server_settings=server, model_settings=[model])
    proxy: Any = server_app._llama_proxy
    try:
        adopt(proxy(), model.cache_size, args.states)
        print(f"agentteam: keeping up to {args.states} prefix states", file=sys.stderr)
    except Exception as e:  # a llama-cpp-python whose internals moved: serve it stock
        print(f"agentteam: prefix states off ({type(e).__name__}: {e})", file=sys.stderr)
    uvicorn.run(app, host=os.getenv("HOST", server.host), port=int(os.getenv("PORT", server.port)),
                log_level="warning")


if __name__ == "__main__":
    main()
