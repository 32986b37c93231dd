"""Read-only inspection of the rollup bookkeeping and of the daily case rollups (restricted
rows only for the team's members, as everywhere)."""

from django.contrib import admin

from cases.visibility import figure_teams
from metrics.models import BacklogDaily, CaseDaily, RollupDay, RollupState
from tsops.admin_mixins import InspectionAdmin


@admin.register(RollupState)
class RollupStateAdmin(InspectionAdmin):
    list_display = ("name", "watermark", "last_run_at", "last_run_slices", "last_run_ms")


@admin.register(RollupDay)
class RollupDayAdmin(InspectionAdmin):
    list_display = ("day", "rebuilt_at", "final", "backlog_taken_at")
    list_filter = ("final",)
    date_hierarchy = "day"


class _VisibleRowsAdmin(InspectionAdmin):
    def get_queryset(self, request):
        return super().get_queryset(request).filter(team__in=figure_teams(request.user))


@admin.register(CaseDaily)
class CaseDailyAdmin(_VisibleRowsAdmin):
    list_display = ("day", "queue_id", "severity", "reason", "team", "created", "resolved")
    list_filter = ("severity", "team")
    date_hierarchy = "day"
    exclude = ("first_action_hist", "resolution_hist", "appeal_hist", "ack_hist")


@admin.register(BacklogDaily)
class BacklogDailyAdmin(_VisibleRowsAdmin):
    list_display = ("day", "queue_id", "severity", "reason", "team", "age_bucket", "open")
    list_filter = ("severity", "team")
    date_hierarchy = "day"
