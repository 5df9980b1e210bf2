"""The commands of the ``agentteam`` CLI, a module per group; importing one registers
its commands on ``common.app``."""
