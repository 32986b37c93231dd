"""Mass-flag defence: a senior sets a reporter's open reports aside (recorded, audited, case
effects) and restores them exactly; others are refused; restricted cases the senior cannot see
are untouched. The REST look-up, the reporters pages and the case page's reporter mix."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from cases.identifiers import hash_for_text
from cases.models import Case, CaseEvent
from cases.timeline import EventKind
from detection.models import InvalidatedReport, ReporterInvalidation
from detection.reputation import reputation_recompute
from detection.services.reputation import reporter_invalidate, reporter_restore
from escalations.services import escalation_raise
from tests.detection.test_reputation import decide, report
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

FLAGGER = "flood-account-77"


def _restrict(analyst, case):
    escalation_raise(
        actor=analyst,
        case_id=case.pk,
        team="child-safety",
        severity="P1",
        summary="Possible grooming.",
        criteria="Contact with a minor.",
    )


@pytest.fixture
def flood(platform_account, analyst):
    """The flagger's reports: alone on one case, beside another reporter on a second, on a
    restricted case, and on a case already resolved."""
    alone = report(platform_account, FLAGGER, "post-alone")
    report(platform_account, FLAGGER, "post-alone")
    mixed = report(platform_account, "honest", "post-mixed")
    report(platform_account, FLAGGER, "post-mixed")
    hidden = report(platform_account, FLAGGER, "post-hidden")
    _restrict(analyst, hidden)
    return {"alone": alone, "mixed": mixed, "hidden": hidden}


def _fresh(case: Case) -> Case:
    case.refresh_from_db()
    return case


def test_a_senior_sets_a_reporters_open_reports_aside_and_restores_them_exactly(
    flood, senior, specialist
):
    alone, mixed, hidden = flood["alone"], flood["mixed"], flood["hidden"]
    before = {c.pk: (_fresh(c).report_count, c.human_count, c.priority) for c in flood.values()}
    assert before[alone.pk][:2] == (2, 2) and before[mixed.pk][:2] == (2, 2)

    invalidation = reporter_invalidate(
        actor=senior, reporter_hash=hash_for_text(FLAGGER), reason="Coordinated flood of spam flags"
    )
    assert invalidation.invalidated_by == senior
    assert invalidation.reason == "Coordinated flood of spam flags"
    assert invalidation.history.count() == 1
    rows = InvalidatedReport.objects.filter(invalidation=invalidation)
    assert sorted(set(rows.values_list("case_id", flat=True))) == sorted([alone.pk, mixed.pk])
    assert rows.count() == 3

    # The case left with no report that counts sinks; the other only loses the counts.
    assert (_fresh(alone).report_count, alone.human_count, alone.priority) == (0, 0, -1)
    assert (_fresh(mixed).report_count, mixed.human_count, mixed.priority) == (1, 1, 0)
    # The restricted case the senior cannot see is untouched.
    assert (_fresh(hidden).report_count, hidden.human_count, hidden.priority) == before[hidden.pk]
    events = CaseEvent.objects.filter(kind=EventKind.REPORTS_INVALIDATED)
    assert sorted(events.values_list("case_id", flat=True)) == sorted([alone.pk, mixed.pk])
    event = events.get(case_id=alone.pk)
    assert event.actor == senior and event.data["reports"] == 2 and event.data["priority_lowered"]
    assert FLAGGER not in str(event.data) and hash_for_text(FLAGGER) not in str(event.data)
    assert alone.history.filter(history_user=senior).exists()

    # Invalidating again finds nothing left to set aside.
    with pytest.raises(ValidationError):
        reporter_invalidate(actor=senior, reporter_hash=hash_for_text(FLAGGER), reason="again!")

    restored = reporter_restore(
        actor=senior, reporter_hash=hash_for_text(FLAGGER), reason="The platform says genuine"
    )
    assert [i.pk for i in restored] == [invalidation.pk]
    invalidation.refresh_from_db()
    assert invalidation.restored_by == senior and invalidation.restored_at is not None
    assert invalidation.history.count() == 2
    for case in (alone, mixed, hidden):
        assert (_fresh(case).report_count, case.human_count, case.priority) == before[case.pk]
    assert CaseEvent.objects.filter(kind=EventKind.REPORTS_RESTORED).count() == 2
    assert not InvalidatedReport.objects.filter(restored_at__isnull=True).exists()


def test_the_team_senior_reaches_the_restricted_case_and_an_outsiders_restore_leaves_it(
    flood, senior, specialist, analyst
):
    from tests.conftest import make_member
    from tsops import roles

    team_senior = make_member("ines_cs_senior", roles.SENIOR, ("child-safety",))
    reporter_invalidate(
        actor=team_senior, reporter_hash=hash_for_text(FLAGGER), reason="Flood across queues"
    )
    hidden = _fresh(flood["hidden"])
    assert hidden.report_count == 0
    # A senior outside the team restores what they can see; the restricted case stays as is.
    reporter_restore(actor=senior, reporter_hash=hash_for_text(FLAGGER), reason="Checked them")
    assert _fresh(hidden).report_count == 0 and _fresh(flood["alone"]).report_count == 2
    invalidation = ReporterInvalidation.objects.get()
    assert invalidation.restored_at is None
    reporter_restore(actor=team_senior, reporter_hash=hash_for_text(FLAGGER), reason="All good")
    invalidation.refresh_from_db()
    assert _fresh(hidden).report_count == 1 and invalidation.restored_by == team_senior


@pytest.mark.parametrize("who", ["associate", "analyst", "specialist", "support_agent", "outsider"])
def test_only_seniors_may_set_reports_aside(flood, request, who):
    actor = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        reporter_invalidate(actor=actor, reporter_hash=hash_for_text(FLAGGER), reason="Flooding")
    assert not ReporterInvalidation.objects.exists()
    assert _fresh(flood["alone"]).report_count == 2


def test_a_reason_is_required_and_resolved_cases_are_left_alone(platform_account, senior, analyst):
    done = report(platform_account, FLAGGER, "post-done")
    decide(senior, done, False)
    with pytest.raises(ValidationError) as missing:
        reporter_invalidate(actor=senior, reporter_hash=hash_for_text(FLAGGER), reason="  ")
    assert "reason" in missing.value.message_dict
    with pytest.raises(ValidationError) as nothing:
        reporter_invalidate(actor=senior, reporter_hash=hash_for_text(FLAGGER), reason="Flooding")
    assert "reporter_id" in nothing.value.message_dict
    assert _fresh(done).report_count == 1


# --- REST -----------------------------------------------------------------------------------


def test_the_reporter_api_hashes_the_id_answers_seniors_and_logs_the_look_up(
    flood, platform_account, senior, analyst, api_client_for
):
    decide(senior, flood["mixed"], True)
    reputation_recompute()
    client = api_client_for(senior, ["cases:read", "cases:write"])
    response = client.get(f"/api/v1/reporters/{FLAGGER}")
    assert response.status_code == 200, response.content
    body = response.json()
    # The restricted case's report is not counted for this senior.
    assert body["reports"] == 3 and body["decided"] == 1 and body["confirmed"] == 1
    assert body["reporter_hash_prefix"] == hash_for_text(FLAGGER)[:12]
    assert FLAGGER not in response.content.decode()
    assert AccessLog.objects.filter(
        actor=senior, object_type="detection.reporter", action="viewed"
    ).exists()

    assert client.get("/api/v1/reporters/never-reported").status_code == 404
    assert api_client_for(analyst).get(f"/api/v1/reporters/{FLAGGER}").status_code == 403
    no_scope = api_client_for(senior, ["metrics:read"])
    assert no_scope.get(f"/api/v1/reporters/{FLAGGER}").status_code == 403


def test_invalidate_and_restore_over_rest(flood, senior, analyst, api_client_for):
    client = api_client_for(senior, ["cases:read", "cases:write"])
    bad = client.post(f"/api/v1/reporters/{FLAGGER}/invalidate", {"reason": ""}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["error"]["fields"]
    refused = api_client_for(analyst).post(
        f"/api/v1/reporters/{FLAGGER}/invalidate", {"reason": "Flooding"}, format="json"
    )
    assert refused.status_code == 403
    read_only = api_client_for(senior, ["cases:read"])
    assert (
        read_only.post(
            f"/api/v1/reporters/{FLAGGER}/invalidate", {"reason": "Flooding"}, format="json"
        ).status_code
        == 403
    )
    assert not ReporterInvalidation.objects.exists()
    unknown = client.post("/api/v1/reporters/nobody/invalidate", {"reason": "x" * 9}, format="json")
    assert unknown.status_code == 404

    done = client.post(
        f"/api/v1/reporters/{FLAGGER}/invalidate", {"reason": "Flooding"}, format="json"
    )
    assert done.status_code == 200 and done.json()["set_aside"] == 3
    assert _fresh(flood["alone"]).report_count == 0
    again = client.post(
        f"/api/v1/reporters/{FLAGGER}/restore", {"reason": "Genuine"}, format="json"
    )
    assert again.status_code == 200 and again.json()["set_aside"] == 0
    assert _fresh(flood["alone"]).report_count == 2
    nothing = client.post(
        f"/api/v1/reporters/{FLAGGER}/restore", {"reason": "Again"}, format="json"
    )
    assert nothing.status_code == 400


# --- Pages ----------------------------------------------------------------------------------


def test_the_reporters_pages_are_for_seniors_and_the_form_sets_reports_aside(
    flood, client, senior, analyst
):
    client.force_login(analyst)
    assert client.get(reverse("detection:reporter-list")).status_code == 403
    client.force_login(senior)
    listing = client.get(reverse("detection:reporter-list"), {"order": "active"})
    assert listing.status_code == 200
    assert client.get(reverse("detection:reporter-list"), {"prefix": "zz"}).status_code == 400
    opened = client.get(reverse("detection:reporter-list"), {"reporter_id": FLAGGER})
    url = reverse("detection:reporter", args=[hash_for_text(FLAGGER)])
    assert opened.status_code == 302 and opened["Location"] == url
    page = client.get(url)
    assert page.status_code == 200 and FLAGGER not in page.content.decode()
    short = client.post(reverse("detection:reporter-invalidate", args=[hash_for_text(FLAGGER)]))
    assert short.status_code == 400 and not ReporterInvalidation.objects.exists()
    posted = client.post(
        reverse("detection:reporter-invalidate", args=[hash_for_text(FLAGGER)]),
        {"reason": "Coordinated flood"},
    )
    assert posted.status_code == 302
    assert ReporterInvalidation.objects.get().invalidated_by == senior
    client.force_login(analyst)
    refused = client.post(
        reverse("detection:reporter-restore", args=[hash_for_text(FLAGGER)]), {"reason": "Undo it"}
    )
    assert refused.status_code == 403
    assert ReporterInvalidation.objects.get().restored_at is None


def test_the_case_page_shows_the_reporter_mix_without_who_reported(
    platform_account, senior, analyst, client
):
    for n in range(3):
        decide(senior, report(platform_account, "good-eye", f"post-g{n}"), True)
    reputation_recompute()
    case = report(platform_account, "good-eye", "post-mix")
    report(platform_account, "stranger", "post-mix")
    report(platform_account, "ngo", "post-mix", source="trusted_flagger")
    client.force_login(analyst)
    html = client.get(reverse("cases:case-detail", args=[case.pk])).content.decode()
    assert 'data-testid="reporter-mix"' in html
    assert 'data-testid="reporter-mix-good"' in html
    assert 'data-testid="reporter-mix-trusted"' in html
    assert 'data-testid="reporter-mix-new"' in html
    for secret in ("good-eye", "stranger", hash_for_text("good-eye")[:12]):
        assert secret not in html


def test_the_demo_has_a_mass_flagger_and_a_trusted_flagger(db):
    from io import StringIO

    from detection.demo_reputation import MASS_FLAGGER, TRUSTED_FLAGGER, seed_reputation
    from detection.models import ReporterReputation
    from detection.reputation import POOR, TRUSTED, band_of
    from tests.conftest import make_member
    from tsops import roles

    make_member("platform", roles.PLATFORM)
    make_member("senior", roles.SENIOR)
    seed_reputation(stdout=StringIO(), scale=0.1)
    flagger = ReporterReputation.objects.get(pk=hash_for_text(MASS_FLAGGER))
    trusted = ReporterReputation.objects.get(pk=hash_for_text(TRUSTED_FLAGGER))
    assert band_of(score=flagger.score, decided=flagger.decided, trusted=False) == POOR
    assert flagger.reports > flagger.decided > 0 and flagger.confirmed == 0
    assert band_of(score=trusted.score, decided=trusted.decided, trusted=trusted.trusted) == TRUSTED


def test_overlapping_invalidations_of_two_reporters_restore_the_priority_exactly(
    platform_account, senior
):
    case = report(platform_account, "flood-a", "post-both")
    report(platform_account, "flood-b", "post-both")
    start = _fresh(case).priority
    reporter_invalidate(actor=senior, reporter_hash=hash_for_text("flood-a"), reason="Flood A")
    assert _fresh(case).priority == start and case.report_count == 1
    reporter_invalidate(actor=senior, reporter_hash=hash_for_text("flood-b"), reason="Flood B")
    assert _fresh(case).priority == start - 1 and case.report_count == 0
    # Restoring the first reporter gives the case a report that counts: it rises again.
    reporter_restore(actor=senior, reporter_hash=hash_for_text("flood-a"), reason="A is fine")
    assert _fresh(case).priority == start and case.report_count == 1
    reporter_restore(actor=senior, reporter_hash=hash_for_text("flood-b"), reason="B is fine")
    assert _fresh(case).priority == start and case.report_count == 2


def test_the_reporters_list_leaves_out_a_reporter_seen_only_on_a_restricted_case(
    platform_account, senior, analyst
):
    from detection.selectors.reputation import reporter_list
    from tests.conftest import make_member
    from tsops import roles

    hidden = report(platform_account, "hidden-reporter", "post-only-hidden")
    _restrict(analyst, hidden)
    report(platform_account, "open-reporter", "post-open")
    reputation_recompute()
    shown = {r.reporter_hash for r in reporter_list(actor=senior, order="active")}
    assert hash_for_text("open-reporter") in shown
    assert hash_for_text("hidden-reporter") not in shown
    team_senior = make_member("ines_cs_senior", roles.SENIOR, ("child-safety",))
    team_view = {r.reporter_hash for r in reporter_list(actor=team_senior, order="lowest")}
    assert hash_for_text("hidden-reporter") in team_view
    with pytest.raises(PermissionDenied):
        reporter_list(actor=analyst)
