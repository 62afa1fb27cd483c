"""The command line: one layer for every command (service, client, references, simulator)."""

from genejobs.cli.main import main

__all__ = ["main"]
