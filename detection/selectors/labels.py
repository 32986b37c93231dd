"""Decisions as labelled data for training and evaluating classifiers: one row per decision.

A row holds what a classifier sees (the subject's snapshot, the reasons it was reported for,
the detectors' scores) and what humans concluded (the outcome, the policy section, the actions
and, when QA corrected the decision, the corrected label). Identities never leave as they are:

- the subject's platform id, its account's id, its URL and its media references are hashed
  with :func:`cases.identifiers.identifier_hash` under a ``subject.<kind>`` / ``media`` kind,
  so the same subject hashes alike in every export, yet never matches a reporter hash (those
  use :func:`cases.identifiers.hash_for_text`), which would tie a subject to who reported;
- reporters appear in no way at all: no hash, no count per reporter, no free text they wrote
  (the reports' descriptions stay out).

Rows come from one query over a server-side cursor (``QuerySet.iterator``), ordered by the
decision's time, so an export of millions of rows keeps ``chunk_size`` rows in memory at once.
Only decisions on cases the actor sees (:func:`cases.visibility.visible_cases`) are read, so a
restricted case is exported only to members of its team.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection, transaction
from django.db.models import F, Max, OuterRef, QuerySet
from django.db.models.functions import JSONObject

from cases.identifiers import identifier_hash
from cases.models import Case, Report
from cases.visibility import case_access_annotations, visible_cases
from enforcement.models import Decision, EnforcementAction
from qa.models import QAReview

SPLITS = ("train", "validation", "test")
# A failed QA review's answer becomes the label once it is settled: the analyst acknowledged it,
# or a senior upheld it on dispute. An overturned review leaves the decision as the label.
SETTLED_CORRECTIONS = {
    QAReview.Feedback.ACKNOWLEDGED: "acknowledged",
    QAReview.Feedback.UPHELD: "upheld",
}


@dataclass(frozen=True)
class LabelPeriod:
    """The exported period [start, end) and where its splits begin, in time order."""

    start: datetime
    end: datetime
    shares: tuple[float, float, float]

    def boundaries(self) -> tuple[datetime, datetime]:
        """When the validation split and the test split begin."""
        span = self.end - self.start
        validation = self.start + span * self.shares[0]
        test = validation + span * self.shares[1]
        return validation, test

    def split_of(self, at: datetime) -> str:
        validation, test = self.boundaries()
        if at < validation:
            return SPLITS[0]
        return SPLITS[1] if at < test else SPLITS[2]

    def range_of(self, split: str) -> tuple[datetime, datetime]:
        """The part of the period one split covers."""
        validation, test = self.boundaries()
        return {
            SPLITS[0]: (self.start, validation),
            SPLITS[1]: (validation, test),
            SPLITS[2]: (test, self.end),
        }[split]


def _held_case_ids(actor) -> list[int]:
    """Visible cases another app closes to the actor for now (QA's blind review holds the case
    from its reviewer until they answer): a label would give the decision away.

    Guards annotate booleans (see :func:`cases.visibility.register_case_access_guard`); the
    team-access annotation is not a guard and is left out. Each guard is asked on its own, so
    that PostgreSQL reads it as a semi-join over the few rows it holds, not a test per case."""
    held: set[int] = set()
    for name, expression in case_access_annotations(actor).items():
        if name.startswith("team_access_of_"):
            continue
        held.update(
            Case.objects.alias(**{name: expression})
            .filter(**{name: True})
            .values_list("pk", flat=True)
        )
    return sorted(held)


def label_queryset(*, actor, period: LabelPeriod, split: str = "") -> QuerySet[Decision]:
    """The decisions of the period (or of one of its splits) on cases ``actor`` sees, oldest
    first, with everything a row needs read by the same query."""
    start, end = period.range_of(split) if split else (period.start, period.end)
    # What the decider had in front of them: the reports received up to the decision.
    reports = Report.objects.filter(
        case_id=OuterRef("case_id"), received_at__lte=OuterRef("created_at")
    ).order_by()
    detectors = (
        reports.exclude(detector="")
        .values("detector")
        .annotate(entry=JSONObject(detector=F("detector"), score=Max("score")))
        .order_by("detector")
        .values("entry")
    )
    actions = (
        EnforcementAction.objects.filter(decision_id=OuterRef("pk"))
        .order_by("action_type")
        .values("action_type")
        .distinct()
    )
    return (
        Decision.objects.filter(created_at__gte=start, created_at__lt=end)
        .filter(case__in=visible_cases(actor))
        .exclude(case_id__in=_held_case_ids(actor))
        .annotate(
            reasons=ArraySubquery(reports.values("reason").distinct().order_by("reason")),
            sources=ArraySubquery(reports.values("source").distinct().order_by("source")),
            detector_scores=ArraySubquery(detectors),
            action_types=ArraySubquery(actions),
        )
        .order_by("created_at", "pk")
    )


ROW_FIELDS = (
    "pk",
    "created_at",
    "case_id",
    "automated",
    "outcome",
    "case__severity",
    "case__subject__kind",
    "case__subject__external_id",
    "case__subject__owner__kind",
    "case__subject__owner__external_id",
    "case__subject__snapshot_text",
    "case__subject__snapshot_url",
    "case__subject__snapshot_media",
    "case__subject__content_created_at",
    "policy_section__code",
    "policy_section__version",
    "policy_section__policy__code",
    "qa_review__passed",
    "qa_review__feedback",
    "qa_review__blind_outcome",
    "qa_review__blind_policy_section",
    "qa_review__error_types",
    "reasons",
    "sources",
    "detector_scores",
    "action_types",
)


def _subject_hash(kind: str, external_id: str) -> str:
    return identifier_hash(f"subject.{kind}", external_id)


def _qa_label(values: dict) -> dict | None:
    settled = SETTLED_CORRECTIONS.get(values["qa_review__feedback"])
    if values["qa_review__passed"] is not False or settled is None:
        return None
    return {
        "outcome": values["qa_review__blind_outcome"] or None,
        "policy_section": values["qa_review__blind_policy_section"] or None,
        "error_types": list(values["qa_review__error_types"] or []),
        "settled": settled,
    }


def label_row(values: dict, *, period: LabelPeriod) -> dict:
    """One exported row from one decision's values (see :data:`ROW_FIELDS`)."""
    owner_id = values["case__subject__owner__external_id"]
    created = values["case__subject__content_created_at"]
    section = values["policy_section__code"]
    url = values["case__subject__snapshot_url"]
    return {
        "decision_id": values["pk"],
        "decided_at": values["created_at"].isoformat(),
        "split": period.split_of(values["created_at"]),
        "case_id": values["case_id"],
        "severity": values["case__severity"],
        "subject": {
            "kind": values["case__subject__kind"],
            "id_hash": _subject_hash(
                values["case__subject__kind"], values["case__subject__external_id"]
            ),
            "account_hash": (
                _subject_hash(values["case__subject__owner__kind"], owner_id) if owner_id else None
            ),
            "text": values["case__subject__snapshot_text"],
            "url_hash": identifier_hash("subject.url", url) if url else None,
            "media_hashes": [
                identifier_hash("media", reference)
                for reference in values["case__subject__snapshot_media"] or []
            ],
            "created_at": created.isoformat() if created else None,
        },
        "reasons": values["reasons"] or [],
        "sources": values["sources"] or [],
        "detectors": [
            {"detector": entry["detector"], "score": entry["score"]}
            for entry in values["detector_scores"] or []
        ],
        "policy_section": (
            {
                "code": section,
                "version": values["policy_section__version"],
                "policy": values["policy_section__policy__code"],
            }
            if section
            else None
        ),
        "outcome": values["outcome"],
        "actions": values["action_types"] or [],
        "automated": values["automated"],
        "qa_label": _qa_label(values),
    }


def label_rows(
    *, actor, period: LabelPeriod, split: str = "", chunk_size: int = 2000
) -> Iterator[dict]:
    """The rows of the export, read lazily through a server-side cursor (nothing is read before
    the first row is asked for).

    The cursor lives in a transaction of its own while the rows stream: outside one, Django
    declares it WITH HOLD, and PostgreSQL then computes and stores the whole result before the
    first row is fetched. The transaction also gives the export one consistent snapshot, and
    is read-only when it is the outermost one (inside a caller's, that would bind the caller)."""
    queryset = label_queryset(actor=actor, period=period, split=split)
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
        for values in queryset.values(*ROW_FIELDS).iterator(chunk_size=chunk_size):
            yield label_row(values, period=period)


def label_lines(
    *, actor, period: LabelPeriod, split: str = "", chunk_size: int = 2000
) -> Iterator[bytes]:
    """The export as JSON Lines, a few dozen kilobytes per piece (each piece whole lines)."""
    buffer: list[str] = []
    size = 0
    for row in label_rows(actor=actor, period=period, split=split, chunk_size=chunk_size):
        line = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        buffer.append(line)
        size += len(line)
        if size >= 64 * 1024:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()
