"""Building rows of the ``events`` table from what a file says, the same way for every format.

Readers collect plain Python lists (or Arrow arrays) for the columns their format fills; this
module turns them into one Arrow table with the contract's columns and types, so the insert
is a single Arrow scan and nothing here knows about any particular file format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl
import pyarrow as pa

from baton.contract import EVENT_COLUMNS, Lifecycle

#: Extra column of reader output: a per-file unique key the event id is derived from.
KEY_COLUMN: Final = "_key"

#: Prefix of attributes that carry an ``events`` column in XES and OCEL files Baton wrote,
#: so a log exported by Baton imports back to the same rows.
COLUMN_PREFIX: Final = "baton:"

_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "TIMESTAMP": pa.timestamp("us"),
    "MAP(VARCHAR, VARCHAR)": pa.map_(pa.string(), pa.string()),
}

#: Arrow type of every ``events`` column, in contract order.
ARROW_SCHEMA: Final = pa.schema(
    [pa.field(name, _ARROW_TYPES[kind]) for name, kind in EVENT_COLUMNS]
    + [pa.field(KEY_COLUMN, pa.string())]
)

#: Columns an importer may fill from ``baton:<column>`` attributes, with their Arrow types.
PREFIXED_COLUMNS: Final[dict[str, pa.DataType]] = {
    f"{COLUMN_PREFIX}{field.name}": field.type
    for field in ARROW_SCHEMA
    if field.name not in (KEY_COLUMN, "attributes")
}

# XES standard lifecycle transitions with a Baton counterpart; Baton's own names map to
# themselves; anything else is kept, lower-cased, as the lifecycle.
_LIFECYCLES: Final[dict[str, str]] = {
    "schedule": Lifecycle.ENQUEUED.value,
    "start": Lifecycle.STARTED.value,
    "complete": Lifecycle.COMPLETED.value,
    "ate_abort": Lifecycle.FAILED.value,
    "pi_abort": Lifecycle.FAILED.value,
    **{member.value: member.value for member in Lifecycle},
}

#: Baton lifecycle -> XES transition written on export; the inverse of the mapping above.
XES_TRANSITIONS: Final[dict[str, str]] = {
    Lifecycle.ENQUEUED.value: "schedule",
    Lifecycle.STARTED.value: "start",
    Lifecycle.COMPLETED.value: "complete",
    Lifecycle.FAILED.value: "ate_abort",
}


def lifecycle_of(transition: str | None) -> str:
    """The ``lifecycle`` of an event whose file says ``transition`` (none means completed).

    >>> lifecycle_of("START"), lifecycle_of(None), lifecycle_of("suspend")
    ('started', 'completed', 'suspend')
    """
    if transition is None:
        return Lifecycle.COMPLETED.value
    key = transition.strip().lower()
    return _LIFECYCLES.get(key, key) or Lifecycle.COMPLETED.value


def lifecycles(transitions: Sequence[str | None]) -> list[str]:
    """:func:`lifecycle_of` over a column, mapping each distinct value once."""
    mapping = {transition: lifecycle_of(transition) for transition in set(transitions)}
    return [mapping[transition] for transition in transitions]


def parse_time(text: str) -> datetime:
    """An ISO 8601 date-time as an aware UTC datetime; a value without offset is taken as UTC.

    Raises :class:`ValueError` with the offending text, which readers turn into a message that
    names the line.

    >>> parse_time("2011-10-01T00:38:44.546+02:00").isoformat()
    '2011-09-30T22:38:44.546000+00:00'
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def timestamps(values: Sequence[datetime | None]) -> pa.Array:
    """Aware datetimes as the table's naive-UTC microsecond timestamps."""
    return pa.array(values, type=pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))


class BadTime(ValueError):
    """Value number ``index`` of a column could not be read as a date-time."""

    def __init__(self, index: int, text: str, fmt: str | None) -> None:
        self.index = index
        self.text = text
        expected = f"format {fmt!r}" if fmt else "ISO 8601 or --timestamp-format"
        super().__init__(f"{text!r} is not a date-time ({expected})")


def parse_times(texts: Sequence[str | None] | pl.Series, fmt: str | None = None) -> pa.Array:
    """Date-time texts as naive-UTC timestamps, parsed in bulk; nulls stay null.

    Polars parses the column in one go with ``fmt`` (chrono syntax) or the format it infers
    from the first value; values it misses are retried one by one with Python
    (``datetime.strptime(fmt)`` or ISO 8601), so mixed formats and offsets still work. A value
    neither can read raises :class:`BadTime` with its index. Values without an offset are UTC.
    """
    series = texts if isinstance(texts, pl.Series) else pl.Series(values=texts, dtype=pl.String)
    if series.dtype != pl.String:
        series = series.cast(pl.String)
    try:
        parsed = series.str.to_datetime(format=fmt, time_unit="us", time_zone="UTC", strict=False)
    except pl.exceptions.PolarsError:
        parsed = pl.Series(values=[None] * len(series), dtype=pl.Datetime("us", "UTC"))
    missed = (parsed.is_null() & series.is_not_null()).arg_true()
    if len(missed):
        retried = []
        for index in missed.to_list():
            text = series[index]
            try:
                retried.append(_parse_one(text, fmt))
            except ValueError:
                raise BadTime(index, text, fmt) from None
        parsed = parsed.scatter(missed, pl.Series(values=retried, dtype=pl.Datetime("us", "UTC")))
    return parsed.dt.replace_time_zone(None).to_arrow().cast(pa.timestamp("us"))


def _parse_one(text: str, fmt: str | None) -> datetime:
    if fmt is None:
        return parse_time(text)
    parsed = datetime.strptime(text.strip(), fmt)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def attribute_maps(rows: Sequence[Sequence[tuple[str, str]] | None]) -> pa.Array:
    """Lists of ``(key, value)`` pairs as the ``attributes`` MAP column."""
    return pa.array(rows, type=ARROW_SCHEMA.field("attributes").type)


def events_table(num_rows: int, columns: Mapping[str, Any]) -> pa.Table:
    """A table with every ``events`` column; those not in ``columns`` are all null.

    ``columns`` maps a column name to an Arrow array or a Python sequence of ``num_rows``
    values; each is cast to the contract's type.
    """
    unknown = set(columns) - set(ARROW_SCHEMA.names)
    if unknown:
        raise ValueError(f"not events columns: {sorted(unknown)}")
    arrays = []
    for field in ARROW_SCHEMA:
        values = columns.get(field.name)
        if values is None:
            arrays.append(pa.nulls(num_rows, field.type))
        elif isinstance(values, pa.ChunkedArray | pa.Array):
            arrays.append(values.cast(field.type))
        elif pa.types.is_timestamp(field.type):
            arrays.append(timestamps(values))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def column_value(key: str, text: str) -> Any:
    """The value of a ``baton:<column>`` attribute as its column's type.

    >>> column_value("baton:seq", "42"), column_value("baton:queue", "verify")
    (42, 'verify')
    """
    kind = PREFIXED_COLUMNS[key]
    if pa.types.is_integer(kind):
        return int(text)
    if pa.types.is_timestamp(kind):
        return parse_time(text)
    return text
