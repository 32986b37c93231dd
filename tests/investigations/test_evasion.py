"""Ban evasion at intake: a new case whose account shares a strong identifier with another
account under an active suspension or ban is linked, raised, tagged and on the timeline; weak
identifiers and ended actions flag nothing; the link never reveals a restricted case; the
KPI of suspects confirmed is the figure recomputed from the raw rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from cases.intake import IntakeCase
from cases.models import Case, CaseEvent, CaseLink
from cases.timeline import EventKind
from enforcement import services as enforcement
from enforcement.models import Decision
from investigations.services.evasion import EVASION_TAG, evasion_check
from metrics.kpis import kpi_report
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles

pytestmark = pytest.mark.django_db


def _account_case(platform, external_id: str, identifiers: dict, reason: str = "spam") -> Case:
    return make_case(
        platform,
        reason=reason,
        subject={"kind": "account", "external_id": external_id},
        identifiers=[{"kind": k, "value": v} for k, v in identifiers.items()],
    )


def _actioned(platform, decider, external_id, identifiers, action, reason="spam", section=None):
    """An account whose case was decided with ``action`` (ban or suspension)."""
    case = _account_case(platform, external_id, identifiers, reason)
    enforcement.decision_make(
        actor=decider,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section=section or "SPAM-1.1",
        rationale="Confirmed from the account's history.",
        actions=[action],
    )
    return case


def _suspect_case(platform, owner: str, identifiers: dict, n: int = 1) -> Case:
    """A newly reported post of ``owner``, with the identifiers the platform saw."""
    return make_case(
        platform,
        subject={"kind": "content", "external_id": f"post-{owner}-{n}", "owner_id": owner},
        identifiers=[{"kind": k, "value": v} for k, v in identifiers.items()],
    )


BAN = {"type": "ban"}
SUSPEND = {"type": "suspend", "duration_hours": 48}


@pytest.mark.parametrize(
    ("kind", "value", "action"),
    [
        ("device", "android-9f2c-77aa", BAN),
        ("payment", "4111 1111 1111 1234", SUSPEND),
        ("email", "ring.leader@mail.example", BAN),
    ],
)
def test_a_new_account_sharing_a_strong_identifier_with_an_actioned_one_is_flagged(
    platform_account, senior, kind, value, action
):
    banned = _actioned(platform_account, senior, "acct-banned", {kind: value}, action)
    suspect = _suspect_case(platform_account, "acct-new", {kind: value, "ip": "203.0.113.9"})
    suspect.refresh_from_db()

    link = CaseLink.objects.get(from_case=suspect, kind=CaseLink.Kind.EVASION_SUSPECT)
    assert link.to_case_id == banned.pk and link.created_by_id is None
    # Spam opens at P3; the suspect's case is raised one level, deadlines stamped for P2.
    assert suspect.severity == 2
    policy = suspect.queue.sla_policy
    assert suspect.first_action_due == suspect.created_at + timedelta(
        minutes=policy.first_action_p2
    )
    assert suspect.resolve_due == suspect.created_at + timedelta(minutes=policy.resolve_p2)
    assert EVASION_TAG in suspect.tags
    event = CaseEvent.objects.get(case=suspect, kind=EventKind.EVASION_SUSPECTED)
    assert event.data == {
        "identifier_kind": kind,
        "account": "acct-banned",
        "kind": "evasion_suspect",
        "case_id": banned.pk,
    }
    raised = CaseEvent.objects.get(case=suspect, kind=EventKind.CASE_SEVERITY_RAISED)
    assert raised.data == {"before": "P3", "after": "P2"}
    assert suspect.history.first().history_change_reason == "evasion suspect"


def test_a_weak_identifier_flags_nothing(platform_account, senior):
    _actioned(platform_account, senior, "acct-banned", {"ip": "100.64.0.1"}, BAN)
    suspect = _suspect_case(platform_account, "acct-new", {"ip": "100.64.0.1"})
    suspect.refresh_from_db()
    assert not CaseLink.objects.filter(from_case=suspect).exists()
    assert suspect.severity == 3 and EVASION_TAG not in suspect.tags


def test_a_hub_value_flags_nothing(platform_account, senior, settings):
    settings.TSOPS_NETWORK_HUB_LIMIT = 3
    _actioned(platform_account, senior, "acct-banned", {"device": "model-hash-x"}, BAN)
    for n in range(3):
        _suspect_case(platform_account, f"acct-owner-{n}", {"device": "model-hash-x"})
    # Four accounts share the value now: past the limit, it is a hub and links nobody.
    assert CaseLink.objects.filter(kind=CaseLink.Kind.EVASION_SUSPECT).count() == 2
    late = _suspect_case(platform_account, "acct-late", {"device": "model-hash-x"})
    assert not CaseLink.objects.filter(from_case=late).exists()


def test_an_expired_or_reversed_suspension_flags_nothing(platform_account, senior):
    _actioned(platform_account, senior, "acct-expired", {"device": "dev-expired"}, SUSPEND)
    reversed_case = _actioned(
        platform_account, senior, "acct-reversed", {"device": "dev-reversed"}, SUSPEND
    )
    action = reversed_case.actions.get()
    enforcement.action_reverse(actor=senior, action_id=action.pk, reason="Compromised account.")
    # Past the expiry, whether or not the expiry task has run yet.
    with time_machine.travel(timezone.now() + timedelta(hours=49), tick=False):
        late = _suspect_case(platform_account, "acct-late", {"device": "dev-expired"})
    again = _suspect_case(platform_account, "acct-again", {"device": "dev-reversed"})
    assert not CaseLink.objects.filter(from_case__in=[late, again]).exists()


def test_only_new_cases_of_other_accounts_are_flagged(platform_account, senior):
    banned = _actioned(platform_account, senior, "acct-banned", {"device": "dev-1"}, BAN)
    # The banned account's own new post shares the device with itself only.
    own = _suspect_case(platform_account, "acct-banned", {"device": "dev-1"})
    assert not CaseLink.objects.filter(from_case=own).exists()
    first = _suspect_case(platform_account, "acct-new", {"email": "x@mail.example"})
    # A report joining the open case later, now with the device, opens nothing new.
    joined = make_case(
        platform_account,
        subject={"kind": "content", "external_id": "post-acct-new-1", "owner_id": "acct-new"},
        identifiers=[{"kind": "device", "value": "dev-1"}],
    )
    assert joined.pk == first.pk
    assert not CaseLink.objects.filter(from_case=first).exists()
    assert banned.links_in.count() == 0


def test_the_check_asks_one_query_and_none_without_new_cases(
    platform_account, senior, django_assert_num_queries, settings
):
    case = _suspect_case(platform_account, "acct-quiet", {"device": "dev-quiet"})
    touched = [IntakeCase(case.pk, case.subject_id, True, case.severity, False)]
    with django_assert_num_queries(1):
        evasion_check(actor=platform_account, cases=touched, now=timezone.now())
    joined = [IntakeCase(case.pk, case.subject_id, False, case.severity, False)]
    with django_assert_num_queries(0):
        evasion_check(actor=platform_account, cases=joined, now=timezone.now())
    settings.TSOPS_EVASION_KINDS = []
    with django_assert_num_queries(0):
        evasion_check(actor=platform_account, cases=touched, now=timezone.now())


def test_a_batch_flags_each_suspect_with_one_statement_per_write(platform_account, senior):
    from cases.intake import report_submit_batch

    _actioned(platform_account, senior, "acct-banned", {"device": "dev-ring"}, BAN)
    items = [
        {
            "source": "user_report",
            "external_id": f"batch-{i}",
            "reason": "scam_fraud",
            "subject": {"kind": "content", "external_id": f"post-b{i}", "owner_id": f"acct-b{i}"},
            "identifiers": [{"kind": "device", "value": "dev-ring" if i % 2 else f"dev-{i}"}],
        }
        for i in range(6)
    ]
    results = report_submit_batch(actor=platform_account, items=items)
    flagged = set(
        CaseLink.objects.filter(kind=CaseLink.Kind.EVASION_SUSPECT).values_list(
            "from_case_id", flat=True
        )
    )
    assert flagged == {results[i].case_id for i in (1, 3, 5)}
    assert all(EVASION_TAG in c.tags for c in Case.objects.filter(pk__in=flagged))


def test_the_link_shows_in_the_case_api_and_page(
    platform_account, senior, analyst, outsider, api_client_for, client
):
    banned = _actioned(platform_account, senior, "acct-banned", {"device": "dev-1"}, BAN)
    suspect = _suspect_case(platform_account, "acct-new", {"device": "dev-1"})
    body = api_client_for(analyst).get(reverse("api:case-detail", args=[suspect.pk])).json()
    assert body["tags"] == [EVASION_TAG] and body["severity"] == "P2"
    assert [(link["kind"], link["direction"], link["case_id"]) for link in body["links"]] == [
        ("evasion_suspect", "out", banned.pk)
    ]
    assert body["links"][0]["label"] == "Evasion suspect of"
    back = api_client_for(analyst).get(reverse("api:case-detail", args=[banned.pk])).json()
    assert [(link["direction"], link["case_id"]) for link in back["links"]] == [("in", suspect.pk)]
    client.force_login(analyst)
    page = client.get(reverse("cases:case-detail", args=[suspect.pk])).content.decode()
    assert "Evasion suspect of" in page and f"#{banned.pk}" in page
    # Someone with no role sees neither the case nor its links.
    refused = api_client_for(outsider).get(reverse("api:case-detail", args=[suspect.pk]))
    assert refused.status_code in (403, 404)


def test_a_restricted_actioned_case_is_not_revealed_by_the_link(
    platform_account, analyst, api_client_for, client
):
    team_senior = make_member("cs_lead", roles.SENIOR, ("child-safety",))
    hidden = _actioned(
        platform_account,
        team_senior,
        "acct-cs-banned",
        {"device": "dev-cs"},
        BAN,
        reason="child_safety",
        section=_section_for("child_safety"),
    )
    assert hidden.restricted
    suspect = _suspect_case(platform_account, "acct-cs-new", {"device": "dev-cs"})
    suspect.refresh_from_db()
    assert not suspect.restricted and EVASION_TAG in suspect.tags
    # The analyst sees the suspect's case but nothing of the restricted one behind the link.
    body = api_client_for(analyst).get(reverse("api:case-detail", args=[suspect.pk])).json()
    assert body["links"] == []
    client.force_login(analyst)
    page = client.get(reverse("cases:case-detail", args=[suspect.pk])).content.decode()
    assert reverse("cases:case-detail", args=[hidden.pk]) not in page
    assert "Evasion suspect of" not in page and "acct-cs-banned" not in page
    event = CaseEvent.objects.get(case=suspect, kind=EventKind.EVASION_SUSPECTED)
    assert event.data == {"identifier_kind": "device"}
    # The team's own lead sees the link.
    body = api_client_for(team_senior).get(reverse("api:case-detail", args=[suspect.pk])).json()
    assert [link["case_id"] for link in body["links"]] == [hidden.pk]


def _section_for(reason: str) -> str:
    from enforcement.selectors import policy_sections_for_reason

    return policy_sections_for_reason(reason)[0].code


def test_the_kpi_is_the_share_of_suspects_a_decision_confirmed(platform_account, senior):
    _actioned(platform_account, senior, "acct-banned", {"device": "dev-1"}, BAN)
    suspects = [
        _suspect_case(platform_account, f"acct-s{i}", {"device": "dev-1"}) for i in range(3)
    ]
    for case, outcome in zip(suspects[:2], ("violation", "no_violation"), strict=True):
        case.refresh_from_db()
        enforcement.decision_make(
            actor=senior,
            case_id=case.pk,
            version=case.version,
            outcome=outcome,
            policy_section="SPAM-1.1" if outcome == "violation" else "",
            rationale="Same device as the banned account; reviewed.",
            actions=[{"type": "remove_content"}] if outcome == "violation" else [],
        )
    today = timezone.localdate()
    figure = kpi_report(actor=senior, date_from=today, date_to=today)["kpis"]["evasion_confirmed"]

    # The same figure from the raw rows.
    flagged = set(
        CaseLink.objects.filter(
            kind=CaseLink.Kind.EVASION_SUSPECT, created_at__date=today
        ).values_list("from_case_id", flat=True)
    )
    confirmed = {
        case_id
        for case_id in flagged
        if (latest := Decision.objects.filter(case_id=case_id).order_by("-created_at").first())
        and latest.outcome == "violation"
    }
    assert figure["n"] == len(flagged) == 3
    assert figure["value"] == pytest.approx(100.0 * len(confirmed) / len(flagged), abs=1e-3)
    assert figure["value"] == pytest.approx(100 / 3, abs=0.01)
    assert [row["confirmed"] for row in figure["breakdown"]] == [1]
    # A day without suspects has no figure.
    earlier = today - timedelta(days=3)
    none = kpi_report(actor=senior, date_from=earlier, date_to=earlier)["kpis"]
    assert none["evasion_confirmed"]["value"] is None


def test_the_kpi_counts_a_restricted_suspect_only_for_its_team(platform_account, senior):
    team_senior = make_member("cs_lead", roles.SENIOR, ("child-safety",))
    _actioned(platform_account, senior, "acct-banned", {"device": "dev-9"}, BAN)
    hidden = make_case(
        platform_account,
        reason="child_safety",
        subject={"kind": "content", "external_id": "post-cs-1", "owner_id": "acct-cs-1"},
        identifiers=[{"kind": "device", "value": "dev-9"}],
    )
    assert hidden.restricted
    assert CaseLink.objects.filter(from_case=hidden, kind=CaseLink.Kind.EVASION_SUSPECT).exists()
    today = timezone.localdate()
    outside = kpi_report(actor=senior, date_from=today, date_to=today)["kpis"]
    inside = kpi_report(actor=team_senior, date_from=today, date_to=today)["kpis"]
    assert outside["evasion_confirmed"]["n"] == 0
    assert inside["evasion_confirmed"]["n"] == 1
