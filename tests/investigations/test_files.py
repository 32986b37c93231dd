"""Investigation files: a senior opens, edits, links and annotates one; analysts and
associates may not open one, a member analyst reads it; a restricted case restricts the file
to its team and nobody links what they cannot see; an outsider gets 404 on the page, the API
and the PDF; the PDF is a real PDF and its export is in the access log; a stale edit is 409."""

from __future__ import annotations

import re
import zlib

import pytest
from django.urls import reverse

from cases.models import Case
from investigations.models import Investigation, InvestigationNote
from investigations.selectors.files import network_svg
from investigations.services import files as services
from tests.conftest import make_member
from tests.factories import make_case
from tsops import roles
from tsops.models import AccessLog

pytestmark = pytest.mark.django_db


def _post(owner: str, reason: str = "scam_fraud", n: int = 1, **identifiers) -> Case:
    return make_case(
        _platform(),
        reason=reason,
        subject={"kind": "content", "external_id": f"post-{owner}-{n}", "owner_id": owner},
        identifiers=[{"kind": k, "value": v} for k, v in identifiers.items()],
    )


_PLATFORM = {}


def _platform():
    return _PLATFORM["user"]


@pytest.fixture(autouse=True)
def _platform_user(platform_account):
    _PLATFORM["user"] = platform_account


@pytest.fixture
def ring():
    """Three accounts sharing a device, each with a scam case."""
    return [_post(f"acct-ring-{i}", device="dev-ring", n=i) for i in range(3)]


@pytest.fixture
def cs_lead(db):
    return make_member("cs_lead", roles.SENIOR, ("child-safety",))


def _open(senior, ring, **kwargs) -> Investigation:
    return services.investigation_create(
        actor=senior,
        title=kwargs.pop("title", "Gift-card ring"),
        hypothesis="One operator behind three accounts.",
        links=services.Links(accounts=["acct-ring-0", "acct-ring-1"], cases=[ring[0].pk], **kwargs),
        members=["noor_analyst"],
    )


def _pdf_text(pdf: bytes) -> bytes:
    """The PDF's decompressed streams (its outline and metadata carry the title)."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"".join(out)


def test_a_senior_opens_edits_links_and_annotates_a_file_through_the_pages(
    senior, analyst, ring, client
):
    client.force_login(senior)
    response = client.post(
        reverse("investigations:investigation-create"),
        {
            "title": "Gift-card ring",
            "hypothesis": "One operator.",
            "accounts": "acct-ring-0\nacct-ring-1",
            "cases": f"#{ring[0].pk}",
            "clusters": "",
            "members": "noor_analyst",
        },
    )
    investigation = Investigation.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("investigations:investigation-detail", args=[investigation.pk])
    assert investigation.owner == senior and not investigation.restricted
    assert set(investigation.accounts.values_list("external_id", flat=True)) == {
        "acct-ring-0",
        "acct-ring-1",
    }
    assert list(investigation.members.all()) == [analyst]

    detail = reverse("investigations:investigation-detail", args=[investigation.pk])
    response = client.post(
        reverse("investigations:investigation-edit", args=[investigation.pk]),
        {
            "version": 1,
            "title": "Gift-card ring (confirmed)",
            "status": "open",
            "hypothesis": "One operator.",
            "findings": "Same device and card on all three.",
            "members": "noor_analyst",
        },
    )
    assert response.status_code == 302
    investigation.refresh_from_db()
    assert investigation.findings.startswith("Same device") and investigation.version == 2

    links = reverse("investigations:investigation-links", args=[investigation.pk])
    client.post(links, {"version": 2, "kind": "cases", "values": f"{ring[1].pk} {ring[2].pk}"})
    client.post(links, {"version": 3, "remove": "accounts:acct-ring-1"})
    client.post(
        reverse("investigations:investigation-note-add", args=[investigation.pk]),
        {"body": "Card BIN matches the March ring."},
    )
    investigation.refresh_from_db()
    assert investigation.cases.count() == 3 and investigation.accounts.count() == 1
    assert investigation.version == 4
    assert InvestigationNote.objects.get().author == senior

    page = client.get(detail).content.decode()
    assert "Gift-card ring (confirmed)" in page and "Card BIN matches" in page
    assert "acct-ring-0" in page and f"#{ring[2].pk}" in page

    # The member analyst reads the file (and may add a note) but may not edit it.
    client.force_login(analyst)
    assert client.get(detail).status_code == 200
    refused = client.post(
        reverse("investigations:investigation-edit", args=[investigation.pk]),
        {"version": 4, "title": "Mine now", "status": "closed", "members": ""},
    )
    assert refused.status_code == 403
    investigation.refresh_from_db()
    assert investigation.title == "Gift-card ring (confirmed)"


def test_analysts_and_associates_may_not_open_a_file_but_a_member_analyst_reads_it(
    senior, analyst, associate, ring, client, api_client_for
):
    for user in (analyst, associate):
        client.force_login(user)
        assert client.get(reverse("investigations:investigation-create")).status_code == 403
        response = api_client_for(user).post(
            reverse("api:investigation-list"), {"title": "Mine"}, format="json"
        )
        assert response.status_code == 403
    assert not Investigation.objects.exists()

    created = api_client_for(senior).post(
        reverse("api:investigation-list"),
        {
            "title": "Gift-card ring",
            "hypothesis": "One operator.",
            "accounts": ["acct-ring-0"],
            "cases": [ring[1].pk],
            "members": ["noor_analyst"],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["owner"] == "grace_senior" and body["members"] == ["noor_analyst"]
    assert [a["external_id"] for a in body["accounts"]] == ["acct-ring-0"]
    assert [c["id"] for c in body["cases"]] == [ring[1].pk]

    member = api_client_for(analyst)
    listed = member.get(reverse("api:investigation-list")).json()
    assert [f["title"] for f in listed] == ["Gift-card ring"]
    read = member.get(reverse("api:investigation-detail", args=[body["id"]]))
    assert read.status_code == 200 and read.json()["can_edit"] is False
    # The associate is no member: not there for them.
    other = api_client_for(associate)
    assert other.get(reverse("api:investigation-list")).json() == []
    assert other.get(reverse("api:investigation-detail", args=[body["id"]])).status_code == 404


def test_a_senior_cannot_link_what_they_cannot_see(senior, ring, api_client_for):
    hidden = _post("acct-hidden", reason="child_safety")
    assert hidden.restricted
    response = api_client_for(senior).post(
        reverse("api:investigation-list"),
        {"title": "Curious", "cases": [hidden.pk], "accounts": ["acct-hidden", "acct-ring-0"]},
        format="json",
    )
    # Answered like links to nothing at all: 404, each one named.
    assert response.status_code == 404
    fields = response.json()["error"]["fields"]
    assert f"#{hidden.pk}" in fields["cases"][0]
    assert "acct-hidden" in fields["accounts"][0] and "acct-ring-0" not in fields["accounts"][0]
    assert not Investigation.objects.exists()


def test_a_restricted_case_restricts_the_file_to_its_team(
    cs_lead, analyst, specialist, outsider, senior, ring, client, api_client_for
):
    hidden = _post("acct-hidden", reason="child_safety")
    investigation = services.investigation_create(
        actor=cs_lead,
        title="Team file",
        links=services.Links(cases=[hidden.pk, ring[0].pk]),
        members=["noor_analyst", "chen_childsafety"],
    )
    investigation.refresh_from_db()
    assert investigation.restricted and investigation.team == "child-safety"
    # A member outside the team, a senior who is no member and an outsider: 404 everywhere.
    for user in (analyst, senior, outsider):
        client.force_login(user)
        for name in ("investigation-detail", "investigation-report"):
            url = reverse(f"investigations:{name}", args=[investigation.pk])
            assert client.get(url).status_code in (403, 404), (user, name)
        api = api_client_for(user)
        assert api.get(
            reverse("api:investigation-detail", args=[investigation.pk])
        ).status_code in (
            403,
            404,
        )
        assert all(
            f["id"] != investigation.pk
            for f in api.get(reverse("api:investigation-list")).json()
            if isinstance(f, dict)
        )
    assert not AccessLog.objects.filter(action=AccessLog.Action.EXPORTED).exists()
    # The team member sees it, the restricted case included.
    body = api_client_for(specialist).get(
        reverse("api:investigation-detail", args=[investigation.pk])
    )
    assert body.status_code == 200
    assert hidden.pk in [c["id"] for c in body.json()["cases"]]


def test_an_outsider_gets_404_on_an_ordinary_file_too(senior, analyst, outsider, ring, client):
    investigation = _open(senior, ring)
    client.force_login(outsider)
    for name in ("investigation-detail", "investigation-report"):
        url = reverse(f"investigations:{name}", args=[investigation.pk])
        assert client.get(url).status_code in (403, 404)
    # An outsider has no console role at all: the list is refused before any row is read.
    assert client.get(reverse("investigations:investigation-list")).status_code == 403


def test_the_report_is_a_pdf_with_the_file_and_its_export_is_logged(senior, analyst, ring, client):
    investigation = _open(senior, ring, title="Gift card ring report")
    services.investigation_note_add(
        actor=senior, investigation_id=investigation.pk, body="<script>x</script> card BIN"
    )
    client.force_login(analyst)
    response = client.get(reverse("investigations:investigation-report", args=[investigation.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "attachment" in response["Content-Disposition"]
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    assert b"Gift card ring report" in _pdf_text(pdf)
    entry = AccessLog.objects.get(action=AccessLog.Action.EXPORTED)
    assert entry.actor == analyst and entry.object_id == str(investigation.pk)
    assert entry.object_type == "investigations.investigation"
    assert entry.detail["format"] == "pdf" and entry.detail["accounts"] == 2


def test_the_network_picture_escapes_its_text_and_draws_shared_identifiers(senior, ring):
    from cases.models import Subject

    evil = _post("<b>acct&evil</b>", device="dev-ring")
    accounts = list(Subject.objects.filter(kind="account").order_by("pk"))
    svg = network_svg(accounts, highlighted={accounts[0].pk})
    assert svg.startswith("<svg") and "<script" not in svg
    assert "&lt;b&gt;acct&amp;evil&lt;/b&gt;" in svg and "<b>" not in svg
    # Four accounts on one device: six edges.
    assert svg.count("<line") - 5 == 6
    assert evil.subject.owner.external_id == "<b>acct&evil</b>"


def test_a_stale_edit_is_refused_with_409(senior, analyst, ring, client, api_client_for):
    investigation = _open(senior, ring)
    api = api_client_for(senior)
    url = reverse("api:investigation-detail", args=[investigation.pk])
    assert api.patch(url, {"version": 1, "findings": "First."}, format="json").status_code == 200
    stale = api.patch(url, {"version": 1, "findings": "Second."}, format="json")
    assert stale.status_code == 409
    client.force_login(senior)
    page = client.post(
        reverse("investigations:investigation-edit", args=[investigation.pk]),
        {"version": 1, "title": "Old form", "status": "open", "members": ""},
    )
    assert page.status_code == 409
    assert "changed meanwhile" in page.content.decode()
    links = client.post(
        reverse("investigations:investigation-links", args=[investigation.pk]),
        {"version": 1, "kind": "cases", "values": str(ring[2].pk)},
    )
    assert links.status_code == 409
    investigation.refresh_from_db()
    assert investigation.findings == "First." and investigation.title == "Gift-card ring"
    assert investigation.cases.count() == 1
