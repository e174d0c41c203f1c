"""Filters every figure accepts, compiled once into a SQL ``WHERE`` clause over ``events``.

Filters are applied to events before any figure is computed, so a figure never has to know
which filters exist; a new filter changes this module only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mining.errors import InvalidFilter


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which events a figure looks at. ``None`` means "no restriction".

    ``since`` and ``until`` bound event time (UTC, ``since`` inclusive, ``until`` exclusive);
    ``workflow``, ``payer`` and ``site`` keep only events with that value.
    """

    since: datetime | None = None
    until: datetime | None = None
    workflow: str | None = None
    payer: str | None = None
    site: str | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """The ``WHERE`` clause (``TRUE`` if empty) and its named parameters.

        Parameters are named (``$f_since``) so a figure can add its own (``$at``) to the
        same query: DuckDB does not mix named and positional parameters.
        """
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.since is not None:
            clauses.append("ts >= $f_since")
            params["f_since"] = _naive_utc(self.since)
        if self.until is not None:
            clauses.append("ts < $f_until")
            params["f_until"] = _naive_utc(self.until)
        for column in ("workflow", "payer", "site"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = $f_{column}")
                params[f"f_{column}"] = value
        return (" AND ".join(clauses) or "TRUE"), params

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Filters:
        """Filters from string values, as a query string or form carries them.

        Example:
            >>> Filters.from_mapping({"workflow": "referral", "since": "2026-03-02"}).workflow
            'referral'
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            names, known_names = ", ".join(sorted(unknown)), ", ".join(sorted(known))
            raise InvalidFilter(f"unknown filter(s): {names}; known: {known_names}")
        parsed: dict[str, Any] = {}
        for name, raw in values.items():
            if raw in (None, ""):
                continue
            parsed[name] = parse_time(name, raw) if name in ("since", "until") else str(raw)
        return cls(**parsed)


def parse_time(name: str, raw: str | datetime) -> datetime:
    """An ISO-8601 instant; a clear error names the parameter otherwise."""
    if isinstance(raw, datetime):
        return raw
    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilter(f"{name}: {raw!r} is not an ISO-8601 time") from None


def _naive_utc(value: datetime) -> datetime:
    """DuckDB's ``TIMESTAMP`` is naive UTC; convert aware values instead of guessing."""
    if value.tzinfo is None:
        return value
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None)
