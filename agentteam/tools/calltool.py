"""Runs one Python tool call: ``python3 calltool.py CALL.json``. Standard library only.

It runs where the tool runs (in the sandbox container, or on this machine for
``run: host``), separate from agentteam. The call file holds the function (a file or
a module, and its name), the arguments as JSON, an output limit and a marker. The
one line it prints is the marker and ``{"ok": ..., "output": ...}``; what the tool
prints itself is kept apart (and shown only when it fails), so that no output of the
tool can break or forge the result.
"""

import importlib
import importlib.util
import json
import os
import sys
import typing


class _Capped:
    """A text stream that keeps the first ``limit`` characters written to it."""

    def __init__(self, limit):
        self.limit, self.parts, self.size, self.dropped = limit, [], 0, 0

    def write(self, text):
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self):
        pass

    def text(self):
        return "".join(self.parts)


def _load(call):
    if call.get("path"):
        folder = os.path.dirname(call["path"])
        sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location("agentteam_tool", call["path"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(call["module"])
    return getattr(module, call["function"])


def _convert(func, arguments):
    """Arguments for parameters typed as pydantic models become those models."""
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        return arguments
    out = dict(arguments)
    for name, value in arguments.items():
        model = hints.get(name)
        if isinstance(value, dict) and hasattr(model, "model_validate"):
            out[name] = model.model_validate(value)
    return out


def _serialize(value):
    """A tool's return value as text: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise _NotJson(f"the tool returned a {type(value).__name__}, which is not JSON ({e}); "
                       "return a string, a number, a list or a dict") from None


class _NotJson(Exception):
    pass


def _cut(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[output cut: {len(text) - limit} more characters]"


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        call = json.load(f)
    limit = int(call.get("limit", 20000))
    out = os.dup(1)
    # What the tool writes to the file descriptors (subprocesses, C code) goes nowhere;
    # what it prints through Python is kept, up to the limit.
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    printed = _Capped(limit)
    sys.stdout = sys.stderr = printed
    try:
        func = _load(call)
        value = func(**_convert(func, call["arguments"]))
        result = {"ok": True, "output": _cut(_serialize(value), limit)}
    except _NotJson as e:
        result = {"ok": False, "output": str(e)}
    except BaseException as e:  # the tool's own failure, whatever it is, is its result
        text = f"{type(e).__name__}: {e}"
        if printed.text().strip():
            text += "\n[the tool printed]\n" + printed.text()[-2000:]
        result = {"ok": False, "output": _cut(text, limit)}
    with os.fdopen(out, "wb") as f:
        f.write((call["marker"] + json.dumps(result, ensure_ascii=False) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
