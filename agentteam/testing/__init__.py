"""Test helpers users can import too: ``ScriptedModel``, ``FakeExecutor`` and a fake
OpenAI-compatible server (``agentteam.testing.fakeserver``)."""

from .scripted import FakeExecutor, ScriptedModel

__all__ = ["FakeExecutor", "ScriptedModel"]
