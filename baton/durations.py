"""Durations as playbooks, alert rules and figure parameters write them: ``90``, ``"90s"``,
``"10m"``, ``"4h"``, ``"2d"``, ``"1w"``. One parser, so a duration means the same everywhere."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds in ``value``; raises ``ValueError`` with the accepted forms otherwise.

    Example:
        >>> parse_duration("4h"), parse_duration(90), parse_duration("1.5m")
        (14400.0, 90.0, 90.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
        if value.strip().startswith("-"):
            raise ValueError(f"{value!r} is negative")
    raise ValueError(f"{value!r} is not a duration (use e.g. 90, '90s', '10m', '4h', '2d')")
