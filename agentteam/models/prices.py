"""Token prices from LiteLLM's bundled price table, read without importing LiteLLM.

Importing LiteLLM takes seconds; the table is one JSON file in its package, found
with ``importlib.util.find_spec`` (which does not run the package).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

_TABLE: dict | None = None
_LOCK = threading.Lock()
_FILE = "model_prices_and_context_window_backup.json"


def _table() -> dict:
    global _TABLE
    with _LOCK:
        if _TABLE is None:
            _TABLE = {}
            spec = importlib.util.find_spec("litellm")
            for folder in (spec.submodule_search_locations or []) if spec else []:
                path = Path(folder) / _FILE
                if path.exists():
                    _TABLE = json.loads(path.read_text(encoding="utf-8"))
                    break
        return _TABLE


def entry(model: str) -> dict | None:
    """The table's facts about a model: by its LiteLLM id, else by its name alone."""
    table = _table()
    name = model.split("/", 1)[1] if "/" in model else model
    found = table.get(model) or table.get(name)
    return found if isinstance(found, dict) else None


def cost(model: str, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0,
         cache_write_tokens: int = 0) -> float | None:
    """Dollars for these tokens, or None when the model has no known price.

    ``prompt_tokens`` counts every prompt token; of them, ``cached_tokens`` were read
    from the provider's prompt cache and ``cache_write_tokens`` written to it, each at
    its own price where the table has one (read: typically 10-50 % of the input price;
    write: Anthropic's 125 %).
    """
    found = entry(model)
    if not found or "input_cost_per_token" not in found:
        return None
    price_in = found.get("input_cost_per_token", 0)
    read = found.get("cache_read_input_token_cost", price_in)
    write = found.get("cache_creation_input_token_cost", price_in)
    plain = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
    return (plain * price_in + cached_tokens * read + cache_write_tokens * write
            + completion_tokens * found.get("output_cost_per_token", 0))
