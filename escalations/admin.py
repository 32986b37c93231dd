"""Escalations in the admin: teams are configuration for seniors; escalations are read-only
inspection (they change only through ``escalations.services``), and those on restricted cases
stay out of the list for anyone outside the team."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from cases.visibility import visible_cases
from escalations import alerts
from escalations.models import Escalation, Team
from tsops.admin_mixins import ConfigurationAdmin, HistoryAdmin, InspectionAdmin


class TeamForm(forms.ModelForm):
    alert_webhook_url = forms.URLField(
        required=False,
        max_length=Team._meta.get_field("alert_webhook_url").max_length,
        assume_scheme="https",
        help_text=(
            "JSON alerts (id, team, severity, link) go here through the outbox, e.g. a chat "
            "incoming-webhook or a paging service's events endpoint. Blank: no webhook."
        ),
    )

    class Meta:
        model = Team
        fields = (
            "slug",
            "name",
            "on_call",
            "restricted",
            "ack_minutes_p0",
            "ack_minutes_p1",
            "ack_minutes_p2",
            "ack_minutes_p3",
            "alert_webhook_url",
        )

    def clean_alert_webhook_url(self) -> str:
        url = (self.cleaned_data.get("alert_webhook_url") or "").strip()
        problem = alerts.team_alert_url_problem(url)
        if problem:
            raise forms.ValidationError(problem)
        return url


@admin.register(Team)
class TeamAdmin(HistoryAdmin, ConfigurationAdmin):
    form = TeamForm
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

    def save_model(self, request, obj, form, change):
        from django.contrib.auth.models import Group

        from tsops import roles

        super().save_model(request, obj, form, change)
        # The team's members are the group of the same name; new teams get theirs here.
        Group.objects.get_or_create(name=obj.slug)
        roles.forget_teams()
        # The team's alert URL is served by one outbox endpoint, kept in step here.
        previous = form.initial.get("slug", "") if change else ""
        alerts.team_alert_endpoint_sync(obj, previous_slug=previous)


@admin.register(Escalation)
class EscalationAdmin(InspectionAdmin):
    list_display = ("id", "case", "team", "severity", "status", "raised_at", "ack_due")
    list_filter = ("status", "team", "severity")
    list_select_related = ("case", "team")
    date_hierarchy = "raised_at"
    raw_id_fields = ("case", "raised_by", "acknowledged_by", "resolved_by", "decision")
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(case__in=visible_cases(request.user))
