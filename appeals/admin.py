"""Appeals in the admin: read-only inspection for seniors. Appeals change only through
``appeals.services``; restricted ones stay out of the list for anyone outside their team."""

from __future__ import annotations

from django.contrib import admin

from appeals.models import Appeal
from appeals.selectors import visible_appeals
from tsops.admin_mixins import InspectionAdmin


@admin.register(Appeal)
class AppealAdmin(InspectionAdmin):
    list_display = ("id", "status", "severity", "action", "filed_at", "due_at", "decided_at")
    list_filter = ("status", "severity", "needs_senior")
    search_fields = ("external_id",)
    list_select_related = ("action", "action__subject")
    date_hierarchy = "filed_at"
    raw_id_fields = ("action", "case", "replacement_action")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=visible_appeals(request.user))
