"""A small world of objects for the security tests, built once per test module through the
real services: every kind of object a route takes, in a visible ("std") and a restricted
(escalated to child-safety) version, plus the few objects that belong to one actor.

The world lives in a transaction opened for the module and rolled back at its end; each test
then runs in a savepoint inside it (pytest-django's ``db``), so the routes see it all and
nothing leaks to other modules.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from PIL import Image

from appeals import services as appeal_services
from cases import media
from cases import services as case_services
from cases.models import Identifier
from enforcement import services as enforcement_services
from escalations import services as escalation_services
from qa import services as qa_services
from qa.models import Rubric, SamplingPlan
from qa.services import calibration
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import Notification
from tsops.services import api_key_create

# Written into every restricted object's text: no response to anyone outside the child-safety
# team may contain it.
RESTRICTED_MARKER = "zq-restricted-7731"

ALL_PASS = {
    "correct_outcome": True,
    "correct_policy_section": True,
    "proportionate_action": True,
    "evidence_complete": True,
    "rationale_clear": True,
}

# The actors of the matrix (besides "anonymous"): username, role, teams.
ACTORS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "no_role": (None, ()),
    "associate": (roles.ASSOCIATE, ()),
    "analyst": (roles.ANALYST, ()),
    "senior": (roles.SENIOR, ()),
    "support": (roles.SUPPORT, ()),
    "platform": (roles.PLATFORM, ()),
    "child_safety": (None, ("child-safety",)),
    "threats": (None, ("threats",)),
}


@dataclass
class World:
    users: dict = field(default_factory=dict)
    # API key secrets: "<actor>" -> key with every scope; "platform:<scope>" -> that scope only;
    # "senior-<scope>" -> every scope but that one.
    keys: dict[str, str] = field(default_factory=dict)
    objects: dict[str, object] = field(default_factory=dict)

    def __getattr__(self, name):
        try:
            return self.objects[name]
        except KeyError:
            raise AttributeError(name) from None


def _case(platform, *, reason: str, name: str, text: str, identifiers=()):
    return make_case(
        platform,
        reason=reason,
        description=f"report about {name}: {text}",
        subject={
            "kind": "content",
            "external_id": f"post-{name}",
            "owner_id": f"acct-{name}",
            "text": text,
        },
        identifiers=[{"kind": kind, "value": value} for kind, value in identifiers],
    )


def _decide(actor, case, *, section: str, actions, rationale: str = "Matrix decision."):
    case.refresh_from_db()
    if case.status == "new":
        case = case_services.case_claim(actor=actor, case_id=case.pk)
    return enforcement_services.decision_make(
        actor=actor,
        case_id=case.pk,
        version=case.version,
        outcome="violation",
        policy_section=section,
        rationale=rationale,
        actions=actions,
    )


def _install_reference_data() -> None:
    """The roles, taxonomy, policies, queues, rubric and teams the migrations install (put
    back here, idempotently, in case a transactional test of the session flushed them)."""
    from django.apps import apps

    from appeals.setup import install_appeal_queues
    from cases.taxonomy import install_taxonomy
    from enforcement.policy_data import install_policies
    from escalations.setup import install_teams
    from qa.setup import install_default_rubric

    roles.install_roles()
    install_taxonomy(apps)
    install_policies(apps)
    install_appeal_queues(apps)
    install_default_rubric(apps)
    install_teams()


def _picture(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


def build_world() -> World:
    _install_reference_data()
    world = World()
    for name, (role, teams) in ACTORS.items():
        world.users[name] = make_member(f"m_{name}", role, teams)
    u = world.users
    # People who build the world without being actors of the matrix.
    decider = make_member("m_decider", roles.ANALYST)
    lead = make_member("m_lead", roles.SENIOR)
    cs_lead = make_member("m_cs_lead", roles.SENIOR, ("child-safety",))
    cs_worker = make_member("m_cs_worker", None, ("child-safety",))
    platform = u["platform"]
    o = world.objects

    # --- Cases ---------------------------------------------------------------------------
    o["case_std"] = _case(
        platform,
        reason="spam",
        name="std",
        text="buy cheap watches",
        identifiers=[("email", "std-owner@mail.example")],
    )
    # Evidence is an image with a caption: here one that is not sensitive (its original is open
    # to whoever sees the case), on the restricted case a sensitive one (blurred until revealed).
    o["evidence_std"] = media.evidence_media_add(
        actor=decider,
        case_id=o["case_std"].pk,
        prepared=media.media_prepare(_picture((30, 90, 160)), "std.png"),
        excerpt="the same link",
        sensitive=False,
    )
    o["identifier_std"] = Identifier.objects.get(account=o["case_std"].subject.account)
    # Claimed cases: one by someone else (the decider), one by the associate of the matrix.
    o["case_claimed"] = _case(platform, reason="spam", name="claimed", text="spam, claimed")
    case_services.case_claim(actor=decider, case_id=o["case_claimed"].pk)
    o["case_associate"] = _case(platform, reason="spam", name="mine", text="spam, mine")
    case_services.case_claim(actor=u["associate"], case_id=o["case_associate"].pk)

    # Restricted: an ordinary case escalated to child-safety (open escalation), with evidence.
    o["case_restricted"] = _case(
        platform,
        reason="harassment",
        name="restricted",
        text=f"restricted material {RESTRICTED_MARKER}",
        identifiers=[("email", "restricted-owner@mail.example")],
    )
    o["evidence_restricted"] = media.evidence_media_add(
        actor=decider,
        case_id=o["case_restricted"].pk,
        prepared=media.media_prepare(_picture((160, 30, 30)), "restricted.png"),
        excerpt=f"excerpt {RESTRICTED_MARKER}",
        sensitive=True,
    )
    case_services.note_add(
        actor=decider, case_id=o["case_restricted"].pk, body=f"note {RESTRICTED_MARKER}"
    )
    o["identifier_restricted"] = Identifier.objects.get(
        account=o["case_restricted"].subject.account
    )
    o["escalation_restricted"] = escalation_services.escalation_raise(
        actor=decider,
        case_id=o["case_restricted"].pk,
        team="child-safety",
        severity="P0",
        summary=f"summary {RESTRICTED_MARKER}",
        criteria="Child-safety indicators.",
    )

    # An unrestricted escalation (fraud & security keeps the case visible to its queue).
    o["case_fraud"] = _case(platform, reason="scam_fraud", name="fraud", text="send me gift cards")
    o["escalation_std"] = escalation_services.escalation_raise(
        actor=decider,
        case_id=o["case_fraud"].pk,
        team="fraud-security",
        severity="P2",
        summary="Gift-card scam ring.",
        criteria="Several accounts, same payment details.",
    )

    # --- Enforcement -----------------------------------------------------------------------
    # A ban proposed by an analyst waits for a senior's approval.
    case_ban = _case(platform, reason="spam", name="ban", text="spam again")
    o["action_pending"] = _decide(
        decider, case_ban, section="SPAM-1.1", actions=[{"type": "ban"}]
    ).actions.get()
    case_active = _case(platform, reason="spam", name="active", text="spam once more")
    o["action_std"] = _decide(
        decider,
        case_active,
        section="SPAM-1.1",
        actions=[{"type": "suspend", "duration_hours": 72}],
    ).actions.get()
    o["subject_std"] = o["action_std"].subject
    o["appeal_std"] = appeal_services.appeal_file(
        actor=u["support"],
        action_id=o["action_std"].pk,
        statement="It was not spam.",
        appellant_id="user-std",
        external_id="matrix-appeal-std",
    )[0]

    # The restricted decision: a second case escalated to child-safety and decided by the team.
    case_rdecided = _case(
        platform,
        reason="harassment",
        name="rdecided",
        text=f"restricted decided {RESTRICTED_MARKER}",
    )
    escalation_services.escalation_raise(
        actor=decider,
        case_id=case_rdecided.pk,
        team="child-safety",
        severity="P0",
        summary=f"summary {RESTRICTED_MARKER}",
        criteria="Child-safety indicators.",
    )
    o["action_restricted"] = _decide(
        cs_worker,
        case_rdecided,
        section="CHILD-5.1",
        actions=[{"type": "suspend", "duration_hours": 72}],
        rationale=f"rationale {RESTRICTED_MARKER}",
    ).actions.get()
    o["subject_restricted"] = o["action_restricted"].subject
    o["appeal_restricted"] = appeal_services.appeal_file(
        actor=u["support"],
        action_id=o["action_restricted"].pk,
        statement="I did nothing wrong.",
        appellant_id="user-restricted",
        external_id="matrix-appeal-restricted",
    )[0]

    # The analyst's own decision, for the QA review they may read and answer once scored.
    case_own = _case(platform, reason="spam", name="own", text="spam by the analyst's hand")
    own_decision = _decide(
        u["analyst"], case_own, section="SPAM-1.1", actions=[{"type": "remove_content"}]
    )

    # --- QA --------------------------------------------------------------------------------
    now = timezone.now()
    start, end = now - timedelta(hours=2), now + timedelta(hours=2)
    rubric = Rubric.objects.get(name="Default")
    plan_fields = {
        "rubric": rubric,
        "period": SamplingPlan.Period.DAY,
        "size_mode": SamplingPlan.SizeMode.FIXED,
        "fixed_size": 50,
    }
    o["plan_std"] = qa_services.plan_save(actor=lead, data={"name": "Matrix plan", **plan_fields})
    o["sample_std"] = qa_services.sample_draw(
        actor=lead, plan_id=o["plan_std"].pk, start=start, end=end
    )[0]
    reviews = {r.decision_id: r for r in o["sample_std"].reviews.all()}
    o["review_std"] = reviews[o["action_pending"].decision_id]
    o["review_own"] = reviews[own_decision.pk]
    qa_services.review_claim(actor=lead, review_id=o["review_own"].pk)
    qa_services.review_answer(
        actor=lead,
        review_id=o["review_own"].pk,
        outcome="violation",
        policy_section="SPAM-1.1",
        action="remove_content",
    )
    o["review_own"] = qa_services.review_score(
        actor=lead, review_id=o["review_own"].pk, scores=dict(ALL_PASS)
    )
    o["plan_restricted"] = qa_services.plan_save(
        actor=cs_lead,
        data={"name": "Matrix child-safety plan", "team": "child-safety", **plan_fields},
    )
    o["sample_restricted"] = qa_services.sample_draw(
        actor=cs_lead, plan_id=o["plan_restricted"].pk, start=start, end=end
    )[0]
    o["review_restricted"] = o["sample_restricted"].reviews.get()

    # A calibration session the analyst takes part in (and the associate does not), open.
    resolved = [case_active, case_own]
    session = calibration.calibration_session_create(
        actor=lead,
        name="Matrix calibration",
        case_ids=[c.pk for c in resolved],
        participant_ids=[u["analyst"].pk, decider.pk],
    )
    for item in session.items.all():
        calibration.calibration_session_set_gold(
            actor=lead,
            session_id=session.pk,
            item_id=item.pk,
            outcome="violation",
            policy_section="SPAM-1.1",
            action="remove_content",
            severity="P3",
        )
    o["session"] = calibration.calibration_session_open(actor=lead, session_id=session.pk)
    o["session_item"] = session.items.order_by("position").first()

    # --- Someone's notification -----------------------------------------------------------
    o["notification_analyst"] = Notification.objects.create(
        user=u["analyst"], kind="matrix", title="For the analyst"
    )

    # --- Above the case --------------------------------------------------------------------
    # An account whose only case is restricted (its id carries the marker) shares the standard
    # account's e-mail: the standard account's network, clusters and files never show it.
    from investigations.models import Cluster, ClusterMember, Investigation, Wave

    hidden_case = _case(
        platform,
        reason="child_safety",
        name=f"hidden-{RESTRICTED_MARKER}",
        text=f"hidden {RESTRICTED_MARKER}",
        identifiers=[("email", "std-owner@mail.example")],
    )
    o["account_std"] = o["case_std"].subject.account
    o["account_restricted"] = hidden_case.subject.account
    o["cluster_std"] = Cluster.objects.create(
        name="Matrix ring", origin=Cluster.Origin.MANUAL, size=2, created_by=lead
    )
    for account in (o["account_std"], o["case_claimed"].subject.account):
        ClusterMember.objects.create(
            cluster=o["cluster_std"], subject=account, role=ClusterMember.Role.ACCOUNT
        )
    # Even were the hidden account a member of an open cluster, nobody outside the team sees it.
    ClusterMember.objects.create(
        cluster=o["cluster_std"], subject=o["account_restricted"], role=ClusterMember.Role.ACCOUNT
    )
    o["cluster_restricted"] = Cluster.objects.create(
        name=f"Team ring {RESTRICTED_MARKER}",
        origin=Cluster.Origin.CONTENT,
        size=1,
        team="child-safety",
    )
    ClusterMember.objects.create(
        cluster=o["cluster_restricted"],
        subject=o["account_restricted"],
        role=ClusterMember.Role.ACCOUNT,
    )
    o["investigation_std"] = Investigation.objects.create(
        title="Matrix file", hypothesis="A ring.", owner=u["senior"]
    )
    o["investigation_std"].members.add(u["analyst"])
    o["investigation_std"].accounts.add(o["account_std"])
    o["investigation_restricted"] = Investigation.objects.create(
        title=f"Team file {RESTRICTED_MARKER}",
        owner=cs_lead,
        restricted=True,
        team="child-safety",
    )
    o["investigation_restricted"].members.add(u["child_safety"])
    o["investigation_restricted"].accounts.add(o["account_restricted"])
    o["wave_std"] = Wave.objects.create(
        cluster=o["cluster_std"],
        status=Wave.Status.PENDING_APPROVAL,
        policy_section="SPAM-1.1",
        rationale="Matrix wave.",
        account_action="ban",
        severe=True,
        member_count=2,
        requested_by=u["analyst"],
    )

    # --- Detection: a draft rule, a backtest of it, actions rules asked for on both cases ----
    from detection.models import Backtest, RuleAction
    from detection.services.rules import rule_create

    o["rule_std"] = rule_create(
        actor=u["senior"], name="Matrix rule", expression='report.reason == "spam"', effects=[]
    )
    version = o["rule_std"].versions.get()
    o["backtest_std"] = Backtest.objects.create(
        rule=o["rule_std"],
        version=version,
        period_from=timezone.now() - timedelta(days=7),
        period_to=timezone.now(),
        requested_by=u["senior"],
    )
    for variant in ("std", "restricted"):
        o[f"rule_action_{variant}"] = RuleAction.objects.create(
            rule=o["rule_std"],
            version=version,
            case=o[f"case_{variant}"],
            action_type="remove_content",
            policy_section="SPAM-1.1",
            status=RuleAction.Status.PROPOSED,
        )

    # --- Detection ----------------------------------------------------------------------------
    # A detector's flag joins the standard case; a detector whose only flag is on the hidden
    # child-safety case carries the marker in its name: outside the team it is no detector.
    for name, reason, detector in (
        ("std", "spam", "matrix-net"),
        (f"hidden-{RESTRICTED_MARKER}", "child_safety", f"hash-{RESTRICTED_MARKER}"),
    ):
        make_case(
            platform,
            source="automated_flag",
            detector=detector,
            score=0.8,
            reason=reason,
            subject={"kind": "content", "external_id": f"post-{name}", "owner_id": f"acct-{name}"},
        )
    # --- Detection alerts: one about open work, one about the child-safety team's -------------
    from detection.models import Alert

    o["alert_std"] = Alert.objects.create(
        kind=Alert.Kind.VOLUME,
        key="volume:spam:content:user_report",
        title="Unusual volume of Spam reports",
        detail={"observed": 30, "expected": 2.25},
    )
    o["alert_restricted"] = Alert.objects.create(
        kind=Alert.Kind.VOLUME,
        key="volume:child_safety:content:user_report:child-safety",
        title=f"Unusual volume {RESTRICTED_MARKER}",
        detail={"observed": 30, "expected": 2.25},
        team="child-safety",
    )

    # --- A background job the analyst started (seniors see every job too) --------------------
    from tsops.jobs import job_create

    o["job_std"] = job_create(kind="matrix", subject_id=None, created_by=u["analyst"], total=3)

    # --- API keys --------------------------------------------------------------------------
    for name, user in u.items():
        world.keys[name] = api_key_create(user=user, name="matrix", scopes=roles.SCOPES)[1]
    for scope in roles.SCOPES:
        world.keys[f"platform:{scope}"] = api_key_create(
            user=u["platform"], name=f"matrix {scope}", scopes=[scope]
        )[1]
        others = [s for s in roles.SCOPES if s != scope]
        world.keys[f"senior-{scope}"] = api_key_create(
            user=u["senior"], name=f"matrix without {scope}", scopes=others
        )[1]
    for obj in o.values():
        if hasattr(obj, "refresh_from_db"):
            obj.refresh_from_db()
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The module's world, built once and rolled back after the module's last test."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
