"""Settings of the dashboard: where its figures come from, and how it is served.

Live data goes through the collector's query API, because the collector owns the DuckDB
file and no other process may open it while it writes. ``db`` is for offline work on a
copied file. Exactly one of the two is used; with neither, the local collector is assumed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Final

from baton import settings as baton_settings
from baton.errors import ConfigError

#: Environment prefix: ``BATON_DASHBOARD_COLLECTOR``, ``BATON_DASHBOARD_DB``, ...
PREFIX: Final = "dashboard"
#: The collector's address when neither a collector nor a file is configured.
DEFAULT_COLLECTOR: Final = "http://127.0.0.1:4318"
#: The sample clinic's playbooks, what conformance is checked against unless told otherwise.
DEFAULT_PLAYBOOKS: Final = Path(__file__).resolve().parents[1] / "orchestrator" / "playbooks"
#: Streamlit's own default port, so a bare ``baton dashboard`` is where people expect it.
DEFAULT_PORT: Final = 8501


@dataclasses.dataclass(frozen=True)
class DashboardSettings:
    """Where the dashboard reads figures from and how it is served.

    ``collector`` is the base URL of a collector's query API; ``db`` a DuckDB file opened
    read-only; ``refresh_s`` reloads every page that often (0: only on demand).

    ``token`` is a query-API token the dashboard presents for everyone (its role caps what
    every user sees); without it, people sign in with their own token in the sidebar when
    the collector asks for one. ``user_roles`` maps people signed in through OIDC
    (``st.login``) to a role, ``"alice@example.org:analyst,bob@example.org:admin"``; anyone
    not listed is a viewer. ``orchestrator`` and ``orchestrator_token`` reach the
    orchestrator's workbench API; ``playbooks`` is the folder of playbooks conformance is
    checked against (default: the sample clinic's).
    """

    collector: str | None = None
    db: Path | None = None
    port: int = DEFAULT_PORT
    refresh_s: int = 0
    token: str | None = None
    user_roles: str | None = None
    orchestrator: str | None = None
    orchestrator_token: str | None = None
    playbooks: Path | None = None


def load_settings(**overrides: Any) -> DashboardSettings:
    """Settings from overrides (CLI flags), ``BATON_DASHBOARD_*``, ``baton.toml``, defaults.

    A flag naming one source replaces a source configured further down (``--db`` wins over
    ``BATON_DASHBOARD_COLLECTOR``), so a shell's environment never silently changes what a
    command line asked for.

    Example:
        >>> load_settings(db="events.duckdb", collector=None).collector is None
        True
    """
    loaded = baton_settings.load(DashboardSettings, PREFIX, overrides)
    if overrides.get("db") is not None and overrides.get("collector") is None:
        loaded = dataclasses.replace(loaded, collector=None)
    elif overrides.get("collector") is not None and overrides.get("db") is None:
        loaded = dataclasses.replace(loaded, db=None)
    if loaded.collector and loaded.db:
        raise ConfigError(
            f"the dashboard reads either a collector ({loaded.collector}) or a file "
            f"({loaded.db}), not both; unset one of them"
        )
    if not loaded.collector and loaded.db is None:
        loaded = dataclasses.replace(loaded, collector=DEFAULT_COLLECTOR)
    if loaded.refresh_s < 0:
        raise ConfigError(f"setting 'refresh_s': {loaded.refresh_s} must be 0 or more")
    return loaded
