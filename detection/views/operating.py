"""Console pages of the detector operating points: the detectors, and one detector's grid."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from detection.forms_operating import OperatingWindowForm
from detection.selectors.operating import detector_list, detector_operating_points
from tsops.decorators import console_view


def _window_or_errors(request: HttpRequest):
    """The window the filter form names, or (None, the form with its errors)."""
    form = OperatingWindowForm(request.GET)
    if not form.is_valid():
        return None, form
    if problem := form.no_such_period():
        form.add_error(None, problem)
        return None, form
    return form.window(), form


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _shown(figure: dict) -> dict:
    """The figure with its precision and interval written as the page shows them."""
    interval = figure.get("interval")
    return {
        **figure,
        "precision_text": _percent(figure.get("precision")),
        "interval_text": f"{_percent(interval[0])} – {_percent(interval[1])}" if interval else "",
    }


@console_view("view_team_metrics")
@require_GET
def detector_list_page(request: HttpRequest) -> HttpResponse:
    """Every detector with its precision over the window and its latest week."""
    window, form = _window_or_errors(request)
    detectors = None
    if window:
        detectors = [
            {**_shown(d), "latest_week": _shown(d["latest_week"])}
            for d in detector_list(actor=request.user, window=window)
        ]
    context = {"form": form, "window": window, "detectors": detectors}
    return render(request, "detection/operating/detector_list.html", context)


@console_view("view_team_metrics")
@require_GET
def detector_detail_page(request: HttpRequest, name: str) -> HttpResponse:
    """One detector's operating points, thresholds in use and recommendations."""
    window, form = _window_or_errors(request)
    points = None
    if window:
        points = detector_operating_points(actor=request.user, name=name, window=window)
        in_use: dict[float, list[str]] = {}
        for marked in points["thresholds_in_use"]:
            in_use.setdefault(marked["threshold"], []).append(marked["label"])
        recommended: dict[float, list[str]] = {}
        for rec in points["recommendations"]:
            if rec["threshold"] is not None:
                recommended.setdefault(rec["threshold"], []).append(rec["severity"])
        points["grid"] = [
            {
                **_shown(row),
                "recall_text": _percent(row["recall"]),
                "in_use": in_use.get(row["threshold"], []),
                "recommended_for": recommended.get(row["threshold"], []),
            }
            for row in points["grid"]
        ]
        points["recommendations"] = [_shown(r) for r in points["recommendations"]]
        points["weekly"] = [_shown(w) for w in points["weekly"]]
        points["drift"]["expected"] = _shown(points["drift"]["expected"])
        points["drift"]["observed"] = _shown(points["drift"]["observed"])
    chart = None
    if points:
        chart = [
            {k: row[k] for k in ("threshold", "precision", "interval", "recall")}
            for row in points["grid"]
        ]
    context = {"form": form, "window": window, "name": name, "points": points, "chart": chart}
    return render(request, "detection/operating/detector_detail.html", context)
