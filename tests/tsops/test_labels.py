"""Words and numbers a person reads: codes as labels, durations in units, dates that never wrap.

The walk renders the pages of a seeded demo operation for every role and fails when a stored
code (every report reason, action type and report source, and the outcomes, QA error types
and statuses) shows as visible text. Codes inside attributes and URLs are fine.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from cases.models import Case, Queue, Report, ReportReason
from enforcement.catalogue import ACTIONS
from tsops import presentation
from tsops.presentation import duration_text, label_for


class TestDurations:
    def test_a_timedelta_reads_in_its_two_largest_units(self):
        age = timedelta(days=28, hours=16, minutes=24, seconds=37, microseconds=185606)
        assert duration_text(age) == "28 days 16 hours"
        assert duration_text(timedelta(hours=3, minutes=20)) == "3 hours 20 minutes"
        assert duration_text(timedelta(minutes=45)) == "45 minutes"
        assert duration_text(timedelta(days=1)) == "1 day"
        assert duration_text(timedelta(seconds=20)) == "under a minute"
        assert duration_text(-timedelta(hours=2)) == "2 hours"

    def test_a_gap_ends_the_words(self):
        assert duration_text(timedelta(days=2, minutes=5)) == "2 days"

    def test_hours_read_in_days_when_whole_days_and_never_as_day_s(self):
        assert duration_text(168, "hours") == "7 days"
        assert duration_text(24) == "1 day"
        assert duration_text(36, "hours") == "36 hours"
        assert duration_text(1, "hours") == "1 hour"
        assert duration_text((7, "day")) == "7 days"
        assert duration_text((90, "minutes")) == "90 minutes"
        assert duration_text(None) == "" and duration_text("") == ""
        for hours in (1, 5, 24, 48, 168, 720):
            assert "(s)" not in duration_text(hours, "hours")
            assert not re.search(r"\d+h\b", duration_text(hours, "hours"))


@pytest.mark.django_db
class TestLabels:
    def test_every_reason_action_and_source_has_a_label_other_than_its_code(self):
        codes = {
            "reason": ReportReason.objects.values_list("code", flat=True),
            "action": ACTIONS,
            "source": Report.Source.values,
        }
        for vocabulary, values in codes.items():
            assert values, vocabulary
            for code in values:
                assert label_for(vocabulary, code) not in ("", code), (vocabulary, code)

    def test_reason_labels_are_the_stored_ones_and_follow_an_edit(self):
        reason = ReportReason.objects.get(code="violent_threat")
        assert label_for("reason", "violent_threat") == reason.label
        reason.label = "Threat of violence (edited)"
        reason.save()
        assert label_for("reason", "violent_threat") == "Threat of violence (edited)"

    def test_an_unknown_code_still_reads_as_words(self):
        assert label_for("reason", "made_up_reason") == "Made up reason"
        assert label_for("no_such_vocabulary", "some_code") == "Some code"

    def test_a_list_of_codes_reads_as_a_list_of_labels(self):
        text = label_for("qa_error", ["false_positive", "wrong_action"])
        assert text.startswith("False positive") and "Wrong or disproportionate" in text

    def test_the_filters_read_reason_labels_once_for_a_whole_list(self):
        presentation_module = __import__("cases.presentation", fromlist=["x"])
        presentation_module.reason_labels_forget()
        codes = list(ReportReason.objects.values_list("code", flat=True)) * 5
        template = Template(
            "{% load labels %}{% for c in codes %}{{ c|reason_label }};{% endfor %}"
        )
        with CaptureQueriesContext(connection) as queries:
            text = template.render(Context({"codes": codes}))
        assert len(queries) == 1
        assert "violent_threat" not in text and "Violent" in text

    def test_when_is_a_time_element_that_does_not_wrap(self):
        moment = datetime(2026, 3, 1, 9, 5, tzinfo=UTC)
        html = Template("{% load labels %}{{ m|when }}|{{ d|when }}").render(
            Context({"m": moment, "d": date(2026, 3, 1)})
        )
        assert '<time class="nowrap" datetime="2026-03-01T' in html
        assert "2026-03-01 " in html and "2026-03-01</time>" in html

    def test_the_filters_render_labels(self):
        html = Template(
            "{% load labels %}{{ r|reason_label }}|{{ a|action_label }}|{{ s|source_label }}|"
            "{{ o|outcome_label }}|{{ e|qa_error_label }}|{{ h|duration_text:'hours' }}|"
            '{{ st|label:"appeal_status" }}'
        ).render(
            Context(
                {
                    "r": "self_harm",
                    "a": "remove_content",
                    "s": "user_report",
                    "o": "overturned",
                    "e": ["documentation"],
                    "h": 168,
                    "st": "in_review",
                }
            )
        )
        assert "self_harm" not in html and "remove_content" not in html
        assert "Remove content|User report|Overturned|Documentation" in html
        assert "7 days|In review" in html


@pytest.mark.django_db
def test_the_queue_list_reads_the_oldest_case_s_age_in_words(platform_account, analyst, client):
    from tests.factories import make_case

    case = make_case(platform_account, reason="spam")
    age = timedelta(days=28, hours=16, minutes=24, seconds=37, microseconds=185606)
    Case.objects.filter(pk=case.pk).update(created_at=case.created_at - age)
    client.force_login(analyst)

    html = client.get("/queues/").content.decode()

    oldest = re.findall(r'data-testid="oldest">([^<]*)<', html)
    assert "28 days 16 hours" in oldest
    assert not any("," in cell or ":" in cell for cell in oldest)


# --- The walk over a demo operation ----------------------------------------------------------


class _VisibleText(HTMLParser):
    """The text a person sees: text nodes outside script and style, attributes left out."""

    def __init__(self) -> None:
        super().__init__()
        self.skip = 0
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.chunks.append(data.strip())


def visible_text(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    return parser.chunks


def known_codes() -> set[str]:
    """The codes no page may show: reasons, action types, sources, outcomes, QA errors."""
    codes = set(ReportReason.objects.values_list("code", flat=True)) | set(ACTIONS)
    codes |= set(Report.Source.values)
    for vocabulary in ("outcome", "qa_error", "case_status", "action_status", "appeal_status"):
        codes |= set(presentation.vocabulary(vocabulary))
    return {code for code in codes if code}


def raw_codes(chunks: list[str], codes: set[str], username: str = "") -> list[str]:
    """Where a code shows: a code with an underscore as a whole word anywhere, and any code
    (``spam``, ``warn``, ``label``) as the whole text of an element (but the viewer's own
    username, which the demo's support agent shares with a report source)."""
    found = []
    chunks = [chunk for chunk in chunks if chunk != username]
    compound = [code for code in codes if "_" in code]
    pattern = re.compile(r"(?<![\w/-])(" + "|".join(map(re.escape, compound)) + r")(?![\w-])")
    for chunk in chunks:
        if chunk in codes:
            found.append(f"{chunk!r} alone")
        else:
            found.extend(f"{match!r} in {chunk[:80]!r}" for match in pattern.findall(chunk))
    return found


def _first_ids(model, count: int = 3, **filters) -> list[int]:
    return list(
        model.objects.filter(**filters).order_by("-pk").values_list("pk", flat=True)[:count]
    )


def pages_to_walk() -> list[str]:
    """The pages of the demo a person reads, with ids of real rows."""
    from appeals.models import Appeal
    from enforcement.models import Strike
    from escalations.models import Escalation
    from qa.models import CalibrationSession, QAReview, Sample, SamplingPlan

    pages = ["/", "/queues/", "/appeals/", "/appeals/overview/", "/appeals/file/", "/qa/"]
    pages += ["/qa/reviews/", "/qa/feedback/", "/qa/disputes/", "/qa/figures/", "/qa/calibration/"]
    pages += ["/metrics/", "/metrics/live/", "/metrics/me/", "/metrics/transparency/"]
    pages += ["/access-log/", "/preferences/", "/search/?q=spam", "/search/?status=open"]
    pages += [f"/queues/{slug}/" for slug in Queue.objects.values_list("slug", flat=True)]
    pages += [f"/queues/{slug}/?status=resolved" for slug in ("general", "spam", "fraud")]
    for reason in ("violent_threat", "scam_fraud", "spam"):
        pages.append(f"/search/?reason={reason}&status=resolved")
    pages += [f"/appeals/{pk}/" for pk in _first_ids(Appeal, 4)]
    pages += [f"/appeals/{pk}/status/" for pk in _first_ids(Appeal, 2)]
    pages += [f"/qa/reviews/{pk}/" for pk in _first_ids(QAReview, 4)]
    pages += [f"/qa/reviews/{pk}/" for pk in _first_ids(QAReview, 2, status="scored")]
    pages += [f"/qa/plans/{pk}/" for pk in _first_ids(SamplingPlan, 2)]
    pages += [f"/qa/samples/{pk}/" for pk in _first_ids(Sample, 2)]
    # Case pages: open and resolved ones, a repeat offender's, one with media as reported.
    pages += [f"/cases/{pk}/" for pk in _first_ids(Case, 3, status="new")]
    pages += [f"/cases/{pk}/" for pk in _first_ids(Case, 3, status="resolved")]
    offenders = Strike.objects.values_list("account_id", flat=True)
    pages += [f"/cases/{pk}/" for pk in _first_ids(Case, 2, subject__owner_id__in=offenders)]
    pages += [f"/cases/{pk}/" for pk in _first_ids(Case, 2, evidence__kind="media")]
    pages += ["/approvals/", "/lookup/?kind=account&external_id=acct-1088"]
    pages += [f"/escalations/{pk}/" for pk in _first_ids(Escalation, 3)]
    for pk in _first_ids(CalibrationSession, 2):
        pages += [f"/qa/calibration/{pk}/", f"/qa/calibration/{pk}/results/"]
    return pages


@pytest.mark.django_db(transaction=True)
def test_no_page_of_the_demo_shows_a_raw_code():
    call_command("seed_demo", "--scale", "0.03", stdout=open("/dev/null", "w"))  # noqa: SIM115
    from django.test import Client

    codes = known_codes()
    assert {"violent_threat", "remove_content", "user_report", "spam"} <= codes
    pages = pages_to_walk()
    problems: list[str] = []
    checked = 0
    for username in ("analyst", "senior", "associate", "support", "childsafety"):
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        for path in pages:
            response = client.get(path, follow=True)
            if response.status_code != 200 or "text/html" not in response["Content-Type"]:
                continue
            checked += 1
            chunks = visible_text(response.content.decode())
            for problem in raw_codes(chunks, codes, username):
                problems.append(f"{username} {path}: {problem}")
    # The walk saw most pages (each role opens its own), and a case list names reasons.
    assert checked > len(pages) * 2
    assert Case.objects.exists()
    assert not problems, "Raw codes shown:\n" + "\n".join(sorted(set(problems))[:80])


def test_the_walk_finds_a_raw_code_and_ignores_attributes():
    codes = {"violent_threat", "spam", "user_report"}
    html = (
        '<td data-reason="violent_threat"><a href="/search/?reason=spam">Spam</a></td>'
        "<td>violent_threat</td><td>spam</td><p>by user_report today</p><script>spam</script>"
    )
    found = raw_codes(visible_text(html), codes)
    assert len(found) == 3
    assert raw_codes(visible_text("<p>Violent threat, spam folder</p>"), codes) == []
