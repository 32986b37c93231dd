"""HTML views of queues and cases (thin: forms in, one service or selector, template out)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cases import selectors
from tsops.decorators import console_view


@console_view()
def queue_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "cases/queue_list.html", {"queues": selectors.queue_summaries(actor=request.user)}
    )


def _todo(request, *args, **kwargs):  # replaced by the full views
    raise NotImplementedError


queue_detail = queue_claim_next = queue_bulk = case_detail = case_claim = case_release = _todo
case_edit = case_note_add = case_evidence_add = case_evidence_reveal = _todo
case_identifier_reveal = case_lease_renew = search = _todo
