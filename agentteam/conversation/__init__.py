"""The conversation: messages and their parts, events, the group-chat loop, speaker
selection, termination, prompts (history to provider messages), code blocks and the
transcript.

This layer never prints and never exits; it imports neither Rich nor Typer.
"""
