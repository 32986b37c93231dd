"""The queue, case and search pages: what each actor sees, what each form does, what is logged."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import services
from cases.intake import report_submit_batch
from cases.models import Case, CaseEvent, Evidence, Identifier, Queue
from cases.timeline import EventKind
from tests.factories import ReportPayloadFactory, make_case
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def case_ids_on(response) -> list[int]:
    """The case ids of the rows of a queue or search page, top to bottom."""
    return [int(i) for i in re.findall(r'data-case-id="(\d+)"', response.content.decode())]


def make_cases(actor, count: int, **payload) -> list[Case]:
    results = report_submit_batch(
        actor=actor, items=[ReportPayloadFactory(**payload) for _ in range(count)]
    )
    assert all(r.errors is None for r in results)
    return list(Case.objects.filter(pk__in=[r.case_id for r in results]).order_by("pk"))


def queue_url(slug: str, **params) -> str:
    url = reverse("cases:queue-detail", args=[slug])
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def case_url(case: Case) -> str:
    return reverse("cases:case-detail", args=[case.pk])


# --- Queue page ----------------------------------------------------------------------------


def test_the_queue_page_lists_visible_cases_in_priority_order(platform_account, analyst, login):
    now = timezone.now()
    later, low, urgent, many = make_cases(platform_account, 4, reason="other")
    Case.objects.filter(pk=urgent.pk).update(severity=0)
    Case.objects.filter(pk__in=[later.pk, low.pk, many.pk]).update(
        severity=3, resolve_due=now + timedelta(hours=5)
    )
    Case.objects.filter(pk=later.pk).update(resolve_due=now + timedelta(hours=9))
    Case.objects.filter(pk=many.pk).update(report_count=7)
    hidden = make_case(platform_account, reason="child_safety")

    response = login(analyst).get(queue_url("general"))

    assert response.status_code == 200
    assert case_ids_on(response) == [urgent.pk, many.pk, low.pk, later.pk]
    assert hidden.pk not in case_ids_on(response)
    html = response.content.decode()
    assert 'id="next-case-form"' in html
    assert reverse("cases:queue-claim-next", args=["general"]) in html


def test_the_queue_page_filters_by_status_severity_source_tag_and_breach(
    platform_account, analyst, login
):
    flagged, human, tagged, overdue = make_cases(platform_account, 4, reason="other")
    Case.objects.filter(pk=flagged.pk).update(automated_count=1, human_count=0, severity=1)
    Case.objects.filter(pk=tagged.pk).update(tags=["wave-7"])
    Case.objects.filter(pk=overdue.pk).update(resolve_due=timezone.now() - timedelta(minutes=1))
    services.case_claim(actor=analyst, case_id=human.pk)
    client = login(analyst)

    assert case_ids_on(client.get(queue_url("general", severity=1))) == [flagged.pk]
    assert case_ids_on(client.get(queue_url("general", source="automated"))) == [flagged.pk]
    assert case_ids_on(client.get(queue_url("general", tag="wave-7"))) == [tagged.pk]
    breached = client.get(queue_url("general", breached="on"))
    assert case_ids_on(breached) == [overdue.pk]
    assert "breached" in breached.content.decode()
    assert case_ids_on(client.get(queue_url("general", status="in_review"))) == [human.pk]
    assert human.pk not in case_ids_on(client.get(queue_url("general")))
    assert set(case_ids_on(client.get(queue_url("general", status="open")))) == {
        flagged.pk,
        human.pk,
        tagged.pk,
        overdue.pk,
    }


def test_the_queue_page_costs_the_same_queries_at_5_and_60_cases_and_never_counts(
    platform_account, analyst, login
):
    client = login(analyst)
    make_cases(platform_account, 5, reason="other")
    client.get(queue_url("general"))  # warm-up: per-process caches (content types…)

    with CaptureQueriesContext(connection) as small:
        response = client.get(queue_url("general"))
    assert len(case_ids_on(response)) == 5

    make_cases(platform_account, 55, reason="other")
    with CaptureQueriesContext(connection) as large:
        response = client.get(queue_url("general"))
    assert len(case_ids_on(response)) == 50

    assert len(large.captured_queries) == len(small.captured_queries)
    case_queries = [q["sql"] for q in large.captured_queries if "cases_case" in q["sql"]]
    assert not [sql for sql in case_queries if "COUNT(" in sql.upper()]


def test_next_page_links_continue_after_the_last_row_without_repeats(
    platform_account, analyst, login
):
    cases = make_cases(platform_account, 60, reason="other")
    # Ties on severity and deadline, so the report count and the id decide the order.
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(
        severity=2, resolve_due=timezone.now() + timedelta(hours=3)
    )
    Case.objects.filter(pk__in=[c.pk for c in cases[::3]]).update(report_count=4)
    client = login(analyst)

    first = client.get(queue_url("general"))
    match = re.search(r'href="\?([^"]*after=[^"]*)" rel="next"', first.content.decode())
    assert match, "the first page links to the next one"
    second = client.get(queue_url("general") + "?" + match.group(1).replace("&amp;", "&"))

    seen = case_ids_on(first) + case_ids_on(second)
    assert len(case_ids_on(first)) == 50
    assert sorted(seen) == sorted(c.pk for c in cases)
    expected = list(
        Case.objects.filter(pk__in=[c.pk for c in cases])
        .order_by("severity", "resolve_due", "-report_count", "id")
        .values_list("pk", flat=True)
    )
    assert seen == expected
    assert 'rel="next"' not in second.content.decode()


def test_next_case_claims_the_top_case_and_opens_it(platform_account, analyst, login):
    low, urgent = make_cases(platform_account, 2, reason="other")
    Case.objects.filter(pk=urgent.pk).update(severity=0)

    response = login(analyst).post(reverse("cases:queue-claim-next", args=["general"]))

    assert response.status_code == 302
    assert response.url == case_url(urgent)
    urgent.refresh_from_db()
    assert urgent.status == Case.Status.IN_REVIEW and urgent.claimed_by == analyst
    assert CaseEvent.objects.filter(case=urgent, kind=EventKind.CASE_CLAIMED).exists()
    low.refresh_from_db()
    assert low.status == Case.Status.NEW


def test_next_case_on_an_empty_queue_says_so(analyst, login):
    response = login(analyst).post(reverse("cases:queue-claim-next", args=["general"]), follow=True)

    assert response.redirect_chain[-1][0] == queue_url("general")
    assert "is empty: there is no case waiting for you" in response.content.decode()


def test_next_case_is_refused_on_a_queue_closed_to_associates(platform_account, associate, login):
    case = make_case(platform_account, reason="scam_fraud")

    response = login(associate).post(reverse("cases:queue-claim-next", args=["fraud"]))

    assert response.status_code == 404
    case.refresh_from_db()
    assert case.status == Case.Status.NEW


# --- Bulk ----------------------------------------------------------------------------------


def test_an_analyst_bulk_tags_and_moves_cases(platform_account, analyst, login):
    one, two, untouched = make_cases(platform_account, 3, reason="other")
    client = login(analyst)
    bulk = reverse("cases:queue-bulk", args=["general"])

    tagged = client.post(
        bulk, {"cases": [one.pk, two.pk], "operation": "tag", "tag": "Wave-9"}, follow=True
    )
    assert tagged.status_code == 200
    assert [c.tags for c in Case.objects.filter(pk__in=[one.pk, two.pk])] == [["wave-9"]] * 2
    assert Case.objects.get(pk=untouched.pk).tags == []

    spam = Queue.objects.get(slug="spam")
    client.post(bulk, {"cases": [one.pk, two.pk], "operation": "move", "queue": spam.pk})
    assert set(Case.objects.filter(pk__in=[one.pk, two.pk]).values_list("queue", flat=True)) == {
        spam.pk
    }
    assert CaseEvent.objects.filter(case=one, kind=EventKind.CASE_MOVED, actor=analyst).exists()


def test_an_analyst_bulk_assigns_and_releases(platform_account, analyst, analyst2, login):
    one, two = make_cases(platform_account, 2, reason="other")
    client = login(analyst)
    bulk = reverse("cases:queue-bulk", args=["general"])

    client.post(
        bulk, {"cases": [one.pk, two.pk], "operation": "assign", "assignee": analyst2.username}
    )
    assert set(Case.objects.values_list("status", "claimed_by")) == {("in_review", analyst2.pk)}

    client.post(bulk, {"cases": [one.pk, two.pk], "operation": "release"})
    assert set(Case.objects.values_list("status", "claimed_by")) == {("new", None)}


def test_the_bulk_tool_is_refused_to_associates(platform_account, associate, login):
    case = make_case(platform_account, reason="spam")
    client = login(associate)

    page = client.get(queue_url("spam"))
    assert page.status_code == 200
    assert 'id="bulk-form"' not in page.content.decode()

    response = client.post(
        reverse("cases:queue-bulk", args=["spam"]),
        {"cases": [case.pk], "operation": "tag", "tag": "mine"},
    )
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.tags == [] and case.version == 1


# --- Case page -----------------------------------------------------------------------------


def test_the_case_page_shows_user_text_escaped(platform_account, analyst, login):
    case = make_case(
        platform_account,
        reason="other",
        description=XSS_SCRIPT,
        subject={"kind": "content", "external_id": "post-x", "owner_id": "acct-x", "text": XSS_IMG},
    )
    services.note_add(actor=analyst, case_id=case.pk, body=f"note {XSS_IMG}")

    response = login(analyst).get(case_url(case))

    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS_IMG not in html
    assert XSS_SCRIPT not in html
    assert re.search(r'class="snapshot"[^>]*>&lt;img src=x', html)


def test_the_case_page_shows_what_an_analyst_needs(platform_account, analyst, login):
    device = [{"kind": "device", "value": "device-shared-1"}]
    old = make_case(
        platform_account,
        reason="harassment",
        subject={"kind": "content", "external_id": "post-old", "owner_id": "acct-7"},
        identifiers=device,
    )
    make_case(
        platform_account,
        reason="spam",
        subject={"kind": "content", "external_id": "post-other", "owner_id": "acct-8"},
        identifiers=device,
    )
    case = make_case(
        platform_account,
        reason="other",
        source="automated_flag",
        detector="spam-classifier-v3",
        score=0.97,
        subject={"kind": "content", "external_id": "post-new", "owner_id": "acct-7"},
    )
    services.evidence_add(actor=analyst, case_id=case.pk, kind="excerpt", excerpt="quoted text")

    response = login(analyst).get(case_url(case))

    html = response.content.decode()
    assert "post-new" in html and "acct-7" in html
    assert "spam-classifier-v3" in html and "0.97" in html
    assert 'data-testid="repeat-offender"' in html
    assert reverse("cases:case-detail", args=[old.pk]) in html
    assert 'data-testid="linked-account"' in html and "acct-8" in html
    evidence = Evidence.objects.get(case=case)
    assert evidence.sha256 in html
    assert EventKind.CASE_CREATED.label in html
    assert EventKind.EVIDENCE_ADDED.label in html


def test_every_view_of_a_case_writes_the_access_log(platform_account, analyst, login):
    case = make_case(platform_account, reason="other")
    views = AccessLog.objects.filter(
        action=AccessLog.Action.VIEWED, object_type="cases.case", object_id=str(case.pk)
    )
    client = login(analyst)

    client.get(case_url(case))
    client.get(case_url(case))

    assert views.count() == 2
    assert set(views.values_list("actor", flat=True)) == {analyst.pk}


def test_opening_a_claimed_case_renews_the_claimants_lease(platform_account, analyst, login):
    case = make_case(platform_account, reason="other")
    services.case_claim(actor=analyst, case_id=case.pk)
    soon = timezone.now() + timedelta(minutes=2)
    Case.objects.filter(pk=case.pk).update(lease_expires_at=soon)
    client = login(analyst)

    client.get(case_url(case))
    case.refresh_from_db()
    assert case.lease_expires_at > soon + timedelta(minutes=10)
    assert 'hx-post="' + reverse("cases:case-lease-renew", args=[case.pk]) in (
        client.get(case_url(case)).content.decode()
    )


def test_the_lease_ping_renews_only_the_claimants_lease(platform_account, analyst, analyst2, login):
    case = make_case(platform_account, reason="other")
    services.case_claim(actor=analyst, case_id=case.pk)
    soon = timezone.now() + timedelta(minutes=2)
    Case.objects.filter(pk=case.pk).update(lease_expires_at=soon)
    renew = reverse("cases:case-lease-renew", args=[case.pk])

    assert login(analyst2).post(renew).status_code == 409
    case.refresh_from_db()
    assert case.lease_expires_at == soon

    assert login(analyst).post(renew).status_code == 204
    case.refresh_from_db()
    assert case.lease_expires_at > soon + timedelta(minutes=10)


def test_a_stale_edit_says_who_changed_the_case_and_overwrites_nothing(
    platform_account, analyst, analyst2, login, client
):
    case = make_case(platform_account, reason="other")
    loaded_version = case.version
    services.case_update(actor=analyst2, case_id=case.pk, version=loaded_version, tags=["theirs"])

    response = login(analyst).post(
        reverse("cases:case-edit", args=[case.pk]),
        {"version": loaded_version, "tags": "mine", "severity": 0, "queue": case.queue_id},
        follow=True,
    )

    html = response.content.decode()
    assert "This case was changed by mateo_analyst meanwhile" in html
    assert "reload to see the changes" in html
    case.refresh_from_db()
    assert case.tags == ["theirs"]
    assert case.severity == 3
    assert case.version == loaded_version + 1


def test_an_edit_with_the_current_version_saves_tags_severity_and_queue(
    platform_account, analyst, login
):
    case = make_case(platform_account, reason="other")
    spam = Queue.objects.get(slug="spam")

    response = login(analyst).post(
        reverse("cases:case-edit", args=[case.pk]),
        {"version": case.version, "tags": "scam, Wave-2", "severity": 1, "queue": spam.pk},
    )

    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.tags, case.severity, case.queue_id) == (["scam", "wave-2"], 1, spam.pk)


def test_a_note_added_on_the_page_appears_on_it(platform_account, analyst, login):
    case = make_case(platform_account, reason="other")
    client = login(analyst)

    response = client.post(
        reverse("cases:case-note-add", args=[case.pk]), {"body": "Checked <b>the</b> profile"}
    )
    assert response.status_code == 302
    html = client.get(case_url(case)).content.decode()
    assert "Checked &lt;b&gt;the&lt;/b&gt; profile" in html

    empty = client.post(reverse("cases:case-note-add", args=[case.pk]), {"body": "   "})
    assert empty.status_code == 400
    assert case.notes.count() == 1


def test_skipping_needs_a_reason_and_returns_the_case(platform_account, analyst, login):
    case = make_case(platform_account, reason="other")
    services.case_claim(actor=analyst, case_id=case.pk)
    client = login(analyst)
    release = reverse("cases:case-release", args=[case.pk])

    refused = client.post(release, {"skip": "on", "reason": ""}, follow=True)
    assert "Say why you are skipping" in refused.content.decode()
    case.refresh_from_db()
    assert case.status == Case.Status.IN_REVIEW

    response = client.post(release, {"skip": "on", "reason": "conflict of interest"})
    assert response.url == queue_url("general")
    case.refresh_from_db()
    assert case.status == Case.Status.NEW and case.claimed_by is None
    assert CaseEvent.objects.filter(case=case, kind=EventKind.CASE_SKIPPED).exists()


def test_claiming_a_case_someone_else_holds_is_refused_with_a_message(
    platform_account, analyst, analyst2, login
):
    case = make_case(platform_account, reason="other")
    services.case_claim(actor=analyst2, case_id=case.pk)

    response = login(analyst).post(reverse("cases:case-claim", args=[case.pk]), follow=True)

    assert "claimed by someone else" in response.content.decode()
    case.refresh_from_db()
    assert case.claimed_by == analyst2


def test_sensitive_evidence_stays_hidden_until_a_logged_reveal(platform_account, analyst, login):
    case = make_case(platform_account, reason="other")
    evidence = services.evidence_add(
        actor=analyst, case_id=case.pk, kind="excerpt", excerpt="graphic-words", sensitive=True
    )
    client = login(analyst)

    page = client.get(case_url(case)).content.decode()
    assert "graphic-words" not in page
    assert 'class="blurred' in page

    url = reverse("cases:case-evidence-reveal", args=[case.pk, evidence.pk])
    revealed = client.post(url, HTTP_HX_REQUEST="true")
    assert "graphic-words" in revealed.content.decode()
    assert AccessLog.objects.filter(
        action=AccessLog.Action.REVEALED_MEDIA, actor=analyst, object_id=str(evidence.pk)
    ).exists()


# --- Identifiers ---------------------------------------------------------------------------


def _case_with_email(platform_account) -> Case:
    return make_case(
        platform_account,
        reason="spam",
        subject={"kind": "content", "external_id": "post-pii", "owner_id": "acct-pii"},
        identifiers=[{"kind": "email", "value": "jane.doe@example.com"}],
    )


def test_associates_see_identifiers_masked_and_reveal_them_with_a_logged_reason(
    platform_account, associate, login
):
    case = _case_with_email(platform_account)
    make_case(
        platform_account,
        reason="spam",
        subject={"kind": "content", "external_id": "post-twin", "owner_id": "acct-twin"},
        identifiers=[{"kind": "email", "value": "Jane.Doe@example.com"}],
    )
    identifier = Identifier.objects.get(account__external_id="acct-pii")
    reveals = AccessLog.objects.filter(action=AccessLog.Action.REVEALED_PII, actor=associate)
    client = login(associate)

    page = client.get(case_url(case)).content.decode()
    assert identifier.masked in page
    assert identifier.value_hash not in page
    assert "jane.doe@example.com" not in page

    url = reverse("cases:case-identifier-reveal", args=[case.pk, identifier.pk])
    refused = client.post(url, {"reason": ""}, follow=True)
    assert identifier.value_hash not in refused.content.decode()
    assert "Say why" in refused.content.decode()
    assert not reveals.exists()

    revealed = client.post(url, {"reason": "checking ban evasion"})
    html = revealed.content.decode()
    assert revealed.status_code == 200
    assert identifier.value_hash in html
    assert "acct-twin" in html
    entry = reveals.get()
    assert entry.reason == "checking ban evasion"
    assert entry.object_type == "cases.identifier" and entry.object_id == str(identifier.pk)


def test_analysts_see_fingerprints_without_giving_a_reason(platform_account, analyst, login):
    case = _case_with_email(platform_account)
    identifier = Identifier.objects.get()

    page = login(analyst).get(case_url(case)).content.decode()

    assert identifier.value_hash in page
    assert "jane.doe@example.com" not in page
    assert not AccessLog.objects.filter(action=AccessLog.Action.REVEALED_PII).exists()


def test_an_identifier_of_another_account_cannot_be_revealed_through_a_case(
    platform_account, associate, login
):
    case = _case_with_email(platform_account)
    other = make_case(
        platform_account,
        reason="spam",
        subject={"kind": "content", "external_id": "post-o", "owner_id": "acct-o"},
        identifiers=[{"kind": "phone", "value": "+15551234567"}],
    )
    foreign = Identifier.objects.get(account=other.subject.owner)

    response = login(associate).post(
        reverse("cases:case-identifier-reveal", args=[case.pk, foreign.pk]),
        {"reason": "just looking around"},
    )

    assert response.status_code == 404
    assert not AccessLog.objects.filter(action=AccessLog.Action.REVEALED_PII).exists()


# --- Restricted cases ----------------------------------------------------------------------


def test_an_analyst_cannot_reach_a_child_safety_case_anywhere(platform_account, analyst, login):
    restricted = make_case(
        platform_account,
        reason="child_safety",
        subject={"kind": "content", "external_id": "post-cs-1", "owner_id": "acct-cs"},
    )
    visible = make_case(platform_account, reason="other")
    client = login(analyst)

    assert client.get(case_url(restricted)).status_code == 404
    assert client.get(queue_url("child-safety")).status_code == 404
    queues = client.get(reverse("cases:queue-list")).content.decode()
    assert reverse("cases:queue-detail", args=["child-safety"]) not in queues
    for status in ("new", "open"):
        assert restricted.pk not in case_ids_on(client.get(queue_url("general", status=status)))
    for q in ("post-cs-1", "acct-cs", str(restricted.pk)):
        assert restricted.pk not in case_ids_on(client.get(reverse("cases:search"), {"q": q}))

    refused = client.post(
        reverse("cases:queue-bulk", args=["general"]),
        {"cases": [visible.pk, restricted.pk], "operation": "tag", "tag": "x"},
        follow=True,
    )
    assert "do not exist" in refused.content.decode()
    assert Case.objects.get(pk=restricted.pk).tags == []
    assert Case.objects.get(pk=visible.pk).tags == []
    assert (
        client.post(reverse("cases:case-note-add", args=[restricted.pk]), {"body": "hi"})
    ).status_code == 404


def test_a_child_safety_team_member_works_the_restricted_case(platform_account, specialist, login):
    restricted = make_case(
        platform_account,
        reason="child_safety",
        subject={"kind": "content", "external_id": "post-cs-2", "owner_id": "acct-cs2"},
    )
    client = login(specialist)

    assert client.get(case_url(restricted)).status_code == 200
    assert case_ids_on(client.get(queue_url("child-safety"))) == [restricted.pk]
    found = client.get(reverse("cases:search"), {"q": "acct-cs2"})
    assert case_ids_on(found) == [restricted.pk]
    assert client.get(reverse("cases:search"), {"q": "post-cs-2"}).url == case_url(restricted)
    claimed = client.post(reverse("cases:queue-claim-next", args=["child-safety"]))
    assert claimed.url == case_url(restricted)


# --- Search --------------------------------------------------------------------------------


def test_search_finds_cases_by_id_subject_identifier_and_words(platform_account, analyst, login):
    case = make_case(
        platform_account,
        reason="other",
        subject={
            "kind": "content",
            "external_id": "post-find-me",
            "owner_id": "acct-find",
            "text": "cheap watches wholesale",
        },
        identifiers=[{"kind": "email", "value": "seller@example.net"}],
    )
    make_case(platform_account, reason="other")
    client = login(analyst)

    for q in ("acct-find", "seller@example.net", "watches"):
        response = client.get(reverse("cases:search"), {"q": q})
        assert response.status_code == 200
        assert case_ids_on(response) == [case.pk], q
    # A case id or the subject's own id opens the case (tests/cases/test_search.py).
    for q in (str(case.pk), "post-find-me"):
        assert client.get(reverse("cases:search"), {"q": q}).url == case_url(case), q


def test_the_search_box_on_every_page_submits_to_search(analyst, login):
    html = login(analyst).get(reverse("cases:queue-list")).content.decode()

    assert f'action="{reverse("cases:search")}"' in html


def test_an_invalid_filter_is_ignored_and_the_others_still_apply(platform_account, analyst, login):
    plain, tagged = make_cases(platform_account, 2, reason="other")
    Case.objects.filter(pk=tagged.pk).update(tags=["wave-7"])

    response = login(analyst).get(queue_url("general", severity=9, tag="wave-7"))

    assert response.status_code == 200
    assert case_ids_on(response) == [tagged.pk]
