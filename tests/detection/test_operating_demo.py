"""The demo detectors: seeded through intake and the decision service, they show every
detector's operating points, a threshold in use, and the spam classifier's drift alert."""

from __future__ import annotations

import io

import pytest

from cases.models import Queue
from detection.demo_operating import seed_detectors
from detection.models import Alert
from detection.selectors.operating import Window, detector_list, detector_operating_points
from tests.factories import routing_rule
from tsops.demo import SEED_STEPS, seed_members

pytestmark = pytest.mark.django_db


def test_the_detectors_step_runs_before_the_metrics_rollups():
    import importlib

    for app in ("cases", "enforcement", "metrics", "detection"):
        importlib.import_module(f"{app}.demo")
    names = [name for name, _ in SEED_STEPS]
    assert names.index("detectors") < names.index("metrics")


def test_the_demo_detectors_have_decided_flags_a_threshold_in_use_and_a_drift(
    django_user_model,
):
    out = io.StringIO()
    seed_members(stdout=out, scale=0.1)
    # The threshold in use is the demo rule "Confident spam detector" (detection.demo).
    routing_rule(
        name="Confident spam detector",
        match_source="automated_flag",
        match_detector="spamnet-v3",
        min_score=0.9,
        queue=Queue.objects.get(slug="spam"),
    )
    seed_detectors(stdout=out, scale=0.1)
    senior = django_user_model.objects.get(username="senior")

    listed = {d["name"]: d for d in detector_list(actor=senior, window=Window.default())}
    assert set(listed) == {"spamnet-v3", "fingerprint"}
    assert all(d["decided"] >= 20 for d in listed.values())
    points = detector_operating_points(actor=senior, name="spamnet-v3", window=Window.default())
    assert [m["threshold"] for m in points["thresholds_in_use"]] == [0.9]
    # Precision rises with the threshold on a realistic score distribution.
    assert points["grid"][0]["precision"] < next(
        r["precision"] for r in points["grid"] if r["threshold"] == 0.8
    )
    alert = Alert.objects.get(kind=Alert.Kind.DETECTOR_DRIFT, key="detector:spamnet-v3")
    assert alert.team == ""
    assert "1 drift alert(s) opened" in out.getvalue()
