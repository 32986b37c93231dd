"""Wave enforcement: one decision applied to a cluster's members, each written exactly once,
with four-eyes at wave level, skipped members reported, limits and conflicts refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import override_settings

from cases.intake import report_submit_batch
from cases.models import Case, CaseEvent, Subject
from cases.services import case_claim
from cases.timeline import EventKind
from enforcement import strikes
from enforcement.models import Decision, EnforcementAction, OutboxEvent, Strike
from enforcement.statements import statement_for, validate_statement
from investigations.models import Cluster, ClusterMember, Wave, WaveMember
from investigations.services import waves
from tests.factories import ReportPayloadFactory
from tsops.errors import ConflictError
from tsops.jobs import job_describe
from tsops.models import Job

pytestmark = pytest.mark.django_db


def make_ring(platform, size: int, *, prefix: str = "ring", reason: str = "spam") -> Cluster:
    """A cluster of ``size`` accounts, each with an open case opened by a report."""
    items = [
        ReportPayloadFactory(
            reason=reason, subject={"kind": "account", "external_id": f"{prefix}-{i}"}
        )
        for i in range(size)
    ]
    results = report_submit_batch(actor=platform, items=items)
    assert all(r.errors is None for r in results)
    cluster = Cluster.objects.create(name=f"{prefix} ring", origin=Cluster.Origin.MANUAL)
    subjects = Subject.objects.filter(kind="account", external_id__startswith=f"{prefix}-")
    ClusterMember.objects.bulk_create(
        [ClusterMember(cluster=cluster, subject=s, role="account") for s in subjects]
    )
    cluster.size = size
    cluster.save()
    return cluster


def submit(actor, cluster, **changes):
    data = {
        "policy_section": "SPAM-1.2",
        "rationale": "Coordinated fake-engagement ring sharing one device.",
        "account_action": "suspend",
        "duration_hours": 168,
    }
    data.update(changes)
    return waves.wave_submit(actor=actor, cluster_id=cluster.pk, **data)


def run(wave: Wave) -> None:
    wave.refresh_from_db()
    assert waves.wave_run(job_id=wave.job_id)
    wave.refresh_from_db()


def per_case(model_filter) -> dict[int, int]:
    counts: dict[int, int] = {}
    for case_id in model_filter:
        counts[case_id] = counts.get(case_id, 0) + 1
    return counts


def assert_each_member_once(wave: Wave) -> None:
    done = list(WaveMember.objects.filter(wave=wave, state=WaveMember.State.DONE))
    case_ids = [m.case_id for m in done]
    decision_ids = [m.decision_id for m in done]
    assert len(set(case_ids)) == len(done)
    decisions = Decision.objects.filter(case_id__in=case_ids)
    assert sorted(decisions.values_list("pk", flat=True)) == sorted(decision_ids)
    assert per_case(decisions.values_list("case_id", flat=True)) == dict.fromkeys(case_ids, 1)
    actions = EnforcementAction.objects.filter(case_id__in=case_ids)
    assert per_case(actions.values_list("case_id", flat=True)) == dict.fromkeys(case_ids, 1)
    strikes_ = Strike.objects.filter(decision_id__in=decision_ids)
    assert per_case(strikes_.values_list("decision_id", flat=True)) == dict.fromkeys(
        decision_ids, 1
    )
    for kind in (EventKind.DECISION_MADE, EventKind.ACTION_APPLIED, EventKind.CASE_RESOLVED):
        events = CaseEvent.objects.filter(case_id__in=case_ids, kind=kind)
        assert per_case(events.values_list("case_id", flat=True)) == dict.fromkeys(case_ids, 1)
    for event_type in (OutboxEvent.ACTION_APPLIED, OutboxEvent.DECISION_MADE):
        rows = OutboxEvent.objects.filter(
            event_type=event_type, payload__decision_id__in=decision_ids
        )
        assert per_case(rows.values_list("payload__case_id", flat=True)) == dict.fromkeys(
            case_ids, 1
        )


# --- The whole wave -----------------------------------------------------------------------


def test_a_wave_on_30_members_writes_each_record_exactly_once(platform_account, analyst):
    cluster = make_ring(platform_account, 30)
    wave = submit(analyst, cluster)
    assert wave.status == Wave.Status.RUNNING and not wave.severe and wave.member_count == 30
    run(wave)
    assert wave.status == Wave.Status.DONE
    assert WaveMember.objects.filter(wave=wave, state=WaveMember.State.DONE).count() == 30
    assert_each_member_once(wave)
    cases = Case.objects.filter(subject__cluster_members__cluster=cluster)
    assert set(cases.values_list("status", flat=True)) == {Case.Status.RESOLVED}
    actions = EnforcementAction.objects.filter(case__in=cases).select_related(
        "decision__policy_section", "case__subject", "subject"
    )
    for action in actions:
        assert action.status == EnforcementAction.Status.ACTIVE
        assert (action.action_type, action.duration_hours) == ("suspend", 168)
        assert action.history.count() == 1
        assert validate_statement(statement_for(action)) == {}
    event = CaseEvent.objects.filter(kind=EventKind.DECISION_MADE, case__in=cases).first()
    assert event.data["wave_id"] == wave.pk and event.actor == analyst
    # One report.outcome per report on each case, as a single decision writes.
    assert OutboxEvent.objects.filter(event_type=OutboxEvent.REPORT_OUTCOME).count() == 30
    cluster.refresh_from_db()
    assert cluster.status == Cluster.Status.ACTIONED
    job = Job.objects.get(pk=wave.job_id)
    assert job.status == Job.Status.DONE and job.done == 30
    # Case history names the analyst, like a single decision's would.
    case = cases.first()
    assert case.history.first().history_user == analyst


def test_members_without_an_open_case_get_one_through_intake_once(platform_account, analyst):
    cluster = make_ring(platform_account, 4, prefix="closed")
    quiet = Subject.objects.create(kind="account", external_id="closed-quiet")
    # An account whose cases were all resolved earlier is still visible (and acted on).
    first = submit(analyst, cluster, submission_key="first")
    run(first)
    cluster.status = Cluster.Status.OPEN
    cluster.save()
    ClusterMember.objects.create(cluster=cluster, subject=quiet, role="account")
    second = submit(analyst, cluster, account_action="warn", duration_hours=None)
    # The quiet account has no case the analyst can see: it is not in the wave at all.
    assert second.member_count == 4
    run(second)
    members = WaveMember.objects.filter(wave=second)
    assert set(members.values_list("state", flat=True)) == {WaveMember.State.DONE}
    opened = Case.objects.filter(reports__external_id__startswith=f"wave-{second.pk}-")
    assert opened.count() == 4
    assert_each_member_once(second)


def test_the_ladder_flags_members_for_whom_it_recommends_more(platform_account, analyst):
    cluster = make_ring(platform_account, 3, prefix="ladder")
    repeat = Subject.objects.get(external_id="ladder-0")
    first = submit(analyst, cluster, account_action="warn", duration_hours=None)
    run(first)
    Cluster.objects.filter(pk=cluster.pk).update(status=Cluster.Status.OPEN)
    preview = waves.wave_preview(
        actor=analyst,
        cluster_id=cluster.pk,
        policy_section="SPAM-1.2",
        account_action="warn",
    )
    by_subject = {row.subject.pk: row for row in preview.members}
    expected = strikes.recommend(repeat, 2)
    assert by_subject[repeat.pk].recommendation == expected.label
    assert by_subject[repeat.pk].stronger_recommended
    assert preview.counts["stronger_recommended"] == 3
    assert preview.counts["without_case"] == 3


def test_the_previews_queries_do_not_grow_with_its_members(platform_account, analyst):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(cluster) -> int:
        with CaptureQueriesContext(connection) as captured:
            preview = waves.wave_preview(
                actor=analyst,
                cluster_id=cluster.pk,
                policy_section="SPAM-1.2",
                account_action="suspend",
                duration_hours=24,
            )
        assert preview.counts["members"] == cluster.size
        return len(captured)

    few = make_ring(platform_account, 5, prefix="few")
    queries(few)  # the actor's groups are read once, then kept on the user
    small = queries(few)
    large = queries(make_ring(platform_account, 80, prefix="many"))
    assert large == small


# --- Skipped, never overwritten -------------------------------------------------------------


def test_a_member_whose_case_another_analyst_claimed_is_skipped_and_reported(
    platform_account, analyst, analyst2
):
    cluster = make_ring(platform_account, 5, prefix="claimed")
    held = Case.objects.get(subject__external_id="claimed-2")
    case_claim(actor=analyst2, case_id=held.pk)
    preview = waves.wave_preview(
        actor=analyst,
        cluster_id=cluster.pk,
        policy_section="SPAM-1.2",
        account_action="suspend",
        duration_hours=24,
    )
    assert preview.counts["busy"] == 1
    wave = submit(analyst, cluster)
    run(wave)
    skipped = WaveMember.objects.get(wave=wave, state=WaveMember.State.SKIPPED)
    assert skipped.subject.external_id == "claimed-2"
    assert "mateo_analyst" in skipped.detail
    held.refresh_from_db()
    assert held.status == Case.Status.IN_REVIEW and held.claimed_by == analyst2
    assert not Decision.objects.filter(case=held).exists()
    assert WaveMember.objects.filter(wave=wave, state=WaveMember.State.DONE).count() == 4
    described = job_describe(actor=analyst, job=Job.objects.get(pk=wave.job_id))
    reported = {m["external_id"]: m for m in described["result"]["members"]}
    assert reported["claimed-2"]["state"] == "skipped"
    assert "mateo_analyst" in reported["claimed-2"]["detail"]
    assert reported["claimed-0"]["decision_id"] is not None


# --- Four-eyes at wave level -------------------------------------------------------------------


def test_a_ban_wave_waits_for_one_senior_who_is_not_the_requester(
    platform_account, analyst, senior, django_user_model
):
    cluster = make_ring(platform_account, 6, prefix="ban")
    wave = submit(analyst, cluster, account_action="ban", duration_hours=None)
    assert wave.status == Wave.Status.PENDING_APPROVAL and wave.severe and wave.job_id is None
    assert not Decision.objects.exists()
    from tsops.models import Notification

    assert Notification.objects.filter(user=senior, kind="wave_approval").exists()
    with pytest.raises(PermissionDenied):
        waves.wave_approve(actor=analyst, wave_id=wave.pk)
    # A senior may ban alone (their ceiling): their ban wave runs without a second senior.
    own = submit(
        senior,
        make_ring(platform_account, 2, prefix="own"),
        account_action="ban",
        duration_hours=None,
    )
    assert own.status == Wave.Status.RUNNING and not own.severe
    approved = waves.wave_approve(actor=senior, wave_id=wave.pk)
    assert approved.status == Wave.Status.RUNNING and approved.job_id
    with pytest.raises(ConflictError):
        waves.wave_approve(actor=senior, wave_id=wave.pk)
    run(wave)
    actions = EnforcementAction.objects.filter(case__subject__cluster_members__cluster=cluster)
    assert actions.count() == 6
    assert set(actions.values_list("status", "approved_by", "proposed_by")) == {
        (EnforcementAction.Status.ACTIVE, senior.pk, analyst.pk)
    }
    assert_each_member_once(wave)


def test_a_rejected_wave_does_nothing(platform_account, analyst, senior, associate):
    cluster = make_ring(platform_account, 3, prefix="rej")
    wave = submit(analyst, cluster, account_action="ban", duration_hours=None)
    with pytest.raises(ValidationError):
        waves.wave_reject(actor=senior, wave_id=wave.pk, reason=" ")
    with pytest.raises((PermissionDenied, Http404)):
        waves.wave_reject(actor=associate, wave_id=wave.pk, reason="no")
    with pytest.raises(PermissionDenied):
        waves.wave_reject(actor=analyst, wave_id=wave.pk, reason="no")
    rejected = waves.wave_reject(actor=senior, wave_id=wave.pk, reason="Not a ring.")
    assert rejected.status == Wave.Status.REJECTED and rejected.job_id is None
    assert not Decision.objects.exists()


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["associate", "support_agent", "outsider", "specialist"])
def test_who_may_not_run_waves_is_refused(request, platform_account, name):
    cluster = make_ring(platform_account, 2, prefix=f"no-{name}")
    with pytest.raises((PermissionDenied, Exception)) as refused:
        submit(request.getfixturevalue(name), cluster)
    assert refused.type.__name__ in ("PermissionDenied", "HiddenObject")
    assert not Wave.objects.exists()


@override_settings(TSOPS_WAVE_ANALYST_MAX=5)
def test_an_analysts_wave_over_the_limit_is_refused_and_a_senior_runs_it(
    platform_account, analyst, senior, api_client_for
):
    cluster = make_ring(platform_account, 6, prefix="big")
    body = {
        "policy_section": "SPAM-1.2",
        "rationale": "Ring.",
        "account_action": "suspend",
        "duration_hours": 24,
    }
    url = f"/api/v1/clusters/{cluster.pk}/enforcement"
    response = api_client_for(analyst).post(url, body, format="json")
    assert response.status_code == 403, response.content
    assert "need a senior" in response.json()["error"]["message"]
    response = api_client_for(senior).post(url, body, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "running" and response.json()["job_id"]


def test_an_analyst_may_not_wave_members_of_queues_they_do_not_work(
    platform_account, analyst, senior
):
    from cases.models import Queue

    cluster = make_ring(platform_account, 3, prefix="fraudq")
    run(submit(analyst, cluster, account_action="warn", duration_hours=None))
    Cluster.objects.filter(pk=cluster.pk).update(status=Cluster.Status.OPEN)
    # Under a fraud section the members' new cases open in the fraud queue.
    Queue.objects.filter(slug="fraud").update(allowed_roles=["senior"])
    with pytest.raises(PermissionDenied, match="queues you do not work"):
        submit(analyst, cluster, policy_section="FRAUD-2.1")
    wave = submit(senior, cluster, policy_section="FRAUD-2.1")
    run(wave)
    assert WaveMember.objects.filter(wave=wave, state=WaveMember.State.DONE).count() == 3
    assert Case.objects.filter(queue__slug="fraud", status=Case.Status.RESOLVED).count() == 3


def test_a_wave_on_a_dismissed_cluster_is_a_conflict(platform_account, analyst, api_client_for):
    cluster = make_ring(platform_account, 2, prefix="dismissed")
    Cluster.objects.filter(pk=cluster.pk).update(status=Cluster.Status.DISMISSED)
    response = api_client_for(analyst).post(
        f"/api/v1/clusters/{cluster.pk}/enforcement",
        {"policy_section": "SPAM-1.2", "rationale": "r", "account_action": "warn"},
        format="json",
    )
    assert response.status_code == 409, response.content
    assert not Wave.objects.exists()


def test_a_second_wave_while_one_is_pending_is_a_conflict(platform_account, analyst):
    cluster = make_ring(platform_account, 2, prefix="second")
    submit(analyst, cluster, account_action="ban", duration_hours=None)
    with pytest.raises(ConflictError):
        submit(analyst, cluster, account_action="warn", duration_hours=None)


def test_bad_input_is_a_400_naming_each_field(platform_account, analyst, api_client_for):
    cluster = make_ring(platform_account, 2, prefix="bad")
    client = api_client_for(analyst)
    url = f"/api/v1/clusters/{cluster.pk}/enforcement"
    response = client.post(
        url,
        {"policy_section": "NOPE-1", "rationale": "", "account_action": "suspend"},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert "rationale" in str(errors) and "duration_hours" in str(errors)
    response = client.post(
        url,
        {"policy_section": "SPAM-1.2", "rationale": "r", "account_action": "remove_content"},
        format="json",
    )
    assert response.status_code == 400 and "account_action" in str(response.json())
    response = client.post(
        url, {"policy_section": "NOPE-1", "rationale": "r", "account_action": "warn"}, format="json"
    )
    assert response.status_code == 400 and "policy_section" in str(response.json())
    assert client.post("/api/v1/clusters/999999/enforcement", {}, format="json").status_code == 404
    assert not Wave.objects.exists()


def test_the_same_submission_key_returns_the_same_wave(platform_account, analyst, api_client_for):
    cluster = make_ring(platform_account, 2, prefix="key")
    client = api_client_for(analyst)
    body = {
        "policy_section": "SPAM-1.2",
        "rationale": "r",
        "account_action": "warn",
        "submission_key": "abc-1",
    }
    first = client.post(f"/api/v1/clusters/{cluster.pk}/enforcement", body, format="json")
    again = client.post(f"/api/v1/clusters/{cluster.pk}/enforcement", body, format="json")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert Wave.objects.count() == 1


# --- Restricted members -----------------------------------------------------------------------


def test_restricted_members_are_never_in_an_outsiders_wave(
    platform_account, analyst, senior, api_client_for
):
    cluster = make_ring(platform_account, 3, prefix="mixed")
    report_submit_batch(
        actor=platform_account,
        items=[
            ReportPayloadFactory(
                reason="child_safety",
                subject={"kind": "content", "external_id": "cs-post", "owner_id": "cs-owner"},
            )
        ],
    )
    hidden_content = Subject.objects.get(external_id="cs-post")
    hidden_account = Subject.objects.get(external_id="cs-owner")
    ClusterMember.objects.create(cluster=cluster, subject=hidden_account, role="account")
    ClusterMember.objects.create(cluster=cluster, subject=hidden_content, role="content")
    preview = waves.wave_preview(
        actor=senior,
        cluster_id=cluster.pk,
        policy_section="SPAM-1.2",
        account_action="warn",
        content_action="remove_content",
    )
    shown = {row.subject.external_id for row in preview.members}
    assert shown == {"mixed-0", "mixed-1", "mixed-2"}
    wave = submit(
        analyst,
        cluster,
        account_action="warn",
        duration_hours=None,
        content_action="remove_content",
    )
    assert (
        set(WaveMember.objects.filter(wave=wave).values_list("subject__external_id", flat=True))
        == shown
    )
    run(wave)
    restricted = Case.objects.get(subject=hidden_content)
    assert restricted.status == Case.Status.NEW and not restricted.decisions.exists()
    body = api_client_for(senior).get(f"/api/v1/waves/{wave.pk}").json()
    assert "cs-" not in str(body)
    assert body["counts"]["done"] == 3


def test_the_wave_api_answers_the_wave_and_hides_it_from_outsiders(
    platform_account, analyst, outsider, api_client_for
):
    cluster = make_ring(platform_account, 2, prefix="api")
    wave = submit(analyst, cluster)
    run(wave)
    body = api_client_for(analyst).get(f"/api/v1/waves/{wave.pk}").json()
    assert body["status"] == "done" and body["counts"]["done"] == 2
    assert {m["state"] for m in body["members"]} == {"done"}
    job = api_client_for(analyst).get(f"/api/v1/jobs/{wave.job_id}").json()
    assert job["status"] == "done" and len(job["result"]["members"]) == 2
    assert api_client_for(outsider).get(f"/api/v1/waves/{wave.pk}").status_code in (403, 404)
    assert api_client_for(outsider).get(f"/api/v1/jobs/{wave.job_id}").status_code in (403, 404)


# --- Content members, the resume sweep, the console ---------------------------------------------


def test_content_members_take_the_content_action_and_accounts_the_account_action(
    platform_account, analyst
):
    report_submit_batch(
        actor=platform_account,
        items=[
            ReportPayloadFactory(
                subject={"kind": "content", "external_id": f"spam-post-{i}", "owner_id": "spammer"}
            )
            for i in range(3)
        ],
    )
    cluster = make_ring(platform_account, 2, prefix="owner")
    for i in range(3):
        ClusterMember.objects.create(
            cluster=cluster,
            subject=Subject.objects.get(external_id=f"spam-post-{i}"),
            role="content",
        )
    wave = submit(analyst, cluster, content_action="remove_content")
    assert wave.member_count == 5
    run(wave)
    assert_each_member_once(wave)
    actions = EnforcementAction.objects.filter(
        decision__case__subject__cluster_members__cluster=cluster
    )
    kinds = sorted(actions.values_list("subject__kind", "action_type"))
    assert kinds == [("account", "suspend")] * 2 + [("content", "remove_content")] * 3
    for action in actions.select_related("decision__policy_section", "case__subject", "subject"):
        assert validate_statement(statement_for(action)) == {}
    # Each removed post counts a strike on the account behind it.
    spammer = Subject.objects.get(external_id="spammer")
    assert Strike.objects.filter(account=spammer).count() == 3


def test_the_resume_sweep_sends_stalled_and_never_started_wave_jobs(platform_account, analyst):
    from datetime import timedelta

    from django.utils import timezone

    cluster = make_ring(platform_account, 2, prefix="sweep")
    wave = submit(analyst, cluster)
    job_id = Wave.objects.get(pk=wave.pk).job_id
    assert waves.wave_jobs_to_resume() == []
    Job.objects.filter(pk=job_id).update(created_at=timezone.now() - timedelta(hours=1))
    assert waves.wave_jobs_to_resume() == [job_id]
    run(wave)
    assert waves.wave_jobs_to_resume() == []


def test_the_console_form_previews_refuses_and_submits(
    platform_account, analyst, associate, client
):
    cluster = make_ring(platform_account, 3, prefix="console")
    url = f"/clusters/{cluster.pk}/wave/"
    client.force_login(associate)
    assert client.get(url).status_code == 403
    client.force_login(analyst)
    assert client.get(url).status_code == 200
    data = {"policy_section": "SPAM-1.2", "rationale": "", "account_action": "suspend"}
    refused = client.post(url, {**data, "preview": "1"})
    assert refused.status_code == 400 and b"error-rationale" in refused.content
    data.update(rationale="Ring.", duration_hours="24", submission_key="k1")
    preview = client.post(url, {**data, "preview": "1"})
    assert preview.status_code == 200 and b'data-testid="wave-preview"' in preview.content
    assert not Wave.objects.exists()
    submitted = client.post(url, {**data, "submit": "1"})
    wave = Wave.objects.get()
    assert submitted.status_code == 302 and submitted["Location"] == f"/waves/{wave.pk}/"
    assert client.get(f"/waves/{wave.pk}/").status_code == 200
    assert client.get(f"/waves/{wave.pk}/progress/").status_code == 200
    assert client.get("/waves/").status_code == 200


def test_the_console_approval_refuses_the_requester_and_takes_a_senior(
    platform_account, analyst, senior, client
):
    cluster = make_ring(platform_account, 2, prefix="approve")
    wave = submit(analyst, cluster, account_action="ban", duration_hours=None)
    client.force_login(analyst)
    assert client.post(f"/waves/{wave.pk}/approve/").status_code == 403
    client.force_login(senior)
    page = client.get(f"/waves/{wave.pk}/")
    assert b'data-testid="wave-approve"' in page.content
    client.post(f"/waves/{wave.pk}/reject/", {"reason": ""})
    wave.refresh_from_db()
    assert wave.status == Wave.Status.PENDING_APPROVAL
    assert client.post(f"/waves/{wave.pk}/approve/").status_code == 302
    wave.refresh_from_db()
    assert wave.status == Wave.Status.RUNNING and wave.approved_by == senior


def test_the_bulk_resolution_makes_only_its_declared_moves(platform_account, analyst, analyst2):
    from datetime import timedelta

    from django.utils import timezone

    from cases import lifecycle

    cluster = make_ring(platform_account, 3, prefix="moves")
    own = case_claim(actor=analyst, case_id=Case.objects.get(subject__external_id="moves-0").pk)
    lapsed = case_claim(actor=analyst2, case_id=Case.objects.get(subject__external_id="moves-1").pk)
    Case.objects.filter(pk=lapsed.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=1))
    before = dict(
        Case.objects.filter(subject__external_id__startswith="moves-").values_list("pk", "status")
    )
    rows = {pk: own.history.model.objects.filter(id=pk).count() for pk in before}
    wave = submit(analyst, cluster)
    run(wave)
    after = dict(Case.objects.filter(pk__in=before).values_list("pk", "status"))
    assert set(after.values()) == {Case.Status.RESOLVED}
    for pk, status in before.items():
        assert (status, after[pk]) in lifecycle.DECIDED_IN_BULK.moves
        assert own.history.model.objects.filter(id=pk).count() == rows[pk] + 1
    assert Case.objects.filter(pk__in=before, claimed_by__isnull=False).count() == 0
    assert Case.objects.filter(pk__in=before, first_action_at__isnull=True).count() == 0
