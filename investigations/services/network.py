"""Writes of the network area: the access-log entry every network view leaves."""

from __future__ import annotations

from cases.models import Subject
from tsops.models import AccessLog
from tsops.services import access_log_record


def network_view_record(*, actor, account: Subject, query: dict, request=None) -> AccessLog:
    """Log that ``actor`` looked at ``account``'s network (hops, kinds, window, hubs opened)."""
    return access_log_record(
        actor=actor,
        action=AccessLog.Action.VIEWED,
        obj=account,
        request=request,
        detail={"view": "network", **query},
    )


def cluster_network_view_record(*, actor, cluster, request=None) -> AccessLog:
    """Log that ``actor`` looked at the graph of ``cluster``'s members."""
    return access_log_record(
        actor=actor,
        action=AccessLog.Action.VIEWED,
        obj=cluster,
        request=request,
        detail={"view": "cluster_network"},
    )
