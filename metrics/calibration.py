"""Calibration agreement, read from the qa tables (few rows: no rollup needed)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.utils import timezone


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(date_from, time.min), tz)
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), tz)
    return start, end


def calibration_agreement(*, teams: list[str], date_from: date, date_to: date) -> dict:
    """Share of answers matching gold in the sessions closed in the range (the KPI
    ``calibration_agreement``); restricted cases count only for their team."""
    from qa.calibration_selectors import FIELDS, gold_hits
    from qa.models import CalibrationAnswer, CalibrationSession
    from qa.stats import fleiss_kappa

    start, end = _bounds(date_from, date_to)
    answers = (
        CalibrationAnswer.objects.filter(
            item__session__status=CalibrationSession.Status.CLOSED,
            item__session__closed_at__gte=start,
            item__session__closed_at__lt=end,
        )
        .exclude(item__gold_outcome="")
        .select_related("item", "item__session", "item__case")
    )
    per_session: dict[int, dict] = {}
    ratings: dict[int, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    # Per day: [fields matching gold, fields compared].
    by_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    answered = agreed = compared = 0
    for answer in answers:
        item, case = answer.item, answer.item.case
        visible_team = case.team if case.restricted else ""
        if visible_team not in teams:
            continue
        hits = gold_hits(answer, item)
        session = item.session
        entry = per_session.setdefault(
            session.pk, {"session": session, "n": 0, "agreed": 0, "compared": 0}
        )
        entry["n"] += 1
        entry["agreed"] += hits
        entry["compared"] += len(FIELDS)
        ratings[session.pk][item.pk].append(answer.outcome)
        day = timezone.localtime(session.closed_at).date()
        by_day[day][0] += hits
        by_day[day][1] += len(FIELDS)
        answered += 1
        agreed += hits
        compared += len(FIELDS)

    def pct(a: int, n: int) -> float | None:
        return round(100.0 * a / n, 4) if n else None

    breakdown = []
    for pk, entry in sorted(per_session.items(), key=lambda kv: kv[1]["session"].closed_at):
        kappa = fleiss_kappa(list(ratings[pk].values()))
        breakdown.append(
            {
                "label": entry["session"].name,
                "dimension": "session",
                "session_id": pk,
                "value": pct(entry["agreed"], entry["compared"]),
                "n": entry["n"],
                "fleiss_kappa": None if kappa is None else round(kappa, 4),
            }
        )
    days = [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    return {
        "value": pct(agreed, compared),
        "unit": "%",
        "interval": None,
        "n": answered,
        "series": [
            {"date": d.isoformat(), "value": pct(*by_day[d]) if d in by_day else None} for d in days
        ],
        "breakdown": breakdown,
    }
