"""The enforcement pages: the case page's decision panel, approvals, the support lookup and
bulk decisions from a queue page — what each actor sees, what each form does, what is logged."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import services as case_services
from cases.models import Case, CaseEvent
from enforcement import services
from enforcement.models import Decision, EnforcementAction, Strike
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

RATIONALE = "INTERNAL-ONLY: same shortened link posted 40 times in an hour."


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


@pytest.fixture
def senior2(db):
    return make_member("linus_senior", roles.SENIOR)


def claimed(platform_account, user, **payload) -> Case:
    """A spam case (a queue associates work too), claimed by ``user``."""
    payload.setdefault("reason", "spam")
    case = make_case(platform_account, **payload)
    return case_services.case_claim(actor=user, case_id=case.pk)


def case_url(case: Case) -> str:
    return reverse("cases:case-detail", args=[case.pk])


def decide_url(case: Case) -> str:
    return reverse("enforcement:case-decide", args=[case.pk])


def form_data(case: Case, **overrides) -> dict:
    data = {
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "rationale": RATIONALE,
        "statement_of_reasons": "",
        "statement_draft": "",
        "version": case.version,
        "action_0_type": "remove_content",
        "action_0_duration": "",
        "action_0_unit": "days",
        "action_0_feature": "",
    }
    data.update(overrides)
    return data


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def propose(platform_account, associate, **payload):
    """An associate's 30-day suspension: above their ceiling, so it waits for a senior."""
    case = claimed(platform_account, associate, **payload)
    decision = services.decision_make(
        actor=associate,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=RATIONALE,
        actions=[{"type": "suspend", "duration_hours": 30 * 24}],
    )
    return decision.actions.get()


# --- The case page ---------------------------------------------------------------------------


def test_the_case_page_shows_guidance_the_decision_form_and_the_ladder(
    platform_account, analyst, login
):
    case = claimed(platform_account, analyst, subject__owner_id="acct-ladder")
    response = login(analyst).get(case_url(case))

    assert response.status_code == 200
    html = response.content.decode()
    guidance = response.context["enforcement"]["guidance"]
    # The section made for spam alone first, then those covering spam among other reasons.
    assert [s.code for s in guidance] == ["SPAM-1.1", "GEN-10.1", "SPAM-1.2"]
    assert "Look for volume, identical text across accounts" in html
    assert 'data-testid="decision-form"' in html
    assert f'name="version" value="{case.version}"' in html
    # Relevant sections come first in the select, the rest after them.
    options = re.findall(r'<option value="([A-Z]+-[\d.]+)"', html)
    assert options[:3] == ["SPAM-1.1", "GEN-10.1", "SPAM-1.2"] and len(options) > 3
    # Prefilled with a draft from the first relevant section.
    assert "We reviewed your content under our policy SPAM-1.1" in html
    # The ladder's recommendation for a first offence, next to the (empty) strike history.
    assert 'data-testid="recommendation"' in html and "Warn the user" in html
    assert 'data-testid="account-strikes">0<' in html
    # The first action row is pre-filled with the ladder's recommendation (one key accepts it).
    form = response.context["enforcement"]["form"]
    assert form["action_0_type"].value() == "warn"


def test_the_decision_form_is_not_offered_to_an_analyst_without_the_claim(
    platform_account, analyst, analyst2, login
):
    case = claimed(platform_account, analyst)
    html = login(analyst2).get(case_url(case)).content.decode()
    assert 'data-testid="decision-form"' not in html
    assert "Claim this case to decide it" in html


def test_a_decision_from_the_case_page_resolves_the_case_and_says_so(
    platform_account, analyst, login
):
    case = claimed(platform_account, analyst)
    client = login(analyst)
    response = client.post(
        decide_url(case),
        form_data(
            case,
            action_1_type="suspend",
            action_1_duration="3",
            action_1_unit="days",
        ),
    )

    # Decide & next: the queue has nothing more, so the queue's page says so.
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:queue-detail", args=[case.queue.slug])
    decision = Decision.objects.get(case=case)
    assert decision.rationale == RATIONALE and decision.policy_section.code == "SPAM-1.1"
    suspend = decision.actions.get(action_type="suspend")
    assert suspend.status == "active" and suspend.duration_hours == 72
    case.refresh_from_db()
    assert case.status == "resolved"
    message, empty = texts(response)
    assert "Decision made" in message and "Suspend the account for 3 days" in message
    assert "resolved" in message
    assert "is empty: there is no case waiting for you" in empty

    page = client.get(case_url(case)).content.decode()
    assert "Decision made" in page and "Action applied" in page
    assert 'data-testid="decision-form"' not in page  # a resolved case is not decided again


def test_a_statement_left_as_drafted_is_redrafted_from_the_submitted_actions(
    platform_account, analyst, login
):
    case = claimed(platform_account, analyst)
    draft = services.draft_statement(services.current_section("SPAM-1.1"), [])
    login(analyst).post(
        decide_url(case),
        form_data(
            case,
            statement_of_reasons=draft,
            statement_draft=draft,
            action_0_type="suspend",
            action_0_duration="48",
            action_0_unit="hours",
        ),
    )
    statement = Decision.objects.get(case=case).statement_of_reasons
    assert "Action: Suspend the account for 2 day(s)." in statement


def test_an_edited_statement_is_kept_as_written(platform_account, analyst, login):
    case = claimed(platform_account, analyst)
    login(analyst).post(
        decide_url(case),
        form_data(case, statement_of_reasons="Your post was spam.", statement_draft="draft"),
    )
    assert Decision.objects.get(case=case).statement_of_reasons == "Your post was spam."


@pytest.mark.parametrize(
    ("overrides", "testid", "text"),
    [
        ({"rationale": "   "}, None, "This field is required."),
        ({"action_0_type": "suspend"}, "action-1-errors", "suspend needs a duration"),
        (
            {"action_0_type": "", "action_2_type": "suspend", "action_2_duration": "0"},
            "action-3-errors",
            "greater than or equal to 1",
        ),
        (
            {"action_0_type": "", "action_2_type": "restrict_feature", "action_2_duration": "2"},
            "action-3-errors",
            "Which feature to restrict",
        ),
        ({"action_0_type": "suspend", "action_0_duration": "400"}, "action-1-errors", "At most"),
        ({"action_0_type": ""}, "actions-errors", "A violation needs at least one action."),
        ({"policy_section": ""}, None, "A violation needs the policy section it breaks."),
        ({"outcome": "no_violation", "policy_section": ""}, "actions-errors", "Only a violation"),
    ],
)
def test_an_invalid_decision_is_400_with_the_error_on_its_field(
    platform_account, analyst, login, overrides, testid, text
):
    case = claimed(platform_account, analyst)
    response = login(analyst).post(decide_url(case), form_data(case, **overrides))

    assert response.status_code == 400
    html = response.content.decode()
    if testid:
        block = re.search(rf'data-testid="{testid}">(.*?)</(ul|div)>', html, re.S)
        assert block and text in block.group(1)
    else:
        assert text in html
    # What was typed is still there, and nothing was decided.
    assert "same shortened link" in html or overrides.get("rationale")
    assert not Decision.objects.filter(case=case).exists()
    case.refresh_from_db()
    assert case.status == "in_review"


def test_a_stale_version_is_refused_with_a_changed_meanwhile_message(
    platform_account, analyst, senior, login
):
    case = claimed(platform_account, analyst)
    stale = case.version
    # A senior retags the case while the analyst is writing.
    case_services.case_update(actor=senior, case_id=case.pk, version=stale, tags=["wave-9"])
    response = login(analyst).post(decide_url(case), form_data(case, version=stale))

    assert response.status_code == 409
    html = response.content.decode()
    assert "changed by grace_senior meanwhile" in html
    assert "same shortened link" in html  # what the analyst wrote is kept
    case.refresh_from_db()
    assert f'name="version" value="{case.version}"' in html
    assert not Decision.objects.filter(case=case).exists()


def test_only_the_claimant_or_a_senior_may_decide(
    platform_account, analyst, analyst2, senior, support_agent, outsider, login
):
    case = claimed(platform_account, analyst)
    assert login(analyst2).post(decide_url(case), form_data(case)).status_code == 403
    assert login(support_agent).post(decide_url(case), form_data(case)).status_code == 404
    assert login(outsider).post(decide_url(case), form_data(case)).status_code == 403
    assert not Decision.objects.exists()
    # A senior may decide a case someone else holds.
    assert login(senior).post(decide_url(case), form_data(case)).status_code == 302
    assert Decision.objects.get(case=case).decided_by == senior


def test_the_draft_endpoint_drafts_from_the_section_and_the_actions(
    platform_account, analyst, support_agent, login
):
    case = claimed(platform_account, analyst)
    url = reverse("enforcement:case-draft-statement", args=[case.pk])
    query = {
        "outcome": "violation",
        "policy_section": "SPAM-1.2",
        "action_0_type": "suspend",
        "action_0_duration": "3",
        "action_0_unit": "days",
        "action_1_type": "suspend",  # incomplete: left out of the draft
    }
    response = login(analyst).get(url, query, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="statement-field"' in html
    assert "our policy SPAM-1.2" in html and "Suspend the account for 3 day(s)." in html
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", html, re.S).group(1)
    assert textarea.count("Action: ") == 1
    assert login(support_agent).get(url, query).status_code == 404


# --- Four-eyes approval ----------------------------------------------------------------------


def test_an_associates_30_day_suspension_waits_and_shows_on_the_approvals_page(
    platform_account, associate, senior, login
):
    case = claimed(platform_account, associate, subject__owner_id="acct-wave")
    response = login(associate).post(
        decide_url(case),
        form_data(case, action_0_type="suspend", action_0_duration="30", action_0_unit="days"),
    )

    assert response.status_code == 302
    message = texts(response)[0]
    assert "waiting for a senior's approval" in message
    action = EnforcementAction.objects.get(case=case)
    assert action.status == "pending_approval"
    case.refresh_from_db()
    assert case.status == "pending_approval"

    page = login(senior).get(reverse("enforcement:approval-list"))
    assert page.status_code == 200
    html = page.content.decode()
    row = re.search(rf'data-testid="approval-{action.pk}"(.*?)</li>', html, re.S).group(1)
    assert case_url(case) in row and "ada_associate" in row
    assert "Suspend the account for 30 days" in row and "SPAM-1.1" in row
    assert "same shortened link" in row
    assert reverse("enforcement:action-approve", args=[action.pk]) in row
    assert "you proposed this" not in row


def test_the_proposer_is_refused_and_another_senior_approves(
    platform_account, associate, senior, login
):
    action = propose(platform_account, associate)
    approve = reverse("enforcement:action-approve", args=[action.pk])
    assert login(associate).post(approve).status_code == 403
    # Promoted meanwhile, the proposer sees their own action but may not review it.
    promoted = make_member("ada_associate", roles.SENIOR)
    page = login(promoted).get(reverse("enforcement:approval-list")).content.decode()
    row = re.search(rf'data-testid="approval-{action.pk}"(.*?)</li>', page, re.S).group(1)
    assert "you proposed this" in row and "disabled" in row and approve not in row
    assert login(promoted).post(approve).status_code == 403
    action.refresh_from_db()
    assert action.status == "pending_approval"

    response = login(senior).post(approve, {"next": "approvals"})

    assert response.status_code == 302
    assert response["Location"] == reverse("enforcement:approval-list")
    action.refresh_from_db()
    assert action.status == "active" and action.approved_by == senior
    assert action.case.status == "resolved"
    assert CaseEvent.objects.filter(case=action.case, kind="ACTION_APPROVED").exists()
    assert "Case #" in texts(response)[0] and "resolved" in texts(response)[0]


def test_a_rejection_needs_a_reason_and_returns_the_case_to_its_queue(
    platform_account, associate, senior, analyst, login
):
    action = propose(platform_account, associate)
    reject = reverse("enforcement:action-reject", args=[action.pk])
    assert login(analyst).post(reject, {"reason": "no"}).status_code == 403
    client = login(senior)
    response = client.post(reject, {"reason": "  ", "next": "case"})
    assert "reason is required" in texts(response)[0]
    action.refresh_from_db()
    assert action.status == "pending_approval"

    response = client.post(reject, {"reason": "First offence: a warning is enough", "next": "case"})

    assert response.status_code == 302
    action.refresh_from_db()
    assert action.status == "rejected"
    case = Case.objects.get(pk=action.case_id)
    assert case.status == "new"
    event = CaseEvent.objects.get(case=case, kind="ACTION_REJECTED")
    assert event.data["reason"] == "First offence: a warning is enough"
    assert CaseEvent.objects.filter(case=case, kind="CASE_RETURNED").exists()
    assert "back in its queue" in texts(response)[-1]
    page = client.get(case_url(case)).content.decode()
    assert "reason: First offence: a warning is enough" in page
    assert not Strike.objects.filter(voided_at__isnull=True).exists()


def test_a_senior_reverses_an_action_with_a_reason_from_the_case_page(
    platform_account, analyst, senior, login
):
    case = claimed(platform_account, analyst)
    login(analyst).post(decide_url(case), form_data(case))
    action = EnforcementAction.objects.get(case=case)
    reverse_url = reverse("enforcement:action-reverse", args=[action.pk])
    assert login(analyst).post(reverse_url, {"reason": "mine"}).status_code == 403
    page = login(senior).get(case_url(case)).content.decode()
    assert reverse_url in page

    response = login(senior).post(reverse_url, {"reason": "Misread the link", "next": "case"})

    assert response.status_code == 302
    action.refresh_from_db()
    assert action.status == "reversed" and action.reversal_reason == "Misread the link"
    assert CaseEvent.objects.filter(case=case, kind="ACTION_REVERSED").exists()


def test_the_approvals_page_costs_the_same_queries_for_one_and_four_actions(
    platform_account, associate, senior, login
):
    client = login(senior)
    propose(platform_account, associate)
    client.get(reverse("enforcement:approval-list"))  # warm-up: per-process caches
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("enforcement:approval-list"))
    for _ in range(3):
        propose(platform_account, associate)
    with CaptureQueriesContext(connection) as four:
        response = client.get(reverse("enforcement:approval-list"))
    assert response.content.decode().count("data-action-id=") == 4
    assert len(four) == len(one)


# --- Support lookup ---------------------------------------------------------------------------


@pytest.fixture
def enforced(platform_account, analyst):
    case = make_case(
        platform_account,
        reason="spam",
        reporter_id="reporter-jane-77",
        description="reporter says: my name is Jane Reporter",
        subject={
            "kind": "content",
            "external_id": "post-l",
            "owner_id": "acct-l",
            "text": "buy cheap followers",
        },
        identifiers=[{"kind": "email", "value": "owner@example.com"}],
    )
    case_services.case_claim(actor=analyst, case_id=case.pk)
    case_services.note_add(actor=analyst, case_id=case.pk, body="NOTE-SECRET ring of 12")
    case.refresh_from_db()
    services.decision_make(
        actor=analyst,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.2",
        rationale=RATIONALE,
        statement_of_reasons="We removed your post and suspended your account for 7 days.",
        actions=[{"type": "remove_content"}, {"type": "suspend", "duration_hours": 168}],
    )
    return case


def test_the_lookup_page_shows_public_facts_only_and_is_logged(support_agent, enforced, login):
    client = login(support_agent)
    response = client.get(reverse("enforcement:lookup"), {"q": "acct-l"})

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="lookup-row"') == 2
    assert "Suspend the account" in html and "Remove content" in html
    assert "SPAM-1.2" in html
    assert "We don&#x27;t allow buying, selling or coordinating fake followers" in html
    assert "suspended your account for 7 days" in html
    assert "can be appealed until" in html
    from cases.models import Identifier

    identifier = Identifier.objects.get(account__external_id="acct-l")
    main = html.split('<main id="main">', 1)[1]
    for secret in (
        "INTERNAL-ONLY",
        "same shortened link",
        "NOTE-SECRET",
        "Jane Reporter",
        "reporter-jane-77",
        "owner@example.com",
        identifier.masked,
        identifier.value_hash,
        "noor_analyst",
        "buy cheap followers",
        "Look for volume",  # internal guidance
        f"/cases/{enforced.pk}/",
    ):
        assert secret not in main, secret
    entry = AccessLog.objects.get(action=AccessLog.Action.LOOKED_UP)
    assert (entry.actor_username, entry.object_id) == ("sam_support", "account:acct-l")


def test_the_lookup_page_takes_a_kind_and_an_id_and_says_so_for_unknown_ones(
    support_agent, senior, enforced, login
):
    client = login(support_agent)
    response = client.get(
        reverse("enforcement:lookup"), {"kind": "content", "external_id": "post-l"}
    )
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="lookup-row"') == 1
    # A bare id that is not an account is tried as the other kinds.
    assert client.get(reverse("enforcement:lookup"), {"q": "post-l"}).status_code == 200
    assert AccessLog.objects.filter(object_id="content:post-l").count() == 2

    missing = client.get(reverse("enforcement:lookup"), {"q": "acct-nobody"})
    assert missing.status_code == 200
    assert "No enforcement on record for" in missing.content.decode()
    assert not AccessLog.objects.filter(object_id__contains="nobody").exists()
    # Seniors may look up too.
    assert login(senior).get(reverse("enforcement:lookup"), {"q": "acct-l"}).status_code == 200


def test_the_support_home_form_points_at_the_lookup_page(support_agent, login):
    html = login(support_agent).get(reverse("home")).content.decode()
    assert f'action="{reverse("enforcement:lookup")}"' in html


def test_support_sees_no_approvals_and_no_case_pages(
    support_agent, enforced, platform_account, associate, login
):
    action = propose(platform_account, associate)
    client = login(support_agent)
    assert client.get(reverse("enforcement:approval-list")).status_code == 403
    assert client.get(case_url(enforced)).status_code == 404
    assert client.get(case_url(action.case)).status_code == 404
    approve = reverse("enforcement:action-approve", args=[action.pk])
    assert client.post(approve).status_code == 404
    action.refresh_from_db()
    assert action.status == "pending_approval"


def test_analysts_and_outsiders_cannot_open_the_lookup_page(analyst, outsider, login):
    assert login(analyst).get(reverse("enforcement:lookup"), {"q": "acct-l"}).status_code == 403
    assert login(outsider).get(reverse("enforcement:lookup")).status_code == 403
    assert not AccessLog.objects.filter(action=AccessLog.Action.LOOKED_UP).exists()


# --- Bulk decisions from a queue page ---------------------------------------------------------


def bulk_data(cases, **overrides) -> dict:
    data = {
        "cases": [c.pk for c in cases],
        "back": "status=new",
        "operation": "move",  # the bulk form's own field, submitted alongside
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "rationale": "Spam wave 12: same link, same minute.",
        "action_type": "remove_content",
    }
    data.update(overrides)
    return data


def test_the_queue_page_offers_bulk_decisions_to_analysts_only(
    platform_account, analyst, associate, login
):
    make_case(platform_account, reason="spam")
    url = reverse("cases:queue-detail", args=["spam"])
    decide = reverse("enforcement:queue-decide", args=["spam"])
    assert decide in login(analyst).get(url).content.decode()
    assert decide not in login(associate).get(url).content.decode()


def test_bulk_decide_gives_each_selected_case_its_own_decision(
    platform_account, analyst, associate, login
):
    wave = [make_case(platform_account, reason="spam") for _ in range(3)]
    untouched = make_case(platform_account, reason="spam")
    url = reverse("enforcement:queue-decide", args=["spam"])
    assert login(associate).post(url, bulk_data(wave)).status_code == 403
    assert not Decision.objects.exists()

    response = login(analyst).post(url, bulk_data(wave))

    assert response.status_code == 302
    assert response["Location"] == reverse("cases:queue-detail", args=["spam"]) + "?status=new"
    assert "Decided 3 case(s) under SPAM-1.1: 3 resolved" in texts(response)[0]
    for case in wave:
        case.refresh_from_db()
        assert case.status == "resolved"
        decision = Decision.objects.get(case=case)
        assert decision.actions.get().action_type == "remove_content"
        assert CaseEvent.objects.filter(case=case, kind="DECISION_MADE").count() == 1
    untouched.refresh_from_db()
    assert untouched.status == "new"


def test_bulk_decide_without_a_rationale_decides_nothing(platform_account, analyst, login):
    wave = [make_case(platform_account, reason="spam") for _ in range(2)]
    url = reverse("enforcement:queue-decide", args=["spam"])
    response = login(analyst).post(url, bulk_data(wave, rationale=""))
    assert response.status_code == 302
    assert "Nothing decided" in texts(response)[0] and "Rationale" in texts(response)[0]
    response = login(analyst).post(url, bulk_data(wave, action_type="suspend"))
    assert "needs a duration" in texts(response)[-1]
    assert not Decision.objects.exists()
    assert set(Case.objects.values_list("status", flat=True)) == {"new"}


def test_the_lookup_page_shows_an_open_appeal_and_closes_eligibility(
    support_agent, enforced, login
):
    from appeals.services import appeal_file

    suspend = EnforcementAction.objects.get(case=enforced, action_type="suspend")
    appeal_file(
        actor=support_agent,
        action_id=suspend.pk,
        statement="APPELLANT-TEXT: I was hacked",
        external_id="appeal-1",
    )
    html = login(support_agent).get(reverse("enforcement:lookup"), {"q": "acct-l"}).content
    rows = re.findall(r'data-testid="appeal">(.*?)</dd>', html.decode(), re.S)
    assert len(rows) == 2
    assert any("Appeal new" in row and "not open to appeal" in row for row in rows)
    assert any("No appeal filed" in row and "can be appealed until" in row for row in rows)
