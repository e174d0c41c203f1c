"""Settings loading shared by every package.

Each package declares one frozen dataclass of settings with documented defaults. Values come
from, in order: explicit overrides (CLI flags), the environment (``BATON_<PREFIX>_<FIELD>``),
a TOML file (``BATON_CONFIG`` or ``./baton.toml``, table ``[<prefix>]``), then the defaults.
Only this module reads ``os.environ`` for settings, so nothing deeper changes behaviour
behind a caller's back.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from baton.errors import ConfigError

T = TypeVar("T")

CONFIG_ENV = "BATON_CONFIG"
DEFAULT_CONFIG_FILE = "baton.toml"


def _config_table(prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    path = Path(environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
    if not path.is_file():
        if CONFIG_ENV in environ:
            raise ConfigError(f"{CONFIG_ENV} names {path}, which does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    table = data.get(prefix, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{prefix}] must be a table")
    return table


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw is None or raw == "":
            return None
        kind = args[0]
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if kind in (int, float, str):
            return kind(raw)
        if kind is Path:
            return Path(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r}: {raw!r} is not a valid {kind.__name__}") from None
    return raw


def load(
    cls: type[T],
    prefix: str,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Build ``cls`` from overrides, environment, TOML file and defaults, in that order.

    ``None`` in ``overrides`` means "not given", so CLI options can pass their raw values.

    Example:
        >>> import dataclasses
        >>> @dataclasses.dataclass(frozen=True)
        ... class S:
        ...     port: int = 4318
        >>> load(S, "demo", {"port": None}, environ={"BATON_DEMO_PORT": "9000"}).port
        9000
    """
    env = os.environ if environ is None else environ
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    table = _config_table(prefix, env)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        env_name = f"BATON_{prefix.upper()}_{field.name.upper()}"
        if field.name in given:
            raw = given[field.name]
        elif env_name in env:
            raw = env[env_name]
        elif field.name in table:
            raw = table[field.name]
        else:
            continue
        values[field.name] = _coerce(field.name, raw, hints[field.name])
    unknown = set(given) - {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if unknown:
        raise ConfigError(f"unknown setting(s) for {prefix}: {', '.join(sorted(unknown))}")
    return cls(**values)
