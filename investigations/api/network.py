"""REST view of an account's network of linked accounts."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from investigations.permissions import check_view_accounts
from investigations.selectors.network import (
    KINDS,
    MAX_HOPS,
    account_network,
    network_query_detail,
    network_query_parse,
)
from investigations.services.network import network_view_record
from investigations.visibility import account_get_for

NetworkAnswer = inline_serializer(
    "AccountNetwork",
    {
        "nodes": inline_serializer(
            "AccountNetworkNode",
            {
                "id": serializers.CharField(help_text="account-<n> or hub-<kind>-<hash>"),
                "kind": serializers.CharField(help_text="account or hub"),
                "external_id": serializers.CharField(required=False, help_text="Accounts"),
                "depth": serializers.IntegerField(help_text="Hops from the account asked for"),
                "standing": inline_serializer(
                    "AccountNetworkStanding",
                    {
                        "actioned": serializers.BooleanField(),
                        "open_cases": serializers.IntegerField(),
                        "strikes": serializers.IntegerField(help_text="Points in force"),
                        "evasion_suspect": serializers.BooleanField(),
                    },
                    required=False,
                    help_text="Accounts: from the cases the caller may see",
                ),
                "identifier_kind": serializers.CharField(
                    required=False, help_text=f"Hubs: {', '.join(KINDS)}"
                ),
                "masked": serializers.CharField(required=False, help_text="Hubs"),
                "accounts_over": serializers.IntegerField(
                    required=False, help_text="Hubs: shared by more accounts than this"
                ),
                "expanded": serializers.BooleanField(required=False, help_text="Hubs"),
            },
            many=True,
        ),
        "edges": inline_serializer(
            "AccountNetworkEdge",
            {
                "source": serializers.CharField(),
                "target": serializers.CharField(),
                "kind": serializers.CharField(help_text=f"The identifier: {', '.join(KINDS)}"),
                "masked": serializers.CharField(help_text="Always the masked form"),
                "first_seen": serializers.DateTimeField(),
                "last_seen": serializers.DateTimeField(),
            },
            many=True,
        ),
        "truncated": serializers.BooleanField(help_text="The node limit cut the network"),
    },
)


class AccountNetworkApi(APIView):
    """The accounts linked to one account through shared identifiers (the view is logged)."""

    required_scopes = {"GET": "cases:read"}

    @extend_schema(
        parameters=[
            OpenApiParameter("hops", int, description=f"0 to {MAX_HOPS} (default 2)"),
            OpenApiParameter("kinds", str, description=f"comma-separated: {', '.join(KINDS)}"),
            OpenApiParameter("since", str, description="date or ISO 8601 date and time"),
            OpenApiParameter("until", str, description="date or ISO 8601 date and time"),
            OpenApiParameter("expand", str, description="hub node ids to expand (repeatable)"),
        ],
        responses={
            200: NetworkAnswer,
            400: OpenApiResponse(description="A parameter is wrong; the answer names it."),
            404: OpenApiResponse(description="No such account, or not one you may see."),
        },
    )
    def get(self, request, external_id: str):
        check_view_accounts(request.user)
        account = account_get_for(actor=request.user, external_id=external_id)
        query = network_query_parse(request.query_params)
        network = account_network(actor=request.user, account=account, query=query)
        network_view_record(
            actor=request.user, account=account, query=network_query_detail(query), request=request
        )
        return Response(network.as_dict())
