"""What a person sees: the Rich live view, the ``--json`` printer and the chat prompt.

Subscribers of the event stream; the only layer (with ``cli``) that imports Rich.
"""
