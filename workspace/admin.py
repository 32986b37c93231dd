from django.contrib import admin

from cases.visibility import figure_teams
from tsops.admin_mixins import ConfigurationAdmin, HistoryAdmin, InspectionAdmin
from workspace.models import ExposureOverride, ExposurePolicy


@admin.register(ExposurePolicy)
class ExposurePolicyAdmin(HistoryAdmin, ConfigurationAdmin):
    list_display = (
        "queue",
        "graphic",
        "daily_budget_minutes",
        "daily_budget_cases",
        "break_every_minutes",
    )
    list_filter = ("graphic",)


@admin.register(ExposureOverride)
class ExposureOverrideAdmin(HistoryAdmin, InspectionAdmin):
    """Overrides are granted on the exposure page (workspace.services); here they are read."""

    list_display = ("day", "reviewer", "queue", "extra_minutes", "extra_cases", "granted_by")
    list_filter = ("day", "queue")
    date_hierarchy = "day"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(queue__team__in=figure_teams(request.user))
