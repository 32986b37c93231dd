"""How KPI reports and live operations are shown: sections, figure cards, chart data, CSV.

Pure functions over what the selectors return (no queries except the KPI registry, which
lives in code). The dashboard, an analyst's page and their CSV downloads share them, so a
figure reads the same in every place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GROUP_TITLES: dict[str, str] = {
    "speed": "Time to action",
    "sla": "SLA compliance",
    "backlog": "Backlog aging",
    "volume": "Cases created and resolved",
    "actions": "Actions by type",
    "appeals": "Appeals",
    "quality": "Quality assurance",
    "detection": "Proactive share and detector precision",
    "escalations": "Escalations",
    "people": "Throughput per analyst",
}

# The tables of a KPI report that download as CSV (``?format=csv&table=<name>``).
REPORT_TABLES: tuple[str, ...] = ("kpis", "series", "breakdown")

_TIME_UNITS = {"seconds": "s", "minutes": "min", "hours": "h", "days": "d"}


@dataclass
class CsvTable:
    header: list[str]
    rows: list[list]


@dataclass
class Figure:
    """One KPI on a page: its definition, headline value and breakdown table."""

    key: str
    kpi: object  # metrics.kpis.KPI
    value: object
    display: str
    interval: str
    n: object
    unit: str
    has_series: bool
    breakdown: list[dict]
    breakdown_columns: list[str]

    @property
    def breakdown_heading(self) -> str:
        return "Label"

    @property
    def breakdown_rows(self) -> list[tuple[str, str, list[str]]]:
        """(label, value, extra columns) of each breakdown row, formatted for a table."""
        return [
            (
                str(row.get("label") or ""),
                format_cell(row.get("value"), self.unit),
                [format_cell(row.get(c), "") for c in self.breakdown_columns],
            )
            for row in self.breakdown
        ]


@dataclass
class Chart:
    id: str
    title: str
    unit: str
    kind: str  # "line" (a daily series) or "bar" (a breakdown)
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


def format_value(value, unit: str) -> str:
    """A figure for a tile: "82.4%", "35.0 min", "1,204 cases", "—" when there is none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, int | float):
        return str(value)
    if unit == "%":
        return f"{value:.1f}%"
    if unit in _TIME_UNITS:
        return f"{value:,.1f} {_TIME_UNITS[unit]}"
    number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{number} {unit}" if unit and unit not in ("ratio", "count") else number


def format_cell(value, unit: str) -> str:
    """A number for a table cell: "1,204", "35.2", "82.4%", "—"."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if unit == "%":
        return f"{value:.1f}%"
    if isinstance(value, int) or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def format_interval(interval, unit: str) -> str:
    if not interval or interval[0] is None or interval[1] is None:
        return ""
    lo, hi = interval
    return f"95% interval {format_value(lo, unit)} – {format_value(hi, unit)}"


def _number(value):
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _breakdown_columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns and key not in ("label", "value"):
                columns.append(key)
    return columns


def report_sections(report: dict) -> list[Section]:
    """The report's KPIs grouped as the dashboard shows them, in the registry's order, with
    one chart per group and unit (a line per KPI over the days of the period) and, for a KPI
    with a breakdown but no daily series, a bar chart of its breakdown."""
    from metrics.kpis import REGISTRY

    values = report.get("kpis", {})
    sections: dict[str, Section] = {}
    series_by_unit: dict[tuple[str, str], list[tuple]] = {}
    for key, kpi in REGISTRY.items():
        if key not in values:
            continue
        entry = values[key] or {}
        unit = entry.get("unit") or kpi.unit
        section = sections.setdefault(
            kpi.group, Section(key=kpi.group, title=GROUP_TITLES.get(kpi.group, kpi.group.title()))
        )
        series = entry.get("series") or []
        breakdown = list(entry.get("breakdown") or [])
        has_series = any(_number(point.get("value")) is not None for point in series)
        section.figures.append(
            Figure(
                key=key,
                kpi=kpi,
                value=entry.get("value"),
                display=format_value(entry.get("value"), unit),
                interval=format_interval(entry.get("interval"), unit),
                n=entry.get("n"),
                unit=unit,
                has_series=has_series,
                breakdown=breakdown,
                breakdown_columns=_breakdown_columns(breakdown),
            )
        )
        if has_series:
            series_by_unit.setdefault((kpi.group, unit), []).append((kpi, series))
        elif breakdown and any(_number(row.get("value")) is not None for row in breakdown):
            section.charts.append(
                Chart(
                    id=f"chart-{key}",
                    title=kpi.name,
                    unit=unit,
                    kind="bar",
                    labels=[str(row.get("label", "")) for row in breakdown],
                    datasets=[
                        {
                            "key": key,
                            "label": kpi.name,
                            "data": [_number(r.get("value")) for r in breakdown],
                        }
                    ],
                )
            )
    for (group, unit), lines in series_by_unit.items():
        dates = sorted({point["date"] for _, series in lines for point in series})
        datasets = []
        for kpi, series in lines:
            by_date = {point["date"]: _number(point.get("value")) for point in series}
            datasets.append(
                {"key": kpi.key, "label": kpi.name, "data": [by_date.get(d) for d in dates]}
            )
        names = " · ".join(kpi.name for kpi, _ in lines)
        sections[group].charts.insert(
            0,
            Chart(
                id=f"chart-{group}-{_slug(unit)}",
                title=names,
                unit=unit,
                kind="line",
                labels=dates,
                datasets=datasets,
            ),
        )
    return list(sections.values())


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "value"


def report_page(report: dict) -> dict:
    """Everything a metrics page needs from a KPI report, with its charts' JSON."""
    sections = report_sections(report)
    return {
        "report": report,
        "sections": sections,
        "charts": {
            "from": report.get("from"),
            "to": report.get("to"),
            "charts": [chart.as_json() for s in sections for chart in s.charts],
        },
    }


def report_csv(report: dict, table: str) -> CsvTable | None:
    """One of :data:`REPORT_TABLES` of a KPI report, or None for an unknown table name."""
    from metrics.kpis import REGISTRY

    values = report.get("kpis", {})
    keys = [k for k in REGISTRY if k in values] + [k for k in values if k not in REGISTRY]
    if table == "kpis":
        rows = []
        for key in keys:
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
            for key in keys
            for point in (values[key] or {}).get("series") or []
        ]
        return CsvTable(header=["kpi", "date", "value", "unit"], rows=rows)
    if table == "breakdown" or table.startswith("breakdown:"):
        only = table.partition(":")[2]
        chosen = [k for k in keys if not only or k == only]
        if only and not chosen:
            return None
        entries = [(key, list((values[key] or {}).get("breakdown") or [])) for key in chosen]
        extra = _breakdown_columns([row for _, rows in entries for row in rows])
        rows = [
            [key, row.get("label"), row.get("value"), *(row.get(c) for c in extra)]
            for key, breakdown in entries
            for row in breakdown
        ]
        return CsvTable(header=["kpi", "label", "value", *extra], rows=rows)
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
