"""QA in the admin: seniors edit rubrics (criteria, weights, the pass threshold); plans,
samples and reviews are inspected read-only — they change through ``qa.services``. Reviews of
restricted cases stay out of the list for anyone outside their team."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q

from cases.visibility import team_cases
from qa.models import QAReview, Rubric, RubricCriterion, Sample
from tsops.admin_mixins import ConfigurationAdmin, HistoryAdmin, InspectionAdmin


class RubricCriterionInline(admin.TabularInline):
    model = RubricCriterion
    extra = 0
    fields = ("position", "key", "label", "help_text", "weight", "critical")

    def has_add_permission(self, request, obj=None):
        return ConfigurationAdmin.has_add_permission(self, request)

    def has_change_permission(self, request, obj=None):
        return ConfigurationAdmin.has_change_permission(self, request)

    def has_delete_permission(self, request, obj=None):
        return ConfigurationAdmin.has_delete_permission(self, request)

    def has_view_permission(self, request, obj=None):
        return ConfigurationAdmin.has_view_permission(self, request)


@admin.register(Rubric)
class RubricAdmin(ConfigurationAdmin, HistoryAdmin):
    """Edits apply to reviews scored from now on; scored reviews keep their own copy."""

    list_display = ("name", "pass_threshold", "active")
    inlines = [RubricCriterionInline]


@admin.register(Sample)
class SampleAdmin(InspectionAdmin):
    list_display = ("plan", "period_start", "population_size", "target_size", "drawn_size", "seed")
    list_filter = ("plan",)
    date_hierarchy = "period_start"


@admin.register(QAReview)
class QAReviewAdmin(InspectionAdmin):
    list_display = ("id", "status", "passed", "score", "feedback", "analyst", "reviewer")
    list_filter = ("status", "feedback", "passed", "inclusion")
    raw_id_fields = ("decision", "case", "sample")
    list_select_related = ("analyst", "reviewer")

    def get_queryset(self, request):
        # A review of a restricted case follows the case: its team's, who may see the case.
        visible = Q(case__restricted=False) | Q(case__in=team_cases(request.user))
        return super().get_queryset(request).filter(visible)
