"""Escalations in the admin: teams are configuration for seniors; escalations are read-only
inspection (they change only through ``escalations.services``), and those on restricted cases
stay out of the list for anyone outside the team."""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from escalations.models import Escalation, Team
from tsops.admin_mixins import ConfigurationAdmin, InspectionAdmin


@admin.register(Team)
class TeamAdmin(SimpleHistoryAdmin, ConfigurationAdmin):
    list_display = (
        "name",
        "slug",
        "restricted",
        "on_call",
        "ack_minutes_p0",
        "ack_minutes_p1",
        "ack_minutes_p2",
        "ack_minutes_p3",
    )
    list_filter = ("restricted",)
    prepopulated_fields = {"slug": ("name",)}
    raw_id_fields = ("on_call",)


@admin.register(Escalation)
class EscalationAdmin(InspectionAdmin):
    list_display = ("id", "case", "team", "severity", "status", "raised_at", "ack_due")
    list_filter = ("status", "team", "severity")
    list_select_related = ("case", "team")
    date_hierarchy = "raised_at"
    raw_id_fields = ("case", "raised_by", "acknowledged_by", "resolved_by", "decision")
    show_full_result_count = False

    def get_queryset(self, request):
        from cases.selectors import visible_cases

        return super().get_queryset(request).filter(case__in=visible_cases(request.user))
