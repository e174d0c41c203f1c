"""Baton: observability and process mining for RPA bot orchestration.

This top-level package holds only what every layer shares: the telemetry contract
(:mod:`baton.contract`), settings loading (:mod:`baton.settings`), pseudonymization
(:mod:`baton.pseudonym`) and the root CLI. It imports nothing heavy, so any layer may
import it without pulling in DuckDB, pm4py or Streamlit.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
