"""REST view of one account: its standing, cases, content, identifiers, linked accounts, the
reports it made and its timeline, as the caller may see them."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.permissions import can_view_pii
from cases.presentation import event_detail, event_label
from investigations.permissions import can_view_accounts
from investigations.selectors import accounts as selectors
from investigations.services.accounts import account_view_record
from investigations.visibility import account_get_for
from tsops.errors import HiddenObject
from tsops.services import access_denied_record

NOT_FOUND = "No such account."
# The query parameter of each paged list: ``page`` pages the cases.
PAGE_PARAMS = {
    "page": "cases_page",
    "content_page": "content_page",
    "timeline_page": "timeline_page",
}


def _paged(name: str, item) -> serializers.Serializer:
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(help_text="All of them the caller may see"),
            "page": serializers.IntegerField(),
            "pages": serializers.IntegerField(),
            "results": item,
        },
    )


AccountAnswer = inline_serializer(
    "Account",
    {
        "external_id": serializers.CharField(),
        "standing": inline_serializer(
            "AccountStanding",
            {
                "restrictions": inline_serializer(
                    "AccountRestriction",
                    {
                        "action_id": serializers.IntegerField(),
                        "type": serializers.CharField(help_text="The action type's code"),
                        "type_label": serializers.CharField(),
                        "subject": inline_serializer(
                            "AccountRestrictionSubject",
                            {
                                "kind": serializers.CharField(),
                                "external_id": serializers.CharField(),
                            },
                        ),
                        "policy_section": serializers.CharField(allow_null=True),
                        "case_id": serializers.IntegerField(),
                        "starts_at": serializers.DateTimeField(allow_null=True),
                        "expires_at": serializers.DateTimeField(
                            allow_null=True, help_text="null: until reversed"
                        ),
                    },
                    many=True,
                ),
                "strikes": serializers.IntegerField(help_text="Strikes in force"),
                "strike_points": serializers.IntegerField(),
                "open_appeals": serializers.IntegerField(),
            },
        ),
        "cases": _paged(
            "AccountCases",
            inline_serializer(
                "AccountCase",
                {
                    "id": serializers.IntegerField(),
                    "subject": inline_serializer(
                        "AccountCaseSubject",
                        {"kind": serializers.CharField(), "external_id": serializers.CharField()},
                    ),
                    "status": serializers.CharField(),
                    "severity": serializers.CharField(help_text="P0 to P3"),
                    "reason": serializers.CharField(),
                    "queue": serializers.CharField(),
                    "created_at": serializers.DateTimeField(),
                    "resolved_at": serializers.DateTimeField(allow_null=True),
                },
                many=True,
            ),
        ),
        "content": _paged(
            "AccountContent",
            inline_serializer(
                "AccountContentItem",
                {
                    "kind": serializers.CharField(),
                    "external_id": serializers.CharField(),
                    "created_at": serializers.DateTimeField(allow_null=True),
                    "cases": serializers.IntegerField(),
                },
                many=True,
            ),
        ),
        "identifiers": inline_serializer(
            "AccountIdentifier",
            {
                "id": serializers.IntegerField(),
                "kind": serializers.CharField(),
                "masked": serializers.CharField(),
                "fingerprint": serializers.CharField(
                    allow_null=True, help_text="Only for callers who may view PII"
                ),
                "last_seen": serializers.DateTimeField(),
                "hub": serializers.BooleanField(
                    help_text="Shared by more accounts than the hub limit: links nobody here"
                ),
            },
            many=True,
        ),
        "linked_accounts": inline_serializer(
            "AccountLinked",
            {
                "external_id": serializers.CharField(),
                "shared": serializers.ListField(child=serializers.CharField()),
                "cases": serializers.IntegerField(),
            },
            many=True,
        ),
        "reports_made": inline_serializer(
            "AccountReportsMade",
            {
                "total": serializers.IntegerField(),
                "by_reason": serializers.DictField(child=serializers.IntegerField()),
                "by_outcome": serializers.DictField(
                    child=serializers.IntegerField(), help_text="`pending`: not decided yet"
                ),
            },
        ),
        "timeline": _paged(
            "AccountTimeline",
            inline_serializer(
                "AccountTimelineEvent",
                {
                    "at": serializers.DateTimeField(),
                    "kind": serializers.CharField(),
                    "label": serializers.CharField(),
                    "case_id": serializers.IntegerField(),
                    "actor": serializers.CharField(allow_null=True),
                    "detail": serializers.CharField(),
                },
                many=True,
            ),
        ),
        "clusters": inline_serializer(
            "AccountCluster",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "status": serializers.CharField(),
            },
            many=True,
        ),
    },
)


def _page(page: Page, rows: list[dict]) -> dict:
    return {
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "results": rows,
    }


def _standing_answer(standing) -> dict:
    return {
        "restrictions": [
            {
                "action_id": a.pk,
                "type": a.action_type,
                "type_label": a.text,
                "subject": {"kind": a.subject.kind, "external_id": a.subject.external_id},
                "policy_section": a.decision.policy_section.code
                if a.decision.policy_section
                else None,
                "case_id": a.case_id,
                "starts_at": a.starts_at,
                "expires_at": a.expires_at,
            }
            for a in standing.restrictions
        ],
        "strikes": standing.strikes,
        "strike_points": standing.strike_points,
        "open_appeals": standing.open_appeals,
    }


def _cases_answer(cases) -> dict:
    return _page(
        cases,
        [
            {
                "id": c.pk,
                "subject": {"kind": c.subject.kind, "external_id": c.subject.external_id},
                "status": c.status,
                "severity": c.severity_code,
                "reason": c.reason,
                "queue": c.queue.slug,
                "created_at": c.created_at,
                "resolved_at": c.resolved_at,
            }
            for c in cases.object_list
        ],
    )


def _content_answer(content) -> dict:
    return _page(
        content,
        [
            {
                "kind": s.kind,
                "external_id": s.external_id,
                "created_at": s.content_created_at,
                "cases": s.case_count or 0,
            }
            for s in content.object_list
        ],
    )


def _timeline_answer(timeline) -> dict:
    return _page(
        timeline,
        [
            {
                "at": e.at,
                "kind": e.kind,
                "label": event_label(e.kind),
                "case_id": e.case_id,
                "actor": e.actor.get_username() if e.actor_id and e.actor else None,
                "detail": event_detail(e),
            }
            for e in timeline.object_list
        ],
    )


def account_answer(overview: selectors.AccountOverview, *, show_fingerprint: bool) -> dict:
    """The account as the API tells it (fingerprints only for who may view PII)."""
    return {
        "external_id": overview.account.external_id,
        "standing": _standing_answer(overview.standing),
        "cases": _cases_answer(overview.cases),
        "content": _content_answer(overview.content),
        "identifiers": [
            {
                "id": row.identifier.pk,
                "kind": row.identifier.kind,
                "masked": row.identifier.masked,
                "fingerprint": row.fingerprint if show_fingerprint else None,
                "last_seen": row.identifier.last_seen,
                "hub": row.hub,
            }
            for row in overview.identifiers
        ],
        "linked_accounts": [
            {"external_id": la.account.external_id, "shared": la.shared, "cases": la.cases}
            for la in overview.linked_accounts
        ],
        "reports_made": {
            "total": overview.reports_made.total,
            "by_reason": {r["reason"]: r["n"] for r in overview.reports_made.by_reason},
            "by_outcome": {r["outcome"]: r["n"] for r in overview.reports_made.by_outcome},
        },
        "timeline": _timeline_answer(overview.timeline),
        "clusters": [{"id": c.pk, "name": c.name, "status": c.status} for c in overview.clusters],
    }


class AccountDetailApi(APIView):
    """One account as the caller may see it (scope ``cases:read``; the view is logged). An
    account whose only cases the caller may not see is answered like a missing one."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, description="Page of the cases (from 1)"),
            OpenApiParameter("content_page", int, description="Page of the content (from 1)"),
            OpenApiParameter("timeline_page", int, description="Page of the timeline (from 1)"),
        ],
        responses={
            200: AccountAnswer,
            400: OpenApiResponse(description="A page number is wrong; the answer names it."),
            403: OpenApiResponse(description="The caller's role does not investigate accounts."),
            404: OpenApiResponse(description="No such account, or not one you may see."),
        },
    )
    def get(self, request, external_id: str):
        actor = request.user
        if not can_view_accounts(actor):
            raise PermissionDenied("Your role does not open account pages.")
        try:
            account = account_get_for(actor=actor, external_id=external_id)
        except Http404 as missing:
            if isinstance(missing, HiddenObject):
                access_denied_record(request=request, exc=missing)
            raise NotFound(NOT_FOUND) from None
        pages = {
            keyword: selectors.page_number(request.query_params, param)
            for param, keyword in PAGE_PARAMS.items()
        }
        overview = selectors.account_overview(actor=actor, account=account, **pages)
        account_view_record(actor=actor, account=account, request=request)

        return Response(account_answer(overview, show_fingerprint=can_view_pii(actor)))
