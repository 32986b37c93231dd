"""API fuzzing: Schemathesis drives every operation of the OpenAPI schema against the app.

The schema is the one drf-spectacular generates (what ``/api/schema/`` serves). Each operation
is called in-process (WSGI, real PostgreSQL, inside the test's transaction) with an API key of
every role that may call it, over a small seeded world, so that path ids often name real
cases, decisions, appeals, escalations, QA reviews and calibration sessions. For every answer:

- no 5xx (``not_a_server_error``);
- the status code, content type and body are those the schema documents for the operation
  (``status_code_conformance``, ``content_type_conformance``, ``response_schema_conformance``);
- input the schema forbids is refused with a 4xx (``negative_data_rejection``): generation
  runs in both positive and negative mode.

Deterministic (``derandomize``) and bounded (``MAX_EXAMPLES`` per operation) so it runs in
every ``make test``. Which roles call which operation is declared in ``CALLERS``: a new
operation fails :func:`test_every_operation_has_declared_callers` until it gets an entry.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, close_old_connections, transaction
from django.urls import resolve
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.services import api_key_create

MAX_EXAMPLES = 12

# Every test here reads the test database (the schema's enums are read from it); marked so
# that pytest-django creates it even when only a fixture-built world uses it.
pytestmark = pytest.mark.django_db


@functools.cache
def openapi_document() -> dict:
    """The OpenAPI document exactly as ``GET /api/schema/?format=json`` serves it. Generated
    with the test database at hand: its enums of stored codes (report reasons, queues, policy
    sections) are read when it is generated, as for every request of ``/api/schema/``."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw, renderer_context={}))


FUZZ_CONFIG = {
    "generation": {
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",
        # The Authorization header is ours (a real key per role), never generated.
        "with-security-parameters": False,
    },
    # 413 is how the bulk endpoints refuse a batch over their limit.
    "checks": {
        "negative_data_rejection": {
            "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422]
        }
    },
}


@pytest.fixture(scope="module")
def api_schema(world, django_db_blocker):
    with django_db_blocker.unblock():
        return schemathesis.openapi.from_dict(
            copy.deepcopy(openapi_document()),
            config=schemathesis.Config.from_dict(FUZZ_CONFIG),
        )


def fuzz_operation(schema, operation: str, call, *, max_examples: int) -> None:
    """Run ``call(case)`` on ``max_examples`` positive and as many negative examples of one
    operation ("METHOD /path"), deterministically.

    Written with Hypothesis directly rather than ``schemathesis.pytest.from_fixture``: that
    renames the running pytest item through ``node._nodeid``, which pytest 9 no longer has. The
    operations are the declared ones (``CALLERS``), so each is a test of its own anyway."""
    method, path = operation.split(" ", 1)
    api_operation = schema[path][method]
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=api_operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=max_examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            call(case)

        try:
            run()
        except Unsatisfiable:
            # Nothing of the operation can be made invalid (no parameters, or only ones every
            # value of which is valid): there is no negative example to send.
            if mode is GenerationMode.POSITIVE:
                raise


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# --- Who calls what ---------------------------------------------------------------------------

# Each fuzzing actor: role, specialist teams, and the scopes of their API key.
ACTORS: dict[str, tuple[str | None, tuple[str, ...], tuple[str, ...]]] = {
    "platform": (roles.PLATFORM, (), ("reports:write", "appeals:write")),
    "associate": (roles.ASSOCIATE, (), ("cases:read", "cases:write", "qa:read")),
    "analyst": (roles.ANALYST, (), ("cases:read", "cases:write", "qa:read", "qa:write")),
    "senior": (
        roles.SENIOR,
        (),
        (
            "cases:read",
            "cases:write",
            "enforcement:read",
            "metrics:read",
            "qa:read",
            "qa:write",
            "rules:read",
            "rules:write",
        ),
    ),
    "support": (roles.SUPPORT, (), ("enforcement:read", "appeals:write")),
    "specialist": (None, ("child-safety",), ("cases:read", "cases:write")),
}

# Every operation, with the actors whose role may call it (their key holds the view's scope).
CALLERS: dict[str, tuple[str, ...]] = {
    "GET /api/v1/me": ("platform", "associate", "analyst", "support", "specialist"),
    "GET /api/v1/access-log": ("senior",),
    "POST /api/v1/reports": ("platform",),
    "POST /api/v1/reports/bulk": ("platform",),
    "GET /api/v1/queues": ("analyst", "senior"),
    "POST /api/v1/queues/{slug}/claim": ("associate", "analyst", "senior"),
    "GET /api/v1/cases": ("analyst", "senior", "specialist"),
    "GET /api/v1/cases/{case_id}": ("associate", "analyst", "senior", "specialist"),
    "PATCH /api/v1/cases/{case_id}": ("associate", "analyst", "senior"),
    "POST /api/v1/cases/{case_id}/release": ("associate", "analyst", "senior"),
    "POST /api/v1/cases/{case_id}/notes": ("associate", "analyst", "specialist"),
    "POST /api/v1/cases/{case_id}/decision": ("associate", "analyst", "senior", "specialist"),
    "POST /api/v1/cases/{case_id}/escalations": ("analyst", "senior"),
    "GET /api/v1/search": ("analyst", "specialist"),
    "GET /api/v1/policies": ("analyst",),
    "POST /api/v1/decisions/bulk": ("analyst", "senior"),
    "POST /api/v1/actions/{action_id}/approve": ("senior",),
    "POST /api/v1/actions/{action_id}/reject": ("senior",),
    "POST /api/v1/actions/{action_id}/reverse": ("senior",),
    "GET /api/v1/actions/{action_id}/statement-of-reasons": ("support", "senior"),
    "GET /api/v1/subjects/{kind}/{external_id}/enforcement": ("support", "senior"),
    "GET /api/v1/statements-of-reasons": ("senior",),
    "POST /api/v1/appeals": ("platform", "support"),
    "GET /api/v1/appeals/{appeal_id}": ("platform", "support"),
    "POST /api/v1/appeals/{appeal_id}/decision": ("analyst", "senior", "specialist"),
    "GET /api/v1/escalations": ("analyst", "specialist"),
    "GET /api/v1/escalations/{escalation_id}": ("analyst", "specialist"),
    "POST /api/v1/escalations/{escalation_id}/acknowledge": ("specialist", "senior"),
    "POST /api/v1/escalations/{escalation_id}/resolve": ("specialist",),
    "POST /api/v1/escalations/{escalation_id}/return": ("specialist",),
    "GET /api/v1/qa/reviews": ("analyst", "senior"),
    "POST /api/v1/qa/reviews/next": ("analyst", "senior"),
    "GET /api/v1/qa/reviews/{review_id}": ("analyst", "senior"),
    "POST /api/v1/qa/reviews/{review_id}": ("analyst", "senior"),
    "GET /api/v1/qa/pass-rates": ("associate", "analyst", "senior"),
    "GET /api/v1/calibration/sessions": ("associate", "analyst", "senior"),
    "GET /api/v1/calibration/sessions/{session_id}/results": ("associate", "analyst", "senior"),
    "GET /api/v1/jobs/{job_id}": ("analyst",),
    "GET /api/v1/accounts/{external_id}": ("associate", "specialist"),
    "GET /api/v1/accounts/{external_id}/network": ("analyst",),
    "GET /api/v1/clusters": ("associate", "specialist"),
    "POST /api/v1/clusters": ("analyst",),
    "GET /api/v1/clusters/{cluster_id}": ("analyst",),
    "POST /api/v1/clusters/{cluster_id}/enforcement": ("analyst",),
    "GET /api/v1/waves/{wave_id}": ("senior",),
    "GET /api/v1/reporters/{reporter_id}": ("senior",),
    "POST /api/v1/reporters/{reporter_id}/invalidate": ("senior",),
    "POST /api/v1/reporters/{reporter_id}/restore": ("senior",),
    "GET /api/v1/investigations": ("analyst",),
    "POST /api/v1/investigations": ("senior",),
    "GET /api/v1/investigations/{investigation_id}": ("senior",),
    "PATCH /api/v1/investigations/{investigation_id}": ("senior",),
    "GET /api/v1/alerts": ("senior",),
    "GET /api/v1/alerts/{alert_id}": ("senior",),
    "POST /api/v1/alerts/{alert_id}/acknowledge": ("analyst", "senior", "specialist"),
    "POST /api/v1/alerts/{alert_id}/resolve": ("analyst", "specialist"),
    "GET /api/v1/metrics/kpis": ("senior",),
    "GET /api/v1/metrics/transparency-report": ("senior",),
    "GET /api/v1/rules": ("senior",),
    "POST /api/v1/rules": ("senior",),
    "GET /api/v1/rules/{rule_id}": ("senior",),
    "POST /api/v1/rules/{rule_id}/versions": ("senior",),
    "POST /api/v1/rules/{rule_id}/shadow": ("senior",),
    "POST /api/v1/rules/{rule_id}/activate": ("senior",),
    "POST /api/v1/rules/{rule_id}/retire": ("senior",),
    "POST /api/v1/rules/{rule_id}/resume": ("senior",),
    "POST /api/v1/rules/{rule_id}/snoozes": ("senior",),
    "POST /api/v1/rules/{rule_id}/backtests": ("senior",),
    "GET /api/v1/backtests/{backtest_id}": ("senior",),
    "POST /api/v1/rule-actions/{rule_action_id}/intervene": ("analyst", "specialist"),
    "GET /api/v1/detectors": ("senior",),
    "GET /api/v1/detectors/{name}/operating-points": ("senior",),
    "GET /api/v1/exports/labels": ("senior",),
}


def schema_operations() -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }


# --- The seeded world -------------------------------------------------------------------------


@dataclass
class World:
    """What the fuzzer's path parameters are pointed at: ids of objects that exist."""

    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, list] = field(default_factory=dict)
    subjects: list[tuple[str, str]] = field(default_factory=list)
    # The specialist's own pool: their team's restricted and escalated work.
    team_ids: dict[str, list] = field(default_factory=dict)
    # Actions with no appeal yet (appealable), open cases nobody holds.
    appealable: list[int] = field(default_factory=list)
    open_cases: list[int] = field(default_factory=list)


def _decide(actor, case, **kwargs):
    from cases.services import case_claim
    from enforcement.services import decision_make

    case = case_claim(actor=actor, case_id=case.pk)
    values = {
        "outcome": "violation",
        "policy_section": "SPAM-1.1",
        "rationale": "Same link posted forty times in an hour.",
        "actions": [{"type": "remove_content"}],
    }
    values.update(kwargs)
    return decision_make(actor=actor, case_id=case.pk, version=case.version, **values)


def build_world() -> World:
    """Members with keys, and through the real services: open, claimed, decided, restricted and
    escalated cases, active and pending actions, an appeal, QA reviews and calibration
    sessions (one closed with results, one open)."""
    from appeals.services import appeal_file
    from cases.models import Queue
    from cases.services import case_claim
    from escalations.services import escalation_raise
    from qa import services as qa_services
    from qa.demo_calibration import seed_calibration
    from qa.models import QAReview, Rubric, SamplingPlan

    world = World()
    members = {}
    for name, (role, teams, scopes) in ACTORS.items():
        members[name] = make_member(f"fuzz_{name}", role, teams)
        world.keys[name] = api_key_create(user=members[name], name="fuzz", scopes=scopes)[1]
    analyst2 = make_member("fuzz_analyst2", roles.ANALYST)
    senior2 = make_member("fuzz_senior2", roles.SENIOR)
    associate = members["associate"]
    platform, analyst, senior = members["platform"], members["analyst"], members["senior"]

    open_cases = [make_case(platform, reason="spam") for _ in range(3)]
    claimed = [
        case_claim(actor=who, case_id=make_case(platform, reason="spam").pk).pk
        for who in (associate, analyst, analyst, senior)
    ]
    restricted = make_case(platform, reason="child_safety")
    threat = make_case(platform, reason="harassment")
    escalation = escalation_raise(
        actor=analyst,
        case_id=threat.pk,
        team="child-safety",
        severity="P1",
        summary="A child is named in the threat.",
        criteria="Minor at risk.",
    )
    decided = [_decide(who, make_case(platform, reason="spam")) for who in (analyst2, senior2)]
    decided += [_decide(analyst2, make_case(platform, reason="spam")) for _ in range(5)]
    # Bans an analyst proposes wait for a senior's approval.
    banned = [
        _decide(analyst, make_case(platform, reason="spam"), actions=[{"type": "ban"}])
        for _ in range(3)
    ]
    actions = [a.pk for d in decided for a in d.actions.all()]
    pending = [a.pk for d in banned for a in d.actions.all()]
    appeal, _ = appeal_file(
        actor=platform,
        action_id=actions[0],
        statement="It was my own shop's link, posted once.",
        external_id="fuzz-appeal-1",
    )
    # The child-safety team decides one of its restricted cases, and the user appeals.
    team_case = make_case(platform, reason="child_safety")
    team_decision = _decide(members["specialist"], team_case, policy_section="CHILD-5.1")
    team_action = team_decision.actions.get()
    team_appeal, _ = appeal_file(
        actor=platform,
        action_id=team_action.pk,
        statement="This is a photo of my own child at the beach.",
        external_id="fuzz-appeal-2",
    )

    plan = qa_services.plan_save(
        actor=senior,
        data={
            "name": "Fuzz sample",
            "rubric": Rubric.objects.get(name="Default"),
            "period": SamplingPlan.Period.DAY,
            "size_mode": SamplingPlan.SizeMode.FIXED,
            "fixed_size": 5,
        },
    )
    now = timezone.now()
    qa_services.sample_draw(
        actor=senior, plan_id=plan.pk, start=now - timedelta(days=1), end=now + timedelta(days=1)
    )
    # One review each in progress, so that answers can be recorded.
    reviews = QAReview.objects.order_by("pk")
    for reviewer, review in zip((analyst, senior), reviews, strict=False):
        qa_services.review_claim(actor=reviewer, review_id=review.pk)
    sessions = seed_calibration(
        senior=senior,
        participants=[analyst, analyst2, associate],
        cases=[d.case for d in decided],
    )

    # An alert about open work and one about the child-safety team's.
    from detection.models import Alert

    alert = Alert.objects.create(
        kind=Alert.Kind.VOLUME, key="volume:spam:content:user_report", title="Spam volume"
    )
    team_alert = Alert.objects.create(
        kind=Alert.Kind.VOLUME,
        key="volume:child_safety:content:user_report:child-safety",
        title="Child safety volume",
        team="child-safety",
    )

    # A rule with a backtest, and what it asked for on an open case and on the team's case.
    from detection.models import Backtest, RuleAction
    from detection.services.rules import rule_create

    rule = rule_create(actor=senior, name="Fuzz rule", expression="true", effects=[])
    version = rule.versions.get()
    backtest = Backtest.objects.create(
        rule=rule,
        version=version,
        period_from=now - timedelta(days=7),
        period_to=now,
        requested_by=senior,
    )
    rule_actions = {
        case.pk: RuleAction.objects.create(
            rule=rule,
            version=version,
            case=case,
            action_type="remove_content",
            policy_section="SPAM-1.1",
            status=RuleAction.Status.PROPOSED,
        ).pk
        for case in (open_cases[0], restricted)
    }

    cases = [c.pk for c in open_cases] + claimed + [restricted.pk, threat.pk]
    cases += [d.case_id for d in decided]
    world.ids = {
        "case_id": cases,
        "action_id": actions + pending,
        "appeal_id": [appeal.pk],
        "escalation_id": [escalation.pk],
        "review_id": list(QAReview.objects.values_list("pk", flat=True)),
        "session_id": [s.pk for s in sessions],
        "slug": list(Queue.objects.values_list("slug", flat=True)),
        "alert_id": [alert.pk],
        "rule_id": [rule.pk],
        "backtest_id": [backtest.pk],
        "rule_action_id": [rule_actions[open_cases[0].pk]],
    }
    world.subjects = [(d.case.subject.kind, d.case.subject.external_id) for d in decided + banned]
    world.team_ids = {
        "case_id": [restricted.pk, threat.pk, team_case.pk],
        "action_id": [team_action.pk],
        "appeal_id": [team_appeal.pk],
        "escalation_id": [escalation.pk],
        "alert_id": [team_alert.pk],
        "rule_action_id": [rule_actions[restricted.pk]],
    }
    world.appealable = actions[1:]
    world.open_cases = [c.pk for c in open_cases]
    return world


# --- Calling the app --------------------------------------------------------------------------

_handler = WSGIHandler()


def wsgi_app(environ, start_response):
    """Django's WSGI handler inside the test's transaction. Each request runs in a savepoint so
    that one request's database error cannot poison the next example (it is still a 500)."""
    savepoint = transaction.savepoint()
    answer = {}

    def capture(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers
        return lambda data: None

    result = _handler(environ, capture)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    try:
        transaction.savepoint_commit(savepoint)
    except DatabaseError:
        transaction.savepoint_rollback(savepoint)
    start_response(answer["status"], answer["headers"])
    return [body]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The world, built once for the module inside a transaction rolled back at its end; each
    operation's test runs in a savepoint of it (pytest-django's ``db``), so every operation
    starts from the same world whatever the previous one changed."""
    # Requests run inside the test transaction: Django must not close the connection between
    # them (the test client disconnects the same handlers).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


def aim(case, world: World, actor: str) -> None:
    """Point most generated ids at objects that exist (the specialist's at their team's work),
    keeping some misses for the 404s, unless the path itself is the negative part of the case."""
    component = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if component is not None and component.mode is GenerationMode.NEGATIVE:
        return
    params = case.path_parameters or {}
    if "kind" in params and world.subjects:
        seed = len(str(params.get("external_id", "")))
        if seed % 4 != 3:
            params["kind"], params["external_id"] = world.subjects[seed % len(world.subjects)]
        return
    for name, value in params.items():
        pool = (world.team_ids.get(name) if actor == "specialist" else None) or world.ids.get(name)
        if not pool:
            continue
        try:
            seed = int(value)
        except (TypeError, ValueError):
            seed = len(str(value))
        if seed % 4 != 3:
            params[name] = pool[seed % len(pool)]


# --- Valid bodies, sometimes --------------------------------------------------------------------
#
# Random strings seldom name a real reason code, policy section, queue or case version, so
# without help the fuzzer would only ever meet the 400s of the write operations. For most
# positive cases the body's free-form values are replaced by valid ones (still allowed by the
# schema, so the case stays positive) and the success answers get checked too.


def _version(model_path: str, pk) -> int:
    from django.apps import apps

    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return 1
    row = apps.get_model(model_path).objects.filter(pk=pk).values("version").first()
    return row["version"] if row else 1


def _valid_report(body: dict) -> dict:
    body["reason"] = "spam"
    if body.get("source") == "automated_flag":
        body["detector"] = "fuzz-detector"
    body.pop("received_at", None)
    subject = body.get("subject")
    if isinstance(subject, dict):
        subject.pop("created_at", None)
        subject["url"] = "https://platform.example/p/fuzz"
        if subject.get("kind") == "account":
            subject.pop("owner_id", None)
        else:
            subject["owner_id"] = "acct-fuzz"
    return body


def _aim_report(body, world, case):
    _valid_report(body)


def _aim_bulk(body, world, case):
    reports = body.get("reports")
    if isinstance(reports, list):
        body["reports"] = [_valid_report(r) if isinstance(r, dict) else r for r in reports]


def _aim_appeal(body, world, case):
    if world.appealable:
        body["action_id"] = world.appealable[len(str(body)) % len(world.appealable)]


def _aim_decision(body, world, case):
    body.update(outcome="violation", policy_section="SPAM-1.1")
    body["actions"] = [{"type": "remove_content"}]
    body["version"] = _version("cases.Case", case.path_parameters.get("case_id"))


def _aim_case_edit(body, world, case):
    body["version"] = _version("cases.Case", case.path_parameters.get("case_id"))
    if "queue" in body:
        body["queue"] = "spam"


def _aim_escalation(body, world, case):
    body["team"] = "child-safety"


def _aim_bulk_decision(body, world, case):
    body.update(outcome="violation", policy_section="SPAM-1.1", case_ids=world.open_cases[:2])
    body["actions"] = [{"type": "remove_content"}]


def _aim_appeal_decision(body, world, case):
    if body.get("outcome") == "modified":
        body["replacement_action"] = {"type": "warn"}


def _aim_review(body, world, case):
    answer = body.get("answer")
    if isinstance(answer, dict):
        answer.update(policy_section="SPAM-1.1", action="remove_content")


BODY_AIMS = {
    "POST /api/v1/reports": _aim_report,
    "POST /api/v1/reports/bulk": _aim_bulk,
    "POST /api/v1/appeals": _aim_appeal,
    "POST /api/v1/cases/{case_id}/decision": _aim_decision,
    "PATCH /api/v1/cases/{case_id}": _aim_case_edit,
    "POST /api/v1/cases/{case_id}/escalations": _aim_escalation,
    "POST /api/v1/decisions/bulk": _aim_bulk_decision,
    "POST /api/v1/appeals/{appeal_id}/decision": _aim_appeal_decision,
    "POST /api/v1/qa/reviews/{review_id}": _aim_review,
}


def aim_body(operation: str, case, world: World) -> None:
    """Make three positive bodies in four valid beyond what the schema can say."""
    component = case.meta.components.get(ParameterLocation.BODY) if case.meta else None
    if component is None or component.mode is GenerationMode.NEGATIVE:
        return
    if not isinstance(case.body, dict) or len(str(case.body)) % 4 == 3:
        return
    aim_one = BODY_AIMS.get(operation)
    if aim_one is not None:
        aim_one(case.body, world, case)


@pytest.mark.parametrize("operation", sorted(CALLERS))
def test_api_operation_survives_fuzzing(operation, api_schema, world, db):
    def call(case):
        path, body = copy.deepcopy(case.path_parameters), copy.deepcopy(case.body)
        for actor in CALLERS[operation]:
            # Each actor gets the generated case, aimed at objects it may work on.
            case.path_parameters, case.body = copy.deepcopy(path), copy.deepcopy(body)
            aim(case, world, actor)
            aim_body(operation, case, world)
            case.call_and_validate(
                app=wsgi_app,
                headers={"Authorization": f"Bearer {world.keys[actor]}"},
                checks=CHECKS,
            )

    fuzz_operation(api_schema, operation, call, max_examples=MAX_EXAMPLES)


def test_every_operation_has_declared_callers(db):
    operations = schema_operations()
    assert set(CALLERS) == operations, (
        f"undeclared: {sorted(operations - set(CALLERS))}, "
        f"gone: {sorted(set(CALLERS) - operations)}"
    )


@pytest.mark.parametrize("operation", sorted(CALLERS))
def test_each_declared_caller_holds_the_scope_the_operation_needs(operation):
    method, path = operation.split(" ", 1)
    sample = path.replace("{kind}", "account").replace("{slug}", "spam")
    sample = re.sub(r"\{\w+_id\}", "1", sample)
    sample = sample.replace("{external_id}", "x")
    view = resolve(sample).func.view_class
    scopes = getattr(view, "required_scopes", {}) or {}
    needed = scopes.get(method) or scopes.get("*")
    for actor in CALLERS[operation]:
        if needed:
            assert needed in ACTORS[actor][2], f"{actor} lacks {needed} for {operation}"


# --- What the fuzzer found, pinned down ----------------------------------------------------------
#
# One test per finding, so that each fix stays fixed even if a later schema change moved the
# fuzzer's examples elsewhere.


def _component(name: str) -> dict:
    return openapi_document()["components"]["schemas"][name]


def _operation(operation: str) -> dict:
    method, path = operation.split(" ", 1)
    return openapi_document()["paths"][path][method.lower()]


def test_the_fuzzed_document_is_the_one_the_api_serves(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert json.loads(response.content)["paths"] == openapi_document()["paths"]


def test_every_operation_documents_its_error_answers_in_the_error_shape(db):
    error = {"$ref": "#/components/schemas/Error"}
    for operation in CALLERS:
        responses = _operation(operation)["responses"]
        for status in ("401", "403", "429"):
            assert responses[status]["content"]["application/json"]["schema"] == error
        if "{" in operation:
            assert "404" in responses, operation
        if operation.startswith(("POST", "PATCH")):
            assert "409" in responses, operation
    assert _component("Error")["required"] == ["error"]
    # Where a view answers an error the general rules don't predict, it says so.
    assert "404" in _operation("POST /api/v1/decisions/bulk")["responses"]
    assert "404" in _operation("GET /api/v1/cases")["responses"]
    assert "404" in _operation("GET /api/v1/statements-of-reasons")["responses"]
    assert "409" in _operation("GET /api/v1/calibration/sessions/{session_id}/results")["responses"]
    assert "409" in _operation("GET /api/v1/actions/{action_id}/statement-of-reasons")["responses"]
    assert "413" in _operation("POST /api/v1/reports/bulk")["responses"]


def test_optional_query_parameters_may_be_sent_blank_and_required_ones_may_not(db):
    for operation in CALLERS:
        for parameter in _operation(operation).get("parameters", []):
            if parameter["in"] != "query":
                continue
            assert parameter.get("allowEmptyValue", False) is not parameter.get("required", False)


def test_fields_that_can_be_empty_are_nullable_in_the_schema(db):
    nullable = {
        "CaseList": ["claimed_by"],
        "CaseDetail": ["claimed_by"],
        "Subject": ["owner_id", "created_at"],
        "Escalation": ["raised_by", "acknowledged_by", "resolved_by"],
        "AppealReview": ["claimed_by"],
    }
    for component, fields in nullable.items():
        properties = _component(component)["properties"]
        for name in fields:
            assert properties[name].get("nullable") is True, f"{component}.{name}"


def test_list_answers_wrapped_in_results_are_described_so(db):
    for operation in ("GET /api/v1/search", "GET /api/v1/escalations"):
        body = _operation(operation)["responses"]["200"]["content"]["application/json"]["schema"]
        ref = body["$ref"].rsplit("/", 1)[1]
        assert _component(ref)["properties"]["results"]["type"] == "array"


def test_claiming_an_appeals_queue_is_described_as_answering_with_the_appeal(db):
    assert _component("ClaimedWork")["oneOf"] == [
        {"$ref": "#/components/schemas/ClaimedCase"},
        {"$ref": "#/components/schemas/AppealReview"},
    ]
    # A claimed case comes lean: its reports and links are the case endpoint's.
    claimed = _component("ClaimedCase")["properties"]
    assert "subject" in claimed and not {"reports", "links"} & set(claimed)


def test_request_schemas_say_what_the_services_require(db):
    assert _component("DecisionInputRequest")["properties"]["rationale"]["minLength"] == 1
    appeal = _component("AppealDecisionInputRequest")["properties"]
    assert appeal["rationale"]["minLength"] == appeal["response_to_user"]["minLength"] == 1
    review = _component("ReviewPostInputRequest")["oneOf"]
    assert [step["required"] for step in review] == [["answer"], ["score"]]
    assert [step["not"]["required"] for step in review] == [["score"], ["answer"]]
    appeal_rules = _component("AppealDecisionInputRequest")["oneOf"]
    assert appeal_rules[0]["required"] == ["replacement_action"]
    report_rules = _component("ReportInputRequest")
    assert report_rules["oneOf"][0]["required"] == ["detector"]
    assert len(report_rules["anyOf"]) == 3
    assert "owner_id" in _component("SubjectInputRequest")["oneOf"][0]["properties"]
    report = _component("ReportInputRequest")["properties"]
    assert report["description"]["nullable"] is True and "minLength" not in report["description"]
    assert {"type": "number"} in report["external_id"]["oneOf"]
    bulk = _component("BulkInputRequest")["properties"]["reports"]
    # The limit is answered 413, so the schema states it in words, not as maxItems (a 400).
    assert bulk["items"] == {} and "maxItems" not in bulk and "1000" in bulk["description"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("notes", {"body": 0}, "body"),
        ("release", {"skip": 0}, "skip"),
        ("release", {"reason": 5}, "reason"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_not_coerced(
    platform_account, analyst, api_client_for, path, body, field
):
    from cases.services import case_claim

    case = case_claim(actor=analyst, case_id=make_case(platform_account).pk)
    client = api_client_for(analyst, ["cases:write"])
    response = client.post(f"/api/v1/cases/{case.pk}/{path}", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    case.refresh_from_db()
    assert case.claimed_by == analyst and not case.notes.exists()


def test_a_case_edit_refuses_numbers_as_tags(platform_account, analyst, api_client_for):
    case = make_case(platform_account)
    response = api_client_for(analyst, ["cases:write"]).patch(
        f"/api/v1/cases/{case.pk}", {"version": case.version, "tags": [0]}, format="json"
    )
    assert response.status_code == 400
    assert "Item 0" in response.json()["error"]["fields"]["tags"][0]


def test_a_reversal_refuses_an_object_as_its_reason(
    platform_account, analyst, senior, api_client_for
):
    action = _decide(analyst, make_case(platform_account)).actions.get()
    response = api_client_for(senior, ["cases:write"]).post(
        f"/api/v1/actions/{action.pk}/reverse", {"reason": {}}, format="json"
    )
    assert response.status_code == 400
    action.refresh_from_db()
    assert action.status == "active"


def test_an_escalation_return_refuses_a_number_for_unrestrict(
    platform_account, analyst, specialist, api_client_for
):
    from escalations.services import escalation_raise

    escalation = escalation_raise(
        actor=analyst,
        case_id=make_case(platform_account, reason="harassment").pk,
        team="child-safety",
        severity="P1",
        summary="A child is named.",
        criteria="Minor at risk.",
    )
    response = api_client_for(specialist, ["cases:write"]).post(
        f"/api/v1/escalations/{escalation.pk}/return",
        {"note": "Not ours", "unrestrict": 0},
        format="json",
    )
    assert response.status_code == 400
    escalation.refresh_from_db()
    assert escalation.status == "open"


@pytest.mark.parametrize(
    "query",
    [
        "source=AAA",
        "breached=maybe",
        "page_size=null",
        "page_size=0",
        "cursor=%13%C2%95",
    ],
)
def test_bad_case_list_filters_are_400_not_ignored(analyst, api_client_for, query):
    response = api_client_for(analyst, ["cases:read"]).get(f"/api/v1/cases?{query}")
    assert response.status_code == 400, response.content
    assert query.split("=")[0] in response.json()["error"]["fields"]


def test_blank_optional_filters_are_the_same_as_none(analyst, api_client_for):
    client = api_client_for(analyst, ["cases:read", "qa:read"])
    assert client.get("/api/v1/cases?source=&breached=&page_size=&cursor=").status_code == 200
    assert client.get("/api/v1/qa/reviews?status=").status_code == 200


@pytest.mark.parametrize("query", ["status=open&status=resolved", "status=a%00b", "team=x%00"])
def test_repeated_or_nul_query_parameters_are_400_not_500(analyst, api_client_for, query):
    response = api_client_for(analyst, ["cases:read"]).get(f"/api/v1/escalations?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "a\x00b"}, "description"),
        ({"subject": {"kind": "content", "external_id": "p-1", "text": "x\x00"}}, "subject"),
        ({"subject": {"kind": "content", "external_id": "p-1", "media": ["m\x00"]}}, "subject"),
        ({"identifiers": {}}, "identifiers"),
        ({"subject": {"kind": "content", "external_id": "p-1", "media": 0}}, "subject"),
        ({"received_at": ""}, "received_at"),
    ],
)
def test_intake_refuses_nul_characters_and_wrong_shapes_with_400(
    platform_account, api_client_for, change, field
):
    from tests.factories import ReportPayloadFactory

    payload = ReportPayloadFactory()
    payload.update(change)
    client = api_client_for(platform_account, ["reports:write"])
    response = client.post("/api/v1/reports", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_intake_takes_null_for_an_optional_field(platform_account, api_client_for):
    from tests.factories import ReportPayloadFactory

    payload = ReportPayloadFactory(description=None, reporter_id=None, identifiers=None)
    client = api_client_for(platform_account, ["reports:write"])
    assert client.post("/api/v1/reports", payload, format="json").status_code == 201


def test_an_export_refused_as_json_lines_is_still_answered_as_json(support_agent, api_client_for):
    client = api_client_for(support_agent, ["enforcement:read"])
    response = client.get(
        "/api/v1/statements-of-reasons?format=jsonl&from=2026-01-01&to=2026-01-02"
    )
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "forbidden"
