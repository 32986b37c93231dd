"""Rules are written and moved through their lifecycle on their own pages (four-eyes,
backtests); the admin only shows them."""

from django.contrib import admin

from detection.models import Rule, RuleVersion
from tsops.admin_mixins import InspectionAdmin


@admin.register(Rule)
class RuleAdmin(InspectionAdmin):
    list_display = ("position", "name", "state", "active_version", "shadow_version")
    list_filter = ("state",)


@admin.register(RuleVersion)
class RuleVersionAdmin(InspectionAdmin):
    list_display = ("rule", "number", "created_by", "created_at")
