"""The speaker selection function of customized_selection.yaml.

agentteam calls it with the chat so far (``Message`` values: ``.agent``, ``.text``,
``.kind``) and the names allowed to speak next; it returns a name, a method's name
("auto", "round_robin", "random", "manual"), or None to end the chat.
"""


def custom_speaker_selection(history, candidates):
    """The notebook's pipeline: plan with the Admin until "Approve", then code, run,
    summarise, and back to the Admin."""
    if len(history) <= 1:
        return "Planner"
    last = history[-1]
    if last.agent == "Admin":
        if "Approve" in last.text:
            return "Engineer"
        if history[-2].agent == "Planner":
            return "Planner"            # still planning
        if history[-2].agent == "Scientist":
            return "Scientist"          # comments on the summary
    elif last.agent == "Planner":
        return "Admin"
    elif last.agent == "Engineer":
        return "Executor" if "```python" in last.text else "Engineer"
    elif last.agent == "Executor":
        return "Engineer" if "exitcode: 1" in last.text else "Scientist"
    elif last.agent == "Scientist":
        return "Admin"
    return "random"
