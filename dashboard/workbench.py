"""The orchestrator's workbench API, as the dashboard's Workbench page calls it.

This is the only place the dashboard handles identified details (a referral number, a
patient's payload): they are fetched from the orchestrator's authenticated API when a person
opens an item, shown, and dropped. Nothing here is cached, written to disk or put in a URL.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import requests

from baton.errors import UnreachableError
from dashboard.errors import DashboardError

#: Seconds to wait for the orchestrator.
TIMEOUT_S: Final = 10.0


class WorkbenchError(DashboardError):
    """The orchestrator refused a workbench request (wrong token, unknown item, bad outcome)."""


@dataclasses.dataclass(frozen=True)
class WorkbenchClient:
    """``/v1/workbench[/{id}[/resolve]]`` of the orchestrator at ``url``, with its token."""

    url: str
    token: str = dataclasses.field(repr=False)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = requests.request(
                method,
                f"{self.url.rstrip('/')}{path}",
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise UnreachableError(
                f"orchestrator unreachable at {self.url}: {type(exc).__name__}"
            ) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code != 200 and response.status_code != 201:
            message = payload.get("error") if isinstance(payload, dict) else None
            raise WorkbenchError(
                f"orchestrator answered {response.status_code}: {message or response.reason}"
            )
        return payload

    def items(self) -> list[dict[str, Any]]:
        """Escalated items waiting for a person, pseudonymous summary only."""
        return list(self._call("GET", "/v1/workbench"))

    def item(self, item_id: int) -> dict[str, Any]:
        """One item with its identified details (reference, payload)."""
        return dict(self._call("GET", f"/v1/workbench/{int(item_id)}"))

    def resolve(self, item_id: int, outcome: str, person: str) -> dict[str, Any]:
        """Record a person's outcome; the case resumes at the route the outcome names."""
        return dict(
            self._call(
                "POST",
                f"/v1/workbench/{int(item_id)}/resolve",
                {"outcome": outcome, "person": person},
            )
        )
