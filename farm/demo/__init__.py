"""The demo: a song synthesised from its own instruments, written as stems and a session."""

from .song import write_demo

__all__ = ["write_demo"]
