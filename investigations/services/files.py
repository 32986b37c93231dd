"""Every write of investigation files: opening one, editing it (optimistic ``version``),
linking and unlinking accounts, clusters and cases, notes, and exporting its PDF report.

A file that links a restricted case (or a team's cluster) becomes restricted to that team,
and stays so: notes and findings written meanwhile may speak of what only the team may see.
Nobody links what they cannot see themselves: the error names what was refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from cases.models import Case, Subject
from cases.visibility import visible_cases
from investigations.models import Cluster, Investigation, InvestigationNote
from investigations.permissions import can_edit_investigation, can_open_investigations
from investigations.selectors.files import investigation_report_data
from investigations.visibility import (
    can_view_investigation,
    investigation_get_for,
    visible_accounts,
    visible_clusters,
)
from tsops.errors import ConflictError, UnknownReferences
from tsops.models import AccessLog
from tsops.permissions import has_capability
from tsops.services import access_log_record

MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_LINKS = 200
LINK_KINDS = ("accounts", "clusters", "cases")
REPORT_STYLESHEET = "css/investigations.css"


class StaleInvestigationEdit(ConflictError):
    """The file changed since the editor loaded it (version mismatch)."""

    def __init__(self, investigation: Investigation):
        super().__init__(
            f"Investigation {investigation.pk} was changed meanwhile (now version "
            f"{investigation.version}); reload it. Your edit was not saved."
        )


@dataclass
class Links:
    """What a request links: account external ids, cluster ids and case ids."""

    accounts: list[str] = field(default_factory=list)
    clusters: list[int] = field(default_factory=list)
    cases: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.accounts or self.clusters or self.cases)


@dataclass
class _Resolved:
    accounts: list[Subject]
    clusters: list[Cluster]
    cases: list[Case]


def _clean_text(errors: dict, name: str, value: str | None, *, limit: int, required=False):
    if value is None:
        return None
    value = value.strip()
    if required and not value:
        errors[name] = "Must not be blank."
    elif len(value) > limit:
        errors[name] = f"At most {limit} characters."
    return value


def _resolve(actor, links: Links) -> _Resolved:
    """The linked objects, each one the actor may see; a ValidationError names the others
    (missing and hidden alike, so nothing is learnt of a hidden one)."""
    errors: dict[str, str] = {}
    if sum(len(getattr(links, k)) for k in LINK_KINDS) > MAX_LINKS:
        raise ValidationError({"links": f"At most {MAX_LINKS} links at once."})
    accounts = {
        a.external_id: a
        for a in visible_accounts(actor).filter(external_id__in=set(links.accounts))
    }
    missing = [a for a in dict.fromkeys(links.accounts) if a not in accounts]
    if missing:
        errors["accounts"] = f"No account you may see: {', '.join(missing)}."
    clusters = visible_clusters(actor).in_bulk(set(links.clusters))
    missing = [f"#{c}" for c in dict.fromkeys(links.clusters) if c not in clusters]
    if missing:
        errors["clusters"] = f"No cluster you may see: {', '.join(missing)}."
    cases = visible_cases(actor).in_bulk(set(links.cases))
    missing = [f"#{c}" for c in dict.fromkeys(links.cases) if c not in cases]
    if missing:
        errors["cases"] = f"No case you may see: {', '.join(missing)}."
    if errors:
        raise UnknownReferences(errors)
    return _Resolved(list(accounts.values()), list(clusters.values()), list(cases.values()))


def _team_of(current: str, resolved: _Resolved) -> str:
    """The team the file is restricted to once these links are added ("" for none)."""
    teams = {c.team for c in resolved.cases if c.restricted and c.team}
    teams |= {c.team for c in resolved.clusters if c.team}
    if current:
        teams.add(current)
    if len(teams) > 1:
        raise ValidationError(
            {"cases": "A file holds one team's restricted work: open one file per team."}
        )
    return teams.pop() if teams else ""


def _members(usernames: Iterable[str]) -> list:
    names = [u.strip() for u in usernames if u and u.strip()]
    users = {
        u.username: u
        for u in get_user_model().objects.filter(username__in=set(names), is_active=True)
        if has_capability(u, "use_console")
    }
    missing = [n for n in dict.fromkeys(names) if n not in users]
    if missing:
        raise ValidationError({"members": f"No console member named: {', '.join(missing)}."})
    return list(users.values())


def _apply_links(actor, investigation: Investigation, resolved: _Resolved) -> None:
    team = _team_of(investigation.team, resolved)
    if team and not investigation.restricted:
        investigation.restricted, investigation.team = True, team
        investigation.save(update_fields=["restricted", "team", "updated_at"])
    investigation.accounts.add(*resolved.accounts)
    investigation.clusters.add(*resolved.clusters)
    investigation.cases.add(*resolved.cases)
    if not can_view_investigation(actor, investigation):
        # Restricting it to a team the actor is not on would hide the file from them.
        raise ValidationError(
            {"cases": f"Linking this restricts the file to the {team} team, which you are not on."}
        )


def investigation_create(
    *,
    actor,
    title: str,
    hypothesis: str = "",
    links: Links | None = None,
    members: Iterable[str] = (),
) -> Investigation:
    """Open a file owned by the actor (a senior), with its first links and members."""
    if not can_open_investigations(actor):
        raise PermissionDenied("Opening an investigation needs a senior's role.")
    errors: dict[str, str] = {}
    title = _clean_text(errors, "title", title or "", limit=MAX_TITLE, required=True)
    hypothesis = _clean_text(errors, "hypothesis", hypothesis or "", limit=MAX_TEXT)
    if errors:
        raise ValidationError(errors)
    resolved = _resolve(actor, links or Links())
    people = _members(members)
    with transaction.atomic():
        investigation = Investigation.objects.create(
            title=title, hypothesis=hypothesis, owner=actor
        )
        investigation.members.add(*[u for u in people if u.pk != actor.pk])
        _apply_links(actor, investigation, resolved)
    return investigation


def _lock_for_edit(actor, investigation_id: int, version: int | None) -> Investigation:
    investigation_get_for(actor=actor, investigation_id=investigation_id)
    investigation = Investigation.objects.select_for_update().get(pk=investigation_id)
    if not can_edit_investigation(actor, investigation):
        raise PermissionDenied("Only the file's owner and its senior members edit it.")
    if version is not None and version != investigation.version:
        raise StaleInvestigationEdit(investigation)
    return investigation


def _bump(investigation: Investigation, fields: list[str]) -> None:
    investigation.version += 1
    investigation.save(update_fields=[*fields, "version", "updated_at"])


def investigation_update(
    *,
    actor,
    investigation_id: int,
    version: int,
    title: str | None = None,
    hypothesis: str | None = None,
    findings: str | None = None,
    status: str | None = None,
    members: Iterable[str] | None = None,
) -> Investigation:
    """Edit a file; ``version`` must still be its version (else StaleInvestigationEdit, 409)."""
    errors: dict[str, str] = {}
    values = {
        "title": _clean_text(errors, "title", title, limit=MAX_TITLE, required=True),
        "hypothesis": _clean_text(errors, "hypothesis", hypothesis, limit=MAX_TEXT),
        "findings": _clean_text(errors, "findings", findings, limit=MAX_TEXT),
    }
    if status is not None and status not in Investigation.Status.values:
        errors["status"] = f"One of {', '.join(Investigation.Status.values)}."
    if errors:
        raise ValidationError(errors)
    people = _members(members) if members is not None else None
    with transaction.atomic():
        investigation = _lock_for_edit(actor, investigation_id, version)
        changed = []
        for name, value in values.items():
            if value is not None and value != getattr(investigation, name):
                setattr(investigation, name, value)
                changed.append(name)
        if status is not None and status != investigation.status:
            investigation.status = status
            investigation.closed_at = timezone.now() if status == "closed" else None
            changed += ["status", "closed_at"]
        if people is not None:
            investigation.members.set([u for u in people if u.pk != investigation.owner_id])
        _bump(investigation, changed)
    return investigation


def investigation_links_change(
    *,
    actor,
    investigation_id: int,
    version: int | None,
    add: Links | None = None,
    remove: Links | None = None,
) -> Investigation:
    """Link (each must be visible to the actor) and unlink accounts, clusters and cases."""
    add, remove = add or Links(), remove or Links()
    resolved = _resolve(actor, add) if add else _Resolved([], [], [])
    with transaction.atomic():
        investigation = _lock_for_edit(actor, investigation_id, version)
        _apply_links(actor, investigation, resolved)
        if remove.accounts:
            investigation.accounts.remove(
                *Subject.objects.filter(
                    kind=Subject.Kind.ACCOUNT, external_id__in=set(remove.accounts)
                )
            )
        if remove.clusters:
            investigation.clusters.remove(*Cluster.objects.filter(pk__in=set(remove.clusters)))
        if remove.cases:
            investigation.cases.remove(*Case.objects.filter(pk__in=set(remove.cases)))
        _bump(investigation, [])
    return investigation


def investigation_note_add(*, actor, investigation_id: int, body: str) -> InvestigationNote:
    """Add a note to the file's running log (anyone who may see the file)."""
    investigation = investigation_get_for(actor=actor, investigation_id=investigation_id)
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "Must not be blank."})
    if len(body) > MAX_TEXT:
        raise ValidationError({"body": f"At most {MAX_TEXT} characters."})
    with transaction.atomic():
        note = InvestigationNote.objects.create(
            investigation=investigation, author=actor, body=body
        )
        Investigation.objects.filter(pk=investigation.pk).update(updated_at=timezone.now())
    return note


def _report_stylesheet() -> str:
    from django.contrib.staticfiles import finders

    return finders.find(REPORT_STYLESHEET)


def investigation_report_pdf(*, actor, investigation_id: int, request=None) -> bytes:
    """The file's report as a PDF (WeasyPrint), as the actor may see it; the export is
    written to the access log."""
    from weasyprint import CSS, HTML

    investigation = investigation_get_for(actor=actor, investigation_id=investigation_id)
    data = investigation_report_data(actor=actor, investigation=investigation)
    html = render_to_string("investigations/investigation_report.html", {"report": data})
    # No base URL: the document fetches nothing (its picture is inline).
    pdf = HTML(string=html).write_pdf(stylesheets=[CSS(filename=_report_stylesheet())])
    access_log_record(
        actor=actor,
        action=AccessLog.Action.EXPORTED,
        obj=investigation,
        request=request,
        detail={
            "format": "pdf",
            "bytes": len(pdf),
            "accounts": len(data.view.accounts),
            "clusters": len(data.view.clusters),
            "cases": len(data.view.cases),
        },
    )
    return pdf
