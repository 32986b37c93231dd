"""The console's account pages: one account's page, the search that opens any account, and the
reveal of one of its identifiers."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from cases.models import Identifier
from cases.permissions import can_view_pii
from investigations.permissions import can_reveal_account_identifier
from investigations.selectors import accounts as selectors
from investigations.services.accounts import account_identifier_reveal, account_view_record
from investigations.visibility import account_get_for
from tsops.decorators import console_view

PAGE_PARAMS = ("cases_page", "content_page", "timeline_page")


def _url_or_empty(name: str, *args) -> str:
    """The URL of a page another area provides, or "" while it is not there yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _page_query(request: HttpRequest, drop: str) -> str:
    """The query string without ``drop``, for a pager's links (other pagers keep their page)."""
    query = request.GET.copy()
    query.pop(drop, None)
    encoded = query.urlencode()
    return f"{encoded}&" if encoded else ""


@console_view("investigate_accounts")
@require_GET
def account_search(request: HttpRequest) -> HttpResponse:
    """Visible accounts whose id starts with ``q``; an exact match opens its page."""
    q = (request.GET.get("q") or "").strip()
    results = selectors.account_search(actor=request.user, q=q)
    if q and len(results) == 1 and results[0].external_id == q:
        return redirect("investigations:account", external_id=q)
    return render(
        request,
        "investigations/account_search.html",
        {"q": q, "results": results, "limit": selectors.SEARCH_LIMIT},
    )


@console_view("investigate_accounts")
@require_GET
def account_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    """Everything about one account the member may see; the view is logged. A bad page
    number is answered 400 naming its parameter."""
    actor = request.user
    account = account_get_for(actor=actor, external_id=external_id)
    try:
        pages = {name: selectors.page_number(request.GET, name) for name in PAGE_PARAMS}
    except ValidationError as error:
        context = {"account": account, "errors": error.message_dict}
        return render(request, "investigations/account_detail.html", context, status=400)
    overview = selectors.account_overview(actor=actor, account=account, **pages)
    account_view_record(actor=actor, account=account, request=request)
    # Pages other areas provide: linked while their routes exist.
    for cluster in overview.clusters:
        cluster.url = _url_or_empty("investigations:cluster-detail", cluster.pk)
    for investigation in overview.investigations:
        investigation.url = _url_or_empty("investigations:investigation-detail", investigation.pk)
    context = {
        "account": account,
        "o": overview,
        "can_view_pii": can_view_pii(actor),
        "can_reveal": can_reveal_account_identifier(actor),
        "hub_limit": settings.TSOPS_NETWORK_HUB_LIMIT,
        "network_url": _url_or_empty("investigations:account-network", account.external_id),
        "cases_query": _page_query(request, "cases_page"),
        "content_query": _page_query(request, "content_page"),
        "timeline_query": _page_query(request, "timeline_page"),
    }
    return render(request, "investigations/account_detail.html", context)


@console_view("investigate_accounts")
@require_POST
def account_identifier_reveal_view(
    request: HttpRequest, external_id: str, identifier_id: int
) -> HttpResponse:
    """Show an identifier's fingerprint and the visible accounts sharing it; needs a reason,
    logged."""
    actor = request.user
    account = account_get_for(actor=actor, external_id=external_id)
    identifier = Identifier.objects.filter(pk=identifier_id, account=account).first()
    if identifier is None:
        raise Http404("No such identifier on this account.")
    template = (
        "investigations/account_identifier.html"
        if request.htmx
        else "investigations/account_identifier_revealed.html"
    )
    try:
        identifier = account_identifier_reveal(
            actor=actor,
            external_id=account.external_id,
            identifier_id=identifier.pk,
            reason=request.POST.get("reason", ""),
            request=request,
        )
    except ValidationError as error:
        message = " ".join(m for msgs in error.message_dict.values() for m in msgs)
        if request.htmx:
            row = selectors.IdentifierRow(identifier=identifier)
            context = {"account": account, "row": row, "can_reveal": True, "reveal_error": message}
            return render(request, template, context)
        messages.error(request, message)
        return redirect(reverse("investigations:account", args=[account.external_id]))
    sharing = selectors.identifier_sharers(actor=actor, identifier=identifier)
    row = selectors.identifier_row(identifier, sharing)
    context = {
        "account": account,
        "row": row,
        "revealed": True,
        "hub_limit": settings.TSOPS_NETWORK_HUB_LIMIT,
    }
    return render(request, template, context)
