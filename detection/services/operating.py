"""The detector drift check: an alert per detector whose weekly precision fell beyond its
interval (the test is stated on ``detection.selectors.operating.drift_test``)."""

from __future__ import annotations

from django.urls import reverse

from detection.models import Alert
from detection.selectors.operating import detectors_drift_all
from detection.services.alerts import alert_raise


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def detectors_check_drift() -> int:
    """Raise a detector-drift alert for each detector (and team scope) that drifts; returns
    how many episodes opened now. A detector still drifting refreshes its open alert."""
    opened = 0
    for entry in detectors_drift_all():
        test = entry["test"]
        if not test["drift"]:
            continue
        name, team = entry["name"], entry["team"]
        observed, expected = test["observed"], test["expected"]
        detail = {
            "detector": name,
            "week": test["week"].isoformat(),
            "observed": observed,
            "expected": expected,
            "interval": observed["interval"],
            "test": "Latest complete week's 95% Wilson upper bound below the pooled earlier "
            "weeks' 95% Wilson lower bound",
            "link": reverse("detection:detector-detail", args=[name]),
        }
        _, now_open = alert_raise(
            kind=Alert.Kind.DETECTOR_DRIFT,
            key=f"detector:{name}" + (f":{team}" if team else ""),
            title=f"{name}: precision {_percent(observed['precision'])} in the week of "
            f"{test['week']:%-d %b}, against {_percent(expected['precision'])} before",
            detail=detail,
            team=team,
        )
        opened += now_open
    return opened
