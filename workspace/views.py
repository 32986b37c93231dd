"""HTML views of the workspace: the case page's and queue page's presence polls, and the
exposure page (a reviewer's own figures; the team's for leads, with overrides for seniors)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cases import selectors as case_selectors
from tsops.decorators import console_view
from workspace import presence, selectors, services
from workspace.forms import CaseIdsForm, DayForm, OverrideForm, day_links
from workspace.permissions import (
    can_grant_exposure_override,
    can_view_exposure,
    can_view_team_exposure,
)


@console_view()
@require_POST
def case_presence(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case page's poll: who else is here, the viewer's exposure and any break prompt."""
    actor = request.user
    case = case_selectors.case_get_for(actor=actor, case_id=case_id)
    poll = services.case_poll(actor=actor, case=case)
    context = {
        "case": case,
        "people": selectors.presence_named(actor=actor, people=poll.others),
        "budget": poll.budget,
        "prompt": poll.prompt,
    }
    return render(request, "workspace/_presence_line.html", context)


@console_view()
@require_GET
def queue_presence(request: HttpRequest, slug: str) -> HttpResponse:
    """The queue page's poll: every row's presence cell (out-of-band swaps) and the poller."""
    actor = request.user
    queue = case_selectors.queue_get_for(actor=actor, slug=slug)
    form = CaseIdsForm(request.GET)
    if not form.is_valid():
        return HttpResponse(
            " ".join(form.errors.get("case", [])), status=400, content_type="text/plain"
        )
    on = selectors.queue_presence(actor=actor, queue=queue, case_ids=form.cleaned_data["case"])
    poll_url = reverse("workspace:queue-presence", args=[queue.slug])
    query = "&".join(f"case={case_id}" for case_id in on)
    context = {
        "cells": on.items(),
        "poll_url": f"{poll_url}?{query}" if query else poll_url,
        "interval": presence.interval(),
    }
    return render(request, "workspace/_queue_presence.html", context)


def _exposure_page(request, *, day_form: DayForm, override_form=None, status=200):
    actor = request.user
    valid = day_form.is_bound and day_form.is_valid()
    day = day_form.cleaned_data["day"] if valid else selectors.today()
    lead = can_view_team_exposure(actor)
    if override_form is None and can_grant_exposure_override(actor):
        override_form = OverrideForm(actor=actor)
    context = {
        "own": selectors.exposure_own(actor=actor),
        "lead": lead,
        "team": selectors.exposure_team(actor=actor, day=day) if lead else [],
        "day": day,
        "day_form": day_form,
        "days": day_links(day),
        "today": selectors.today(),
        "override_form": override_form,
        "policies": selectors.graphic_policies_for(actor=actor),
    }
    return render(request, "workspace/exposure.html", context, status=status)


@console_view()
@require_GET
def exposure(request: HttpRequest) -> HttpResponse:
    """Exposure to graphic queues: one's own, and every reviewer's for leads."""
    if not can_view_exposure(request.user):
        raise PermissionDenied("Exposure figures are for reviewers and their leads.")
    day_form = DayForm(request.GET or None, initial={"day": selectors.today()})
    status = 400 if day_form.is_bound and not day_form.is_valid() else 200
    return _exposure_page(request, day_form=day_form, status=status)


@console_view()
@require_POST
def override_grant(request: HttpRequest) -> HttpResponse:
    """A senior extends a reviewer's budget on a graphic queue for today."""
    actor = request.user
    if not can_grant_exposure_override(actor):
        raise PermissionDenied("Only a senior may extend an exposure budget.")
    form = OverrideForm(request.POST, actor=actor)
    if form.is_valid():
        data = form.cleaned_data
        try:
            override = services.exposure_override_grant(
                actor=actor,
                reviewer=data["reviewer"],
                queue=data["queue"],
                extra_minutes=data["extra_minutes"],
                extra_cases=data["extra_cases"],
                reason=data["reason"],
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                f"{override.reviewer.get_username()}'s budget for {override.queue.name} is "
                f"extended for today by {override.extra_minutes} minutes and "
                f"{override.extra_cases} cases.",
            )
            return redirect("workspace:exposure")
    return _exposure_page(
        request,
        day_form=DayForm(initial={"day": selectors.today()}),
        override_form=form,
        status=400,
    )
