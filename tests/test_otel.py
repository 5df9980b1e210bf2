"""OpenTelemetry traces of runs against the fake server: spans exported in-process to an
in-memory exporter and, from the real `agentteam` process, over OTLP/HTTP to a receiver
started here; a canary key is in no attribute; nothing is loaded when tracing is off."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from agentteam.conversation.events import (
    MessageDone,
    MessageStarted,
    RunEnded,
    RunStarted,
    SpeakerSelected,
)

from .conftest import run_process, script

pytest.importorskip("opentelemetry.sdk", reason='needs the otel extra: pip install "agentteam[otel]"')

from opentelemetry import trace  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

CANARY = "sk-canary-otel-7f3e9a1b2c4d5e6f"

CODE_TEAM = """\
name: traced
task: Print a greeting.
models:
  default:
    model: openai/fake-model
    api_base: {url}
    api_key: ${{CANARY_KEY}}
    num_retries: 2
    max_retry_wait: 0.1
    timeout: 5
max_round: 6
termination: TERMINATE
speaker_selection: round_robin
code_execution:
  executor: local
  work_dir: work
agents:
  - name: User_proxy
    kind: user_proxy
  - name: Coder
    system_message: Coder.
  - name: Critic
    system_message: Critic.
"""

CODE = "```python\nprint('traced output')\nraise SystemExit(2)\n```"


@pytest.fixture(scope="module")
def memory():
    """One SDK provider for the process (the global one can be set only once)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans(memory):
    memory.clear()
    yield memory.get_finished_spans
    memory.clear()


def by_name(finished) -> dict[str, list]:
    out: dict[str, list] = {}
    for s in finished:
        out.setdefault(s.name, []).append(s)
    return out


def attributes_text(finished) -> str:
    return json.dumps([{k: list(v) if isinstance(v, tuple) else v
                        for k, v in {**dict(s.attributes or {}),
                                     **{f"event.{e.name}.{k}": v for e in s.events
                                        for k, v in (e.attributes or {}).items()}}.items()}
                       for s in finished], default=str)


def test_span_tree_and_genai_attributes_in_memory(cli, server, team_file, spans, monkeypatch):
    monkeypatch.setenv("CANARY_KEY", CANARY)
    server.api_key = CANARY
    script(server, {"Coder": [f"Run this:\n{CODE}", "It failed on purpose. TERMINATE"],
                    "Critic": [f"Please run it. (my key is {CANARY})"]})
    server.fail("500", times=1, after=1)          # the Critic's call is retried once
    r = cli("run", team_file(CODE_TEAM), "--json", "--otel")
    assert r.exit_code == 0, r.stderr
    finished = spans()
    names = by_name(finished)
    (run,) = names["run traced"]
    turns = [s for s in finished if s.name.startswith("invoke_agent ")]
    calls = names["chat fake-model"]
    (code,) = names["execute_code python"]
    assert [t.attributes["gen_ai.agent.name"] for t in turns] == \
        ["Coder", "Critic", "User_proxy", "Coder"]
    assert all(t.parent.span_id == run.context.span_id for t in turns)
    assert [c.parent.span_id for c in calls] == [turns[i].context.span_id for i in (0, 1, 3)]
    assert code.parent.span_id == turns[2].context.span_id
    assert {s.context.trace_id for s in finished} == {run.context.trace_id}
    first = calls[0].attributes
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.request.model"] == "fake-model" == first["gen_ai.response.model"]
    assert first["gen_ai.provider.name"] == "openai" == first["gen_ai.system"]
    assert first["gen_ai.usage.input_tokens"] > 0 and first["gen_ai.usage.output_tokens"] > 0
    assert list(first["gen_ai.response.finish_reasons"]) == ["stop"]
    assert calls[0].kind == trace.SpanKind.CLIENT
    retry = [e for e in calls[1].events if e.name == "retry"]
    assert len(retry) == 1 and "500" in retry[0].attributes["agentteam.retry.error"]
    assert code.status.status_code == StatusCode.ERROR and code.attributes[
        "agentteam.code.exit_code"] == 2
    assert run.attributes["agentteam.reason"] == "keyword"
    assert run.attributes["agentteam.exit_code"] == 0
    assert run.status.status_code != StatusCode.ERROR
    # content is off by default: no reply, task or output in any attribute
    text = attributes_text(finished)
    assert "Please run it" not in text and "traced output" not in text
    assert "Print a greeting" not in text
    assert CANARY not in text


def test_content_only_with_opt_in_and_never_the_key(cli, server, team_file, spans, monkeypatch):
    monkeypatch.setenv("CANARY_KEY", CANARY)
    monkeypatch.setenv("AGENTTEAM_OTEL_CONTENT", "1")
    server.api_key = CANARY
    script(server, {"Coder": [f"Run this:\n{CODE}", "TERMINATE"],
                    "Critic": [f"my key is {CANARY}"]})
    assert cli("run", team_file(CODE_TEAM), "--json", "--otel").exit_code == 0
    finished = spans()
    text = attributes_text(finished)
    assert "Print a greeting" in text and "traced output" in text
    critic = [s for s in finished if s.name == "chat fake-model"
              and s.attributes["gen_ai.agent.name"] == "Critic"][0]
    out = json.loads(critic.attributes["gen_ai.output.messages"])
    assert out[0]["role"] == "assistant" and out[0]["parts"][0]["content"] == "my key is ***"
    assert CANARY not in text


def test_errors_set_the_status_of_the_run_and_the_call(cli, server, team_file, spans):
    script(server, {"Coder": ["first"]})
    server.fail("401", times=5, after=1)
    r = cli("run", team_file(), "--json", "--otel")
    assert r.exit_code == 1
    names = by_name(spans())
    (run,) = names["run test-team"]
    assert run.status.status_code == StatusCode.ERROR and "401" in run.status.description
    assert any(e.name == "exception" for e in run.events)
    failed = [s for s in names["chat fake-model"] if s.status.status_code == StatusCode.ERROR]
    assert failed and failed[0].attributes["gen_ai.agent.name"] == "Critic"
    critic_turn = names["invoke_agent Critic"][0]
    assert critic_turn.status.status_code == StatusCode.ERROR


def test_tool_calls_and_unknown_events_become_spans(memory, spans):
    """Tool events (from later features) are traced from their generic fields."""
    from agentteam.otel import RunTracer
    t = RunTracer({}, trace.get_tracer_provider())
    for ev in (RunStarted("tools", "t", ["A"], ""), SpeakerSelected(1, "A", "auto", "why"),
               MessageStarted(1, "A", "default"),
               SimpleNamespace(type="tool_call", id="c1", name="search", arguments="{}"),
               SimpleNamespace(type="tool_result", id="c1", name="search", output="boom",
                               is_error=True),
               SimpleNamespace(type="something_new", x=1),
               MessageDone(1, "A", "done", {"prompt_tokens": 3, "completion_tokens": 1}, "default"),
               RunEnded("keyword", 1)):
        t(ev)
    t.shutdown()
    names = by_name(spans())
    (tool,) = names["execute_tool search"]
    assert tool.attributes["gen_ai.tool.name"] == "search"
    assert tool.attributes["gen_ai.tool.call.id"] == "c1"
    assert tool.status.status_code == StatusCode.ERROR
    assert tool.parent.span_id == names["invoke_agent A"][0].context.span_id


def test_observed_passes_ctrl_c_to_the_run_loop():
    from agentteam.otel import observed

    def loop():
        try:
            yield 1
            yield 2
        except KeyboardInterrupt:
            yield "interrupted"

    seen = []
    gen = observed(loop(), seen.append)
    assert next(gen) == 1
    assert gen.throw(KeyboardInterrupt) == "interrupted"
    assert list(gen) == [] and seen == [1, "interrupted"]


# -- the real process, exporting over OTLP/HTTP ----------------------------------------------

class Receiver:
    """A tiny OTLP/HTTP collector on 127.0.0.1 that keeps every POST's body."""

    def __init__(self):
        self.bodies: list[bytes] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                received.append((self.path, raw))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def spans(self) -> list:
        out = []
        for _, raw in self.bodies:
            req = ExportTraceServiceRequest()
            req.ParseFromString(raw)
            for rs in req.resource_spans:
                service = {a.key: a.value.string_value for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    out += [(service, s) for s in ss.spans]
        return out


def test_otlp_http_export_from_the_real_process(server, team_file, tmp_path):
    receiver = Receiver()
    script(server, {"Coder": [f"Run this:\n{CODE}", "TERMINATE"],
                    "Critic": [f"key {CANARY} ok"]})
    server.api_key = CANARY
    try:
        r = run_process("run", team_file(CODE_TEAM), "--json", cwd=tmp_path,
                        env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "CANARY_KEY": CANARY,
                             "AGENTTEAM_OTEL_CONTENT": "1"})
    finally:
        receiver.httpd.shutdown()
    assert r.returncode == 0, r.stderr
    assert {p for p, _ in receiver.bodies} == {"/v1/traces"}
    found = receiver.spans()
    assert found and all(svc.get("service.name") == "agentteam" for svc, _ in found)
    spans_ = {s.name: s for _, s in found}
    run = spans_["run traced"]
    assert run.parent_span_id == b""
    coder = [s for _, s in found if s.name == "invoke_agent Coder"]
    assert coder and all(s.parent_span_id == run.span_id for s in coder)
    attrs = {a.key: a.value for a in spans_["chat fake-model"].attributes}
    assert attrs["gen_ai.request.model"].string_value == "fake-model"
    assert attrs["gen_ai.usage.output_tokens"].int_value > 0
    assert spans_["execute_code python"].status.code == 2      # STATUS_CODE_ERROR
    assert all(CANARY.encode() not in raw for _, raw in receiver.bodies)


def test_ctrl_c_with_tracing_on_ends_in_order_and_exports(server, team_file, tmp_path):
    """SIGINT mid-reply reaches the run loop through the tracing wrapper: exit 130, the
    transcript ends `interrupted`, and the spans (run and call marked ERROR) are sent."""
    receiver = Receiver()
    script(server, {"Coder": ["alpha beta gamma delta epsilon zeta eta theta iota kappa"]})
    server.chunk_delay = 0.3
    t = tmp_path / "int.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "agentteam.cli", "run", str(team_file()),
                             "--json", "--transcript", str(t)], cwd=tmp_path,
                            env={**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (t.exists() and t.read_text().count("message_delta") >= 3):
            assert time.monotonic() < deadline and proc.poll() is None, "no streamed text"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        receiver.httpd.shutdown()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert json.loads(t.read_text().splitlines()[-1])["reason"] == "interrupted"
    found = {s.name: s for _, s in receiver.spans()}
    assert found["run test-team"].status.code == 2
    assert found["chat fake-model"].status.code == 2


# -- off by default -------------------------------------------------------------------------

PROBE = """\
import json, sys
from agentteam.cli import main
sys.argv = ["agentteam", "run", sys.argv[1], "--json"]
try:
    main()
except SystemExit as e:
    code = e.code
print(json.dumps({"exit": code, "loaded": sorted(m for m in sys.modules
      if m.startswith("opentelemetry") or m == "agentteam.otel")}))
"""


def test_nothing_is_loaded_when_tracing_is_off(server, team_file, tmp_path):
    script(server, {"Coder": ["TERMINATE"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    r = subprocess.run([sys.executable, "-c", PROBE, str(team_file())], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last == {"exit": 0, "loaded": []}, r.stderr


BLOCK = """\
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("opentelemetry"):
            raise ImportError(name)
sys.meta_path.insert(0, Block())
from agentteam.cli import main
sys.argv = ["agentteam", *sys.argv[1:]]
main()
"""


def test_without_the_extra_otel_is_a_clear_error_and_the_env_a_warning(server, team_file,
                                                                        tmp_path):
    script(server, {"Coder": ["TERMINATE"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}

    def run(*args, **extra):
        return subprocess.run([sys.executable, "-c", BLOCK, *args], cwd=tmp_path,
                              env={**env, **extra}, capture_output=True, text=True, timeout=120)
    r = run("run", str(team_file()), "--otel")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert 'error: --otel: tracing needs the otel extra: pip install "agentteam[otel]"' in r.stderr
    r = run("run", str(team_file()), "--json", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert r.returncode == 0, r.stderr
    warning = [json.loads(x) for x in r.stdout.splitlines() if '"notice"' in x]
    assert any("this run is not traced" in w["text"] for w in warning)


def test_an_inner_chat_is_a_span_under_the_member_that_runs_it(cli, server, tmp_path, spans):
    script(server, {"Searcher": ["Octopuses have three hearts."],
                    "Checker": ["Checked. TERMINATE"],
                    "Writer": ["Post: three hearts. TERMINATE"]})
    from .test_nested import OUTER, RESEARCH, write
    outer = write(tmp_path, "blog.yaml", OUTER, server.url)
    write(tmp_path, "research.yaml", RESEARCH)
    r = cli("run", outer, "--json", "--otel")
    assert r.exit_code == 0, r.stdout + r.stderr
    names = by_name(spans())
    (run,) = names["run blog"]
    (member,) = names["invoke_agent Research_team"]
    (inner,) = names["invoke_team research"]
    assert member.parent.span_id == run.context.span_id
    assert inner.parent.span_id == member.context.span_id
    assert inner.attributes["agentteam.scope"] == ("Research_team",)
    assert inner.attributes["agentteam.reason"] == "keyword"
    for agent in ("Searcher", "Checker"):        # the inner turns, and their calls under them
        (turn,) = names[f"invoke_agent {agent}"]
        assert turn.parent.span_id == inner.context.span_id
        calls = [s for s in names["chat fake-model"] if s.parent.span_id == turn.context.span_id]
        assert len(calls) == 1
    (writer,) = names["invoke_agent Writer"]
    assert writer.parent.span_id == run.context.span_id
    assert all(s.end_time is not None for s in spans())
