"""How KPI reports and live operations are shown: sections, figure cards, chart data, CSV.

Pure functions over what the selectors return (no queries: the KPI registry lives in
code). The dashboard, an analyst's page and their CSV downloads share them, so a figure
reads the same in every place. Rates arrive as percentages (0–100) and durations in
minutes (see :func:`metrics.kpis.kpi_report`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from metrics.kpis import REGISTRY

GROUP_TITLES: dict[str, str] = {
    "speed": "Time to action",
    "sla": "SLA compliance",
    "backlog": "Backlog aging",
    "volume": "Cases created and resolved",
    "actions": "Actions by type and recurrence",
    "appeals": "Appeals",
    "quality": "Quality assurance",
    "detection": "Proactive share and detector precision",
    "escalations": "Escalations",
    "people": "Throughput per analyst",
}

# KPIs whose breakdown is drawn as a bar chart too (the breakdown rows of one dimension;
# None for a breakdown without dimensions): backlog by age bucket, actions by type,
# precision per detector, throughput per analyst.
BAR_CHARTS: dict[str, str | None] = {
    "backlog_open": "age",
    "actions_by_type": None,
    "detector_precision": "detector",
    "throughput_weighted": "analyst",
}
BAR_TITLES = {
    "backlog_open": "Open cases by age (last snapshot)",
    "actions_by_type": "Actions by type",
    "detector_precision": "Precision per detector",
    "throughput_weighted": "Weighted decisions per active day, per analyst",
}

DIMENSION_TITLES = {
    "severity": "By severity",
    "queue": "By queue",
    "age": "By age",
    "analyst": "By analyst",
    "detector": "By detector",
    "session": "By calibration session",
    None: "Breakdown",
}
# Breakdown keys that identify a row rather than describe it: not shown as columns.
_HIDDEN_COLUMNS = {"label", "value", "dimension", "action_type"}
_COLUMN_TITLES = {
    "n": "n",
    "p50": "P50",
    "p90": "P90",
    "in_time": "Acknowledged in time",
    "fleiss_kappa": "Fleiss' κ",
}

# A duration chart whose values pass this many minutes is drawn in hours.
HOURS_ABOVE_MINUTES = 180

# The tables of a KPI report that download as CSV (``?format=csv&table=<name>``; one KPI's
# breakdown is ``breakdown:<kpi key>``).
REPORT_TABLES: tuple[str, ...] = ("kpis", "series", "breakdown")


@dataclass
class CsvTable:
    header: list[str]
    rows: list[list]


@dataclass
class BreakdownGroup:
    title: str
    columns: list[str]
    rows: list[tuple[str, str, list[str]]]


@dataclass
class Figure:
    """One KPI on a page: its definition, headline value and breakdown tables."""

    key: str
    kpi: object  # metrics.kpis.KPI
    value: object
    display: str
    unit_suffix: str
    interval: str
    n: object
    as_of: str
    unit: str
    has_series: bool
    breakdown: list[dict]
    breakdown_groups: list[BreakdownGroup]

    @property
    def n_text(self) -> str:
        return format_cell(self.n)


@dataclass
class Chart:
    id: str
    title: str
    unit: str
    kind: str  # "line" (daily series) or "bar" (a breakdown)
    labels: list[str]
    datasets: list[dict]

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "unit": self.unit,
            "kind": self.kind,
            "labels": self.labels,
            "datasets": self.datasets,
        }


@dataclass
class Section:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


# --- Formatting --------------------------------------------------------------------------------


def _number(value) -> float | int | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def format_minutes(minutes: float) -> str:
    """A duration in minutes, in the unit that reads best: "42 min", "5.3 h", "3.2 d"."""
    if minutes < 90:
        return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def format_value(value, unit: str) -> tuple[str, str]:
    """(figure, unit suffix) for a tile: ("82.4%", ""), ("5.3 h", ""), ("1,204", "cases")."""
    number = _number(value)
    if number is None:
        return ("—", "") if value is None else (str(value), "")
    if unit == "%":
        return f"{number:.1f}%", ""
    if unit == "minutes":
        return format_minutes(number), ""
    text = f"{number:,.0f}" if float(number).is_integer() else f"{number:,.2f}"
    return text, unit


def format_cell(value, unit: str = "") -> str:
    """A value for a table cell: "1,204", "35.25", "82.4%", "5.3 h", "—"."""
    if isinstance(value, list | tuple) and len(value) == 2:
        if value[0] is None or value[1] is None:
            return "—"
        return f"{format_cell(value[0], unit)} – {format_cell(value[1], unit)}"
    number = _number(value)
    if number is None:
        return "—" if value is None else str(value)
    if unit == "%":
        return f"{number:.1f}%"
    if unit == "minutes":
        return format_minutes(number)
    if float(number).is_integer():
        return f"{number:,.0f}"
    return f"{number:,.2f}"


def format_interval(interval, unit: str) -> str:
    if not interval or len(interval) != 2 or interval[0] is None or interval[1] is None:
        return ""
    return f"95% interval {format_cell(interval[0], unit)} – {format_cell(interval[1], unit)}"


def _column_title(key: str) -> str:
    return _COLUMN_TITLES.get(key) or key.replace("_", " ").capitalize()


def _column_unit(key: str, unit: str) -> str:
    # Percentiles and intervals share the KPI's unit; counts (n, numerator…) have none.
    if key in ("p50", "p90", "interval"):
        return unit
    if key == "in_time":
        return "%"
    return ""


def breakdown_groups(breakdown: list[dict], unit: str) -> list[BreakdownGroup]:
    """Breakdown rows split by dimension, each group with the columns its rows carry."""
    order: list = []
    rows_by: dict = {}
    for row in breakdown:
        dimension = row.get("dimension")
        if dimension not in rows_by:
            order.append(dimension)
            rows_by[dimension] = []
        rows_by[dimension].append(row)
    groups = []
    for dimension in order:
        rows = rows_by[dimension]
        columns: list[str] = []
        for row in rows:
            for key in row:
                hidden = key in _HIDDEN_COLUMNS or key.endswith("_id")
                if not hidden and key not in columns:
                    columns.append(key)
        groups.append(
            BreakdownGroup(
                title=DIMENSION_TITLES.get(dimension, f"By {str(dimension).replace('_', ' ')}"),
                columns=[_column_title(c) for c in columns],
                rows=[
                    (
                        str(row.get("label") or ""),
                        format_cell(row.get("value"), unit),
                        [format_cell(row.get(c), _column_unit(c, unit)) for c in columns],
                    )
                    for row in rows
                ],
            )
        )
    return groups


# --- Sections and charts -----------------------------------------------------------------------


def _bar_chart(key: str, kpi, unit: str, breakdown: list[dict]) -> Chart | None:
    """The breakdown as bars, when there are at least two to compare and not all zero."""
    dimension = BAR_CHARTS[key]
    rows = [r for r in breakdown if r.get("dimension") == dimension]
    values = [_number(r.get("value")) for r in rows]
    if sum(v is not None for v in values) < 2 or not any(values):
        return None
    return Chart(
        id=f"chart-{key}-by-{dimension or 'type'}",
        title=BAR_TITLES.get(key, kpi.name),
        unit=unit,
        kind="bar",
        labels=[str(r.get("label") or "") for r in rows],
        datasets=[{"key": key, "label": kpi.name, "data": [_number(r.get("value")) for r in rows]}],
    )


def report_sections(report: dict, *, keys: Iterable[str] | None = None) -> list[Section]:
    """The report's KPIs grouped as the pages show them, in the registry's order (only
    ``keys`` when given). Per group, one line chart per unit (a line per KPI over the days
    of the period), then the bar charts of :data:`BAR_CHARTS`."""
    values = report.get("kpis", {})
    wanted = set(keys) if keys is not None else None
    sections: dict[str, Section] = {}
    lines: dict[tuple[str, str], list[tuple]] = {}
    bars: dict[str, list[Chart]] = {}
    for key, kpi in REGISTRY.items():
        if key not in values or (wanted is not None and key not in wanted):
            continue
        entry = values[key] or {}
        unit = entry.get("unit") or kpi.unit
        section = sections.setdefault(
            kpi.group, Section(key=kpi.group, title=GROUP_TITLES.get(kpi.group, kpi.group.title()))
        )
        series = entry.get("series") or []
        breakdown = list(entry.get("breakdown") or [])
        has_series = any(_number(point.get("value")) is not None for point in series)
        display, suffix = format_value(entry.get("value"), unit)
        section.figures.append(
            Figure(
                key=key,
                kpi=kpi,
                value=entry.get("value"),
                display=display,
                unit_suffix=suffix,
                interval=format_interval(entry.get("interval"), unit),
                n=entry.get("n"),
                as_of=entry.get("as_of") or "",
                unit=unit,
                has_series=has_series,
                breakdown=breakdown,
                breakdown_groups=breakdown_groups(breakdown, unit),
            )
        )
        if has_series:
            lines.setdefault((kpi.group, unit), []).append((kpi, series))
        if key in BAR_CHARTS and (chart := _bar_chart(key, kpi, unit, breakdown)):
            bars.setdefault(kpi.group, []).append(chart)
    for (group, unit), kpis in lines.items():
        dates = sorted({point["date"] for _, series in kpis for point in series})
        datasets = []
        for kpi, series in kpis:
            by_date = {point["date"]: _number(point.get("value")) for point in series}
            datasets.append(
                {"key": kpi.key, "label": kpi.name, "data": [by_date.get(d) for d in dates]}
            )
        shown_unit = unit
        if unit == "minutes" and _peak(datasets) > HOURS_ABOVE_MINUTES:
            # Hours read better on an axis than thousands of minutes.
            shown_unit = "hours"
            for dataset in datasets:
                dataset["data"] = [None if v is None else round(v / 60, 2) for v in dataset["data"]]
        sections[group].charts.append(
            Chart(
                id=f"chart-{group}-{_slug(unit)}",
                title=" · ".join(kpi.name for kpi, _ in kpis),
                unit=shown_unit,
                kind="line",
                labels=dates,
                datasets=datasets,
            )
        )
    for group, charts in bars.items():
        sections[group].charts.extend(charts)
    return list(sections.values())


def _peak(datasets: list[dict]) -> float:
    return max((v for d in datasets for v in d["data"] if v is not None), default=0)


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split()) or "value"


def report_page(report: dict, *, keys: Iterable[str] | None = None) -> dict:
    """Everything a metrics page needs from a KPI report, with its charts' JSON."""
    sections = report_sections(report, keys=keys)
    return {
        "report": report,
        "sections": sections,
        "charts": {
            "from": report.get("from"),
            "to": report.get("to"),
            "charts": [chart.as_json() for s in sections for chart in s.charts],
        },
    }


# --- CSV -----------------------------------------------------------------------------------------


def report_csv(report: dict, table: str, *, keys: Iterable[str] | None = None) -> CsvTable | None:
    """One of :data:`REPORT_TABLES` of a KPI report (only ``keys`` when given), or None for
    an unknown table name."""
    values = report.get("kpis", {})
    wanted = set(keys) if keys is not None else None
    ordered = [k for k in REGISTRY if k in values] + [k for k in values if k not in REGISTRY]
    chosen = [k for k in ordered if wanted is None or k in wanted]
    if table == "kpis":
        rows = []
        for key in chosen:
            kpi, entry = REGISTRY.get(key), values[key] or {}
            interval = entry.get("interval") or [None, None]
            rows.append(
                [
                    key,
                    kpi.name if kpi else key,
                    kpi.group if kpi else "",
                    entry.get("value"),
                    entry.get("unit") or (kpi.unit if kpi else ""),
                    interval[0],
                    interval[1],
                    entry.get("n"),
                    kpi.version if kpi else "",
                    report.get("from"),
                    report.get("to"),
                ]
            )
        header = ["kpi", "name", "group", "value", "unit", "interval_low", "interval_high", "n"]
        return CsvTable(header=header + ["version", "from", "to"], rows=rows)
    if table == "series":
        rows = [
            [key, point.get("date"), point.get("value"), (values[key] or {}).get("unit")]
            for key in chosen
            for point in (values[key] or {}).get("series") or []
        ]
        return CsvTable(header=["kpi", "date", "value", "unit"], rows=rows)
    if table == "breakdown" or table.startswith("breakdown:"):
        only = table.partition(":")[2]
        if only:
            if only not in chosen:
                return None
            chosen = [only]
        entries = [(key, list((values[key] or {}).get("breakdown") or [])) for key in chosen]
        extra: list[str] = []
        for _, rows in entries:
            for row in rows:
                for column in row:
                    if column not in ("label", "value", "dimension") and column not in extra:
                        extra.append(column)
        out = []
        for key, breakdown in entries:
            for row in breakdown:
                cells = [row.get(c) for c in extra]
                cells = [" – ".join(map(str, c)) if isinstance(c, list) else c for c in cells]
                out.append([key, row.get("dimension"), row.get("label"), row.get("value"), *cells])
        return CsvTable(header=["kpi", "dimension", "label", "value", *extra], rows=out)
    return None


def live_csv(live) -> CsvTable:
    """The live operations table (selectors.LiveOperations) as CSV, with its time."""
    at = live.at.isoformat()
    rows = [
        [
            row.slug,
            row.name,
            row.restricted,
            row.open,
            row.in_review,
            row.due_within_hour,
            row.breached,
            int(row.oldest.total_seconds() // 60) if row.oldest is not None else None,
            at,
        ]
        for row in [*live.queues, live.total]
    ]
    header = ["queue", "name", "restricted", "open", "in_review", "due_within_hour", "breached"]
    return CsvTable(header=header + ["oldest_open_minutes", "at"], rows=rows)
