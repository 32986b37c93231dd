"""The appeal pages: the queue, one appeal beside its original case, the decision form, support's
filing and status pages, the seniors' overview, notifications on the home page, demo data."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from appeals import services
from appeals.models import Appeal
from cases import services as case_services
from cases.models import CaseEvent
from enforcement import services as enforcement
from enforcement.models import EnforcementAction
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import AccessLog, Notification

pytestmark = pytest.mark.django_db

RATIONALE = "INTERNAL-ONLY: link farm, 40 identical posts in an hour"
STATEMENT = "I run a bakery and that link is my own shop. <b>Please</b> look again."
REVIEW_RATIONALE = "The link is the user's own shop, posted once a day: not spam."
_posts = iter(range(1, 10_000))


@pytest.fixture
def login(client):
    def as_user(user):
        client.logout()
        client.force_login(user)
        return client

    return as_user


def enforce(platform_account, decider, actions=None, approver=None, owner="acct-baker"):
    """A spam decision by ``decider`` with one action (a 3-day suspension by default)."""
    case = make_case(
        platform_account,
        reason="spam",
        description="reported by reporter-jane",
        subject={
            "kind": "content",
            "external_id": f"post-v-{next(_posts)}",
            "owner_id": owner,
            "text": "Fresh bread daily at bakery.example",
        },
    )
    case_services.case_claim(actor=decider, case_id=case.pk)
    case_services.evidence_add(
        actor=decider, case_id=case.pk, kind="excerpt", excerpt="same link in 40 posts"
    )
    case.refresh_from_db()
    decision = enforcement.decision_make(
        actor=decider,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=RATIONALE,
        actions=actions or [{"type": "suspend", "duration_hours": 72}],
    )
    action = decision.actions.get()
    if approver is not None:
        enforcement.action_approve(actor=approver, action_id=action.pk)
        action.refresh_from_db()
    return action


def file(support_agent, action, key="ap-1") -> Appeal:
    appeal, _ = services.appeal_file(
        actor=support_agent,
        action_id=action.pk,
        statement=STATEMENT,
        appellant_id="user-77",
        external_id=key,
    )
    return appeal


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def detail_url(appeal) -> str:
    return reverse("appeals:appeal-detail", args=[appeal.pk])


def decide_data(appeal, **overrides) -> dict:
    appeal.refresh_from_db()
    data = {
        "outcome": "overturned",
        "rationale": REVIEW_RATIONALE,
        "response_to_user": "We reversed the suspension. Sorry.",
        "replacement_type": "",
        "replacement_duration": "",
        "replacement_unit": "days",
        "replacement_feature": "",
        "version": appeal.version,
    }
    data.update(overrides)
    return data


# --- The queue ------------------------------------------------------------------------------


def test_the_queue_lists_appeals_by_severity_and_marks_breached_ones(
    platform_account, analyst, analyst2, support_agent, login, django_assert_num_queries
):
    first = file(support_agent, enforce(platform_account, analyst), key="a")
    second = file(support_agent, enforce(platform_account, analyst), key="b")
    Appeal.objects.filter(pk=second.pk).update(severity=1)
    client = login(analyst2)

    # Twelve for the page, one for the header's count of open alerts.
    with django_assert_num_queries(13):
        response = client.get(reverse("appeals:appeal-list"))
    assert response.status_code == 200
    html = response.content.decode()
    ids = [int(i) for i in re.findall(r'data-appeal-id="(\d+)"', html)]
    assert ids == [second.pk, first.pk]
    assert 'id="next-case-form"' in html
    assert "breached" not in html
    # The same page with ten times the rows costs the same number of queries.
    for n in range(8):
        file(support_agent, enforce(platform_account, analyst), key=f"more-{n}")
    with django_assert_num_queries(13):
        client.get(reverse("appeals:appeal-list"))

    Appeal.objects.filter(pk=first.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    late = client.get(reverse("appeals:appeal-list")).content.decode()
    assert '<span class="badge bad">breached</span>' in late
    assert '<span class="badge bad" data-testid="appeals-breached">1 breached</span>' in late
    decided = client.get(reverse("appeals:appeal-list") + "?status=decided").content.decode()
    assert "No decided appeals yet." in decided


def test_only_reviewers_open_the_appeal_pages(
    platform_account, analyst, associate, support_agent, outsider, login
):
    appeal = file(support_agent, enforce(platform_account, analyst))
    for user in (associate, support_agent, outsider):
        client = login(user)
        assert client.get(reverse("appeals:appeal-list")).status_code == 403
        assert client.get(detail_url(appeal)).status_code == 403
    assert login(associate).get(reverse("appeals:appeal-file")).status_code == 403


# --- One appeal -----------------------------------------------------------------------------


def test_the_appeal_page_shows_the_statement_beside_the_original_case(
    platform_account, analyst, analyst2, support_agent, login
):
    action = enforce(platform_account, analyst)
    appeal = file(support_agent, action)
    response = login(analyst2).get(detail_url(appeal))

    assert response.status_code == 200
    html = response.content.decode()
    # The user's words, as text; the decision as it was made, with its rationale and section.
    assert "I run a bakery and that link is my own shop. &lt;b&gt;Please&lt;/b&gt;" in html
    assert RATIONALE in html
    assert "SPAM-1.1" in html and "Internal guidance" in html
    section = action.decision.policy_section
    assert section.internal_guidance.splitlines()[0][:40] in response.content.decode()
    # The case: the content as reported, the reports, the evidence, the account's record.
    assert "Fresh bread daily at bakery.example" in html
    assert "reported by reporter-jane" in html
    assert "same link in 40 posts" in html
    assert 'data-testid="history-row"' in html and "acct-baker" in html
    assert "noor_analyst" in html
    assert 'data-testid="conflict-notice"' not in html
    # Not claimed yet: the form waits for a claim.
    assert 'data-testid="appeal-decision-form"' not in html
    assert AccessLog.objects.filter(
        action=AccessLog.Action.VIEWED,
        actor_username="mateo_analyst",
        object_id=str(action.case_id),
    ).exists()


def test_a_conflicted_reviewer_sees_the_notice_and_is_refused(
    platform_account, associate, analyst, senior, support_agent, login
):
    action = enforce(
        platform_account,
        associate,
        actions=[{"type": "suspend", "duration_hours": 720}],
        approver=senior,
    )
    appeal = file(support_agent, action)
    client = login(senior)

    page = client.get(detail_url(appeal)).content.decode()
    assert "You decided or approved this action; another reviewer must decide this appeal" in page
    assert 'data-testid="appeal-decision-form"' not in page
    assert f'action="{reverse("appeals:appeal-claim", args=[appeal.pk])}"' not in page

    assert client.post(reverse("appeals:appeal-claim", args=[appeal.pk])).status_code == 403
    refused = client.post(reverse("appeals:appeal-decide", args=[appeal.pk]), decide_data(appeal))
    assert refused.status_code == 403
    appeal.refresh_from_db()
    assert appeal.status == "new" and appeal.decided_by is None
    # "Next" never hands it to them either.
    nothing = client.post(reverse("appeals:appeal-claim-next"))
    assert nothing.status_code == 302 and nothing.url == reverse("appeals:appeal-list")
    assert any("No appeal is waiting for you" in t for t in texts(nothing))
    assert Appeal.objects.get(pk=appeal.pk).status == "new"


def test_ban_appeals_tell_analysts_they_need_a_senior(
    platform_account, analyst, analyst2, senior, support_agent, login
):
    action = enforce(platform_account, analyst, actions=[{"type": "ban"}], approver=senior)
    appeal = file(support_agent, action)
    client = login(analyst2)
    page = client.get(detail_url(appeal)).content.decode()
    assert "needs a senior" in page
    assert 'data-testid="appeal-decision-form"' not in page
    assert client.post(reverse("appeals:appeal-claim", args=[appeal.pk])).status_code == 403


def test_overturning_through_the_form_reverses_the_action_and_tells_the_decider(
    platform_account, analyst, analyst2, support_agent, login
):
    action = enforce(platform_account, analyst)
    appeal = file(support_agent, action)
    client = login(analyst2)

    claimed = client.post(reverse("appeals:appeal-claim-next"))
    assert claimed.status_code == 302 and claimed.url == detail_url(appeal)
    page = client.get(detail_url(appeal)).content.decode()
    assert 'data-testid="appeal-decision-form"' in page

    response = client.post(reverse("appeals:appeal-decide", args=[appeal.pk]), decide_data(appeal))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert any("overturned" in t for t in texts(response))
    appeal.refresh_from_db()
    action.refresh_from_db()
    assert (appeal.status, appeal.decided_by) == ("overturned", analyst2)
    assert action.status == "reversed"
    assert CaseEvent.objects.filter(case=action.case, kind="APPEAL_DECIDED").exists()
    shown = client.get(detail_url(appeal)).content.decode()
    assert 'data-testid="appeal-outcome"' in shown and "We reversed the suspension" in shown

    # The original decider finds the feedback on their home page, and can mark it read.
    home = login(analyst).get(reverse("home")).content.decode()
    assert 'data-section="notifications"' in home
    assert f"Appeal overturned your decision on case #{action.case_id}" in home
    assert REVIEW_RATIONALE.replace("'", "&#x27;") in home
    note = Notification.objects.get(user=analyst)
    read = login(analyst).post(reverse("appeals:notification-read", args=[note.pk]))
    assert read.status_code == 302
    note.refresh_from_db()
    assert note.read_at is not None
    assert (
        'data-section="notifications"' not in login(analyst).get(reverse("home")).content.decode()
    )


def test_someone_elses_notification_cannot_be_marked_read(
    platform_account, analyst, analyst2, support_agent, login
):
    note = Notification.objects.create(user=analyst, kind="appeal_overturned", title="t")
    response = login(analyst2).post(reverse("appeals:notification-read", args=[note.pk]))
    assert response.status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_a_modified_outcome_needs_its_replacement_and_says_so_on_the_form(
    platform_account, analyst, analyst2, support_agent, login
):
    action = enforce(platform_account, analyst)
    appeal = file(support_agent, action)
    client = login(analyst2)
    services.appeal_claim(actor=analyst2, appeal_id=appeal.pk)
    url = reverse("appeals:appeal-decide", args=[appeal.pk])

    missing = client.post(url, decide_data(appeal, outcome="modified"))
    assert missing.status_code == 400
    assert "A modified outcome needs the lighter replacement." in missing.content.decode()
    bad = client.post(url, decide_data(appeal, outcome="modified", replacement_type="suspend"))
    assert bad.status_code == 400
    assert "suspend needs a duration" in bad.content.decode()
    empty = client.post(url, decide_data(appeal, rationale=""))
    assert empty.status_code == 400 and "This field is required" in empty.content.decode()
    assert Appeal.objects.get(pk=appeal.pk).status == "in_review"

    done = client.post(url, decide_data(appeal, outcome="modified", replacement_type="warn"))
    assert done.status_code == 302
    appeal.refresh_from_db()
    assert appeal.status == "modified" and appeal.replacement_action.action_type == "warn"
    assert "Warn the user" in client.get(detail_url(appeal)).content.decode()


def test_a_stale_form_or_someone_elses_claim_is_a_message_not_a_decision(
    platform_account, analyst, analyst2, analyst3_user, support_agent, login
):
    appeal = file(support_agent, enforce(platform_account, analyst))
    services.appeal_claim(actor=analyst2, appeal_id=appeal.pk)
    client = login(analyst3_user)
    page = client.get(detail_url(appeal)).content.decode()
    assert "mateo_analyst is reviewing this appeal" in page
    response = client.post(reverse("appeals:appeal-decide", args=[appeal.pk]), decide_data(appeal))
    assert response.status_code == 302
    assert any("Another reviewer holds this appeal" in t for t in texts(response))
    assert Appeal.objects.get(pk=appeal.pk).status == "in_review"


@pytest.fixture
def analyst3_user(db):
    return make_member("yuki_analyst", roles.ANALYST)


def test_specialists_see_only_their_teams_appeals_and_claim_them_from_the_page(
    platform_account, specialist, analyst2, support_agent, login
):
    colleague = make_member("ines_childsafety", None, ("child-safety",))
    case = make_case(
        platform_account,
        reason="child_safety",
        subject={"kind": "content", "external_id": "post-cs-1", "owner_id": "acct-cs"},
    )
    assert case.restricted
    case = case_services.case_claim(actor=specialist, case_id=case.pk)
    action = enforcement.decision_make(
        actor=specialist,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="CHILD-5.1",
        rationale=RATIONALE,
        actions=[{"type": "remove_content"}],
    ).actions.get()
    appeal = file(support_agent, action)
    assert appeal.restricted and appeal.team == "child-safety"

    # Nobody outside the team sees it, not even an analyst working the appeals queue.
    outside = login(analyst2)
    assert (
        f'data-appeal-id="{appeal.pk}"'
        not in outside.get(reverse("appeals:appeal-list")).content.decode()
    )
    assert outside.get(detail_url(appeal)).status_code == 404

    client = login(colleague)
    listing = client.get(reverse("appeals:appeal-list")).content.decode()
    assert f'data-appeal-id="{appeal.pk}"' in listing
    # The appeals queue is not theirs to take "next" from; they claim from the page.
    assert 'id="next-case-form"' not in listing
    assert client.post(reverse("appeals:appeal-claim", args=[appeal.pk])).status_code == 302
    assert 'data-testid="appeal-decision-form"' in client.get(detail_url(appeal)).content.decode()
    # The specialist who decided it may read it but not decide it.
    decider_page = login(specialist).get(detail_url(appeal)).content.decode()
    assert 'data-testid="conflict-notice"' in decider_page


def test_seniors_inspect_appeals_read_only_in_the_admin(
    platform_account, analyst, senior, support_agent, login
):
    appeal = file(support_agent, enforce(platform_account, analyst))
    client = login(senior)
    listing = client.get(reverse("admin:appeals_appeal_changelist"))
    assert listing.status_code == 200 and f"{appeal.pk}" in listing.content.decode()
    page = client.get(reverse("admin:appeals_appeal_change", args=[appeal.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert login(analyst).get(reverse("admin:appeals_appeal_changelist")).status_code in (302, 403)


# --- Support: filing and following an appeal ------------------------------------------------


def test_support_files_an_appeal_from_the_lookup_and_sees_its_status(
    platform_account, analyst, analyst2, support_agent, login
):
    action = enforce(platform_account, analyst)
    client = login(support_agent)
    lookup = client.get(reverse("enforcement:lookup") + "?q=acct-baker").content.decode()
    file_url = reverse("appeals:appeal-file") + f"?action={action.pk}"
    assert f'href="{file_url}"' in lookup

    page = client.get(file_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Suspend the account" in html and "SPAM-1.1" in html
    assert RATIONALE not in html and "same link in 40 posts" not in html
    external_id = re.search(r'name="external_id"[^>]*value="([^"]+)"', html)[1]
    assert external_id.startswith("support-")

    data = {
        "action_id": action.pk,
        "statement": STATEMENT,
        "appellant_id": "user-77",
        "external_id": external_id,
    }
    response = client.post(reverse("appeals:appeal-file"), data)
    assert response.status_code == 302
    appeal = Appeal.objects.get()
    assert response.url == reverse("appeals:appeal-status", args=[appeal.pk])
    assert (appeal.filed_by, appeal.external_id, appeal.statement) == (
        support_agent,
        external_id,
        STATEMENT,
    )
    # Submitting the same page twice files one appeal.
    again = client.post(reverse("appeals:appeal-file"), data)
    assert again.url == response.url and Appeal.objects.count() == 1

    status = client.get(response.url).content.decode()
    assert "Waiting for a reviewer" in status
    assert appeal.due_at.strftime("%Y-%m-%d %H:%M") in status
    services.appeal_decide(
        actor=analyst2,
        appeal_id=appeal.pk,
        outcome="upheld",
        rationale="INTERNAL: repeat spammer",
        response_to_user="The suspension stands.",
    )
    decided = client.get(response.url).content.decode()
    assert "Upheld" in decided and "The suspension stands." in decided
    assert "INTERNAL" not in decided and "mateo_analyst" not in decided
    assert "I run a bakery" not in decided


def test_the_filing_page_explains_why_an_action_cannot_be_appealed(
    platform_account, analyst, senior, support_agent, login
):
    client = login(support_agent)
    open_one = enforce(platform_account, analyst)
    file(support_agent, open_one)
    duplicate = client.get(reverse("appeals:appeal-file") + f"?action={open_one.pk}")
    assert "already has an open appeal" in duplicate.content.decode()
    assert 'data-testid="appeal-file-form"' not in duplicate.content.decode()

    reversed_one = enforce(platform_account, analyst)
    enforcement.action_reverse(actor=senior, action_id=reversed_one.pk, reason="mistake")
    page = client.get(reverse("appeals:appeal-file") + f"?action={reversed_one.pk}")
    assert "A reversed action cannot be appealed." in page.content.decode()
    posted = client.post(
        reverse("appeals:appeal-file"),
        {"action_id": reversed_one.pk, "statement": "please", "external_id": "x-1"},
    )
    assert posted.status_code == 400
    assert "A reversed action cannot be appealed." in posted.content.decode()

    old = enforce(platform_account, analyst, actions=[{"type": "remove_content"}])
    with time_machine.travel(timezone.now() + timedelta(days=200)):
        client = login(support_agent)
        late = client.get(reverse("appeals:appeal-file") + f"?action={old.pk}")
    assert "The appeal window of 182 days has passed." in late.content.decode()

    unknown = client.get(reverse("appeals:appeal-file") + "?action=999999")
    assert unknown.status_code == 404 and "No such action" in unknown.content.decode()

    fresh = enforce(platform_account, analyst)
    blank = client.post(
        reverse("appeals:appeal-file"), {"action_id": fresh.pk, "statement": " ", "external_id": ""}
    )
    assert blank.status_code == 400
    assert blank.content.decode().count("This field is required") == 2
    assert Appeal.objects.count() == 1


def test_an_analyst_lookup_has_no_file_link_and_seniors_cannot_file(
    platform_account, analyst, senior, login
):
    enforce(platform_account, analyst)
    lookup = login(senior).get(reverse("enforcement:lookup") + "?q=acct-baker").content.decode()
    assert "File an appeal" not in lookup
    assert login(senior).get(reverse("appeals:appeal-file")).status_code == 403


# --- Seniors: the overview ------------------------------------------------------------------


def test_the_overview_is_for_seniors_and_shows_the_overturn_figures(
    platform_account, analyst, analyst2, senior, support_agent, login
):
    for n, outcome in enumerate(["overturned", "upheld", "upheld", "upheld"]):
        appeal = file(support_agent, enforce(platform_account, analyst), key=f"o-{n}")
        services.appeal_decide(
            actor=analyst2,
            appeal_id=appeal.pk,
            outcome=outcome,
            rationale="r",
            response_to_user="u",
        )
    assert login(analyst2).get(reverse("appeals:overview")).status_code == 403
    assert login(support_agent).get(reverse("appeals:overview")).status_code == 403

    response = login(senior).get(reverse("appeals:overview"))
    assert response.status_code == 200
    html = response.content.decode()
    rate = re.search(r'data-testid="overturn-rate">([^<]+)<', html)[1]
    assert rate == "25%"
    assert "1 of 4 decided" in html
    for testid in ("by-section", "by-queue", "by-decider", "by-automation"):
        assert f'data-testid="{testid}-row"' in html
    assert "SPAM-1.1" in html and "noor_analyst" in html and "Human" in html


# --- Demo data ------------------------------------------------------------------------------


def test_the_seed_step_makes_appeals_in_every_state():
    out = io.StringIO()
    call_command("seed_demo", "--scale", "0.04", stdout=out)
    assert "appeals:" in out.getvalue()
    states = set(Appeal.objects.values_list("status", flat=True))
    assert states == {"new", "in_review", "upheld", "overturned", "modified"}
    # Never decided by anyone who took part in the action.
    for appeal in Appeal.objects.filter(decided_by__isnull=False).select_related(
        "action__decision"
    ):
        action = appeal.action
        assert appeal.decided_by_id not in {
            action.decision.decided_by_id,
            action.proposed_by_id,
            action.approved_by_id,
        }
        assert appeal.decided_at > appeal.filed_at
    overturned = Appeal.objects.filter(status="overturned").first()
    assert overturned.action.status == EnforcementAction.Status.REVERSED
