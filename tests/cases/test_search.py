"""The search page: filters, pages beyond the first 50, and an exact id that opens its case."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from cases.lifecycle import case_transition
from cases.models import Case
from tests.cases.test_views import case_ids_on, make_cases
from tests.factories import make_case

pytestmark = pytest.mark.django_db

SEARCH = reverse("cases:search")


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def case_url(case_id: int) -> str:
    return reverse("cases:case-detail", args=[case_id])


def resolve(case: Case, actor) -> Case:
    with transaction.atomic():
        locked = Case.objects.select_for_update().get(pk=case.pk)
        return case_transition(locked, Case.Status.RESOLVED, actor=actor, reason="test", event=None)


def restricted_case(platform_account, external_id: str = "post-cs-9") -> Case:
    return make_case(
        platform_account,
        reason="child_safety",
        subject={"kind": "content", "external_id": external_id, "owner_id": "acct-cs9"},
    )


# --- Opening a case directly ---------------------------------------------------------------


def test_a_case_id_opens_the_case(platform_account, analyst, login):
    case = make_case(platform_account, reason="other")
    client = login(analyst)

    for q in (str(case.pk), f"#{case.pk}", f"  #{case.pk} "):
        response = client.get(SEARCH, {"q": q})
        assert response.status_code == 302, q
        assert response.url == case_url(case.pk)


def test_a_subject_id_opens_its_open_case_else_its_newest(platform_account, analyst, login):
    subject = {"kind": "content", "external_id": "post-twice", "owner_id": "acct-twice"}
    first = make_case(platform_account, reason="other", subject=subject)
    client = login(analyst)
    assert client.get(SEARCH, {"q": "post-twice"}).url == case_url(first.pk)

    resolve(first, analyst)
    second = make_case(platform_account, reason="spam", subject=subject)
    assert second.pk != first.pk
    assert client.get(SEARCH, {"q": "post-twice"}).url == case_url(second.pk)

    resolve(second, analyst)
    # Both resolved: the newest opens.
    assert client.get(SEARCH, {"q": "post-twice"}).url == case_url(second.pk)


def test_an_owner_id_or_words_list_the_cases_instead(platform_account, analyst, login):
    case = make_case(
        platform_account,
        reason="other",
        subject={"kind": "content", "external_id": "post-a", "owner_id": "acct-owner", "text": "x"},
    )
    client = login(analyst)

    response = client.get(SEARCH, {"q": "acct-owner"})
    assert response.status_code == 200
    assert case_ids_on(response) == [case.pk]


def test_a_case_an_outsider_cannot_see_answers_like_a_missing_one(
    platform_account, analyst, outsider, login
):
    hidden = restricted_case(platform_account)
    missing = hidden.pk + 1000
    client = login(analyst)

    by_id = client.get(SEARCH, {"q": str(hidden.pk)})
    by_missing_id = client.get(SEARCH, {"q": str(missing)})
    by_subject = client.get(SEARCH, {"q": "post-cs-9"})
    by_missing_subject = client.get(SEARCH, {"q": "post-nobody"})
    for response in (by_id, by_missing_id, by_subject, by_missing_subject):
        assert response.status_code == 200
        assert case_ids_on(response) == []
        assert "0 cases" in response.content.decode()
    # Nothing on the page tells the two apart but the words searched for.
    searched = re.compile(
        r'value="[^"]*"|“[^”]*”|name="csrfmiddlewaretoken"[^>]*>|X-CSRFToken[^}]*'
    )
    assert searched.sub("", by_id.content.decode()) == searched.sub(
        "", by_missing_id.content.decode()
    )


def test_the_team_opens_its_restricted_case_by_id(platform_account, specialist, login):
    hidden = restricted_case(platform_account)
    client = login(specialist)

    assert client.get(SEARCH, {"q": str(hidden.pk)}).url == case_url(hidden.pk)
    assert client.get(SEARCH, {"q": "post-cs-9"}).url == case_url(hidden.pk)


# --- Filters ---------------------------------------------------------------------------------


def test_filters_narrow_by_status_queue_reason_severity_and_dates(platform_account, analyst, login):
    spam = make_cases(platform_account, 2, reason="spam")
    threat = make_case(platform_account, reason="violent_threat")
    other = make_case(platform_account, reason="other")
    resolve(other, analyst)
    old = make_case(platform_account, reason="other")
    Case.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    client = login(analyst)

    def found(**params) -> set[int]:
        response = client.get(SEARCH, params)
        assert response.status_code == 200, response.content.decode()[:500]
        return set(case_ids_on(response))

    assert found(reason="spam") == {c.pk for c in spam}
    assert found(reason="violent_threat") == {threat.pk}
    assert found(status="resolved") == {other.pk}
    assert other.pk not in found(status="open")
    assert found(queue=threat.queue.slug, reason="violent_threat") == {threat.pk}
    assert found(severity=str(threat.severity), reason="violent_threat") == {threat.pk}
    today = timezone.localdate()
    recent = found(created_from=str(today - timedelta(days=1)), created_to=str(today))
    assert old.pk not in recent and threat.pk in recent
    assert found(created_to=str(today - timedelta(days=30))) == {old.pk}
    # Words and filters together.
    assert found(q=f"#{threat.pk}", reason="spam") == set()


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "sleeping"}, "status"),
        ({"queue": "no-such-queue"}, "queue"),
        ({"reason": "not_a_reason"}, "reason"),
        ({"severity": "9"}, "severity"),
        ({"severity": "high"}, "severity"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_from": "2026-03-02", "created_to": "2026-03-01"}, "created_to"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_a_bad_filter_is_answered_400_naming_the_field(analyst, login, params, field):
    response = login(analyst).get(SEARCH, params)

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert 'data-testid="search-errors"' in response.content.decode()


def test_a_queue_the_searcher_may_not_work_is_not_a_choice(platform_account, analyst, login):
    restricted_case(platform_account)
    response = login(analyst).get(SEARCH, {"queue": "child-safety"})

    assert response.status_code == 400
    assert "queue" in response.context["form"].errors


# --- Pages -----------------------------------------------------------------------------------


def test_results_beyond_the_first_fifty_are_on_further_pages(
    platform_account, analyst, login, django_assert_max_num_queries
):
    cases = make_cases(platform_account, 120, reason="spam")
    restricted_case(platform_account)
    client = login(analyst)

    with django_assert_max_num_queries(25):
        first = client.get(SEARCH, {"reason": "spam"})
    html = first.content.decode()
    assert "120 cases" in html and "Page 1 of 3" in html
    link = re.search(r'href="\?([^"]*page=2)" rel="next"', html).group(1).replace("&amp;", "&")
    second = client.get(f"{SEARCH}?{link}")
    third = client.get(SEARCH, {"reason": "spam", "page": "3"})
    assert "Page 2 of 3" in second.content.decode()
    seen = case_ids_on(first) + case_ids_on(second) + case_ids_on(third)
    assert len(case_ids_on(first)) == 50 and len(case_ids_on(third)) == 20
    assert sorted(seen) == sorted(c.pk for c in cases)


def test_the_count_leaves_out_cases_the_searcher_may_not_see(platform_account, analyst, login):
    make_cases(platform_account, 3, reason="other")
    restricted_case(platform_account)
    html = login(analyst).get(SEARCH, {"status": "open"}).content.decode()

    assert "3 cases" in html


def test_reasons_read_as_labels_in_the_results(platform_account, analyst, login):
    make_case(platform_account, reason="violent_threat")
    html = login(analyst).get(SEARCH, {"reason": "violent_threat"}).content.decode()

    assert ">Violent threat" in html or "Threat" in html
    assert "<td>violent_threat</td>" not in html
