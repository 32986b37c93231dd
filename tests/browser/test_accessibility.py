"""Accessibility: axe-core over every page each role can reach, in headless Chromium.

The world is a small, realistic operation made through the services: open cases of every
severity in several queues, decided cases, an action waiting for a senior's approval, an
appeal, an escalation that restricts its case to the child-safety team, a QA sample with a
scored, disputed review, an open calibration session and the metrics rolled up.

Each role signs in once (one browser context; a subtest per role, in a fixed order, all on
the one world) and opens the pages of its navigation (read from the page, so a new navigation
entry is checked without touching this file) and the pages listed below: detail pages, forms,
forms sent back with their errors, lookups and searches with and without a result, the 403
and 404 pages; then the signed-out pages. Every page is checked with axe-core (see
tests/browser/axe.py); a role fails on any serious or critical violation, the message naming
the page, the rule and the first elements that break it (their selectors and HTML). Each
page's screenshot is under test-artifacts/browser/accessibility/<role>/.

``test_every_console_page_is_checked`` holds the URL conf to this list: a new page route must
be added to a role's pages here (or to NOT_PAGES, saying why it is no page of its own).
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from PIL import Image

from appeals import services as appeal_services
from cases import media
from cases import services as case_services
from cases.intake import report_submit
from cases.models import Case, Report
from enforcement import responses
from enforcement import services as enforcement
from enforcement.models import EnforcementAction, ResponseTemplate
from escalations import services as escalation_services
from investigations.services import files as investigation_files
from investigations.services.clusters import cluster_create
from metrics import rollups
from qa import services as qa_services
from qa.models import QAReview, Rubric, SamplingPlan
from qa.services import calibration
from tests.browser.axe import IMPACTS, Violation, failing, install_axe, report, violations
from tests.browser.conftest import ARTIFACTS, PASSWORD, VIEWPORT, _safe, _shots
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles

pytestmark = pytest.mark.browser

# --- The world -------------------------------------------------------------------------------

REPORTS = [
    # (reason, subject text): one open case per reason, so every severity shows in the queues.
    ("violent_threat", "I know where you live and I'm coming tonight"),
    ("self_harm", "I can't do this anymore, tonight is the night"),
    ("harassment", "Nobody wants you here, log off forever"),
    ("hate", "Those people should be driven out of the city"),
    ("doxxing", "Here is his home address and his kids' school"),
    ("scam_fraud", "Send the deposit by gift card and I will ship the phone"),
    ("impersonation", "Official support account — DM us your password"),
    ("spam", "Earn $500/day from home, click the link now"),
    ("spam", "Follow for follow, free crypto giveaway"),
    ("misinformation", "Polling stations are closed tomorrow, vote by text"),
]
ALL_PASS = {
    "correct_outcome": True,
    "correct_policy_section": True,
    "proportionate_action": True,
    "evidence_complete": True,
    "rationale_clear": True,
}


def _intake(platform, n: int, reason: str, text: str, owner: str = "") -> Case:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"a11y-{n}",
            "reason": reason,
            "description": f"Reported for {reason.replace('_', ' ')}",
            "reporter_id": f"reporter-{n}",
            "subject": {
                "kind": "content",
                "external_id": f"post-a11y-{n}",
                "owner_id": owner or f"acct-a11y-{n}",
                "text": text,
                "url": f"https://platform.example/p/{n}",
            },
            "identifiers": [{"kind": "email", "value": f"owner{n}@mail.example"}],
        },
    )
    assert result.errors is None, result.errors
    return Case.objects.get(pk=result.case_id)


def _decide(actor, case: Case, action: dict, section: str = "SPAM-1.1"):
    case = case_services.case_claim(actor=actor, case_id=case.pk)
    return enforcement.decision_make(
        actor=actor,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section=section,
        rationale="The same link posted forty times within an hour.",
        statement_of_reasons="Your post broke the spam rules: repeated promotional links.",
        actions=[action],
    )


@pytest.fixture
def world(live_server) -> dict:
    m = {
        "platform": make_member("platform_svc", roles.PLATFORM),
        "associate": make_member("ada_associate", roles.ASSOCIATE),
        "decider": make_member("noor_analyst", roles.ANALYST),
        "reviewer": make_member("mateo_analyst", roles.ANALYST),
        "senior": make_member("grace_senior", roles.SENIOR),
        "support": make_member("sam_support", roles.SUPPORT),
        "specialist": make_member("chen_childsafety", None, ("child-safety",)),
    }
    w = _seed_cases(m)
    w |= _seed_appeal_and_escalations(m, w)
    w |= _seed_qa(m)
    w |= _seed_calibration(m, w)
    _seed_media(m, w["open"])
    # A cluster built by hand from decided cases' accounts (the cluster pages).
    w["cluster"] = cluster_create(
        actor=m["senior"],
        name="Designer bags ring",
        members=[c.subject.owner.external_id for c in (w["decided"], *w["calibrated"])],
    )
    # A ban wave on it, waiting for a senior's approval (the wave pages).
    from investigations.services import waves

    w["wave"] = waves.wave_submit(
        actor=m["decider"],
        cluster_id=w["cluster"].pk,
        policy_section="SPAM-1.2",
        rationale="The same bags listing from every account of the ring.",
        account_action="ban",
    )
    # A user-message template for the spam section, kept by the leads.
    w["template"] = responses.response_template_create(
        actor=m["senior"],
        section_code="SPAM-1.1",
        kind=ResponseTemplate.Kind.MESSAGE,
        title="Repeated promotional links",
        body="We removed your post under {section_title}: {action}.",
    )
    # An investigation file on the ring: the senior owns it, the analysts read it.
    w["investigation"] = investigation_files.investigation_create(
        actor=m["senior"],
        title="Designer bags ring",
        hypothesis="One seller behind the bag listings.",
        links=investigation_files.Links(
            accounts=[w["decided"].subject.owner.external_id], clusters=[w["cluster"].pk]
        ),
        members=["noor_analyst", "mateo_analyst"],
    )
    investigation_files.investigation_note_add(
        actor=m["senior"], investigation_id=w["investigation"].pk, body="Same photos reused."
    )
    w |= _seed_rules(m)
    # A detector's flag (the detector pages).
    make_case(m["platform"], source="automated_flag", detector="spamnet", score=0.91)
    # An open report-volume alert, for the alerts pages.
    from detection.models import Alert
    from detection.services.alerts import alert_raise

    w["alert"], _ = alert_raise(
        kind=Alert.Kind.VOLUME,
        key="volume:spam:content:user_report",
        title="Unusual volume of Spam reports on content items (User report)",
        detail={"observed": 31, "expected": 2.25, "baseline": [2, 3, 2, 1], "p_value": 1e-20},
    )
    rollups.rebuild_range(timezone.localdate() - timedelta(days=7), timezone.localdate())
    return w


def _seed_rules(m: dict) -> dict:
    """A live tag rule on spam with a newer version that removes content, in shadow, and a
    finished backtest of that version against the live one (the rule and backtest pages)."""
    from detection.backtest import backtest_run
    from detection.services import rules as rule_services
    from detection.services.backtests import backtest_request

    senior = m["senior"]
    rule = rule_services.rule_create(
        actor=senior,
        name="Spam gets a look",
        expression='report.reason == "spam"',
        effects=[{"type": "tag", "tag": "spam-look"}],
        note="Tag every spam report for the morning sweep.",
    )
    rule_services.rule_activate(actor=senior, rule_id=rule.pk, version=1)
    rule_services.rule_version_add(
        actor=senior,
        rule_id=rule.pk,
        expression='report.reason == "spam" && subject.kind == "content"',
        effects=[{"type": "action", "action": "remove_content", "delay_hours": 2}],
        note="Only posts, and remove them after two hours.",
    )
    rule_services.rule_shadow(actor=senior, rule_id=rule.pk, version=2)
    now = timezone.now()
    backtest = backtest_request(
        actor=senior,
        rule_id=rule.pk,
        version=2,
        period_from=now - timedelta(days=7),
        period_to=now,
    )
    backtest_run(backtest.pk)
    return {"rule": rule, "backtest": backtest}


def _seed_cases(m: dict) -> dict:
    """Open cases of every severity, decided ones, one waiting for approval, one in review."""
    platform, associate, decider, reviewer = (
        m["platform"],
        m["associate"],
        m["decider"],
        m["reviewer"],
    )
    open_cases = [_intake(platform, n, reason, text) for n, (reason, text) in enumerate(REPORTS)]
    # Decided cases: an account suspended (appealed below), spam removed, a warning.
    decided = [
        _intake(platform, 100 + n, "spam", f"Cheap designer bags, wholesale, lot {n}")
        for n in range(4)
    ]
    suspension = _decide(decider, decided[0], {"type": "suspend", "duration_hours": 72})
    _decide(decider, decided[1], {"type": "remove_content"})
    _decide(reviewer, decided[2], {"type": "warn"})
    _decide(associate, decided[3], {"type": "remove_content"})
    # An associate proposes a 30-day suspension: it waits for a senior's approval.
    pending = _intake(platform, 200, "spam", "Investment opportunity: 40% monthly returns")
    _decide(associate, pending, {"type": "suspend", "duration_hours": 24 * 30})
    return {
        "open_cases": open_cases,
        "open": open_cases[8],
        # In review, claimed by the analyst who visits: the case page shows the decision form.
        "claimed": case_services.case_claim(actor=reviewer, case_id=open_cases[7].pk),
        "decided": decided[0],
        "calibrated": decided[1:3],
        "pending": pending,
        "action": EnforcementAction.objects.get(decision=suspension),
        "queue": open_cases[7].queue.slug,
        "urgent_queue": open_cases[0].queue.slug,
    }


def _seed_appeal_and_escalations(m: dict, w: dict) -> dict:
    # Support files the user's appeal against the suspension; it waits in the appeals queue.
    appeal, _ = appeal_services.appeal_file(
        actor=m["support"],
        action_id=w["action"].pk,
        statement="I run a small bakery; that link is my own shop and I post it once a day.",
        appellant_id="user-bakery",
        external_id="support-a11y-1",
    )
    decider = m["decider"]
    # An escalation to child safety: the case is restricted to the team from then on.
    restricted = case_services.case_claim(actor=decider, case_id=w["open_cases"][1].pk)
    escalation = escalation_services.escalation_raise(
        actor=decider,
        case_id=restricted.pk,
        team="child-safety",
        severity="P1",
        summary="Imminent risk stated in the post; the account is a minor's.",
        criteria="Self-harm with a stated time: the team's criteria, section 2.",
        next_steps="Contact the platform's emergency line.",
    )
    # And one to fraud & security, a team whose cases stay open to the leads.
    fraud = case_services.case_claim(actor=decider, case_id=w["open_cases"][5].pk)
    open_escalation = escalation_services.escalation_raise(
        actor=decider,
        case_id=fraud.pk,
        team="fraud-security",
        severity="P2",
        summary="A ring of accounts selling phones for gift cards.",
        criteria="Organised fraud across accounts.",
    )
    return {
        "appeal": appeal,
        "restricted": restricted,
        "escalation": escalation,
        "open_escalation": open_escalation,
    }


def _seed_qa(m: dict) -> dict:
    """Today's decisions sampled; one failed by the reviewer and disputed by its decider, one
    claimed by the reviewer and not yet answered."""
    senior, reviewer, decider = m["senior"], m["reviewer"], m["decider"]
    plan = qa_services.plan_save(
        actor=senior,
        data={
            "name": "Daily spam sample",
            "rubric": Rubric.objects.get(name="Default"),
            "period": SamplingPlan.Period.DAY,
            "size_mode": SamplingPlan.SizeMode.FIXED,
            "fixed_size": 5,
        },
    )
    now = timezone.now()
    sample, _ = qa_services.sample_draw(
        actor=senior,
        plan_id=plan.pk,
        start=now - timedelta(hours=1),
        end=now + timedelta(minutes=5),
    )
    reviews = QAReview.objects.filter(sample=sample).exclude(decision__decided_by=reviewer)
    failed = reviews.filter(decision__decided_by=decider).first()
    qa_services.review_claim(actor=reviewer, review_id=failed.pk)
    qa_services.review_answer(actor=reviewer, review_id=failed.pk, outcome="no_violation")
    qa_services.review_score(
        actor=reviewer,
        review_id=failed.pk,
        scores=dict(ALL_PASS, correct_outcome=False),
        error_types=["false_positive"],
        notes="The posting log shows one post a day.",
    )
    qa_services.review_dispute(
        actor=decider, review_id=failed.pk, reason="The crawler log shows forty posts."
    )
    open_review = reviews.exclude(pk=failed.pk).first()
    if open_review is not None:
        qa_services.review_claim(actor=reviewer, review_id=open_review.pk)
    return {
        "plan": plan,
        "sample": sample,
        "review": open_review or failed,
        "failed_review": failed,
    }


def _seed_media(m: dict, case: Case) -> None:
    """Two pictures the platform sent with the open case's report: one sensitive (blurred on
    the case page until revealed), one not."""
    report = Report.objects.filter(case=case).order_by("pk").first()
    files = []
    for n, sensitive in enumerate((True, False)):
        out = io.BytesIO()
        Image.new("RGB", (96, 64), (40 + 90 * n, 120, 200 - 90 * n)).save(out, "PNG")
        files.append(media.media_prepare(out.getvalue(), f"photo-{n}.png", sensitive=sensitive))
    media.report_media_attach(actor=m["platform"], report_id=report.pk, files=files)


def _seed_calibration(m: dict, w: dict) -> dict:
    """An open session on two decided cases, the analyst and the associate invited."""
    senior = m["senior"]
    session = calibration.calibration_session_create(
        actor=senior,
        name="Spam calibration, week 49",
        case_ids=[case.pk for case in w["calibrated"]],
        participant_ids=[m["reviewer"].pk, m["associate"].pk],
        description="Where does promotion end and spam begin?",
    )
    for item in session.items.all():
        calibration.calibration_session_set_gold(
            actor=senior,
            session_id=session.pk,
            item_id=item.pk,
            outcome="violation",
            policy_section="SPAM-1.1",
            action="remove_content",
            severity="P3",
        )
    calibration.calibration_session_open(actor=senior, session_id=session.pk)
    return {"session": session, "item": session.items.order_by("pk").first()}


# --- The pages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A page to check: its route name (for the URL-conf check), how to reach it in the world,
    the status it answers with, and optionally a form to send there first."""

    label: str
    route: str
    path: Callable[[dict], str]
    status: int = 200
    # A form sent from the page's own origin with its CSRF token: (action path, fields).
    form: Callable[[dict], tuple[str, dict]] | None = None


def page(label, route, path, status=200, form=None) -> Page:
    return Page(label, route, path if callable(path) else (lambda w, p=path: p), status, form)


def q(**params) -> str:
    return "?" + urlencode(params)


CASE = "cases:case-detail"


def _account_path(w) -> str:
    """The page of the account behind the open case."""
    return f"/accounts/{w['open'].subject.owner.external_id}/"


NOT_FOUND = page("404 page", "(none)", "/no-such-page/", 404)

ASSOCIATE_PAGES = [
    page("queue", "cases:queue-detail", lambda w: f"/queues/{w['queue']}/"),
    page("open case", CASE, lambda w: f"/cases/{w['open'].pk}/"),
    page("decided case", CASE, lambda w: f"/cases/{w['decided'].pk}/"),
    page("search with results", "cases:search", "/search/" + q(q="bags")),
    page("search with no result", "cases:search", "/search/" + q(q="zzzz-nothing")),
    page("my QA feedback", "qa:my-feedback", "/qa/feedback/"),
    page("account, identifiers masked", "investigations:account", lambda w: _account_path(w)),
    page("account search", "investigations:account-search", "/accounts/" + q(q="acct-a11y")),
    page(
        "account identifier revealed",
        "investigations:account-identifier-reveal",
        lambda w: _account_path(w),
        form=lambda w: (
            _account_path(w)
            + f"identifiers/{w['open'].subject.owner.identifiers.first().pk}/reveal/",
            {"reason": "Checking whether the email is shared"},
        ),
    ),
    page(
        "cluster, read only",
        "investigations:cluster-detail",
        lambda w: f"/clusters/{w['cluster'].pk}/",
    ),
    page(
        "calibration session",
        "qa:calibration-detail",
        lambda w: f"/qa/calibration/{w['session'].pk}/",
    ),
    page(
        "calibration case",
        "qa:calibration-case",
        lambda w: f"/qa/calibration/{w['session'].pk}/cases/{w['item'].pk}/",
    ),
    page(
        "note with an empty body",
        "cases:case-note-add",
        lambda w: f"/cases/{w['open'].pk}/",
        status=400,
        form=lambda w: (f"/cases/{w['open'].pk}/notes/", {"body": ""}),
    ),
    page("403 page", "metrics:dashboard", "/metrics/", 403),
    NOT_FOUND,
]

ANALYST_PAGES = [
    page("queue list", "cases:queue-list", "/queues/"),
    page("alerts", "detection:alert-list", "/detection/alerts/"),
    page("alert", "detection:alert-detail", lambda w: f"/detection/alerts/{w['alert'].pk}/"),
    page(
        "alert resolved without a resolution",
        "detection:alert-resolve",
        lambda w: f"/detection/alerts/{w['alert'].pk}/",
        status=400,
        form=lambda w: (f"/detection/alerts/{w['alert'].pk}/resolve/", {"resolution": ""}),
    ),
    page("investigations", "investigations:investigation-list", "/investigations/"),
    page(
        "investigation, member's view",
        "investigations:investigation-detail",
        lambda w: f"/investigations/{w['investigation'].pk}/",
    ),
    page("preferences", "preferences", "/preferences/"),
    page("search with filters", "cases:search", "/search/" + q(status="open", severity="3")),
    page("search with a bad filter", "cases:search", "/search/" + q(status="asleep"), 400),
    page("queue", "cases:queue-detail", lambda w: f"/queues/{w['queue']}/"),
    page("claimed case with its decision form", CASE, lambda w: f"/cases/{w['claimed'].pk}/"),
    page(
        "decision with errors",
        "enforcement:case-decide",
        lambda w: f"/cases/{w['claimed'].pk}/",
        status=400,
        form=lambda w: (
            f"/cases/{w['claimed'].pk}/decide/",
            {"version": w["claimed"].version, "outcome": "violation", "rationale": ""},
        ),
    ),
    page(
        "case edit with errors",
        "cases:case-edit",
        lambda w: f"/cases/{w['claimed'].pk}/",
        status=400,
        form=lambda w: (f"/cases/{w['claimed'].pk}/edit/", {"version": "x", "severity": "P9"}),
    ),
    page(
        "evidence with errors",
        "cases:case-evidence-add",
        lambda w: f"/cases/{w['claimed'].pk}/",
        status=400,
        form=lambda w: (
            f"/cases/{w['claimed'].pk}/evidence/",
            {"kind": "url", "url": "javascript:alert(1)"},
        ),
    ),
    page(
        "escalation with errors",
        "escalations:case-escalate",
        lambda w: f"/cases/{w['claimed'].pk}/",
        status=400,
        form=lambda w: (f"/cases/{w['claimed'].pk}/escalate/", {"team": "", "summary": ""}),
    ),
    page("appeals queue", "appeals:appeal-list", "/appeals/"),
    page("appeal", "appeals:appeal-detail", lambda w: f"/appeals/{w['appeal'].pk}/"),
    page("QA reviews", "qa:review-list", "/qa/reviews/"),
    page("QA review", "qa:review-detail", lambda w: f"/qa/reviews/{w['review'].pk}/"),
    page(
        "QA answer with errors",
        "qa:review-answer",
        lambda w: f"/qa/reviews/{w['review'].pk}/",
        status=400,
        form=lambda w: (f"/qa/reviews/{w['review'].pk}/answer/", {"outcome": "nonsense"}),
    ),
    page("calibration sessions", "qa:calibration-list", "/qa/calibration/"),
    page(
        "calibration case",
        "qa:calibration-case",
        lambda w: f"/qa/calibration/{w['session'].pk}/cases/{w['item'].pk}/",
    ),
    page(
        "calibration answer with errors",
        "qa:calibration-case",
        lambda w: f"/qa/calibration/{w['session'].pk}/cases/{w['item'].pk}/",
        status=400,
        form=lambda w: (
            f"/qa/calibration/{w['session'].pk}/cases/{w['item'].pk}/",
            {"outcome": "violation", "policy_section": "NOPE-9"},
        ),
    ),
    page("search with results", "cases:search", "/search/" + q(q="crypto")),
    page("my figures", "metrics:my-figures", "/metrics/me/"),
    page("account", "investigations:account", lambda w: _account_path(w)),
    page(
        "account, bad page number",
        "investigations:account",
        lambda w: _account_path(w) + q(cases_page="x"),
        400,
    ),
    page("clusters", "investigations:cluster-list", "/clusters/" + q(sort="size")),
    page("cluster", "investigations:cluster-detail", lambda w: f"/clusters/{w['cluster'].pk}/"),
    page("build a cluster", "investigations:cluster-create", "/clusters/new/"),
    page("wave form", "investigations:wave-new", lambda w: f"/clusters/{w['cluster'].pk}/wave/"),
    page(
        "wave form with its preview",
        "investigations:wave-new",
        lambda w: f"/clusters/{w['cluster'].pk}/wave/",
        form=lambda w: (
            f"/clusters/{w['cluster'].pk}/wave/",
            {
                "policy_section": "SPAM-1.2",
                "rationale": "Ring",
                "account_action": "warn",
                "preview": "1",
            },
        ),
    ),
    page(
        "wave form with errors",
        "investigations:wave-new",
        lambda w: f"/clusters/{w['cluster'].pk}/wave/",
        status=400,
        form=lambda w: (
            f"/clusters/{w['cluster'].pk}/wave/",
            {"policy_section": "SPAM-1.2", "rationale": "", "account_action": "suspend"},
        ),
    ),
    page("waves", "investigations:wave-list", "/waves/"),
    page(
        "account network",
        "investigations:account-network",
        lambda w: f"/accounts/{w['open'].subject.owner.external_id}/network/",
    ),
    page(
        "account network with a bad filter",
        "investigations:account-network",
        lambda w: f"/accounts/{w['open'].subject.owner.external_id}/network/" + q(hops=9),
        400,
    ),
    page("rules (seniors only)", "detection:rule-list", "/detection/rules/", 403),
    page("403 page", "enforcement:approval-list", "/approvals/", 403),
    NOT_FOUND,
]


def _rule_path(w) -> str:
    return f"/detection/rules/{w['rule'].pk}/"


SENIOR_PAGES = [
    page("rules", "detection:rule-list", "/detection/rules/"),
    page("write a rule", "detection:rule-create", "/detection/rules/new/"),
    page(
        "write a rule with errors",
        "detection:rule-create",
        "/detection/rules/new/",
        status=400,
        form=lambda w: (
            "/detection/rules/new/",
            {"name": "", "expression": "report.reason > 3", "effects": "[]", "note": ""},
        ),
    ),
    page("rule with a version in shadow", "detection:rule-detail", _rule_path),
    page(
        "rule, new version with errors",
        "detection:rule-version",
        _rule_path,
        status=400,
        form=lambda w: (
            _rule_path(w) + "versions/",
            {
                "expression": "report.nope == 1",
                "effects": '[{"type": "tag"}]',
                "note": "",
                "based_on": 2,
            },
        ),
    ),
    page(
        "rule, backtest with errors",
        "detection:rule-backtest",
        _rule_path,
        status=400,
        form=lambda w: (_rule_path(w) + "backtests/", {"version": 2, "from": "", "to": ""}),
    ),
    page(
        "rule, snooze with errors",
        "detection:rule-snooze",
        _rule_path,
        status=400,
        form=lambda w: (
            _rule_path(w) + "snoozes/",
            {"subject_kind": "account", "external_id": "acct-nobody", "until": "", "reason": ""},
        ),
    ),
    page(
        "backtest",
        "detection:backtest-detail",
        lambda w: f"/detection/backtests/{w['backtest'].pk}/",
    ),
    page("reporters", "detection:reporter-list", "/detection/reporters/" + q(order="active")),
    page(
        "reporter",
        "detection:reporter",
        lambda w: f"/detection/reporters/{w['open'].reports.first().reporter_hash}/",
    ),
    page("urgent queue", "cases:queue-detail", lambda w: f"/queues/{w['urgent_queue']}/"),
    page("new investigation", "investigations:investigation-create", "/investigations/new/"),
    page(
        "new investigation with errors",
        "investigations:investigation-create",
        "/investigations/new/",
        status=400,
        form=lambda w: ("/investigations/new/", {"title": "", "cases": "999999"}),
    ),
    page(
        "investigation",
        "investigations:investigation-detail",
        lambda w: f"/investigations/{w['investigation'].pk}/",
    ),
    page(
        "investigation edit with errors",
        "investigations:investigation-edit",
        lambda w: f"/investigations/{w['investigation'].pk}/",
        status=400,
        form=lambda w: (
            f"/investigations/{w['investigation'].pk}/edit/",
            {"version": w["investigation"].version, "title": "", "status": "open"},
        ),
    ),
    page(
        "investigation link with errors",
        "investigations:investigation-links",
        lambda w: f"/investigations/{w['investigation'].pk}/",
        status=400,
        form=lambda w: (
            f"/investigations/{w['investigation'].pk}/links/",
            {"version": w["investigation"].version, "kind": "accounts", "values": "acct-nobody"},
        ),
    ),
    page("approvals", "enforcement:approval-list", "/approvals/"),
    page("waves awaiting approval", "investigations:wave-list", "/waves/"),
    page(
        "wave awaiting approval", "investigations:wave-detail", lambda w: f"/waves/{w['wave'].pk}/"
    ),
    page("pending case", CASE, lambda w: f"/cases/{w['pending'].pk}/"),
    page("metrics dashboard", "metrics:dashboard", "/metrics/"),
    page("live operations", "metrics:live", "/metrics/live/"),
    page("transparency report", "metrics:transparency", "/metrics/transparency/"),
    page("detectors", "detection:detector-list", "/detection/detectors/"),
    page("detector operating points", "detection:detector-detail", "/detection/detectors/spamnet/"),
    page("access log", "access-log", "/access-log/"),
    page("labelled data", "detection:labels", "/detection/labels/"),
    page(
        "labelled data with errors",
        "detection:labels-download",
        "/detection/labels/export.jsonl" + q(**{"from": "2026-03-01"}),
        status=400,
    ),
    page(
        "lookup with a result",
        "enforcement:lookup",
        lambda w: (
            "/lookup/" + q(kind="account", external_id=w["decided"].subject.owner.external_id)
        ),
    ),
    page("appeals overview", "appeals:overview", "/appeals/overview/"),
    page("QA home", "qa:home", "/qa/"),
    page("new QA plan", "qa:plan-create", "/qa/plans/new/"),
    page(
        "QA plan with errors",
        "qa:plan-create",
        "/qa/plans/new/",
        status=400,
        form=lambda w: ("/qa/plans/new/", {"name": "", "fixed_size": "-3"}),
    ),
    page("QA plan", "qa:plan-detail", lambda w: f"/qa/plans/{w['plan'].pk}/"),
    page("QA sample", "qa:sample-detail", lambda w: f"/qa/samples/{w['sample'].pk}/"),
    page("QA disputes", "qa:dispute-list", "/qa/disputes/"),
    page(
        "disputed QA review", "qa:review-detail", lambda w: f"/qa/reviews/{w['failed_review'].pk}/"
    ),
    page("QA pass rates", "qa:figures", "/qa/figures/" + q(group_by="analyst")),
    page("calibration sessions", "qa:calibration-list", "/qa/calibration/"),
    page("new calibration session", "qa:calibration-create", "/qa/calibration/new/"),
    page(
        "calibration session with errors",
        "qa:calibration-create",
        "/qa/calibration/new/",
        status=400,
        form=lambda w: ("/qa/calibration/new/", {"name": ""}),
    ),
    page(
        "calibration session",
        "qa:calibration-detail",
        lambda w: f"/qa/calibration/{w['session'].pk}/",
    ),
    page(
        "calibration results",
        "qa:calibration-results",
        lambda w: f"/qa/calibration/{w['session'].pk}/results/",
    ),
    page(
        "escalation to an open team",
        "escalations:escalation-detail",
        lambda w: f"/escalations/{w['open_escalation'].pk}/",
    ),
    page(
        "an escalation restricted to another team (404)",
        "escalations:escalation-detail",
        lambda w: f"/escalations/{w['escalation'].pk}/",
        404,
    ),
    page("response templates", "enforcement:response-template-list", "/templates/"),
    page("new response template", "enforcement:response-template-create", "/templates/new/"),
    page(
        "response template with errors",
        "enforcement:response-template-create",
        "/templates/new/",
        status=400,
        form=lambda w: (
            "/templates/new/",
            {"section_code": "SPAM-1.1", "kind": "message", "title": "", "body": "{nope}"},
        ),
    ),
    page(
        "response template",
        "enforcement:response-template-edit",
        lambda w: f"/templates/{w['template'].pk}/edit/",
    ),
    page(
        "exposure budget extended with errors",
        "workspace:override-grant",
        "/workspace/exposure/",
        status=400,
        form=lambda w: ("/workspace/exposure/overrides/", {"reason": ""}),
    ),
    # The configurator's pages: Django's admin, with the console's queues and routing.
    page("admin index", "admin:index", "/admin/"),
    page("admin: rules", "admin:index", "/admin/detection/rule/"),
    page(
        "admin: a queue",
        "admin:index",
        lambda w: f"/admin/cases/queue/{w['claimed'].queue_id}/change/",
    ),
    page(
        "admin: a queue with errors",
        "admin:index",
        lambda w: f"/admin/cases/queue/{w['claimed'].queue_id}/change/",
        status=200,
        form=lambda w: (f"/admin/cases/queue/{w['claimed'].queue_id}/change/", {"name": ""}),
    ),
    NOT_FOUND,
]

SUPPORT_PAGES = [
    page("lookup", "enforcement:lookup", "/lookup/"),
    page(
        "lookup with a result",
        "enforcement:lookup",
        lambda w: "/lookup/" + q(q=w["decided"].subject.owner.external_id),
    ),
    page("lookup with nothing on record", "enforcement:lookup", "/lookup/" + q(q="acct-nobody")),
    page(
        "appeal form",
        "appeals:appeal-file",
        lambda w: "/appeals/file/" + q(action=w["action"].pk),
    ),
    page(
        "appeal form with errors",
        "appeals:appeal-file",
        lambda w: "/appeals/file/" + q(action=w["action"].pk),
        status=400,
        form=lambda w: (
            "/appeals/file/",
            {"action_id": w["action"].pk, "statement": "", "external_id": "support-a11y-2"},
        ),
    ),
    page("appeal status", "appeals:appeal-status", lambda w: f"/appeals/{w['appeal'].pk}/status/"),
    page("403 page", "metrics:dashboard", "/metrics/", 403),
    NOT_FOUND,
]

SPECIALIST_PAGES = [
    page("team inbox", "escalations:team-inbox-list", "/escalations/"),
    page(
        "escalation",
        "escalations:escalation-detail",
        lambda w: f"/escalations/{w['escalation'].pk}/",
    ),
    page(
        "escalation resolved with errors",
        "escalations:escalation-resolve",
        lambda w: f"/escalations/{w['escalation'].pk}/",
        status=400,
        form=lambda w: (f"/escalations/{w['escalation'].pk}/resolve/", {"outcome": ""}),
    ),
    page("restricted case", CASE, lambda w: f"/cases/{w['restricted'].pk}/"),
    page("a case outside the team (404)", CASE, lambda w: f"/cases/{w['open'].pk}/", 404),
    NOT_FOUND,
]

ROLE_PAGES = {
    "associate": ("ada_associate", ASSOCIATE_PAGES),
    "analyst": ("mateo_analyst", ANALYST_PAGES),
    "senior": ("grace_senior", SENIOR_PAGES),
    "support": ("sam_support", SUPPORT_PAGES),
    "child-safety team": ("chen_childsafety", SPECIALIST_PAGES),
}

# Routes that are no page of their own: POST-only steps that answer with a redirect (their
# error states, where they have one, are the pages above), downloads and htmx fragments.
NOT_PAGES = {
    "detection:rule-state": "POST (shadow, activate, retire, resume), redirects to the rule",
    "detection:rule-action-intervene": "POST from the case page, redirects to the case",
    "detection:reporter-invalidate": "POST, redirects to the reporter",
    "detection:reporter-restore": "POST, redirects to the reporter",
    "healthz": "health check (JSON)",
    "favicon": "the console's icon (a redirect to the static file)",
    "notifications-read-all": "POST, redirects to the home page",
    "logout": "POST, redirects to the login page",
    "cases:queue-claim-next": "POST, redirects to the claimed case",
    "cases:queue-bulk": "POST, redirects to the queue",
    "cases:case-claim": "POST, redirects to the case",
    "cases:case-release": "POST, redirects to the case",
    "cases:case-reopen": "POST, redirects to the case",
    "cases:case-evidence-reveal": "htmx fragment, checked within the case page",
    "cases:case-identifier-reveal": "htmx fragment, checked within the case page",
    "cases:case-lease-renew": "POST, no page",
    "detection:alert-acknowledge": "POST, redirects to the alert",
    "enforcement:case-draft-statement": "htmx fragment of the decision form",
    "enforcement:action-approve": "POST, redirects to the approvals",
    "enforcement:action-reject": "POST, redirects to the approvals",
    "enforcement:action-reverse": "POST, redirects to the case",
    "enforcement:queue-decide": "POST, redirects to the queue",
    "appeals:appeal-claim-next": "POST, redirects to the claimed appeal",
    "appeals:appeal-claim": "POST, redirects to the appeal",
    "appeals:appeal-release": "POST, redirects to the appeals",
    "appeals:appeal-lease-renew": "POST, no page",
    "appeals:appeal-decide": "POST; its errors re-render the appeal page",
    "appeals:notification-read": "POST, redirects home",
    "escalations:escalation-acknowledge": "POST, redirects to the escalation",
    "escalations:escalation-return": "POST; its errors re-render the escalation page",
    "qa:plan-draw": "POST, redirects to the sample",
    "qa:review-claim-next": "POST, redirects to the claimed review",
    "qa:review-claim": "POST, redirects to the review",
    "qa:review-release": "POST, redirects to the reviews",
    "qa:review-score": "POST; its errors re-render the review page (see the answer errors)",
    "qa:review-respond": "POST; its errors re-render the review page",
    "qa:review-adjudicate": "POST; its errors re-render the review page",
    "qa:review-reverse": "POST, redirects to the review",
    "qa:calibration-invite": "POST; its errors re-render the session page",
    "qa:calibration-open": "POST, redirects to the session",
    "qa:calibration-submit": "POST, redirects to the session",
    "qa:calibration-close": "POST, redirects to the results",
    "qa:calibration-clarification": "POST, redirects to the results",
    "qa:calibration-export": "CSV download",
    "metrics:transparency-csv": "CSV download",
    "workspace:override-grant": "POST; its errors re-render the exposure page",
    "workspace:case-presence": "htmx fragment, polled within the case page",
    "workspace:queue-presence": "htmx fragment, polled within the queue page",
    "enforcement:response-template-retire": "POST, redirects to the templates",
    "enforcement:response-template-preview": "htmx fragment of the template form",
    "enforcement:case-snippets": "htmx fragment of the decision form",
    "cases:media-thumb": "an image, shown on the case page",
    "cases:media-original": "a file, opened from the case page",
    "investigations:cluster-network": "JSON of the cluster page's graph",
    "investigations:cluster-status": "POST, redirects to the cluster",
    "investigations:investigation-note-add": "POST, redirects to the file (errors as the edit's)",
    "investigations:investigation-report": "PDF download (checked in test_investigations)",
    "investigations:wave-progress": "htmx fragment, checked within the wave page",
    "investigations:wave-approve": "POST, redirects to the wave",
    "investigations:wave-reject": "POST, redirects to the wave",
    "investigations:account-network-data": "JSON for the network page's click-to-expand",
}
# Pages checked signed out: the sign-in page, its error state and the signed-out page.
SIGNED_OUT_ROUTES = {"login"}


# --- The browser -----------------------------------------------------------------------------

# Sends a form from the page, with the page's CSRF token, as the browser would post it.
POST_FORM = """([action, fields]) => {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = action;
  const token = document.querySelector('input[name=csrfmiddlewaretoken]')
    || document.querySelector('[data-csrf-token]');
  const fieldsWithToken = Object.assign(
    {csrfmiddlewaretoken: token ? (token.value || token.dataset.csrfToken) : ''}, fields);
  for (const [name, value] of Object.entries(fieldsWithToken)) {
    const input = document.createElement('input');
    input.type = 'hidden'; input.name = name; input.value = String(value);
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}"""


class Visitor:
    """One browser context for a role: signed in once, then checks page after page."""

    def __init__(self, browser, live_server, role: str):
        self.context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
        install_axe(self.context)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        _shots[id(self.page)] = [ARTIFACTS / "accessibility" / _safe(role), 0]
        self.found: list[Violation] = []
        # Moderate and minor violations: reported, not failed on.
        self.others: list[Violation] = []
        self.problems: list[str] = []
        self.checked: list[str] = []

    def sign_in(self, username: str) -> None:
        self.page.goto("/accounts/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Sign in").click()
        assert "/accounts/login/" not in self.page.url, f"{username!r} could not sign in"

    def check(self, path: str, label: str, status: int = 200, form=None) -> None:
        started = time.monotonic()
        response = self.page.goto(path)
        if form is not None:
            with self.page.expect_navigation() as navigation:
                self.page.evaluate(POST_FORM, list(form))
            response = navigation.value
        self.page.wait_for_load_state("load")
        loaded = time.monotonic()
        got = response.status if response is not None else None
        if got != status:
            self.problems.append(f"{label} ({path}): answered {got}, expected {status}")
        found, others = failing(violations(self.page, f"{label} ({path})", impacts=IMPACTS))
        checked = time.monotonic()
        self.found.extend(found)
        self.others.extend(others)
        # Every page is kept as a screenshot (the whole page where axe-core found something).
        _screenshot(self.page, label, full_page=bool(found))
        self.checked.append(
            f"{label} {path} [{got}] load {loaded - started:.2f}s axe {checked - loaded:.2f}s"
            f" shot {time.monotonic() - checked:.2f}s"
        )

    def check_menus_open(self) -> None:
        """Home with every menu and disclosure opened (the header's groups, the user menu):
        axe-core checks only what is shown."""
        self.page.goto("/")
        self.page.eval_on_selector_all("details", "all => all.forEach(d => { d.open = true; })")
        found, others = failing(violations(self.page, "home, menus open (/)", impacts=IMPACTS))
        self.found.extend(found)
        self.others.extend(others)
        _screenshot(self.page, "home, menus open", full_page=bool(found))
        self.checked.append("home, menus open /")

    def nav_links(self) -> list[tuple[str, str]]:
        self.page.goto("/")
        links = self.page.eval_on_selector_all(
            "nav a[href]", "links => links.map(a => [a.textContent.trim(), a.getAttribute('href')])"
        )
        return [(text, href) for text, href in links if href.startswith("/")]

    def close(self) -> None:
        _shots.pop(id(self.page), None)
        self.context.close()


def _screenshot(page, label: str, *, full_page: bool) -> None:
    """tests.browser.conftest.screenshot, of the window only unless asked for the whole page
    (a whole long page costs as much as checking it)."""
    state = _shots[id(page)]
    state[1] += 1
    state[0].mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(state[0] / f"{state[1]:02d}-{_safe(label)}.png"), full_page=full_page)


def _assert_clean(visitor: Visitor) -> None:
    print(f"{len(visitor.checked)} pages checked:\n  " + "\n  ".join(visitor.checked))
    if visitor.others:
        counts = Counter(f"{v.rule} ({v.impact})" for v in visitor.others)
        print("Moderate and minor violations (pages):", dict(sorted(counts.items())))
    message = report(visitor.found) if visitor.found else ""
    if visitor.problems:
        message += "\nPages that did not answer as expected:\n  " + "\n  ".join(visitor.problems)
    assert not visitor.found and not visitor.problems, message


def test_every_page_each_role_reaches_has_no_serious_accessibility_violation(
    browser, live_server, world, subtests
):
    # One world for every role (a live-server test's data goes with it): each role, then the
    # signed-out pages, is a subtest of its own, in this order, and fails on its own.
    for role, (username, pages) in ROLE_PAGES.items():
        with subtests.test(role=role):
            _check_role(browser, live_server, world, role, username, pages)
    with subtests.test(role="signed out"):
        _check_signed_out(browser, live_server)


def _check_role(browser, live_server, world, role: str, username: str, pages) -> None:
    visitor = Visitor(browser, live_server, role)
    try:
        visitor.sign_in(username)
        visitor.check_menus_open()
        seen = set()
        for text, href in visitor.nav_links():
            if href not in seen:
                seen.add(href)
                visitor.check(href, f"nav {text}")
        for entry in pages:
            path, form = entry.path(world), entry.form(world) if entry.form else None
            if form is None and path in seen:
                continue  # opened from the navigation already
            seen.add(path)
            visitor.check(path, entry.label, entry.status, form)
    finally:
        visitor.close()
    _assert_clean(visitor)


def _check_signed_out(browser, live_server) -> None:
    visitor = Visitor(browser, live_server, "signed-out")
    try:
        visitor.check("/accounts/login/", "sign-in page")
        refused = {"username": "ada_associate", "password": "not-the-password"}
        visitor.check("/accounts/login/", "sign-in refused", form=("/accounts/login/", refused))
        visitor.check("/no-such-page/", "404 page signed out", 404)
        visitor.sign_in("ada_associate")
        visitor.check("/", "home, then signed out", form=("/accounts/logout/", {}))
    finally:
        visitor.close()
    _assert_clean(visitor)


# --- Every page route is checked -------------------------------------------------------------


def _route_names(resolver=None, namespace: str = "") -> set[str]:
    names = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in ("api", "admin") or str(pattern.pattern).startswith("api/"):
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= _route_names(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            if str(pattern.pattern).startswith("api/"):
                continue
            names.add(namespace + pattern.name)
    return names


def test_every_console_page_is_checked():
    checked = {p.route for _, pages in ROLE_PAGES.values() for p in pages}
    checked |= {"home", *SIGNED_OUT_ROUTES}
    # The navigation's pages are read from the page itself: count them as checked.
    from tsops.navigation import NAV_ITEMS

    checked |= {item.url_name for item in NAV_ITEMS}
    missing = sorted(_route_names() - checked - set(NOT_PAGES) - {"schema", "swagger-ui"})
    assert missing == [], (
        "Console routes no role's page list in tests/browser/test_accessibility.py opens: "
        f"{missing}. Add each page (or its error state) to a role's pages, or to NOT_PAGES "
        "saying why it is no page of its own."
    )
    for name in NOT_PAGES:
        assert name in _route_names(), f"NOT_PAGES names {name!r}, which is no route"


# --- The check itself ------------------------------------------------------------------------

# Two known violations, without inline style or script (the policy refuses both): grey text on
# white (contrast 2.3:1, serious) and a select with no name (critical).
BAD_PAGE = """<!doctype html><html lang="en"><head><title>Control</title></head><body><main>
<h1>Control</h1><p><font color="#aaaaaa">Grey text on white</font></p>
<form><select name="unit"><option>hours</option><option>days</option></select></form>
</main></body></html>"""


def test_axe_finds_violations_on_a_page_under_the_consoles_policy(browser):
    # The control for the suite: under the console's Content-Security-Policy, axe-core is
    # loaded (init script and page.evaluate alike) and reports what is there.
    from django.conf import settings

    from tests.browser.axe import assert_no_serious_violations

    context = browser.new_context()
    install_axe(context)
    page = context.new_page()
    headers = {"Content-Security-Policy": settings.CONTENT_SECURITY_POLICY}
    page.route(
        "http://control.test/**",
        lambda route: route.fulfill(body=BAD_PAGE, content_type="text/html", headers=headers),
    )
    csp_reports: list[str] = []
    page.on("console", lambda m: csp_reports.append(m.text) if "Security Policy" in m.text else 0)
    try:
        for loaded_by in ("init script", "evaluate"):
            page.goto("http://control.test/")
            if loaded_by == "evaluate":
                page.evaluate("delete window.axe")
            found = {v.rule: v.impact for v in violations(page, loaded_by)}
            assert found == {"color-contrast": "serious", "select-name": "critical"}, found
        with pytest.raises(AssertionError, match=r"select-name \(critical, 1 element\)"):
            assert_no_serious_violations(page, "control")
    finally:
        context.close()
    assert csp_reports == []
