"""The attribute allow-list: attributes not listed are dropped before anything is stored.

Telemetry from services Baton does not control may carry anything in its attributes (a
patient's name in ``http.url``, a member id in a custom key). With ``attribute_allowlist``
configured the collector keeps only the keys it lists (exact keys or globs, ``*`` and ``?``)
plus the telemetry contract's own keys (:class:`baton.contract.Attr`, which the event
columns and the span-to-event mapping read, and which Baton's own senders fill with
pseudonyms) and the configured ``case_attribute``. Fail closed: an empty list keeps only
those. Without the setting every attribute is kept.

It runs in the decode path (worker processes included) on the decoded Arrow tables, before
spans are mapped to events, so a dropped value reaches no table. One RE2 match over all
keys of a batch and a cumulative sum rebuild each map: no Python loop per row.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from baton.contract import Attr

#: Keys the contract defines: always kept, whatever the allow-list says.
CONTRACT_KEYS = frozenset(
    value for name, value in vars(Attr).items() if name.isupper() and isinstance(value, str)
)


def _glob(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


@functools.lru_cache(maxsize=16)
def key_regex(patterns: tuple[str, ...], case_attribute: str | None = None) -> str:
    """One anchored RE2 expression matching every key the allow-list keeps.

    Example:
        >>> import re
        >>> bool(re.fullmatch(key_regex(("http.*",)), "http.method"))
        True
        >>> bool(re.fullmatch(key_regex(("http.*",)), "user.name"))
        False
    """
    keys: Iterable[str] = sorted(CONTRACT_KEYS | ({case_attribute} if case_attribute else set()))
    alternatives = [re.escape(k) for k in keys] + [_glob(p) for p in patterns]
    return "^(?:" + "|".join(alternatives) + ")$"


def filter_attributes(table: pa.Table, regex: str) -> pa.Table:
    """``table`` with only the ``attributes`` entries whose key matches ``regex``."""
    index = table.schema.get_field_index("attributes")
    if index < 0 or table.num_rows == 0:
        return table
    column = table.column(index)
    chunks = [_filter_map(chunk, regex) for chunk in column.chunks]
    return table.set_column(index, "attributes", pa.chunked_array(chunks, column.type))


def _filter_map(maps: pa.MapArray, regex: str) -> pa.MapArray:
    offsets = maps.offsets.to_numpy()
    first, last = int(offsets[0]), int(offsets[-1])
    # MapArray.keys/items ignore slicing: take the children's window by the offsets.
    keys = maps.keys.slice(first, last - first)
    items = maps.items.slice(first, last - first)
    keep = pc.match_substring_regex(keys, regex).to_numpy(zero_copy_only=False)
    if keep.all():
        return maps
    running = np.zeros(len(keep) + 1, dtype=np.int32)
    np.cumsum(keep, out=running[1:])
    new_offsets = pa.array(running[offsets - first], pa.int32())
    mask = pa.array(keep)
    return pa.MapArray.from_arrays(
        new_offsets,
        keys.filter(mask),
        items.filter(mask),
        type=maps.type,
        mask=maps.is_null() if maps.null_count else None,
    )
