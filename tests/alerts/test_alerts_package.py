"""The package's public names: sorted, complete, importable; errors under one root."""

from __future__ import annotations

import alerts
from alerts import errors
from baton.errors import BatonError


def test_all_is_sorted_and_importable():
    assert alerts.__all__ == sorted(alerts.__all__)
    for name in alerts.__all__:
        assert getattr(alerts, name) is not None


def test_every_alerts_error_is_a_baton_error():
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert {c.__name__ for c in classes} >= {"AlertsError", "RuleFileError", "NotificationFailed",
                                              "ClockUnavailable", "UnknownSilence"}  # fmt: skip
    assert all(issubclass(c, BatonError) for c in classes)
    assert all(c.__name__ in errors.__doc__ for c in classes if c is not BatonError)
