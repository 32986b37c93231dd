from django.contrib import admin

from cases.models import Case, Queue, ReportReason, SLAPolicy
from cases.visibility import visible_cases
from tsops.admin_mixins import ConfigurationAdmin, HistoryAdmin, InspectionAdmin


@admin.register(SLAPolicy)
class SLAPolicyAdmin(HistoryAdmin, ConfigurationAdmin):
    list_display = (
        "name",
        "first_action_p0",
        "resolve_p0",
        "first_action_p1",
        "resolve_p1",
        "first_action_p2",
        "resolve_p2",
        "first_action_p3",
        "resolve_p3",
    )


@admin.register(Queue)
class QueueAdmin(HistoryAdmin, ConfigurationAdmin):
    list_display = ("name", "slug", "allowed_roles", "team", "sla_policy", "active")
    list_filter = ("active", "team")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(ReportReason)
class ReportReasonAdmin(HistoryAdmin, ConfigurationAdmin):
    list_display = (
        "code",
        "label",
        "default_queue",
        "default_severity",
        "dsa_category",
        "restricted",
    )
    list_filter = ("restricted", "default_queue")


@admin.register(Case)
class CaseAdmin(HistoryAdmin, InspectionAdmin):
    """Read-only: restricted cases are excluded here as everywhere else."""

    list_display = ("id", "subject", "status", "severity", "queue", "report_count", "created_at")
    list_filter = ("status", "severity", "queue")
    raw_id_fields = ("subject", "claimed_by")
    show_full_result_count = False

    def get_queryset(self, request):
        return visible_cases(request.user).select_related("subject", "queue")
