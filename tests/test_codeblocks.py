"""The line scanner that finds code fences: the same blocks as the regex it replaced, in
time linear in the message; and the termination keyword, which counts only in prose."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentteam.conversation import codeblocks
from agentteam.conversation.codeblocks import extract, prose
from agentteam.conversation.termination import terminates

# The regex extract() used before the scanner: quadratic on unclosed fences, but the
# reference for which blocks a message has.
OLD_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+.#-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$",
                       re.DOTALL | re.MULTILINE)


def old_extract(text: str) -> list[tuple[str, str]]:
    out = []
    for m in OLD_FENCE.finditer(text):
        tag, code = m.group(1).lower(), m.group(2)
        if not code.strip():
            continue
        if not tag:
            tag = "sh" if code.lstrip().startswith(codeblocks._SHELL_START) else "python"
        out.append((codeblocks._ALIASES.get(tag, tag), code))
    return out


FENCEISH = ["```", "```python", "``` py", "  ```", "\t```bash  ", "```sh extra words", "``` ",
            "```\t", "````", "a```", "``", "```c++", "```\r", "x = 1", "print('```')",
            "ls -l", "", " ", "pip install x", "```python3 # x"]
# Characters that str.splitlines() would take for line ends, though the regex does not.
ODD = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_line = st.one_of(st.sampled_from(FENCEISH),
                  st.text(alphabet=" \t`pyhonsx#." + ODD, max_size=8),
                  st.tuples(st.sampled_from(FENCEISH), st.sampled_from(ODD),
                            st.sampled_from(FENCEISH)).map("".join))


@settings(max_examples=1500)
@given(st.lists(_line, max_size=14), st.booleans())
def test_extract_finds_the_blocks_the_old_regex_found(lines, final_newline):
    text = "\n".join(lines) + ("\n" if final_newline else "")
    assert [(b.language, b.code) for b in extract(text)] == old_extract(text)


@pytest.mark.parametrize("text", [
    "x\x0c```python\nprint(1)\n```\n",           # a form feed does not start a line
    "```python\nprint(1)\x0c```\nmore\n```\n",    # ... nor end the block early
    "```python\nprint(1)\u2028```\n```\n",
    "```python\r\nprint(1)\r\n```\r\n"])           # "\r" before "\n": as the regex did
def test_only_newline_ends_a_line(text):
    assert [(b.language, b.code) for b in extract(text)] == old_extract(text)


def test_prose_is_the_message_without_its_blocks():
    text = "Run this:\n```python\nprint('TERMINATE')\n```\nthen tell me.\n```\nunclosed"
    assert prose(text) == "Run this:\nthen tell me.\n```\nunclosed"
    assert prose("no fences") == "no fences"


def _fast(fn, *args) -> None:
    """One call; the bound is generous (the quadratic code took hours at these sizes)."""
    start = time.monotonic()
    fn(*args)
    assert time.monotonic() - start < 20


def test_fences_cost_linear_time():
    unclosed = "```python\n" * 50_000
    _fast(extract, unclosed)
    _fast(prose, unclosed)
    assert extract(unclosed) == [] and prose(unclosed) == unclosed
    _fast(extract, "```\nx\n" * 50_000)


@pytest.mark.parametrize("match", ["suffix", "exact", "substring"])
def test_termination_costs_linear_time(match):
    tail = " .!?,;:*_`'\")]\n\t" * 70_000                  # ~1 MB of trailing punctuation
    _fast(terminates, "x" + tail, "TERMINATE", match)
    _fast(terminates, "TERMINATE" + tail + "y", "TERMINATE", match)
    _fast(terminates, "```\n" * 250_000, "TERMINATE", match)
    assert terminates("done TERMINATE" + tail, "TERMINATE", "suffix")


@pytest.mark.parametrize("text,ends", [
    ("Run this:\n```python\nprint(\"TERMINATE\")\n```", False),
    ("```python\nprint('TERMINATE')\n```\nTERMINATE", True),
    ("```\nTERMINATE\n```", False),
    ("All done. TERMINATE", True),
    ("```python\nunclosed TERMINATE", True)])      # not a code block: prose
def test_the_keyword_counts_only_in_prose(text, ends):
    assert terminates(text, "TERMINATE", "suffix") is ends
