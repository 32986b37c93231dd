"""Demo escalations: on-call members for the teams, a handful of escalations in every state,
and a restricted child-safety case with do-not-open evidence, through the real services.

Runs after the cases, decisions and appeals steps (apps are imported in INSTALLED_APPS order).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from cases.demo import TEXTS
from cases.intake import report_submit
from cases.models import Case
from cases.services import evidence_add
from escalations import services
from escalations.models import Escalation, Team
from tsops.demo import step

ON_CALL = {
    "child-safety": "childsafety",
    "threats": "threats",
    "fraud-security": "fraud",
    "legal": "legal",
}

# (team, case reason, severity, final state, summary, criteria, next steps)
PLANS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    (
        "threats",
        "violent_threat",
        "P0",
        "open",
        "Names the target's street and says 'tonight'.",
        "Credible threat of violence: target, place and time.",
        "Assess credibility; consider a law-enforcement referral.",
    ),
    (
        "threats",
        "violent_threat",
        "P1",
        "overdue",
        "Repeated threats against a streamer after a ban from their channel.",
        "Specific, repeated threats with a stated intent.",
        "Check linked accounts for ban evasion.",
    ),
    (
        "threats",
        "violent_threat",
        "P1",
        "acknowledged",
        "Threat posted under a local news article about a school.",
        "Threat against a named place.",
        "Preserve evidence; assess.",
    ),
    (
        "threats",
        "violent_threat",
        "P0",
        "resolved",
        "Knife threat with the victim's home address.",
        "Credible threat with doxxed address.",
        "Ban and refer.",
    ),
    (
        "threats",
        "violent_threat",
        "P2",
        "returned",
        "Song lyrics quoted in a thread about a concert.",
        "Looked like a threat at first sight.",
        "Probably not credible.",
    ),
    (
        "fraud-security",
        "scam_fraud",
        "P1",
        "open",
        "Ring of accounts selling fake concert tickets, same payout card.",
        "Coordinated fraud ring across several accounts.",
        "Map the ring through the shared identifiers.",
    ),
    (
        "fraud-security",
        "scam_fraud",
        "P1",
        "acknowledged",
        "Investment scam wave: 'guaranteed 40% monthly returns'.",
        "Financial loss reported by several victims.",
        "Take down the ring; warn the victims.",
    ),
    (
        "fraud-security",
        "scam_fraud",
        "P2",
        "resolved",
        "Gift-card deposit scam on a marketplace listing.",
        "Scam with financial loss.",
        "Remove and suspend.",
    ),
    (
        "fraud-security",
        "scam_fraud",
        "P2",
        "returned",
        "Possible phishing page.",
        "Credential phishing.",
        "Confirm the domain.",
    ),
    (
        "legal",
        "ip_infringement",
        "P3",
        "open",
        "Rights holder threatens to sue over a full movie stream.",
        "Legal exposure: formal notice received.",
        "Review the notice with counsel.",
    ),
)


def _open_cases(reason: str, count: int) -> list[Case]:
    """The newest unrestricted open cases of ``reason`` (unclaimed ones first)."""
    return list(
        Case.objects.filter(
            reason=reason,
            status__in=[Case.Status.NEW, Case.Status.IN_REVIEW],
            restricted=False,
        ).order_by("-status", "-created_at")[:count]
    )


def _new_case(platform, reason: str, n: int) -> Case:
    """A fresh case through intake when the demo has too few open ones of ``reason``."""
    result = report_submit(
        actor=platform,
        data={
            "source": "user_report",
            "external_id": f"demo-escalation-{reason}-{n}",
            "reason": reason,
            "description": "reported for escalation demo",
            "subject": {
                "kind": "content",
                "external_id": f"content-escalation-{reason}-{n}",
                "owner_id": f"acct-escalation-{n}",
                "text": TEXTS.get(reason, ["(demo)"])[0],
            },
        },
    )
    return Case.objects.get(pk=result.case_id)


def _work(escalation: Escalation, state: str, member, now) -> None:
    """Move a just-raised escalation to its demo state."""
    if state == "overdue":
        # Raised two hours ago and never acknowledged: past its deadline.
        Escalation.objects.filter(pk=escalation.pk).update(
            raised_at=now - timedelta(hours=2), ack_due=now - timedelta(minutes=60)
        )
        return
    if state == "open":
        return
    services.escalation_acknowledge(actor=member, escalation_id=escalation.pk)
    if state == "resolved" and escalation.team.slug == "threats":
        services.escalation_resolve(
            actor=member,
            escalation_id=escalation.pk,
            outcome="Credible threat confirmed; the account is banned pending a senior's review.",
            referral_kind="law_enforcement",
            referral_agency="Local police, cybercrime unit",
            referral_reference="DEMO-4471",
            referral_date=timezone.localdate(),
            decision={
                "outcome": "violation",
                "policy_section": "VIOL-4.1",
                "rationale": "Credible threat with the victim's address.",
                "actions": [{"type": "ban"}],
            },
        )
    elif state == "resolved":
        services.escalation_resolve(
            actor=member,
            escalation_id=escalation.pk,
            outcome="Ring mapped: 7 accounts; the payment provider was told.",
            referral_kind="other",
            referral_agency="The payment provider's fraud desk",
            referral_date=timezone.localdate(),
        )
    elif state == "returned":
        services.escalation_return(
            actor=member,
            escalation_id=escalation.pk,
            note="Not for us: not credible / not a fraud ring. Decide it in the queue.",
            unrestrict=True,
        )


def _child_safety(raiser, member, platform) -> int:
    """A case escalated to child safety with do-not-open evidence, and do-not-open evidence
    on the restricted child-safety cases of the intake queue. Returns how many items."""
    items = 0
    candidates = _open_cases("other", 1) or [_new_case(platform, "other", 0)]
    for case in candidates:
        item = evidence_add(
            actor=raiser,
            case_id=case.pk,
            kind="media",
            url="https://media.platform.example/withheld/demo-indicator",
            sensitive=True,
        )
        item.do_not_open = True
        item.save(update_fields=["do_not_open"])
        items += 1
        services.escalation_raise(
            actor=raiser,
            case_id=case.pk,
            team="child-safety",
            severity="P0",
            summary="Hash match on an attached image; profile contacts minors.",
            criteria="Child-safety indicator (hash match).",
            next_steps="Do not open the media. Confirm the match and report.",
        )
    restricted = Case.objects.filter(
        reason="child_safety", restricted=True, status=Case.Status.NEW
    ).order_by("-created_at")[:2]
    for case in restricted:
        item = evidence_add(
            actor=member,
            case_id=case.pk,
            kind="media",
            url=f"https://media.platform.example/withheld/case-{case.pk}",
            sensitive=True,
        )
        item.do_not_open = True
        item.save(update_fields=["do_not_open"])
        items += 1
    return items


@step("escalations")
def seed_escalations(*, stdout, scale: float) -> None:
    started = timezone.now()
    names = {"analyst", "analyst2", "platform", *ON_CALL.values()}
    users = {u.username: u for u in get_user_model().objects.filter(username__in=names)}
    for slug, username in ON_CALL.items():
        Team.objects.filter(slug=slug).update(on_call=users.get(username))
    raisers = [users["analyst"], users["analyst2"]]
    counts: dict[str, int] = {}
    with transaction.atomic():
        by_reason: dict[str, list[Case]] = {}
        for reason in {plan[1] for plan in PLANS}:
            by_reason[reason] = _open_cases(reason, sum(1 for p in PLANS if p[1] == reason))
        for n, (team, reason, severity, state, summary, criteria, steps) in enumerate(PLANS):
            if by_reason[reason]:
                case = by_reason[reason].pop(0)
            else:
                case = _new_case(users["platform"], reason, n)
            escalation = services.escalation_raise(
                actor=raisers[n % len(raisers)],
                case_id=case.pk,
                team=team,
                severity=severity,
                summary=summary,
                criteria=criteria,
                next_steps=steps,
            )
            _work(escalation, state, users[ON_CALL[team]], started)
            counts[state] = counts.get(state, 0) + 1
        evidence = _child_safety(users["analyst"], users["childsafety"], users["platform"])
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    stdout.write(
        f"  {Escalation.objects.count()} escalations ({summary}), {evidence} do-not-open "
        f"evidence items ({(timezone.now() - started).total_seconds():.1f} s)\n"
    )
