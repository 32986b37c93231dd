"""The permission matrix: every route × every method it accepts × every actor × the objects
it takes (the actor's own, someone else's, a restricted one, a missing id), answered as ONE
table below says.

The routes come from the URL configuration itself (``get_resolver()`` walked recursively), so
a new route without an entry in ``TABLE`` fails ``test_every_route_has_an_entry`` by name. The
expected answers come only from the table and the actor groups declared here, never from the
code under test. Each request runs in a savepoint that is rolled back, with a harmless body
(an empty form or ``{}``, or a valid one where a view validates before it checks the
permission): the assertion is about the gate, and a refused request must not have written
anything (checked with PostgreSQL's per-transaction row counters). Console pages must answer
405 to the methods the table does not give them.

Beyond the status code, every answer is checked for the restricted marker (nothing of the
child-safety case may reach anyone outside that team, whatever the status); every 404 on an
object that exists leaves a "denied" entry in the access log while a 404 on a missing id leaves
none; every 403 on the restricted object leaves a trace in Django's request log.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from cases.models import Case
from tests.security.conftest import RESTRICTED_MARKER
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db

# --- Actors ------------------------------------------------------------------------------------

ANONYMOUS = "anonymous"
ASSOCIATE, ANALYST, SENIOR, SUPPORT = "associate", "analyst", "senior", "support"
PLATFORM, NO_ROLE = "platform", "no_role"
CHILD_SAFETY, THREATS = "child_safety", "threats"

SCOPES = (
    "reports:write",
    "cases:read",
    "cases:write",
    "enforcement:read",
    "appeals:write",
    "metrics:read",
    "qa:read",
    "qa:write",
    "rules:read",
    "rules:write",
)

# The groups the table speaks of (declared here from DESIGN.md's "who uses it", not read from
# tsops.roles).
WORKERS = frozenset({ASSOCIATE, ANALYST, SENIOR})  # work the standard queues
ANALYSTS = frozenset({ANALYST, SENIOR})
SENIORS = frozenset({SENIOR})
TEAMS = frozenset({CHILD_SAFETY, THREATS})
CONSOLE = WORKERS | TEAMS | {SUPPORT}  # may sign in to the console
ROLES = CONSOLE | {PLATFORM}  # hold some TSOps role or team (the API's first gate)
NOBODY: frozenset[str] = frozenset()

HTML_ACTORS = (ANONYMOUS, NO_ROLE, PLATFORM, *sorted(CONSOLE))
API_ACTORS = (
    ANONYMOUS,
    NO_ROLE,
    *sorted(ROLES),
    *(f"platform:{scope}" for scope in SCOPES),  # a platform key holding only that scope
    "senior-scope",  # a senior's key holding every scope but the one the route needs
)

# --- Outcomes ----------------------------------------------------------------------------------

OK = "ok"  # got past the gate: 200/201/204, a redirect elsewhere than the login, 400 or 409
LOGIN = "login"  # 302 to the login page
PASSED = {200, 201, 204, 302, 400, 409}
REFUSALS = {LOGIN, 401, 403, 404, 405}

# --- The objects routes take -------------------------------------------------------------------
#
# Per set of URL parameters, the variants every route taking them is asked about. "missing" is
# an id that does not exist (answered 404 like a forbidden one, and never logged).

MISSING = 2_000_000_000


def _ids(**names):
    return lambda w: {param: getattr(w, obj).pk for param, obj in names.items()}


VARIANTS: dict[frozenset[str], dict] = {
    frozenset({"slug"}): {
        "std": lambda w: {"slug": "spam"},
        "restricted": lambda w: {"slug": "child-safety"},
        "missing": lambda w: {"slug": "no-such-queue"},
    },
    frozenset({"case_id"}): {
        "std": _ids(case_id="case_std"),
        "restricted": _ids(case_id="case_restricted"),
        "missing": lambda w: {"case_id": MISSING},
        "claimed": _ids(case_id="case_claimed"),  # claimed by someone else
        "associates": _ids(case_id="case_associate"),  # claimed by the associate
    },
    frozenset({"case_id", "evidence_id"}): {
        "std": _ids(case_id="case_std", evidence_id="evidence_std"),
        "restricted": _ids(case_id="case_restricted", evidence_id="evidence_restricted"),
        # A case the actor sees, with the restricted case's evidence.
        "mixed": _ids(case_id="case_std", evidence_id="evidence_restricted"),
    },
    frozenset({"case_id", "identifier_id"}): {
        "std": _ids(case_id="case_std", identifier_id="identifier_std"),
        "restricted": _ids(case_id="case_restricted", identifier_id="identifier_restricted"),
        "mixed": _ids(case_id="case_std", identifier_id="identifier_restricted"),
    },
    frozenset({"action_id"}): {
        "pending": _ids(action_id="action_pending"),
        "std": _ids(action_id="action_std"),
        "restricted": _ids(action_id="action_restricted"),
        "missing": lambda w: {"action_id": MISSING},
    },
    frozenset({"kind", "external_id"}): {
        "std": lambda w: {"kind": "account", "external_id": w.subject_std.external_id},
        "restricted": lambda w: {
            "kind": "account",
            "external_id": w.subject_restricted.external_id,
        },
    },
    frozenset({"appeal_id"}): {
        "std": _ids(appeal_id="appeal_std"),
        "restricted": _ids(appeal_id="appeal_restricted"),
        "missing": lambda w: {"appeal_id": MISSING},
    },
    frozenset({"notification_id"}): {
        "analysts": _ids(notification_id="notification_analyst"),
    },
    frozenset({"escalation_id"}): {
        "std": _ids(escalation_id="escalation_std"),
        "restricted": _ids(escalation_id="escalation_restricted"),
        "missing": lambda w: {"escalation_id": MISSING},
    },
    frozenset({"plan_id"}): {
        "std": _ids(plan_id="plan_std"),
        "restricted": _ids(plan_id="plan_restricted"),
    },
    frozenset({"sample_id"}): {
        "std": _ids(sample_id="sample_std"),
        "restricted": _ids(sample_id="sample_restricted"),
    },
    frozenset({"review_id"}): {
        "std": _ids(review_id="review_std"),
        "analysts": _ids(review_id="review_own"),  # the analyst's own decision, scored
        "restricted": _ids(review_id="review_restricted"),
        "missing": lambda w: {"review_id": MISSING},
    },
    frozenset({"session_id"}): {
        "std": _ids(session_id="session"),  # the analyst takes part, the associate does not
        "missing": lambda w: {"session_id": MISSING},
    },
    frozenset({"template_id"}): {
        "std": lambda w: {"template_id": _response_template(w).pk},
        "missing": lambda w: {"template_id": MISSING},
    },
    frozenset({"external_id"}): {
        "std": lambda w: {"external_id": w.account_std.external_id},
        "restricted": lambda w: {"external_id": w.account_restricted.external_id},
        "missing": lambda w: {"external_id": "no-such-account"},
    },
    frozenset({"external_id", "identifier_id"}): {
        "std": lambda w: {
            "external_id": w.account_std.external_id,
            "identifier_id": w.identifier_std.pk,
        },
        "restricted": lambda w: {
            "external_id": w.account_restricted.external_id,
            "identifier_id": w.account_restricted.identifiers.get().pk,
        },
        # A visible account with the hidden account's identifier: a pair that does not exist.
        "mixed": lambda w: {
            "external_id": w.account_std.external_id,
            "identifier_id": w.account_restricted.identifiers.get().pk,
        },
    },
    frozenset({"cluster_id"}): {
        "std": _ids(cluster_id="cluster_std"),
        "restricted": _ids(cluster_id="cluster_restricted"),
        "missing": lambda w: {"cluster_id": MISSING},
    },
    frozenset({"wave_id"}): {
        "std": _ids(wave_id="wave_std"),
        "missing": lambda w: {"wave_id": MISSING},
    },
    frozenset({"investigation_id"}): {
        "std": _ids(investigation_id="investigation_std"),
        "restricted": _ids(investigation_id="investigation_restricted"),
        "missing": lambda w: {"investigation_id": MISSING},
    },
    frozenset({"name"}): {
        "std": lambda w: {"name": "matrix-net"},
        "restricted": lambda w: {"name": f"hash-{RESTRICTED_MARKER}"},
        "missing": lambda w: {"name": "no-such-detector"},
    },
    frozenset({"job_id"}): {
        "std": _ids(job_id="job_std"),
        "missing": lambda w: {"job_id": MISSING},
    },
    frozenset({"reporter_hash"}): {
        "std": lambda w: {"reporter_hash": _reporter(w, "case_std")[0]},
        "restricted": lambda w: {"reporter_hash": _reporter(w, "case_restricted")[0]},
        "missing": lambda w: {"reporter_hash": "0" * 64},
    },
    frozenset({"reporter_id"}): {
        "std": lambda w: {"reporter_id": _reporter(w, "case_std")[1]},
        "restricted": lambda w: {"reporter_id": _reporter(w, "case_restricted")[1]},
        "missing": lambda w: {"reporter_id": "no-such-reporter"},
    },
    frozenset({"rule_id"}): {
        "std": _ids(rule_id="rule_std"),
        "missing": lambda w: {"rule_id": MISSING},
    },
    frozenset({"backtest_id"}): {
        "std": _ids(backtest_id="backtest_std"),
        "missing": lambda w: {"backtest_id": MISSING},
    },
    frozenset({"rule_action_id"}): {
        "std": _ids(rule_action_id="rule_action_std"),
        "restricted": _ids(rule_action_id="rule_action_restricted"),
        "missing": lambda w: {"rule_action_id": MISSING},
    },
    frozenset({"alert_id"}): {
        "std": _ids(alert_id="alert_std"),
        "restricted": _ids(alert_id="alert_restricted"),
        "missing": lambda w: {"alert_id": MISSING},
    },
    frozenset({"session_id", "item_id"}): {
        "std": _ids(session_id="session", item_id="session_item"),
    },
}


def _reporter(w, case: str) -> tuple[str, str]:
    """The hash and raw id of the reporter of a world case's report (the factory numbers a
    report's external id and its reporter id alike)."""
    from cases.identifiers import hash_for_text

    row = getattr(w, case).reports.exclude(reporter_hash="").order_by("pk").first()
    raw = "reporter-" + row.external_id.removeprefix("r-")
    assert hash_for_text(raw) == row.reporter_hash
    return row.reporter_hash, raw


def _response_template(w):
    """A user-message template (made on first use; every request is rolled back)."""
    from enforcement.models import ResponseTemplate

    template, _ = ResponseTemplate.objects.get_or_create(
        title="Matrix notice",
        defaults={
            "section_code": "SPAM-1.1",
            "kind": "message",
            "body": "We {action}.",
            "created_by": w.users[SENIOR],
        },
    )
    return template


# Variants whose object exists but belongs to the restricted world or to someone else: a 404
# on them is a denial of access to an existing object, which must be logged. ("mixed" pairs a
# visible case with another case's evidence or identifier: a pair that does not exist.)
EXISTING = {"std", "restricted", "pending", "analysts", "claimed", "associates"}


# --- The table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who passes a route's gates.

    ``may``: the actors the route's capability lets through (None: whoever sees the object).
    ``sees``: per object variant, who sees that object; anyone else gets 404.
    ``order``: "gate" when the capability is checked before the object is looked up (members
    without it get 403 whatever the id), "object" when the object comes first (404 for those
    who do not see it, then 403 for those who see it without the capability).
    ``body``: what a POST/PATCH sends (default: an empty form or ``{}``); a valid body where
    the route has one, so that those let through really get through (every request is rolled
    back, so a valid body is safe). Those refused get the same answer with an empty body
    (``test_a_refusal_comes_before_the_body_is_read``).
    ``cells``: single (actor, variant) exceptions, each with its reason in a comment.
    ``scopes``: for API routes, the key scope each method needs (None: no scope).
    """

    methods: tuple[str, ...]
    may: frozenset[str] | None = None
    sees: dict[str, frozenset[str]] = field(default_factory=dict)
    order: str = "gate"
    body: object = None
    query: str = ""
    cells: dict[tuple, object] = field(default_factory=dict)
    scopes: dict[str, str | None] = field(default_factory=dict)
    public: object = None
    api: bool = False
    # Per method, who the capability lets through when it differs from ``may`` (a list that
    # every investigator reads and fewer write).
    method_may: dict[str, frozenset[str]] = field(default_factory=dict)


def _rule(methods, may, *, sees=None, order=None, **kwargs) -> Rule:
    if order is None:
        order = "object" if may is None else "gate"
    return Rule(
        methods=tuple(methods),
        may=None if may is None else frozenset(may),
        sees=sees or {},
        order=order,
        **kwargs,
    )


def page(may=None, *, methods=("GET",), **kwargs) -> Rule:
    return _rule(methods, may, **kwargs)


def api(scopes: dict[str, str | None], may=None, **kwargs) -> Rule:
    return _rule(tuple(scopes), may, scopes=scopes, api=True, **kwargs)


def public(methods=("GET",), answer=OK) -> Rule:
    return Rule(methods=tuple(methods), public=answer)


def objects(std=NOBODY, restricted=NOBODY, **others) -> dict[str, frozenset[str]]:
    """Who sees each object variant ("missing" is seen by nobody, "restricted" by CS only
    unless said otherwise)."""
    seen = {"std": frozenset(std), "restricted": frozenset(restricted), "missing": NOBODY}
    seen.update({name: frozenset(actors) for name, actors in others.items()})
    return seen


CS = frozenset({CHILD_SAFETY})
# Rules and backtests: seniors read them all; a rule's action is seen with its case.
RULES = objects(std=SENIORS)
BACKTESTS = objects(std=SENIORS)
RULE_ACTIONS = objects(std=WORKERS, restricted=CS)
POST = ("POST",)
GET_POST = ("GET", "POST")
# Spam cases (unclaimed, claimed by someone else, claimed by the associate); the child-safety
# case.
CASES = objects(std=WORKERS, restricted=CS, claimed=WORKERS, associates=WORKERS)
# Above the case: accounts follow their cases; an open cluster is every investigator's, the
# team's cluster the team's; the wave is its requester's (the analyst's) and the seniors';
# the open file its owner's (the senior) and member's (the analyst), the team's file the team
# member's.
INVESTIGATORS = WORKERS | TEAMS
ACCOUNTS = objects(std=WORKERS, restricted=CS)
CLUSTERS = objects(std=WORKERS | TEAMS, restricted=CS)
WAVES = objects(std=ANALYSTS)
FILES = objects(std=ANALYSTS, restricted=CS)
REPORTERS = objects(std=SENIORS)
# A detector is seen by whoever counts one of its flags: the standard one by the seniors, the
# one flagging only the child-safety case by no actor of the matrix who reads figures.
DETECTORS = objects(std=SENIORS, restricted=frozenset())
# Alerts about open work are for analysts and seniors; a team's alert is the team's alone.
ALERTS = objects(std=ANALYSTS, restricted=CS)


def reason(w, kw) -> dict:
    return {"reason": "matrix"}


def note(w, kw) -> dict:
    return {"note": "matrix"}


def decision(w, kw) -> dict:
    """A valid decision on the case in the URL (no violation, so no section or action)."""
    case = Case.objects.filter(pk=kw.get("case_id")).first()
    return {
        "outcome": "no_violation",
        "rationale": "matrix",
        "version": case.version if case else 1,
    }


# Skipped, each with its reason (a key ending in "/" is a path prefix, the others are route
# names); everything else must be in TABLE.
SKIPPED = {
    "admin/": "Django admin internals: is_staff only (test_the_admin_is_for_staff_only), "
    "restricted rows filtered by each app's admin",
    "schema": "the OpenAPI schema: public by design, fuzzed by the schemathesis suite",
    "swagger-ui": "the API docs page showing that schema: public by design",
    "static/": "static files: served by WhiteNoise's middleware, no URL pattern (no media)",
}

TABLE: dict[str, Rule] = {
    # --- Shell ---------------------------------------------------------------------------------
    "home": page(CONSOLE),
    "favicon": public(),
    # Every member edits only their own preferences and marks only their own notifications.
    "preferences": page(CONSOLE, methods=GET_POST),
    "notifications-read-all": page(CONSOLE, methods=POST),
    "healthz": public(),
    "access-log": page(SENIORS),
    "login": public(GET_POST),
    "logout": public(POST, answer=LOGIN),  # signs out and sends to the login page
    # --- Queues and cases ----------------------------------------------------------------------
    # Lists are for every console member: each shows only what its reader may see.
    "cases:queue-list": page(CONSOLE),
    "cases:queue-detail": page(sees=CASES),
    "cases:queue-claim-next": page(methods=POST, sees=CASES),
    "cases:queue-bulk": page(
        ANALYSTS,
        order="object",
        methods=POST,
        sees=CASES,
        body=lambda w, kw: {"operation": "tag", "tag": "matrix", "cases": str(w.case_std.pk)},
    ),
    "cases:case-detail": page(sees=CASES),
    # An escalated case is worked through its escalation, never claimed.
    "cases:case-claim": page(methods=POST, sees=CASES, cells={(CHILD_SAFETY, "restricted"): 403}),
    # The claimant releases (or skips) a claim; an analyst may release anyone's.
    "cases:case-release": page(methods=POST, sees=CASES, cells={(ASSOCIATE, "claimed"): 403}),
    "cases:case-edit": page(methods=POST, sees=CASES),
    "cases:case-note-add": page(methods=POST, sees=CASES),
    "cases:case-evidence-add": page(methods=POST, sees=CASES),
    # Reopening (rework) is for analysts and above, and the case's team when restricted;
    # the matrix's cases are open, so those may only learn that (a message, no change).
    "cases:case-reopen": page(ANALYSTS | CS, order="object", methods=POST, sees=CASES, body=reason),
    # A click reveals on a standard queue; the restricted case asks the team for a reason
    # (the empty body is answered 400 naming it).
    "cases:case-evidence-reveal": page(
        methods=POST, sees=objects(std=WORKERS, restricted=CS, mixed=NOBODY)
    ),
    # Media evidence: the thumbnail (blurred while sensitive and not revealed) for whoever sees
    # the case; the original too, but a sensitive one (the restricted case's) only once the
    # member revealed it in their session.
    "cases:media-thumb": page(sees=objects(std=WORKERS, restricted=CS, mixed=NOBODY)),
    "cases:media-original": page(
        sees=objects(std=WORKERS, restricted=CS, mixed=NOBODY),
        cells={(CHILD_SAFETY, "restricted"): 403},  # not revealed yet
    ),
    # Team membership gives no PII capability (DESIGN: reveal is for associates and up).
    "cases:case-identifier-reveal": page(
        methods=POST,
        sees=objects(std=WORKERS, restricted=CS, mixed=NOBODY),
        cells={(CHILD_SAFETY, "restricted"): 403},
    ),
    "cases:case-lease-renew": page(methods=POST, sees=CASES),
    "cases:search": page(CONSOLE),
    # --- Enforcement ---------------------------------------------------------------------------
    "enforcement:approval-list": page(SENIORS),
    "enforcement:lookup": page({SUPPORT, SENIOR}),
    # Deciding is for the claimant, a senior, or the team an escalated case is with.
    "enforcement:case-decide": page(
        {SENIOR, CHILD_SAFETY},
        order="object",
        methods=POST,
        sees=CASES,
        body=decision,
        cells={(ASSOCIATE, "associates"): OK},
    ),
    "enforcement:case-draft-statement": page(sees=CASES),
    # Acting on an action needs its case in sight (support's lookup shows public facts only).
    "enforcement:action-approve": page(
        SENIORS,
        order="object",
        methods=POST,
        sees=objects(std=WORKERS, pending=WORKERS, restricted=CS),
    ),
    "enforcement:action-reject": page(
        SENIORS,
        order="object",
        methods=POST,
        sees=objects(std=WORKERS, pending=WORKERS, restricted=CS),
        body=reason,
    ),
    "enforcement:action-reverse": page(
        SENIORS,
        order="object",
        methods=POST,
        sees=objects(std=WORKERS, pending=WORKERS, restricted=CS),
        body=reason,
    ),
    "enforcement:queue-decide": page(ANALYSTS, order="object", methods=POST, sees=CASES),
    # Response templates: read by whoever decides cases, kept by seniors; the snippets of a
    # section come through a case the actor sees (nothing of the case is in them).
    "enforcement:response-template-list": page(WORKERS | TEAMS),
    "enforcement:response-template-create": page(SENIORS, methods=GET_POST),
    "enforcement:response-template-preview": page(SENIORS, methods=POST),
    "enforcement:response-template-edit": page(
        SENIORS, methods=GET_POST, sees=objects(std=SENIORS)
    ),
    "enforcement:response-template-retire": page(SENIORS, methods=POST, sees=objects(std=SENIORS)),
    "enforcement:case-snippets": page(sees=CASES, query="policy_section=SPAM-1.1"),
    # --- Appeals -------------------------------------------------------------------------------
    "appeals:appeal-list": page(ANALYSTS | TEAMS),
    # Claim-next serves the appeals queue, which is for roles: team members open their
    # team's restricted appeals from the list.
    "appeals:appeal-claim-next": page(
        ANALYSTS | TEAMS, methods=POST, cells={(CHILD_SAFETY, None): 404, (THREATS, None): 404}
    ),
    "appeals:overview": page(SENIORS),
    "appeals:appeal-file": page({SUPPORT}, methods=GET_POST),
    "appeals:appeal-detail": page(ANALYSTS | TEAMS, sees=objects(std=ANALYSTS, restricted=CS)),
    "appeals:appeal-claim": page(
        ANALYSTS | TEAMS, methods=POST, sees=objects(std=ANALYSTS, restricted=CS)
    ),
    "appeals:appeal-release": page(
        ANALYSTS | TEAMS, methods=POST, sees=objects(std=ANALYSTS, restricted=CS)
    ),
    "appeals:appeal-lease-renew": page(
        ANALYSTS | TEAMS, methods=POST, sees=objects(std=ANALYSTS, restricted=CS)
    ),
    "appeals:appeal-decide": page(
        ANALYSTS | TEAMS, methods=POST, sees=objects(std=ANALYSTS, restricted=CS)
    ),
    # Support follows the appeals it files (public facts only, restricted ones included, as
    # the enforcement lookup shows them); deciders follow those they may decide.
    "appeals:appeal-status": page(
        sees=objects(std={SUPPORT} | ANALYSTS, restricted={SUPPORT, SENIOR, CHILD_SAFETY})
    ),
    "appeals:notification-read": page(methods=POST, sees={"analysts": frozenset({ANALYST})}),
    # --- Escalations ---------------------------------------------------------------------------
    "escalations:team-inbox-list": page(TEAMS),
    # The std escalation went to fraud & security: its case stays in sight of its queue.
    "escalations:escalation-detail": page(sees=objects(std=ANALYSTS, restricted=CS)),
    # Working an escalation is for its team only: for anyone else it does not exist.
    "escalations:escalation-acknowledge": page(methods=POST, sees=objects(restricted=CS)),
    "escalations:escalation-resolve": page(
        methods=POST, sees=objects(restricted=CS), body=lambda w, kw: {"outcome": "matrix"}
    ),
    "escalations:escalation-return": page(
        methods=POST, sees=objects(restricted=CS), body=lambda w, kw: {"note": "matrix"}
    ),
    "escalations:case-escalate": page(ANALYSTS | TEAMS, methods=POST, sees=CASES),
    # --- QA ------------------------------------------------------------------------------------
    "qa:home": page(WORKERS),
    "qa:plan-create": page(SENIORS, methods=GET_POST),
    # The restricted plan samples child-safety decisions: for seniors of that team only.
    "qa:plan-detail": page(SENIORS, methods=GET_POST, sees=objects(std=SENIORS)),
    "qa:plan-draw": page(SENIORS, methods=POST, sees=objects(std=SENIORS)),
    "qa:sample-detail": page(SENIORS, sees=objects(std=SENIORS)),
    "qa:review-list": page(ANALYSTS),
    "qa:review-claim-next": page(ANALYSTS, methods=POST),
    # Reviews are for reviewers; the analyst reads their own once it is scored. The restricted
    # review is for reviewers of the child-safety team (none among these actors).
    "qa:review-detail": page(sees=objects(std=ANALYSTS, analysts=ANALYSTS)),
    # Nobody reviews their own decision.
    "qa:review-claim": page(
        ANALYSTS,
        methods=POST,
        sees=objects(std=ANALYSTS, analysts=ANALYSTS),
        cells={(ANALYST, "analysts"): 403},
    ),
    "qa:review-release": page(
        ANALYSTS, methods=POST, sees=objects(std=ANALYSTS, analysts=ANALYSTS)
    ),
    "qa:review-answer": page(ANALYSTS, methods=POST, sees=objects(std=ANALYSTS, analysts=ANALYSTS)),
    "qa:review-score": page(ANALYSTS, methods=POST, sees=objects(std=ANALYSTS, analysts=ANALYSTS)),
    # Only the analyst whose decision was reviewed responds.
    "qa:review-respond": page(
        {ANALYST},
        order="object",
        methods=POST,
        sees=objects(std=ANALYSTS, analysts=ANALYSTS),
        cells={(ANALYST, "std"): 403},
        body=lambda w, kw: {"response": "acknowledge"},
    ),
    "qa:review-adjudicate": page(
        SENIORS, methods=POST, sees=objects(std=SENIORS, analysts=SENIORS)
    ),
    "qa:review-reverse": page(
        SENIORS,
        methods=POST,
        sees=objects(std=SENIORS, analysts=SENIORS),
        body=lambda w, kw: {"action_id": w.action_pending.pk, "reason": "matrix"},
    ),
    "qa:my-feedback": page(WORKERS),
    "qa:dispute-list": page(SENIORS),
    "qa:figures": page(WORKERS),
    # Sessions: the senior who runs QA manages them; participants (the analyst) answer.
    "qa:calibration-list": page(CONSOLE),
    "qa:calibration-create": page(SENIORS, methods=GET_POST),
    "qa:calibration-detail": page(sees=objects(std={SENIOR, ANALYST})),
    "qa:calibration-invite": page(
        SENIORS, order="object", methods=POST, sees=objects(std={SENIOR, ANALYST})
    ),
    "qa:calibration-open": page(
        SENIORS, order="object", methods=POST, sees=objects(std={SENIOR, ANALYST})
    ),
    "qa:calibration-submit": page(
        {ANALYST}, order="object", methods=POST, sees=objects(std={SENIOR, ANALYST})
    ),
    "qa:calibration-close": page(
        SENIORS, order="object", methods=POST, sees=objects(std={SENIOR, ANALYST})
    ),
    "qa:calibration-case": page(methods=GET_POST, sees={"std": frozenset({SENIOR, ANALYST})}),
    "qa:calibration-clarification": page(
        SENIORS, order="object", methods=POST, sees={"std": frozenset({SENIOR, ANALYST})}
    ),
    "qa:calibration-results": page(sees=objects(std={SENIOR, ANALYST})),
    "qa:calibration-export": page(SENIORS, sees=objects(std=SENIORS)),
    # --- Metrics -------------------------------------------------------------------------------
    "metrics:dashboard": page(SENIORS),
    "metrics:live": page(SENIORS),
    "metrics:my-figures": page(WORKERS | TEAMS),
    "metrics:transparency": page(SENIORS),
    "metrics:transparency-csv": page(SENIORS),
    "detection:detector-list": page(SENIORS),
    "detection:detector-detail": page(SENIORS, sees=DETECTORS),
    # --- Detection -----------------------------------------------------------------------------
    # Labelled data is an export: seniors (the download without a period is answered 400).
    "detection:labels": page(SENIORS),
    "detection:labels-download": page(SENIORS),
    # --- Workspace (exposure, presence) --------------------------------------------------------
    # Reviewers see their own exposure, leads everyone's on the same page; seniors extend a
    # budget (the empty body is answered 400). Presence follows the case's and queue's sight.
    "workspace:exposure": page(WORKERS | TEAMS),
    "workspace:override-grant": page(SENIORS, methods=POST),
    "workspace:case-presence": page(methods=POST, sees=CASES),
    "workspace:queue-presence": page(sees=CASES),
    # --- Above the case (accounts, networks, clusters, waves, investigation files) -------------
    # Investigators (workers and team members) open the accounts they can see a case of: the
    # standard account's only case is the spam queue's, the hidden account's only case the
    # child-safety team's. Associates reveal a masked identifier with a reason.
    "investigations:account-search": page(INVESTIGATORS),
    "investigations:account": page(INVESTIGATORS, sees=ACCOUNTS),
    # Team members see identifiers masked and have no reveal (as on the case page).
    "investigations:account-identifier-reveal": page(
        INVESTIGATORS,
        methods=POST,
        sees=objects(std=WORKERS, restricted=CS, mixed=NOBODY),
        body=reason,
        cells={(CHILD_SAFETY, "restricted"): 403},
    ),
    "investigations:account-network": page(INVESTIGATORS, sees=ACCOUNTS),
    "investigations:account-network-data": page(INVESTIGATORS, sees=ACCOUNTS),
    # Every investigator reads clusters; analysts, seniors and team members build and dismiss
    # them. The team's cluster is its own.
    "investigations:cluster-list": page(INVESTIGATORS),
    "investigations:cluster-create": page(ANALYSTS | TEAMS, methods=GET_POST),
    "investigations:cluster-detail": page(INVESTIGATORS, sees=CLUSTERS),
    "investigations:cluster-network": page(INVESTIGATORS, sees=CLUSTERS),
    "investigations:cluster-status": page(
        INVESTIGATORS,
        methods=POST,
        sees=CLUSTERS,
        cells={(ASSOCIATE, "std"): 403},  # associates read clusters only
    ),
    # Waves: analysts and seniors run them on the clusters they see; a severe wave waits for a
    # senior who did not ask for it (the analyst asked for the matrix's wave).
    "investigations:wave-new": page(ANALYSTS, methods=GET_POST, sees=CLUSTERS),
    "investigations:wave-list": page(ANALYSTS),
    "investigations:wave-detail": page(sees=WAVES),
    "investigations:wave-progress": page(sees=WAVES),
    "investigations:wave-approve": page(SENIORS, methods=POST, sees=WAVES),
    "investigations:wave-reject": page(SENIORS, methods=POST, sees=WAVES, body=reason),
    # Investigation files: seniors open them; the owner and members see them, a restricted
    # file only its team's members.
    "investigations:investigation-list": page(CONSOLE - {SUPPORT}),
    "investigations:investigation-create": page(SENIORS, methods=GET_POST),
    "investigations:investigation-detail": page(sees=FILES),
    "investigations:investigation-edit": page(methods=POST, sees=FILES),
    "investigations:investigation-links": page(methods=POST, sees=FILES),
    "investigations:investigation-note-add": page(methods=POST, sees=FILES),
    "investigations:investigation-report": page(sees=FILES),
    # Detection: reporters, seniors only; a reporter seen only on the restricted case is
    # nobody's outside its team (and no senior of the matrix is on it).
    # Detection: rules and backtests are the seniors' (no rule is restricted: its matches,
    # figures and samples are filtered for the reader); what a rule asked for on a case is
    # called off by whoever works the case.
    "detection:rule-list": page(SENIORS),
    "detection:rule-create": page(SENIORS, methods=GET_POST),
    "detection:rule-detail": page(SENIORS, sees=RULES),
    "detection:rule-version": page(SENIORS, methods=POST, sees=RULES),
    "detection:rule-state": page(SENIORS, methods=POST, sees=RULES),
    "detection:rule-backtest": page(SENIORS, methods=POST, sees=RULES),
    "detection:rule-snooze": page(SENIORS, methods=POST, sees=RULES),
    "detection:backtest-detail": page(SENIORS, sees=BACKTESTS),
    "detection:rule-action-intervene": page(methods=POST, sees=RULE_ACTIONS, body=note),
    "detection:reporter-list": page(SENIORS),
    "detection:reporter": page(SENIORS, sees=REPORTERS),
    "detection:reporter-invalidate": page(SENIORS, methods=POST, sees=REPORTERS, body=reason),
    "detection:reporter-restore": page(SENIORS, methods=POST, sees=REPORTERS, body=reason),
    # --- Detection -----------------------------------------------------------------------------
    "detection:alert-list": page(ANALYSTS | TEAMS),
    "detection:alert-detail": page(sees=ALERTS),
    "detection:alert-acknowledge": page(methods=POST, sees=ALERTS),
    "detection:alert-resolve": page(
        methods=POST, sees=ALERTS, body=lambda w, kw: {"resolution": "matrix"}
    ),
    # --- REST API ------------------------------------------------------------------------------
    "api:me": api({"GET": None}, ROLES),
    "api:access-log": api({"GET": "metrics:read"}, SENIORS),
    # A job is its creator's (here the analyst's) and every approving senior's.
    "api:job-detail": api({"GET": "cases:read"}, sees=objects(std=ANALYSTS)),
    "api:report-create": api({"POST": "reports:write"}, WORKERS | {PLATFORM}),
    "api:report-bulk": api(
        {"POST": "reports:write"}, WORKERS | {PLATFORM}, body=lambda w, kw: {"reports": []}
    ),
    "api:queue-list": api({"GET": "cases:read"}, ROLES),
    "api:queue-claim": api({"POST": "cases:write"}, sees=CASES),
    "api:case-list": api({"GET": "cases:read"}, ROLES),
    "api:case-detail": api({"GET": "cases:read", "PATCH": "cases:write"}, sees=CASES),
    "api:case-release": api(
        {"POST": "cases:write"}, sees=CASES, cells={(ASSOCIATE, "claimed"): 403}
    ),
    "api:case-notes": api(
        {"POST": "cases:write"}, sees=CASES, body=lambda w, kw: {"body": "matrix note"}
    ),
    "api:search": api({"GET": "cases:read"}, ROLES),
    "api:policy-list": api({"GET": "cases:read"}, ROLES),
    "api:case-decision": api(
        {"POST": "cases:write"},
        {SENIOR, CHILD_SAFETY},
        order="object",
        sees=CASES,
        body=decision,
        cells={(ASSOCIATE, "associates"): OK},
    ),
    "api:decision-bulk": api(
        {"POST": "cases:write"},
        ANALYSTS,
        body=lambda w, kw: {"case_ids": [], "outcome": "no_violation", "rationale": "matrix"},
    ),
    "api:action-approve": api(
        {"POST": "cases:write"},
        SENIORS,
        order="object",
        sees=objects(std=WORKERS, pending=WORKERS, restricted=CS),
    ),
    "api:action-reject": api(
        {"POST": "cases:write"},
        SENIORS,
        order="object",
        sees=objects(std=WORKERS, pending=WORKERS, restricted=CS),
        body=reason,
    ),
    "api:action-reverse": api(
        {"POST": "cases:write"},
        SENIORS,
        order="object",
        sees=objects(std=WORKERS, pending=WORKERS, restricted=CS),
        body=reason,
    ),
    # Public facts of any enforcement, restricted ones included: what support tells the user.
    "api:subject-enforcement": api(
        {"GET": "enforcement:read"},
        {SUPPORT, SENIOR},
        sees=objects(std={SUPPORT, SENIOR}, restricted={SUPPORT, SENIOR}),
    ),
    "api:action-statement-of-reasons": api(
        {"GET": "enforcement:read"},
        sees=objects(
            std={SUPPORT, SENIOR, PLATFORM} | WORKERS,
            pending={SUPPORT, SENIOR, PLATFORM} | WORKERS,
            restricted={SUPPORT, SENIOR, PLATFORM, CHILD_SAFETY},
        ),
    ),
    "api:statement-export": api(
        {"GET": "enforcement:read"}, {SENIOR, PLATFORM}, query="from=2026-01-01&to=2026-01-31"
    ),
    "api:appeal-create": api(
        {"POST": "appeals:write"},
        {SUPPORT, PLATFORM},
        body=lambda w, kw: {
            "action_id": w.action_pending.pk,
            "statement": "matrix",
            "external_id": "matrix-appeal-new",
        },
    ),
    "api:appeal-detail": api(
        {"GET": "appeals:write"},
        sees=objects(
            std={SUPPORT, PLATFORM} | ANALYSTS, restricted={SUPPORT, PLATFORM, SENIOR} | CS
        ),
    ),
    "api:appeal-decision": api({"POST": "cases:write"}, sees=objects(std=ANALYSTS, restricted=CS)),
    "api:case-escalations": api(
        {"POST": "cases:write"},
        ANALYSTS | TEAMS,
        order="object",
        sees=CASES,
        body=lambda w, kw: {
            "team": "fraud-security",
            "severity": "P2",
            "summary": "matrix",
            "criteria": "matrix",
        },
    ),
    "api:escalation-list": api({"GET": "cases:read"}, ROLES),
    "api:escalation-detail": api({"GET": "cases:read"}, sees=objects(std=ANALYSTS, restricted=CS)),
    "api:escalation-acknowledge": api({"POST": "cases:write"}, sees=objects(restricted=CS)),
    "api:escalation-resolve": api(
        {"POST": "cases:write"},
        sees=objects(restricted=CS),
        body=lambda w, kw: {"outcome": "matrix"},
    ),
    "api:escalation-return": api(
        {"POST": "cases:write"}, sees=objects(restricted=CS), body=lambda w, kw: {"note": "matrix"}
    ),
    "api:qa-review-list": api({"GET": "qa:read"}, ANALYSTS),
    "api:qa-review-claim-next": api({"POST": "qa:write"}, ANALYSTS),
    "api:qa-review-detail": api(
        {"GET": "qa:read", "POST": "qa:write"}, sees=objects(std=ANALYSTS, analysts=ANALYSTS)
    ),
    "api:qa-pass-rates": api({"GET": "qa:read"}, ROLES),
    "api:calibration-session-list": api({"GET": "qa:read"}, ROLES),
    "api:calibration-results": api({"GET": "qa:read"}, sees=objects(std={SENIOR, ANALYST})),
    "api:account-detail": api({"GET": "cases:read"}, INVESTIGATORS, sees=ACCOUNTS),
    "api:account-network": api({"GET": "cases:read"}, INVESTIGATORS, sees=ACCOUNTS),
    "api:cluster-list": api(
        {"GET": "cases:read", "POST": "cases:write"},
        INVESTIGATORS,
        method_may={"POST": ANALYSTS | TEAMS},
    ),
    "api:cluster-detail": api({"GET": "cases:read"}, INVESTIGATORS, sees=CLUSTERS),
    "api:cluster-enforcement": api({"POST": "cases:write"}, ANALYSTS, sees=CLUSTERS),
    "api:wave-detail": api({"GET": "cases:read"}, sees=WAVES),
    "api:investigation-list": api(
        {"GET": "cases:read", "POST": "cases:write"},
        CONSOLE - {SUPPORT},
        method_may={"POST": SENIORS},
    ),
    # Members read a file; its owner (and members who may open files) change it.
    "api:investigation-detail": api(
        {"GET": "cases:read", "PATCH": "cases:write"},
        sees=FILES,
        cells={(ANALYST, "std", "PATCH"): 403, (CHILD_SAFETY, "restricted", "PATCH"): 403},
    ),
    "api:rule-list": api({"GET": "rules:read", "POST": "rules:write"}, SENIORS),
    "api:rule-detail": api({"GET": "rules:read"}, SENIORS, sees=RULES),
    "api:rule-versions": api({"POST": "rules:write"}, SENIORS, sees=RULES),
    "api:rule-shadow": api({"POST": "rules:write"}, SENIORS, sees=RULES),
    "api:rule-activate": api({"POST": "rules:write"}, SENIORS, sees=RULES),
    "api:rule-retire": api({"POST": "rules:write"}, SENIORS, sees=RULES),
    "api:rule-resume": api({"POST": "rules:write"}, SENIORS, sees=RULES),
    "api:rule-snoozes": api({"POST": "rules:write"}, SENIORS, sees=RULES),
    "api:rule-backtests": api({"POST": "rules:write"}, SENIORS, sees=RULES),
    "api:backtest-detail": api({"GET": "rules:read"}, SENIORS, sees=BACKTESTS),
    "api:rule-action-intervene": api({"POST": "cases:write"}, sees=RULE_ACTIONS, body=note),
    "api:reporter-detail": api({"GET": "cases:read"}, SENIORS, sees=REPORTERS),
    "api:reporter-invalidate": api({"POST": "cases:write"}, SENIORS, sees=REPORTERS, body=reason),
    "api:reporter-restore": api({"POST": "cases:write"}, SENIORS, sees=REPORTERS, body=reason),
    "api:alert-list": api({"GET": "metrics:read"}, ANALYSTS | TEAMS),
    "api:alert-detail": api({"GET": "metrics:read"}, sees=ALERTS),
    "api:alert-acknowledge": api({"POST": "cases:write"}, sees=ALERTS),
    "api:alert-resolve": api(
        {"POST": "cases:write"}, sees=ALERTS, body=lambda w, kw: {"resolution": "matrix"}
    ),
    "api:metrics-kpis": api({"GET": "metrics:read"}, SENIORS),
    "api:metrics-transparency-report": api({"GET": "metrics:read"}, SENIORS),
    # --- Detection: detectors are read by those who read the metrics -------------------------
    "api:detector-list": api({"GET": "metrics:read"}, SENIORS),
    "api:detector-operating-points": api({"GET": "metrics:read"}, SENIORS, sees=DETECTORS),
    "api:exports-labels": api({"GET": "metrics:read"}, SENIORS),
}


def expected(rule: Rule, actor: str, method: str, variant: str | None):
    """What the table says ``actor`` gets for ``method`` on the route (and object variant)."""
    if rule.public is not None:
        return rule.public
    if actor == ANONYMOUS:
        return 401 if rule.api else LOGIN
    if rule.api:
        scope = rule.scopes.get(method)
        if actor.startswith("platform:"):
            if scope is not None and actor != f"platform:{scope}":
                return 403
            actor = PLATFORM
        elif actor == "senior-scope":
            if scope is not None:
                return 403
            actor = SENIOR
        if actor not in ROLES:
            return 403
    elif actor not in CONSOLE:
        return 403
    if (actor, variant, method) in rule.cells:
        return rule.cells[(actor, variant, method)]
    if (actor, variant) in rule.cells:
        return rule.cells[(actor, variant)]
    sees = variant is None or actor in rule.sees.get(variant, NOBODY)
    may_set = rule.method_may.get(method, rule.may)
    may = may_set is None or actor in may_set
    if rule.order == "gate" and not may:
        return 403
    if not sees:
        return 404
    return OK if may else 403


# --- Walking the URL configuration -------------------------------------------------------------


@dataclass
class Route:
    name: str
    pattern: str
    callback: object
    params: frozenset[str]


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            yield Route(
                name=name or f"<unnamed {prefix}{pattern.pattern}>",
                pattern=prefix + str(pattern.pattern),
                callback=pattern.callback,
                params=frozenset(pattern.pattern.converters),
            )


def _skipped(route: Route) -> bool:
    prefixes = tuple(key for key in SKIPPED if key.endswith("/"))
    return route.name in SKIPPED or route.pattern.startswith(prefixes)


ROUTES = [route for route in _walk(get_resolver().url_patterns) if not _skipped(route)]


def _drf_methods(callback) -> tuple[str, ...] | None:
    view_class = getattr(callback, "cls", None)
    if view_class is None or not hasattr(view_class, "permission_classes"):
        return None
    return tuple(
        m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)
    )


# --- Tests -------------------------------------------------------------------------------------


def test_what_is_skipped_exists_and_is_all_that_is_skipped():
    every = list(_walk(get_resolver().url_patterns))
    names = {route.name for route in every}
    for key in SKIPPED:
        if key == "static/":
            assert not [r for r in every if r.pattern.startswith(key)]
        elif key.endswith("/"):
            assert [r for r in every if r.pattern.startswith(key)], key
        else:
            assert key in names, key


def test_the_actors_cover_every_scope():
    from tsops import roles

    assert set(SCOPES) == set(roles.SCOPES), "give the platform a key for each scope"


def test_every_route_has_an_entry():
    names = {route.name for route in ROUTES}
    missing = sorted(names - set(TABLE))
    assert not missing, f"routes without an entry in the permission table: {missing}"
    stale = sorted(set(TABLE) - names)
    assert not stale, f"table entries for routes that no longer exist: {stale}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_the_table_declares_each_route_s_methods_and_objects(route):
    rule = TABLE.get(route.name)
    if rule is None:
        pytest.fail(f"{route.name} ({route.pattern}) has no entry in the permission table")
    drf = _drf_methods(route.callback)
    assert rule.api == (drf is not None), f"{route.name}: api() is for DRF views, page() not"
    if drf is not None:
        assert set(rule.methods) == set(drf), f"{route.name}: the view answers {drf}"
    if route.params:
        variants = VARIANTS.get(route.params)
        assert variants is not None, f"{route.name}: no object variants for {set(route.params)}"
        if rule.public is None:
            undeclared = {v for v in variants if v != "missing"} - set(rule.sees)
            assert not undeclared, f"{route.name}: who sees {sorted(undeclared)}?"


def test_the_table_never_lets_a_refusal_tell_a_restricted_object_from_a_missing_one():
    """Whoever does not see the restricted object must get exactly what a missing id gets;
    otherwise the answer would confirm that it exists."""
    differ = []
    for name, rule in TABLE.items():
        if "restricted" not in rule.sees or "missing" not in rule.sees:
            continue
        for method in rule.methods:
            for actor in API_ACTORS if rule.api else HTML_ACTORS:
                person = PLATFORM if actor.startswith("platform:") else actor
                if person.replace("senior-scope", SENIOR) in rule.sees["restricted"]:
                    continue
                hidden = expected(rule, actor, method, "restricted")
                if hidden != expected(rule, actor, method, "missing"):
                    differ.append(f"{name} {method} {actor}: {hidden}")
    assert not differ, differ


class _Writes:
    """Rows inserted, updated or deleted in this transaction per table (PostgreSQL's own
    counters), ignoring what any request may touch: its session, its key's last use and the
    access log (which records refusals on purpose)."""

    IGNORED = (
        "django_session",
        "tsops_accesslog",
        "tsops_apikey",
        "axes_accessattempt",
        "axes_accesslog",
        "axes_accessfailurelog",
    )

    @classmethod
    def snapshot(cls) -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables "
                "WHERE relname <> ALL(%s)",
                [list(cls.IGNORED)],
            )
            return dict(cursor.fetchall())


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _outcome(response) -> object:
    status = response.status_code
    if status == 302 and response["Location"].startswith("/accounts/login/"):
        return LOGIN
    if status in PASSED:
        return OK
    return status


@pytest.fixture(scope="module")
def clients(world, django_db_blocker) -> dict[str, Client]:
    """A signed-in test client per actor, its session made in the module's transaction so
    that every test of the module sees it."""
    html = {ANONYMOUS: Client()}
    with django_db_blocker.unblock():
        for name, user in world.users.items():
            html[name] = Client()
            html[name].force_login(user)
    return html


def _api_client(world, actor: str, scope: str | None) -> APIClient:
    client = APIClient()
    if actor == ANONYMOUS:
        return client
    if actor == "senior-scope":
        key = world.keys[f"senior-{scope}"] if scope else world.keys[SENIOR]
    else:
        key = world.keys[actor]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _address() -> str:
    # Each request comes from a fresh address, so that the anonymous throttle (shared with
    # other test runs through Redis) never answers 429 instead of the gate.
    n = uuid4().int
    return f"10.{n % 251}.{(n >> 8) % 251}.{(n >> 16) % 251}"


def _request(client, method: str, url: str, rule: Rule, world, kwargs: dict):
    body = rule.body(world, kwargs) if rule.body is not None and method != "GET" else {}
    if rule.api:
        if method == "GET":
            return client.get(url, REMOTE_ADDR=_address())
        return client.generic(
            method,
            url,
            data=json.dumps(body),
            content_type="application/json",
            REMOTE_ADDR=_address(),
        )
    if method == "GET":
        return client.get(url, REMOTE_ADDR=_address())
    return client.generic(
        method,
        url,
        data=urlencode(body),
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=_address(),
    )


def _kwargs(route: Route, world, variant) -> dict:
    return VARIANTS[route.params][variant](world) if variant is not None else {}


def _url(route: Route, rule: Rule, world, variant) -> str:
    url = reverse(route.name, kwargs=_kwargs(route, world, variant))
    return f"{url}?{rule.query}" if rule.query else url


class _RequestLog(logging.Handler):
    """What Django's request logger says (it names every 4xx answer with its path)."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


REQUEST_LOG = _RequestLog()


@pytest.fixture(scope="module", autouse=True)
def _listen_to_the_request_log():
    logger = logging.getLogger("django.request")
    logger.addHandler(REQUEST_LOG)
    yield
    logger.removeHandler(REQUEST_LOG)


def _check(world, clients, route: Route, rule: Rule, method: str, variant, actor) -> list[str]:
    """One request in a savepoint that is rolled back; the problems found, if any."""
    url = _url(route, rule, world, variant)
    if rule.api:
        client = _api_client(world, actor, rule.scopes.get(method))
    else:
        client = clients[actor]
        cookies = copy.deepcopy(client.cookies)
    want = expected(rule, actor, method, variant)
    # Writes and denials are only looked at where they matter (a cell answered otherwise than
    # expected fails anyway), which keeps the matrix fast.
    refused, logged = want in REFUSALS, want == 404 or variant == "missing"
    writes, denials = {}, []
    seen_logs = len(REQUEST_LOG.records)
    with transaction.atomic():
        if logged:
            last_log = AccessLog.objects.order_by("-id").values_list("id", flat=True).first()
        before = _Writes.snapshot() if refused else {}
        response = _request(client, method, url, rule, world, _kwargs(route, world, variant))
        if refused:
            writes = {
                table: n - before.get(table, 0)
                for table, n in _Writes.snapshot().items()
                if n != before.get(table, 0)
            }
        body = _body(response)
        if logged:
            denials = list(
                AccessLog.objects.filter(id__gt=last_log or 0, action="denied").values_list(
                    "actor_username", "object_type", "object_id"
                )
            )
        transaction.set_rollback(True)
    if not rule.api:
        # Signing out (or in) must not change who the client is for the next cell.
        client.cookies = cookies
    got = _outcome(response)
    where = f"{method} {url} as {actor} ({variant or '-'})"
    problems = []
    if got != want:
        problems.append(f"{where}: expected {want}, got {response.status_code}")
    if got in REFUSALS and writes:
        problems.append(f"{where}: refused ({response.status_code}) but wrote {writes}")
    if RESTRICTED_MARKER in body and actor != CHILD_SAFETY:
        problems.append(f"{where}: restricted content in a {response.status_code} answer")
    if got == 404 and variant in EXISTING and actor not in (ANONYMOUS, NO_ROLE) and not denials:
        problems.append(f"{where}: 404 on an existing object left no 'denied' log entry")
    if variant == "missing" and denials:
        problems.append(f"{where}: a missing id was logged as a denial: {denials}")
    if got == 403 and variant == "restricted":
        traces = [
            r
            for r in REQUEST_LOG.records[seen_logs:]
            if getattr(r, "status_code", None) == 403 and url.split("?")[0] in r.getMessage()
        ]
        if not traces:
            problems.append(f"{where}: a 403 on the restricted object left no trace in the log")
    return problems


def _undeclared_method_problems(world, clients, route: Route, rule: Rule) -> list[str]:
    """A console page answers 405 to the methods the table does not give it (for someone who
    gets past its gates with the declared ones)."""
    if rule.api or rule.public is not None:
        return []
    variants = list(VARIANTS[route.params]) if route.params else [None]
    for variant in variants:
        for actor in sorted(CONSOLE):
            if expected(rule, actor, rule.methods[0], variant) != OK:
                continue
            problems = []
            for method in {"GET", "POST"} - set(rule.methods):
                url = _url(route, rule, world, variant)
                with transaction.atomic():
                    response = _request(
                        clients[actor], method, url, rule, world, _kwargs(route, world, variant)
                    )
                    transaction.set_rollback(True)
                if response.status_code != 405:
                    problems.append(f"{method} {url} as {actor}: {response.status_code}, not 405")
            return problems
    return [f"{route.name}: nobody gets past its gates, so its methods are not checked"]


def _refused_before_any_object(rule: Rule, method: str, actor: str) -> bool:
    """Actors the first gate refuses, before any object is looked up: nobody signed in, no
    role (and, in the console, the platform's service account), a key without the scope.
    They are asked about the route's first object only, which keeps the matrix fast."""
    if actor in (ANONYMOUS, NO_ROLE) or (actor == PLATFORM and not rule.api):
        return True
    scope = rule.scopes.get(method)
    if scope is None:
        return False
    return actor == "senior-scope" or (
        actor.startswith("platform:") and actor != f"platform:{scope}"
    )


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name in TABLE], ids=lambda r: r.name)
def test_route_answers_every_actor_as_the_table_says(route, world, clients):
    rule = TABLE[route.name]
    actors = API_ACTORS if rule.api else HTML_ACTORS
    variants = list(VARIANTS[route.params]) if route.params else [None]
    failures = _undeclared_method_problems(world, clients, route, rule)
    for method in rule.methods:
        for index, variant in enumerate(variants):
            for actor in actors:
                if index and _refused_before_any_object(rule, method, actor):
                    continue
                failures += _check(world, clients, route, rule, method, variant, actor)
    assert not failures, f"{route.name}: {len(failures)} problem(s)\n" + "\n".join(failures)


# --- Denials are logged; the admin; CSRF on the session-authenticated API ------------------------


def _denials(user):
    return AccessLog.objects.filter(actor=user, action=AccessLog.Action.DENIED)


def test_a_refused_existing_object_is_logged_once_with_who_what_and_where(world, clients, caplog):
    analyst, case = world.users[ANALYST], world.case_restricted
    with caplog.at_level("WARNING", logger="tsops.security"):
        page = clients[ANALYST].get(f"/cases/{case.pk}/", REMOTE_ADDR="10.1.2.3")
        rest = _api_client(world, ANALYST, None).get(f"/api/v1/cases/{case.pk}")
    assert page.status_code == 404 and rest.status_code == 404
    # Answered exactly like a missing case: nothing tells that this one exists.
    assert rest.json() == _api_client(world, ANALYST, None).get(f"/api/v1/cases/{MISSING}").json()
    entries = list(_denials(analyst).order_by("id"))
    assert [(e.object_type, e.object_id) for e in entries] == [("cases.case", str(case.pk))] * 2
    assert entries[0].ip_address == "10.1.2.3"
    assert entries[0].detail == {"method": "GET", "path": f"/cases/{case.pk}/"}
    assert entries[1].detail["path"] == f"/api/v1/cases/{case.pk}"
    warnings = [r.getMessage() for r in caplog.records if r.name == "tsops.security"]
    assert len(warnings) == 2 and all(f"cases.case#{case.pk}" in w for w in warnings)


def test_a_refusal_inside_a_service_transaction_is_still_logged(world, clients):
    """Reversing locks the action in a transaction that the 404 rolls back; the entry is
    written after it, by the 404 handler, so it stays."""
    senior, action = world.users[SENIOR], world.action_restricted
    response = clients[SENIOR].post(f"/actions/{action.pk}/reverse/", {"reason": "no"})
    assert response.status_code == 404
    assert list(_denials(senior).values_list("object_type", "object_id")) == [
        ("enforcement.enforcementaction", str(action.pk))
    ]


def test_a_missing_id_is_not_logged(world, clients, caplog):
    with caplog.at_level("WARNING", logger="tsops.security"):
        for url in (f"/cases/{MISSING}/", f"/escalations/{MISSING}/", f"/qa/reviews/{MISSING}/"):
            assert clients[SENIOR].get(url).status_code == 404
    assert not AccessLog.objects.filter(action=AccessLog.Action.DENIED).exists()
    assert not [r for r in caplog.records if r.name == "tsops.security"]


def test_the_admin_is_for_staff_only(world, clients):
    for actor in (ANONYMOUS, NO_ROLE, ASSOCIATE, ANALYST, SUPPORT, PLATFORM, CHILD_SAFETY):
        response = clients[actor].get("/admin/")
        assert response.status_code == 302, actor
        assert response["Location"].startswith("/admin/login/"), actor
    assert clients[SENIOR].get("/admin/").status_code == 200


def test_the_api_with_a_session_needs_the_csrf_token(world):
    """A browser session may call the API, but a write without the CSRF token is refused
    (an API key needs none: it is not sent by the browser on its own)."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.users[ANALYST])
    url = f"/api/v1/cases/{world.case_std.pk}/notes"
    response = client.post(url, {"body": "from another site"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    with_key = _api_client(world, ANALYST, None).post(url, {"body": "by key"}, format="json")
    assert with_key.status_code == 201


# Reads that take a query: each asks for the restricted case by what a curious member knows of
# it (a word of its text, its subject, its id, its team). Nothing of it (its marker, never sent
# in a query) may come back to anyone outside the child-safety team.
PROBES = (
    "/search/?q=material",
    "/search/?q=post-restricted",
    "/search/?q=%23{case}",
    "/queues/?team=child-safety",
    "/appeals/?status=",
    "/escalations/?status=",
    "/qa/reviews/?status=open",
    "/lookup/?q=post-restricted",
    "/metrics/live/?queue=child-safety",
    "/api/v1/search?q=material",
    "/api/v1/search?q=post-restricted",
    "/api/v1/search?q={case}",
    "/api/v1/cases?status=&queue=child-safety",
    "/api/v1/cases?status=",
    "/api/v1/escalations?team=child-safety",
    "/api/v1/qa/reviews?status=open",
    "/api/v1/subjects/content/post-restricted/enforcement",
)


@pytest.mark.parametrize("actor", sorted(CONSOLE - {CHILD_SAFETY}))
def test_probing_reads_return_nothing_of_the_restricted_case(actor, world, clients):
    case = world.case_restricted
    leaks = []
    for probe in PROBES:
        url = probe.format(case=case.pk)
        client = _api_client(world, actor, None) if url.startswith("/api/") else clients[actor]
        response = client.get(url, REMOTE_ADDR=_address())
        assert response.status_code < 500, url
        body = _body(response)
        if RESTRICTED_MARKER in body or f'"id": {case.pk},' in body.replace('"id":', '"id": '):
            leaks.append(f"{url} ({response.status_code})")
    assert not leaks, f"{actor} reads the restricted case through: {leaks}"


def test_the_team_finds_its_case_by_the_same_probes(world, clients):
    """The probes above can fail: the child-safety member gets the case back from them."""
    case = world.case_restricted
    page = clients[CHILD_SAFETY].get("/search/?q=material")
    assert RESTRICTED_MARKER in _body(page)
    found = _api_client(world, CHILD_SAFETY, None).get("/api/v1/search?q=post-restricted").json()
    assert [row["id"] for row in found["results"]] == [case.pk]


# --- A refusal does not depend on the body -----------------------------------------------------


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if r.name in TABLE and TABLE[r.name].body is not None],
    ids=lambda r: r.name,
)
def test_a_refusal_comes_before_the_body_is_read(route, world, clients):
    """Someone refused a write is refused whatever they send: an empty body gets the same
    403 or 404 as a valid one, never a 400 that names the fields they may not write."""
    rule = replace(TABLE[route.name], body=None)
    actors = API_ACTORS if rule.api else HTML_ACTORS
    variants = list(VARIANTS[route.params]) if route.params else [None]
    failures = []
    for method in [m for m in rule.methods if m != "GET"]:
        for index, variant in enumerate(variants):
            for actor in actors:
                if index and _refused_before_any_object(rule, method, actor):
                    continue
                if expected(rule, actor, method, variant) not in (403, 404):
                    continue
                failures += _check(world, clients, route, rule, method, variant, actor)
    assert not failures, f"{route.name}: {len(failures)} problem(s)\n" + "\n".join(failures)
