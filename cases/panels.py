"""The case page and the queue page, composed from panels.

The cases app draws what is its own (subject, reports, evidence, notes, timeline, links);
the apps above it (enforcement, escalations, ...) add panels by registering them here from
their ``AppConfig.ready()``, so cases never imports them. A panel is a context builder and
the template that reads what it builds, under the panel's key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from cases import selectors, services, visibility
from cases.forms import CaseEditForm, EvidenceForm, NoteForm, ReleaseForm
from cases.models import Case, CaseLink, Identifier, Note, Queue, Report
from cases.permissions import (
    can_claim_case,
    can_release_case,
    can_reopen_case,
    can_reveal_pii,
    can_view_pii,
)
from cases.presentation import mark_deadlines
from tsops.presentation import relative_text


@dataclass(frozen=True)
class Panel:
    """``build(request, subject, **options)`` fills ``context[key]``; ``templates`` read it.

    The subject is the page's case (case panels) or queue (queue panels); ``options`` are
    what the owning app's own views pass back in, such as a bound form with its errors.
    ``templates`` maps a slot of the page to the template drawn there: the case page has
    ``header`` (one line under the case's title), ``decide`` (the sticky decision column),
    ``who`` (the account's standing column) and ``main`` (the evidence column, below what
    was reported); one build feeds every slot of its panel.
    """

    key: str
    templates: dict[str, str]
    build: Callable[..., object]
    order: int

    @property
    def template(self) -> str:
        return self.templates.get("main", "")


CASE_SLOTS = ("header", "decide", "who", "main")

_CASE_PANELS: dict[str, Panel] = {}
_QUEUE_PANELS: dict[str, Panel] = {}


def register_case_panel(
    *,
    key: str,
    build: Callable[..., object],
    order: int,
    template: str = "",
    slot: str = "main",
    templates: dict[str, str] | None = None,
):
    """Add a panel to the case page: ``template`` in ``slot``, or ``templates`` by slot."""
    chosen = dict(templates or {})
    if template:
        chosen[slot] = template
    unknown = set(chosen) - set(CASE_SLOTS)
    if unknown or not chosen:
        raise ValueError(f"A case panel needs templates in {CASE_SLOTS}, not {sorted(unknown)}")
    _CASE_PANELS[key] = Panel(key=key, templates=chosen, build=build, order=order)


def register_queue_panel(*, key: str, template: str, build: Callable[..., object], order: int):
    """Add a panel to the queue page's bulk toolbar (by ``order``)."""
    _QUEUE_PANELS[key] = Panel(key=key, templates={"main": template}, build=build, order=order)


def _compose(registry: dict[str, Panel], request, subject, options: dict[str, dict]) -> dict:
    panels = sorted(registry.values(), key=lambda p: (p.order, p.key))
    context = {p.key: p.build(request, subject, **options.get(p.key, {})) for p in panels}
    slots = {
        slot: [p.templates[slot] for p in panels if slot in p.templates] for slot in CASE_SLOTS
    }
    return {**context, "panels": [p for p in panels if p.template], "panel_slots": slots}


def queue_panels_context(request: HttpRequest, queue: Queue) -> dict:
    """The registered queue panels' context, with the list the template includes."""
    return _compose(_QUEUE_PANELS, request, queue, {})


def claim_next_url(request: HttpRequest, queue: Queue) -> str:
    """Claim the next case of ``queue`` for the member and answer its page's URL; when the
    queue has nothing for them (or they may take no more of it today), say so plainly and
    answer the queue's page."""
    try:
        case = services.case_claim_next(actor=request.user, queue=queue)
    except services.ClaimRefused as refusal:
        messages.error(request, str(refusal))
        return reverse("cases:queue-detail", args=[queue.slug])
    if case is None:
        messages.info(request, f"{queue.name} is empty: there is no case waiting for you.")
        return reverse("cases:queue-detail", args=[queue.slug])
    return reverse("cases:case-detail", args=[case.pk])


# --- The case page --------------------------------------------------------------------------


def _identifier_rows(actor, account) -> list[dict]:
    """The account's identifiers, masked; with fingerprint and sharers for those with view_pii."""
    if account is None:
        return []
    identifiers = list(Identifier.objects.filter(account=account).order_by("kind", "id"))
    sharers: dict[tuple[str, str], list[str]] = {}
    show_fingerprint = can_view_pii(actor)
    if show_fingerprint and identifiers:
        match = Q()
        for ident in identifiers:
            match |= Q(kind=ident.kind, value_hash=ident.value_hash)
        # Only accounts with a case the viewer may see: one whose only cases are restricted
        # is not there for an outsider, not even as a name.
        seen = visibility.visible_cases(actor).filter(
            Q(subject_id=OuterRef("account_id")) | Q(subject__owner_id=OuterRef("account_id"))
        )
        for kind, value_hash, external_id in (
            Identifier.objects.filter(match)
            .filter(Exists(seen))
            .exclude(account=account)
            .values_list("kind", "value_hash", "account__external_id")
            .order_by("account__external_id")[:200]
        ):
            sharers.setdefault((kind, value_hash), []).append(external_id)
    return [
        {
            "identifier": ident,
            "fingerprint": ident.value_hash if show_fingerprint else None,
            "sharing": sharers.get((ident.kind, ident.value_hash), []),
        }
        for ident in identifiers
    ]


def render_case_page(
    request: HttpRequest,
    case: Case,
    *,
    status: int = 200,
    edit_form: CaseEditForm | None = None,
    note_form: NoteForm | None = None,
    evidence_form: EvidenceForm | None = None,
    panel_options: dict[str, dict] | None = None,
) -> HttpResponse:
    """The case page; every rendering is a view of the case and goes to the access log.

    ``panel_options`` go to the registered panel of that key, e.g. enforcement's bound
    decision form when its view shows the page again with the form's errors.
    """
    actor = request.user
    services.case_view_record(actor=actor, case=case, request=request)
    now = timezone.now()
    mark_deadlines([case], now)
    case.first_breached = (
        case.is_open and case.first_action_at is None and (case.first_action_due < now)
    )
    case.resolve_breached = case.is_open and case.resolve_due < now
    queues = selectors.queue_list(actor=actor)
    visible = visibility.visible_cases(actor)
    events = selectors.timeline_for(case)
    prior = selectors.prior_cases(actor=actor, case=case)
    holds_claim = case.status == Case.Status.IN_REVIEW and case.claimed_by_id == actor.pk
    case.first_action_due_text = relative_text(case.first_action_due, now)
    case.resolve_due_text = relative_text(case.resolve_due, now)
    evidence = list(case.evidence.select_related("added_by", "media"))
    links_out = list(
        CaseLink.objects.filter(from_case=case, to_case__in=visible).select_related("to_case")
    )
    links_in = list(
        CaseLink.objects.filter(to_case=case, from_case__in=visible).select_related("from_case")
    )
    context = {
        "case": case,
        "subject": case.subject,
        "account": case.subject.account,
        "holds_claim": holds_claim,
        "can_claim": can_claim_case(actor, case),
        "can_release": can_release_case(actor, case),
        "can_reopen": can_reopen_case(actor, case),
        "can_work_queue": visibility.can_work_queue(actor, case.queue),
        "report_groups": selectors.report_groups(case),
        "reports": selectors.report_list(case),
        "evidence": evidence,
        # Media that came with the reports is shown with what was reported, above the fold.
        "reported_media": [e for e in evidence if e.kind == e.Kind.MEDIA and e.report_id],
        "detector_scores": selectors.detector_scores(case),
        "notes": list(Note.objects.filter(case=case).select_related("author")),
        # Links to cases the viewer cannot see (a restricted one) are left out altogether.
        "links_out": links_out,
        "links_in": links_in,
        "links_count": len(links_out) + len(links_in),
        "prior_cases": prior,
        "linked_accounts": selectors.linked_accounts(actor=actor, case=case),
        "identifiers": _identifier_rows(actor, case.subject.account),
        "can_view_pii": can_view_pii(actor),
        "can_reveal_pii": can_reveal_pii(actor),
        "events": events,
        "edit_form": edit_form or CaseEditForm.for_case(case, queues),
        "note_form": note_form or NoteForm(),
        "evidence_form": evidence_form or EvidenceForm(),
        "release_form": ReleaseForm(),
        "automated_source": Report.Source.AUTOMATED_FLAG,
        **_compose(_CASE_PANELS, request, case, panel_options or {}),
    }
    return render(request, "cases/case_detail.html", context, status=status)
