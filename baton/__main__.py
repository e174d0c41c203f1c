"""``python -m baton`` runs the CLI, so subprocesses need no console script on PATH."""

from baton.cli import main

main()
