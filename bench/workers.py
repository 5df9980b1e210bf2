"""One chat of N rounds with one framework against the benchmark server.

    python bench/workers.py FRAMEWORK MODE URL ROUNDS [ROUNDS ...]

FRAMEWORK: agentteam | ag2 | agentchat | litellm_loop; MODE: auto | round_robin.
Every framework runs the same team: three assistants (Coder, Critic, Reviewer), the
same system messages and task, no repeated speaker. The first ROUNDS is a warm-up;
prints a JSON object {rounds: seconds} for the others, timed in-process (imports and
warm-up excluded).
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


def agentteam_chat(url: str, mode: str, rounds: int) -> None:
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
    end = drive(GroupChat(team, ProviderModel(resolve(team)), None, None, None).run(),
                lambda ev: None)
    assert end.rounds == rounds, end


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


RUNNERS = {"agentteam": agentteam_chat, "ag2": ag2_chat, "agentchat": agentchat_chat,
           "litellm_loop": litellm_loop}


def main() -> None:
    framework, mode, url, *counts = sys.argv[1:]
    run = RUNNERS[framework]
    out = {}
    for i, n in enumerate(int(c) for c in counts):
        start = time.perf_counter()
        run(url, mode, n)
        if i > 0:
            out[n] = time.perf_counter() - start
    print(json.dumps(out))


if __name__ == "__main__":
    main()
