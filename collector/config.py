"""Settings of the collector, read once into a frozen object and passed explicitly.

Environment names are ``BATON_COLLECTOR_<FIELD>`` (``BATON_COLLECTOR_DB``,
``BATON_COLLECTOR_PORT``, ...) and the TOML table is ``[collector]``; see
:mod:`baton.settings` for the order in which sources win.

Query-API tokens are a TOML table of name -> ``{role, token}``::

    [collector.tokens]
    dashboard = { role = "viewer", token = "..." }
    alice = { role = "analyst", token = "..." }

or, in the environment, ``BATON_COLLECTOR_TOKENS="dashboard:viewer:TOKEN,alice:analyst:TOKEN"``.
The name, never the token, is what the read audit records.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from baton.errors import ConfigError
from baton.settings import load

#: OTLP/HTTP's well-known port, so SDKs configured with defaults find the collector.
DEFAULT_PORT = 4318
#: The OTLP spec's recommended limit, applied before and after decompression.
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
#: Request bytes admitted but not yet committed; past it the receiver answers 503.
DEFAULT_QUEUE_MAX_BYTES = 128 * 1024 * 1024
#: Requests admitted but not yet committed; past it the receiver answers 503.
DEFAULT_QUEUE_MAX_REQUESTS = 256
#: Rows one group commit gathers at most (more requests wait for the next commit).
DEFAULT_GROUP_MAX_ROWS = 64 * 1024
#: Worker processes that decode bodies: one per core, since decoding is the costly stage.
DEFAULT_DECODE_WORKERS = min(4, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1 else 0


class Role(enum.IntEnum):
    """What a query-API token may read; each role may do everything the one before may."""

    VIEWER = 1
    """Aggregate figures (a DFG, queue summaries, counts): nothing about one case."""
    ANALYST = 2
    """Also case-level figures and event slices; every such read is audited."""
    ADMIN = 3
    """Everything, including the read audit itself and sending telemetry."""


@dataclasses.dataclass(frozen=True)
class Grant:
    """One query-API token: who holds it and what role it carries."""

    name: str
    role: Role
    token: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class CollectorSettings:
    """Where the collector stores telemetry, where it listens, and whom it answers.

    Loopback by default: exposing the receiver is a choice, best made with ``ingest_token``
    and ``tokens`` set.
    """

    db: Path = Path(".baton/baton.duckdb")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Bearer token OTLP senders must present (admin tokens work too); None = open.
    ingest_token: str | None = None
    #: Query-API tokens with roles; empty = the query API is open to anyone who can connect.
    tokens: tuple[Grant, ...] = ()
    #: Map spans without ``baton.*`` attributes to events (see :mod:`collector.mapping`).
    map_spans: bool = True
    #: Span attribute naming the case of a mapped span; the trace id when absent.
    case_attribute: str | None = None
    decode_workers: int = DEFAULT_DECODE_WORKERS
    queue_max_bytes: int = DEFAULT_QUEUE_MAX_BYTES
    queue_max_requests: int = DEFAULT_QUEUE_MAX_REQUESTS
    group_max_rows: int = DEFAULT_GROUP_MAX_ROWS
    #: DuckDB's threads in the collector process; None = the cores the decode workers leave
    #: (at least one). A group commit is ~15 small statements: a second DuckDB thread mostly
    #: coordinates, and competes with decoding for the same cores (docs/benchmarks.md).
    #: Reads through the query API share these threads.
    duckdb_threads: int | None = None
    #: Seconds a sender is asked to wait after a 503.
    retry_after_s: int = 1
    #: Key that signs audit checkpoints at prune time; None = a key file beside the
    #: database (``<db>.audit-key``, created 0600). Environment/TOML only, never a flag.
    audit_key: str | None = dataclasses.field(default=None, repr=False)
    #: Attribute keys or glob patterns (``http.*``) kept on spans, events, log records and
    #: metrics; None = keep every attribute. When set, anything not listed is dropped before
    #: storage (fail closed); the contract's own keys (:class:`baton.contract.Attr`) and
    #: ``case_attribute`` are always kept. A TOML list, or a comma-separated string.
    attribute_allowlist: tuple[str, ...] | None = None
    #: Alert rules file (``docs/alerts.md``); None = no alert evaluation in this collector.
    alerts_rules: Path | None = None
    #: Seconds between two evaluations of the alert rules.
    alerts_interval_s: float = 60.0
    #: The evaluator's "now": ``wall`` (production) or ``simulation`` (the simulator's
    #: published virtual time, for ``baton simulate --live``).
    alerts_clock: str = "wall"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", parse_grants(self.tokens))
        object.__setattr__(self, "attribute_allowlist", parse_allowlist(self.attribute_allowlist))
        for name in ("max_body_bytes", "queue_max_bytes", "queue_max_requests"):
            if getattr(self, name) < 1:
                raise ConfigError(f"setting {name!r} must be at least 1")
        if self.alerts_interval_s <= 0:
            raise ConfigError("setting 'alerts_interval_s' must be positive")
        if self.alerts_clock not in ("wall", "simulation"):
            raise ConfigError("setting 'alerts_clock' must be wall or simulation")
        if self.decode_workers < 0:
            raise ConfigError("setting 'decode_workers' must be 0 (decode in-process) or more")
        if self.duckdb_threads is not None and self.duckdb_threads < 1:
            raise ConfigError("setting 'duckdb_threads' must be at least 1")

    def store_threads(self) -> int:
        """DuckDB threads for the store: the setting, or the cores decoding leaves free.

        Example:
            >>> CollectorSettings(decode_workers=2).store_threads() >= 1
            True
        """
        if self.duckdb_threads is not None:
            return self.duckdb_threads
        return max(1, (os.cpu_count() or 1) - self.decode_workers)


def parse_grants(raw: Any) -> tuple[Grant, ...]:
    """Tokens from a TOML table, a ``name:role:token,...`` string, or grants already parsed.

    Example:
        >>> [(g.name, g.role.name) for g in parse_grants("ops:admin:s3cret-token")]
        [('ops', 'ADMIN')]
    """
    if not raw:
        return ()
    if isinstance(raw, str):
        entries: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in raw.split(","))):
            name, _, rest = item.partition(":")
            role, _, token = rest.partition(":")
            entries[name] = {"role": role, "token": token}
        raw = entries
    if isinstance(raw, Mapping):
        return tuple(_grant(str(name), entry) for name, entry in raw.items())
    if isinstance(raw, tuple | list) and all(isinstance(g, Grant) for g in raw):
        return tuple(raw)
    raise ConfigError("setting 'tokens' must be a table of name = { role, token }")


def parse_allowlist(raw: Any) -> tuple[str, ...] | None:
    """An allow-list from a TOML list or a comma-separated string; None when not configured.

    An empty list is a configured allow-list that keeps only the contract's keys.

    Example:
        >>> parse_allowlist("http.method, db.*")
        ('http.method', 'db.*')
    """
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple) or not all(isinstance(p, str) for p in raw):
        raise ConfigError("setting 'attribute_allowlist' must be a list of keys or patterns")
    return tuple(p.strip() for p in raw if p.strip())


def _grant(name: str, entry: Any) -> Grant:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"token {name!r} must be {{ role = ..., token = ... }}")
    role, token = str(entry.get("role", "")).upper(), str(entry.get("token", ""))
    if role not in Role.__members__:
        known = ", ".join(r.name.lower() for r in Role)
        raise ConfigError(f"token {name!r}: role {entry.get('role')!r} is not one of {known}")
    if len(token) < 8:
        raise ConfigError(f"token {name!r}: the token must be at least 8 characters")
    return Grant(name, Role[role], token)


def load_settings(**overrides: Any) -> CollectorSettings:
    """Settings from flags (``None`` = not given), environment, ``baton.toml``, defaults.

    Example:
        >>> load_settings(port=9999, db=None).port
        9999
    """
    return load(CollectorSettings, "collector", overrides)
