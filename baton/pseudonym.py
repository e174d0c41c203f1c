"""Keyed-HMAC pseudonyms: the only form in which a patient or case identifier leaves the
orchestrator's state store.

The key comes from configuration (``BATON_PSEUDONYM_KEY``) or a key file created once with
owner-only permissions; it is never in the code, so a pseudonym cannot be reversed by anyone
who only has the code and the telemetry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from baton.errors import ConfigError

KEY_ENV = "BATON_PSEUDONYM_KEY"
MIN_KEY_BYTES = 16


class Pseudonymizer:
    """Turns identifiers into stable, keyed pseudonyms.

    Example:
        >>> p = Pseudonymizer(b"0123456789abcdef")
        >>> p("case", "MRN-1234") == p("case", "MRN-1234")
        True
        >>> p("case", "MRN-1234").startswith("case_")
        True
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(f"pseudonym key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def __call__(self, kind: str, value: str) -> str:
        """A pseudonym for ``value``; ``kind`` separates namespaces (case, patient, person)."""
        mac = hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256)
        return f"{kind}_{mac.hexdigest()[:20]}"


def load_key(key_file: Path, environ: dict[str, str] | None = None) -> bytes:
    """The pseudonym key from the environment, else from ``key_file`` (created if missing)."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return env[KEY_ENV].encode()
    if key_file.exists():
        return key_file.read_bytes().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
