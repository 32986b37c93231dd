"""The demo rings: seeded through the real services at a small scale, the cluster job finds
the gift-card ring and the spam wave, the hub's address links nobody into a cluster, the
evader is flagged at intake, and the senior's file links the ring."""

from __future__ import annotations

import io

import pytest

from cases.models import CaseEvent, CaseLink, Identifier, Subject
from cases.timeline import EventKind
from enforcement.models import EnforcementAction
from investigations.demo import NAT_IP, seed_rings
from investigations.models import Cluster, Investigation
from tsops.demo import SEED_STEPS, seed_members

pytestmark = pytest.mark.django_db


def test_the_rings_step_runs_before_the_metrics_rollups():
    import importlib

    for app in ("cases", "enforcement", "metrics", "investigations"):
        importlib.import_module(f"{app}.demo")
    names = [name for name, _ in SEED_STEPS]
    assert names.index("rings and investigations") < names.index("metrics")


def test_the_demo_rings_make_clusters_an_evader_and_a_file():
    out = io.StringIO()
    seed_members(stdout=out, scale=0.1)
    seed_rings(stdout=out, scale=0.1)
    assert "evader (flagged)" in out.getvalue()

    ring = set(
        Subject.objects.filter(external_id__startswith="acct-gc-").values_list("pk", flat=True)
    )
    assert len(ring) == 8
    # Two of the ring are banned, through the enforcement services.
    banned = EnforcementAction.objects.filter(action_type="ban", subject_id__in=ring)
    assert banned.filter(status="active").count() == 2

    # The cluster job found the ring by its devices and card, and the copy-paste wave.
    by_identifiers = Cluster.objects.filter(origin=Cluster.Origin.IDENTIFIERS)
    ring_cluster = by_identifiers.filter(members__subject_id__in=ring).distinct().get()
    assert set(ring_cluster.members.values_list("subject_id", flat=True)) >= ring
    wave = Cluster.objects.filter(
        origin=Cluster.Origin.CONTENT, dominant_reasons__contains=["spam"]
    )
    assert wave.exists() and wave.first().size >= 3

    # The carrier NAT address is a hub: dozens of accounts, and no cluster from it.
    nat = Identifier.objects.get(kind="ip", account__external_id="acct-mobile-001")
    assert nat.masked.startswith(NAT_IP.split(".")[0])
    hub = set(
        Identifier.objects.filter(kind="ip", value_hash=nat.value_hash).values_list(
            "account_id", flat=True
        )
    )
    assert len(hub) >= 30
    assert not Cluster.objects.filter(members__subject_id__in=hub).exists()

    # The evader's new account was flagged when its report came in, after the ban.
    evader_case = Subject.objects.get(external_id="post-ev-new").cases.get()
    link = CaseLink.objects.get(from_case=evader_case, kind=CaseLink.Kind.EVASION_SUSPECT)
    assert link.to_case.subject.external_id == "post-ev-old"
    assert "evasion-suspect" in evader_case.tags
    assert CaseEvent.objects.filter(case=evader_case, kind=EventKind.EVASION_SUSPECTED).exists()

    # The senior's file on the ring.
    investigation = Investigation.objects.get()
    assert investigation.owner.username == "senior" and not investigation.restricted
    assert set(investigation.accounts.values_list("pk", flat=True)) == ring
    assert investigation.clusters.filter(pk=ring_cluster.pk).exists()
    assert investigation.notes.count() == 2 and investigation.findings
