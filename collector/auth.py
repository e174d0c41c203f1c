"""Who is asking: bearer tokens for OTLP senders and for the query API's roles.

Tokens are compared with :func:`hmac.compare_digest`, against every configured token without
stopping at the first match, so the time an answer takes says nothing about how much of a
guess was right, nor which token it was close to.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping

from collector.config import CollectorSettings, Grant, Role
from collector.errors import Forbidden, Unauthorized


@dataclasses.dataclass(frozen=True)
class Caller:
    """The holder of a request's token, as the read audit records it."""

    name: str
    role: Role


#: Who calls when no tokens are configured: the query API is open, as it always was.
ANONYMOUS = Caller("anonymous", Role.ADMIN)


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _match(token: str | None, grants: tuple[Grant, ...]) -> Grant | None:
    presented = (token or "").encode()
    found: Grant | None = None
    for grant in grants:  # no early exit: constant time in which grant matches
        if hmac.compare_digest(presented, grant.token.encode()) and token:
            found = grant
    return found


def check_ingest(settings: CollectorSettings, headers: Mapping[str, str]) -> None:
    """Allow an OTLP request, or raise :class:`Unauthorized`.

    Open when no ``ingest_token`` is set; otherwise the ingest token or an admin token.
    """
    if settings.ingest_token is None:
        return
    token = bearer(headers)
    ingest = hmac.compare_digest((token or "").encode(), settings.ingest_token.encode())
    admin = _match(token, tuple(g for g in settings.tokens if g.role is Role.ADMIN))
    if not (token and (ingest or admin)):
        raise Unauthorized("send Authorization: Bearer <ingest token>")


def caller(settings: CollectorSettings, headers: Mapping[str, str], needs: Role) -> Caller:
    """The query-API caller, if their role is at least ``needs``.

    Raises:
        Unauthorized: tokens are configured and none matches.
        Forbidden: the token's role is below ``needs``.
    """
    if not settings.tokens:
        return ANONYMOUS
    grant = _match(bearer(headers), settings.tokens)
    if grant is None:
        raise Unauthorized(
            "send Authorization: Bearer <token> with a viewer, analyst or admin token"
        )
    if grant.role < needs:
        raise Forbidden(
            f"token {grant.name!r} has role {grant.role.name.lower()}; "
            f"this needs {needs.name.lower()}"
        )
    return Caller(grant.name, grant.role)
