"""Errors shared by every layer.

Hierarchy::

    BatonError                 root: the CLI turns any of these into a one-line message
    ├── ConfigError            a setting or configuration file is wrong
    └── UnreachableError       a Baton service (collector, orchestrator) did not answer

Each package has its own root (``CollectorError``, ``MiningError``, ``OrchestratorError``)
deriving from :class:`BatonError`, so the CLI catches one type at the edge.
"""


class BatonError(Exception):
    """Root of every error Baton reports to a user."""


class ConfigError(BatonError):
    """A setting, flag or configuration file has a value Baton cannot use."""


class UnreachableError(BatonError):
    """A Baton service did not answer at the address it was given."""
