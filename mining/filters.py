"""Filters every figure accepts, compiled once into a SQL ``WHERE`` clause over ``events``.

Filters are applied to events before any figure is computed, so a figure never has to know
which filters exist; a new filter changes this module only.

Two kinds: *event* filters (time range, workflow and version, payer, site, attribute values)
keep the events that match; *case* filters (variant, start or end activity, case duration)
keep whole cases, decided on the activity instances of the event-filtered log. Case filters
reach SQL figures as a registered table of kept case ids (:data:`KEPT_CASES`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import polars as pl

from mining.errors import InvalidFilter

#: Filters decided per case on the activity instances, not per event.
CASE_FILTERS = ("variant", "start_activity", "end_activity", "min_duration_s", "max_duration_s")
#: Name of the table of kept case ids a SQL figure reads when case filters are set.
KEPT_CASES = "baton_kept_cases"
#: Query-string prefix of an attribute filter: ``attr.tier=gold``.
ATTRIBUTE_PREFIX = "attr."


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which events a figure looks at. ``None`` means "no restriction".

    ``since`` and ``until`` bound event time (UTC, ``since`` inclusive, ``until`` exclusive);
    ``workflow``, ``payer`` and ``site`` keep only events with that value.
    """

    since: datetime | None = None
    until: datetime | None = None
    workflow: str | None = None
    workflow_version: str | None = None
    payer: str | None = None
    site: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    variant: str | None = None
    start_activity: str | None = None
    end_activity: str | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None

    @property
    def case_level(self) -> bool:
        """Does any filter keep or drop whole cases (decided on activity instances)?"""
        return any(getattr(self, name) is not None for name in CASE_FILTERS)

    def event_level(self) -> Filters:
        """These filters without the case filters."""
        return dataclasses.replace(self, **dict.fromkeys(CASE_FILTERS))

    def merge(self, other: Filters) -> Filters:
        """``other``'s filters where set, else these: narrowing a log twice narrows it more."""
        changes = {
            f.name: getattr(other, f.name)
            for f in dataclasses.fields(other)
            if getattr(other, f.name) not in (None, ())
        }
        if self.attributes and other.attributes:
            changes["attributes"] = self.attributes + other.attributes
        return dataclasses.replace(self, **changes)

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
        for column in ("workflow", "workflow_version", "payer", "site"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = $f_{column}")
                params[f"f_{column}"] = value
        for i, (key, value) in enumerate(self.attributes):
            clauses.append(f"map_extract_value(attributes, $f_ak{i}) = $f_av{i}")
            params[f"f_ak{i}"], params[f"f_av{i}"] = key, value
        if self.case_level:
            clauses.append(f"case_id IN (SELECT case_id FROM {KEPT_CASES})")
        return (" AND ".join(clauses) or "TRUE"), params

    def polars(self, columns: Collection[str]) -> pl.Expr:
        """The event filters as a Polars predicate over a frame with ``columns``.

        Used on an analyst's in-memory instance frame, whose ``ts`` is the completion time.
        """
        predicate = pl.lit(True)
        if self.since is not None:
            predicate &= pl.col("ts") >= _naive_utc(self.since)
        if self.until is not None:
            predicate &= pl.col("ts") < _naive_utc(self.until)
        for column in ("workflow", "workflow_version", "payer", "site"):
            value = getattr(self, column)
            if value is None:
                continue
            if column not in columns:
                raise InvalidFilter(f"{column}: this log has no {column!r} column to filter on")
            predicate &= pl.col(column) == value
        if self.attributes:
            raise InvalidFilter("attribute filters need an event log with an attributes map")
        return predicate

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Filters:
        """Filters from string values, as a query string or form carries them.

        Example:
            >>> Filters.from_mapping({"workflow": "referral", "since": "2026-03-02"}).workflow
            'referral'
        """
        known = {f.name for f in dataclasses.fields(cls)} - {"attributes"}
        attributes = []
        parsed: dict[str, Any] = {}
        for name, raw in values.items():
            if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
                attributes.append((name[len(ATTRIBUTE_PREFIX) :], str(raw)))
            elif name not in known:
                known_names = ", ".join([*sorted(known), f"{ATTRIBUTE_PREFIX}<key>"])
                raise InvalidFilter(f"unknown filter: {name}; known: {known_names}")
            elif raw in (None, ""):
                continue
            elif name in ("since", "until"):
                parsed[name] = parse_time(name, raw)
            elif name in ("min_duration_s", "max_duration_s"):
                parsed[name] = _seconds(name, raw)
            else:
                parsed[name] = str(raw)
        return cls(**parsed, attributes=tuple(attributes))

    def as_mapping(self) -> dict[str, str]:
        """The inverse of :meth:`from_mapping`: string values for a query string.

        Example:
            >>> Filters(workflow="referral", attributes=(("tier", "gold"),)).as_mapping()
            {'workflow': 'referral', 'attr.tier': 'gold'}
        """
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "attributes":
                out.update({f"{ATTRIBUTE_PREFIX}{k}": v for k, v in value})
            elif isinstance(value, datetime):
                out[f.name] = value.isoformat()
            elif value is not None:
                out[f.name] = str(value)
        return out


def _seconds(name: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise InvalidFilter(f"{name}: {raw!r} is not a number of seconds") from None
    if value < 0:
        raise InvalidFilter(f"{name}: {raw!r} is negative")
    return value


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
