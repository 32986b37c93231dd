"""Benchmark of the labelled-data export: rows/s and the process's peak memory while a senior's
export of N decisions streams through the real view (Django test client, every piece read and
counted, nothing kept), beside the same decisions read by a plain ``COUNT(*)`` of the query for
scale. The point is the memory: it must not grow with N (the rows come through a server-side
cursor, ``TSOPS_LABEL_EXPORT_CHUNK_SIZE`` at a time).

    .venv/bin/python -m bench.labels                    # 1,000,000 decisions
    .venv/bin/python -m bench.labels --decisions 200000

Creates (and drops first) the scratch database ``tsops_bench_labels`` on the configured
PostgreSQL, loads resolved cases with ``bench.load`` and gives them decisions and actions with
``bench.rollups.prepare``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Samples the resident set size every 20 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self):
        self.start = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_bytes())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _setup(database: str, decisions: int) -> None:
    from bench.__main__ import _scratch_database

    os.environ["DATABASE_URL"] = _scratch_database(database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tsops.settings")
    import django

    django.setup()
    from django.core.management import call_command

    _log("migrating the scratch database")
    call_command("migrate", verbosity=0)
    from bench import load, rollups
    from tsops.services import member_create_or_update

    for i in range(8):
        member_create_or_update(username=f"bench-analyst-{i}", role="analyst")
    # bench.rollups.prepare decides every resolved case whose first action is already past;
    # a few are not, so load a little more than asked.
    load.load_cases(0, int(decisions * 1.02), open_share=0.0)
    rollups.prepare()


def measure(decisions: int) -> dict:
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from bench.rollups import _senior
    from detection.forms_labels import LabelExportForm
    from detection.selectors.labels import label_queryset

    senior = _senior()
    today = timezone.localdate()
    first = today - timedelta(days=40)
    query = {"from": first.isoformat(), "to": today.isoformat()}
    form = LabelExportForm(query)
    assert form.is_valid(), form.errors
    began = time.monotonic()
    expected = label_queryset(actor=senior, period=form.period()).count()
    count_seconds = time.monotonic() - began

    client = Client()
    client.force_login(senior)
    rows = size = 0
    with PeakMemory() as memory:
        began = time.monotonic()
        response = client.get("/detection/labels/export.jsonl", query)
        assert response.status_code == 200, response.status_code
        for piece in response.streaming_content:
            rows += piece.count(b"\n")
            size += len(piece)
        seconds = time.monotonic() - began
        response.close()
    assert rows == expected, (rows, expected)
    return {
        "decisions": rows,
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds),
        "megabytes_sent": round(size / 2**20, 1),
        "rss_before_mb": round(memory.start / 2**20, 1),
        "rss_peak_mb": round(memory.peak / 2**20, 1),
        "rss_growth_mb": round((memory.peak - memory.start) / 2**20, 1),
        "count_query_seconds": round(count_seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.labels", description=__doc__)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--database", default="tsops_bench_labels")
    args = parser.parse_args(argv)
    _setup(args.database, args.decisions)
    figures = measure(args.decisions)
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
