"""Demo data for the labelled-data export: at least one decision carries a QA-corrected label.

The QA demo (qa/demo.py) usually settles a failed review already (its first adjudicated dispute
is upheld); when a small or unlucky seed leaves none settled, the analyst of the oldest failed
review still waiting for them acknowledges it, as they would in the console."""

from __future__ import annotations

from django.db.models import Q

from detection.selectors.labels import SETTLED_CORRECTIONS
from qa import services as qa_services
from qa.models import QAReview


def seed_labels(*, stdout, scale: float) -> None:
    """Make sure the export has a corrected label to show (after the QA demo)."""
    failed = QAReview.objects.filter(passed=False)
    settled = failed.filter(feedback__in=list(SETTLED_CORRECTIONS))
    if not settled.exists():
        waiting = failed.filter(Q(feedback=QAReview.Feedback.PENDING)).order_by("scored_at", "pk")
        review = waiting.select_related("analyst").first()
        if review is not None:
            qa_services.review_acknowledge(actor=review.analyst, review_id=review.pk)
    stdout.write(f"  {settled.count()} decision(s) with a QA-corrected label")
