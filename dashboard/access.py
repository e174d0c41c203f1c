"""Who may see what: the collector's token roles, mapped onto pages and case details.

The collector enforces roles on every read (a viewer token cannot fetch a figure that lists
cases); the dashboard mirrors them so nobody is shown a page that could only fail:

- **viewer**: aggregate pages only, no case ids anywhere;
- **analyst**: also case lists, the case explorer and the cases behind a chart;
- **admin**: everything, including the workbench's identified view.
"""

from __future__ import annotations

import enum
from typing import Final

from baton.errors import ConfigError


class Role(enum.IntEnum):
    """What a person may read; each role may do everything the one before may."""

    VIEWER = 1
    """Aggregate figures: counts, durations, rates."""
    ANALYST = 2
    """Case-level rows: which cases are behind a number, one case's timeline."""
    ADMIN = 3
    """Everything, including the workbench (identified details, served by the orchestrator)."""

    @property
    def label(self) -> str:
        """The role as people write it: ``viewer``, ``analyst``, ``admin``."""
        return self.name.lower()


#: The least role each page needs; pages not listed are open to viewers.
PAGE_ROLES: Final = {
    "case_explorer": Role.ANALYST,
    "workbench": Role.ADMIN,
}


def may_see(role: Role, page: str) -> bool:
    """Whether ``role`` may open ``page`` (its file name without ``.py``).

    Example:
        >>> may_see(Role.VIEWER, "overview"), may_see(Role.VIEWER, "case_explorer")
        (True, False)
    """
    return role >= PAGE_ROLES.get(page, Role.VIEWER)


def parse_user_roles(text: str | None) -> dict[str, Role]:
    """``"alice@x.org:analyst,bob@x.org:admin"`` as ``{email: Role}`` (emails lower-cased).

    Example:
        >>> parse_user_roles("Alice@x.org:analyst")
        {'alice@x.org': <Role.ANALYST: 2>}
    """
    roles: dict[str, Role] = {}
    for entry in (text or "").split(","):
        if not entry.strip():
            continue
        email, _, name = entry.strip().rpartition(":")
        if not email or name.upper() not in Role.__members__:
            known = ", ".join(r.label for r in Role)
            raise ConfigError(
                f"setting 'user_roles': {entry.strip()!r} is not email:role (role: {known})"
            )
        roles[email.lower()] = Role[name.upper()]
    return roles


def user_role(email: str | None, user_roles: str | None, source_role: Role) -> Role:
    """A signed-in person's role: theirs from ``user_roles`` (viewer if not listed), capped
    by what the dashboard's own credentials may read.

    Example:
        >>> user_role("a@x.org", "a@x.org:admin", Role.ANALYST)
        <Role.ANALYST: 2>
    """
    mine = parse_user_roles(user_roles).get((email or "").lower(), Role.VIEWER)
    return min(mine, source_role)
