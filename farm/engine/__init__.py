"""The render engine: a loaded session compiled into plans for every stage, run as tasks on an executor."""
