"""A progress bar for long-running commands (seeding, rebuilds, imports)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Prints ``label [#####.....] 50% 500/1000 12.3/s`` on one line, at most ten times a second."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, width: int = 30):
        self.label, self.total, self.width = label, max(total, 0), width
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0
        # On a terminal the bar redraws in place; in a log it prints a line every 10%.
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_tenth = -1

    def advance(self, step: int = 1) -> None:
        self.done += step
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._draw(now)
        else:
            tenth = int(10 * self.done / self.total) if self.total else 10
            if tenth != self._last_tenth:
                self._last_tenth = tenth
                self._draw(now)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = int(fraction * self.width)
        rate = self.done / max(now - self.started, 1e-6)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if self.done >= self.total or not self.tty else ""
        start = "\r" if self.tty else ""
        counts = f"{self.done}/{self.total} {rate:,.0f}/s"
        line = f"{start}{self.label:<28} [{bar}] {fraction:4.0%} {counts}"
        self.stream.write(line + end)
        self.stream.flush()

    def finish(self) -> None:
        if self.done < self.total:
            self.done = self.total
            self._draw(time.monotonic())
