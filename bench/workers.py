"""One chat of N rounds with one framework against the benchmark server.

    python bench/workers.py FRAMEWORK MODE URL ROUNDS [ROUNDS ...]

FRAMEWORK: agentteam | agentteam_openai_sdk | ag2 | agentchat | agent_framework |
litellm_loop; MODE: auto | round_robin. Every framework runs the same team: three
assistants (Coder, Critic, Reviewer), the same system messages and task, no repeated
speaker. The first ROUNDS is a warm-up; prints a JSON object {rounds: seconds, "cpu":
{rounds: seconds}, "peak_rss_mb": MB} for the others, timed in-process (imports and
warm-up excluded): wall time, and the CPU time of this process (all its threads), which
a busy neighbour on a shared machine disturbs far less than wall time; and the process's
peak memory.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

AGENTS = {"Coder": "You write Python code for data analysis tasks.",
          "Critic": "You review analysis and charts and say what to improve.",
          "Reviewer": "You check the work is complete and clear."}
TASK = "Look at the cars data and describe how weight relates to horsepower."


def agentteam_chat(url: str, mode: str, rounds: int, sdk: bool = False) -> None:
    from agentteam.conversation.groupchat import GroupChat, drive
    from agentteam.models.profiles import resolve
    from agentteam.models.provider import ProviderModel
    from agentteam.team import parse_team
    agents = "\n".join(f"  - {{name: {n}, description: '{d}', system_message: '{n}. {d}'}}"
                       for n, d in AGENTS.items())
    team = parse_team(f"name: bench\ntask: {TASK}\nmodels: {{default: {{model: openai/fake-model, "
                      f"api_base: '{url}', api_key: NULL, temperature: 0}}}}\nmax_round: {rounds}\n"
                      f"termination: NEVER_SAID\nspeaker_selection: {mode}\n"
                      f"code_execution: {{executor: none}}\nagents:\n{agents}\n", "b.yaml", {})
    model = ProviderModel(resolve(team))
    if sdk:
        model._wire = sdk_wire()
    end = drive(GroupChat(team, model, None, None, None).run(), lambda ev: None)
    assert end.rounds == rounds, end


def agentteam_openai_sdk_chat(url: str, mode: str, rounds: int) -> None:
    """agentteam with its OpenAI-wire path on the openai SDK instead of httpx."""
    agentteam_chat(url, mode, rounds, sdk=True)


def sdk_wire():
    """A WireClient whose stream() uses openai.OpenAI, yielding the same items.

    The measured alternative to agentteam's httpx streaming (issue 7, "honest
    dependencies"): same URL, key, headers and body fields (taken from
    WireClient.request), one pooled SDK client per endpoint, no SDK retries
    (agentteam retries itself), SDK errors mapped to the same ModelErrors.
    """
    import openai

    from agentteam.models import provider_errors as pe
    from agentteam.models.wire import WireClient

    class SdkWireClient(WireClient):
        def __init__(self):
            super().__init__()
            self._sdk: dict = {}

        def _openai(self, p, headers: dict):
            base = (p.params.get("api_base") or "https://api.openai.com/v1").rstrip("/")
            key = headers.get("Authorization", "").removeprefix("Bearer ") or "none"
            read = p.first_token_timeout or p.timeout
            if (base, read) not in self._sdk:
                self._sdk[(base, read)] = openai.OpenAI(
                    base_url=base, api_key=key, max_retries=0,
                    timeout=openai.Timeout(read, connect=min(10.0, read)))
            return self._sdk[(base, read)]

        def stream(self, p, messages, agent="", tools=None):
            _, headers, body = self.request(p, messages, agent, tools)
            extra = {k: v for k, v in headers.items()
                     if k not in ("Authorization", "Content-Type", "Accept")}
            parts: list[str] = []
            finish, usage = None, None
            try:
                chunks = self._openai(p, headers).chat.completions.create(
                    extra_headers=extra, **body)
                for chunk in chunks:
                    for choice in chunk.choices or []:
                        text = choice.delta.content if choice.delta else None
                        if text:
                            parts.append(text)
                            yield text
                        finish = choice.finish_reason or finish
                    if chunk.usage:
                        usage = {"prompt_tokens": chunk.usage.prompt_tokens,
                                 "completion_tokens": chunk.usage.completion_tokens}
            except openai.APIStatusError as e:
                raise pe.from_status(p, e.status_code, pe.short(e.message)) from None
            except openai.APITimeoutError:
                raise pe.no_answer(p) from None
            except openai.APIConnectionError as e:
                raise (pe.stream_cut(p, "".join(parts)) if parts else
                       pe.unreachable(p, pe.short(str(e)))) from None
            if finish is None:
                raise pe.stream_cut(p, "".join(parts))
            yield {"finish_reason": finish, "usage": usage or {}}

    return SdkWireClient()


def ag2_chat(url: str, mode: str, rounds: int) -> None:
    import autogen
    llm = {"config_list": [{"model": "fake-model", "base_url": url, "api_key": "NULL"}],
           "cache_seed": None, "temperature": 0}
    agents = [autogen.AssistantAgent(n, system_message=f"{n}. {d}", description=d, llm_config=llm,
                                     is_termination_msg=lambda m: False)
              for n, d in AGENTS.items()]
    chat = autogen.GroupChat(agents=agents, messages=[], max_round=rounds + 1,
                             speaker_selection_method=mode, allow_repeat_speaker=False)
    manager = autogen.GroupChatManager(groupchat=chat, llm_config=llm,
                                       is_termination_msg=lambda m: False)
    agents[0].initiate_chat(manager, message=TASK, silent=True)


def agentchat_chat(url: str, mode: str, rounds: int) -> None:
    import asyncio

    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import RoundRobinGroupChat, SelectorGroupChat
    from autogen_ext.models.openai import OpenAIChatCompletionClient
    client = OpenAIChatCompletionClient(
        model="fake-model", base_url=url, api_key="NULL", temperature=0,
        model_info={"vision": False, "function_calling": False, "json_output": False,
                    "family": "unknown", "structured_output": False})
    agents = [AssistantAgent(n, model_client=client, system_message=f"{n}. {d}", description=d)
              for n, d in AGENTS.items()]
    stop = MaxMessageTermination(rounds + 1)
    team = SelectorGroupChat(agents, model_client=client, termination_condition=stop,
                             allow_repeated_speaker=False) if mode == "auto" \
        else RoundRobinGroupChat(agents, termination_condition=stop)
    asyncio.run(team.run(task=TASK))


def agent_framework_chat(url: str, mode: str, rounds: int) -> None:
    """Microsoft Agent Framework's GroupChatBuilder (agent-framework-orchestrations).

    round_robin: a selection function, as in Agent Framework's own round-robin sample.
    auto: an orchestrator agent (AgentBasedGroupChatOrchestrator) that answers a JSON
    object naming the next speaker each round; it has no "no repeated speaker" option,
    so the bench server never names the previous speaker instead.
    """
    import asyncio

    from agent_framework import Agent
    from agent_framework.openai import OpenAIChatCompletionClient
    from agent_framework.orchestrations import GroupChatBuilder
    client = OpenAIChatCompletionClient(model="fake-model", base_url=url, api_key="NULL")
    options = {"temperature": 0}
    agents = [Agent(client=client, name=n, description=d, instructions=f"{n}. {d}",
                    default_options=options) for n, d in AGENTS.items()]
    if mode == "auto":
        manager = Agent(client=client, name="Manager", default_options=options,
                        instructions="You coordinate the team and choose who speaks next.")
        builder = GroupChatBuilder(participants=agents, orchestrator_agent=manager,
                                   max_rounds=rounds)
    else:
        builder = GroupChatBuilder(participants=agents, max_rounds=rounds,
                                   selection_func=lambda s: list(s.participants)[
                                       s.current_round % len(s.participants)])
    workflow = builder.build()
    # The workflow runner stops after 100 supersteps (two per round) and GroupChatBuilder
    # 1.4 has no setting for it: a chat of 50 rounds or more would raise
    # WorkflowConvergenceException.
    workflow._runner._max_iterations = max(100, 2 * rounds + 10)
    asyncio.run(workflow.run(TASK))


def litellm_loop(url: str, mode: str, rounds: int) -> None:
    """A hand-written round-robin loop on litellm.completion: the floor to compare with."""
    import litellm
    history = [{"role": "user", "content": TASK}]
    names = list(AGENTS)
    for i in range(rounds):
        name = names[i % len(names)]
        messages = [{"role": "system", "content": f"{name}. {AGENTS[name]}"}] + history
        r = litellm.completion(model="openai/fake-model", api_base=url, api_key="NULL",
                               messages=messages, temperature=0)
        history.append({"role": "user", "content": f"{name}: {r.choices[0].message.content}"})


RUNNERS = {"agentteam": agentteam_chat, "agentteam_openai_sdk": agentteam_openai_sdk_chat,
           "ag2": ag2_chat, "agentchat": agentchat_chat, "agent_framework": agent_framework_chat,
           "litellm_loop": litellm_loop}


def main() -> None:
    framework, mode, url, *counts = sys.argv[1:]
    run = RUNNERS[framework]
    out: dict = {"cpu": {}}
    for i, n in enumerate(int(c) for c in counts):
        start, cpu = time.perf_counter(), time.process_time()
        run(url, mode, n)
        if i > 0:
            out[n] = time.perf_counter() - start
            out["cpu"][n] = time.process_time() - cpu
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def peak_rss_mb() -> float:
    """This process's peak resident memory since its exec (Linux VmHWM; else ru_maxrss)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
