"""Settings of the collector, read once into a frozen object and passed explicitly.

Environment names are ``BATON_COLLECTOR_<FIELD>`` (``BATON_COLLECTOR_DB``,
``BATON_COLLECTOR_PORT``, ...) and the TOML table is ``[collector]``; see
:mod:`baton.settings` for the order in which sources win.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from baton.settings import load

#: OTLP/HTTP's well-known port, so SDKs configured with defaults find the collector.
DEFAULT_PORT = 4318
#: Big enough for a few thousand spans per request, small enough to refuse accidents.
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class CollectorSettings:
    """Where the collector stores telemetry and where it listens.

    Loopback by default: the receiver has no authentication, so exposing it is a choice.
    """

    db: Path = Path(".baton/baton.duckdb")
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def load_settings(**overrides: Any) -> CollectorSettings:
    """Settings from flags (``None`` = not given), environment, ``baton.toml``, defaults.

    Example:
        >>> load_settings(port=9999, db=None).port
        9999
    """
    return load(CollectorSettings, "collector", overrides)
