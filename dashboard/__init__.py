"""The Baton dashboard: a Streamlit app that renders what :mod:`mining` computes.

Pages read figures through :mod:`dashboard.data` (the collector's query API, or a DuckDB
file offline) and draw them with :mod:`dashboard.charts`. Importing this package does not
import Streamlit, so the root CLI can register :func:`dashboard_command` cheaply.
"""

from dashboard.access import Role
from dashboard.cli import dashboard_command, run_dashboard
from dashboard.config import DashboardSettings, load_settings
from dashboard.errors import DashboardError, FigureRequestFailed, NotSignedIn, SourceNotFound

__all__ = [
    "DashboardError",
    "DashboardSettings",
    "FigureRequestFailed",
    "NotSignedIn",
    "Role",
    "SourceNotFound",
    "dashboard_command",
    "load_settings",
    "run_dashboard",
]
