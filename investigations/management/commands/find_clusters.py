"""``python manage.py find_clusters``: the incremental cluster job, now (the code beat runs)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from investigations.services.clusters import clusters_find
from tsops.progress import Progress


class Command(BaseCommand):
    help = (
        "Find coordinated clusters in what changed since the last run (shared strong "
        "identifiers, near-identical content), with progress."
    )

    def handle(self, *args, **options):
        bars: dict[str, Progress] = {}

        def progress(label: str, done: int, total: int) -> None:
            bar = bars.get(label)
            if bar is None:
                bar = bars[label] = Progress(label, total, stream=self.stderr)
            bar.advance(done - bar.done)

        result = clusters_find(progress=progress)
        for bar in bars.values():
            bar.finish()
        if not result["ran"]:
            self.stdout.write("Another run is in progress; nothing done.")
            return
        for name in ("identifiers", "content"):
            stats = result[name]
            self.stdout.write(
                f"{name}: read rows {stats['since']}..{stats['upto']}, "
                f"{stats['groups']} group(s), {stats['created']} cluster(s) created, "
                f"{stats['grown']} grown, {stats['members_added']} member(s) added."
            )
