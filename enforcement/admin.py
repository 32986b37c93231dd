"""Enforcement in the admin: configuration for seniors (policies, strikes, webhook endpoints)
and read-only inspection (decisions, actions, the outbox and its deliveries).

Nothing here writes a status: redelivery goes through ``outbox.delivery_redeliver``, and
decisions and actions change only through ``enforcement.services``. Records tied to a case
are limited to the cases the viewer may see, so restricted cases stay out of every list.
"""

from __future__ import annotations

import dataclasses
import json
import secrets

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import BigIntegerField, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.html import format_html
from simple_history.template_utils import HistoricalRecordContextHelper

from cases.visibility import visible_cases
from enforcement.models import (
    Decision,
    DeliveryAttempt,
    EnforcementAction,
    OutboxEvent,
    Policy,
    PolicySection,
    ResponseTemplate,
    StrikePolicy,
    WebhookDelivery,
    WebhookEndpoint,
)
from enforcement.outbox import delivery_redeliver
from tsops.admin_mixins import ConfigurationAdmin, HistoryAdmin, InspectionAdmin
from tsops.errors import ConflictError
from tsops.permissions import has_capability

MASK = "••••••••"


def _is_senior(request) -> bool:
    return has_capability(request.user, "configure_operations")


def _visible_case_ids(request):
    return visible_cases(request.user).values("pk")


def _with_visible_events(queryset: QuerySet, request, payload: str) -> QuerySet:
    """Only events about cases the viewer may see (every event names its case)."""
    case_ref = Cast(KeyTextTransform("case_id", payload), BigIntegerField())
    return queryset.annotate(case_ref=case_ref).filter(
        Q(case_ref__isnull=True) | Q(case_ref__in=_visible_case_ids(request))
    )


class ReadOnlyInline(admin.TabularInline):
    """An inline seniors can read and nobody edits."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request, obj=None):
        return _is_senior(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Webhook endpoints ---------------------------------------------------------------------


class WebhookEndpointForm(forms.ModelForm):
    """The secret is write-only: it is never rendered, and a blank field keeps it."""

    new_secret = forms.CharField(
        label="Secret",
        required=False,
        strip=True,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=(
            "Shared secret for X-TSOps-Signature; never shown again. Leave blank to keep the "
            "current one (on a new endpoint, blank generates one and shows it once)."
        ),
    )
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in OutboxEvent.TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="The endpoint receives these events, from the moment it is saved.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "url", "team", "event_types", "active")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Use an http or https URL.")
        return url

    def clean_new_secret(self) -> str:
        value = self.cleaned_data["new_secret"]
        if value and len(value) < 16:
            raise forms.ValidationError("Use at least 16 characters.")
        return value


class _MaskedSecretHistory(HistoricalRecordContextHelper):
    def format_delta_change(self, change):
        formatted = super().format_delta_change(change)
        if change.field == "secret":
            return dataclasses.replace(formatted, old=MASK, new=MASK)
        return formatted


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(HistoryAdmin, ConfigurationAdmin):
    form = WebhookEndpointForm
    fields = ("name", "url", "team", "new_secret", "event_types", "active")
    list_display = ("name", "url", "team", "event_types", "active", "secret_hint", "updated_at")
    list_filter = ("active",)
    search_fields = ("name", "url")

    @admin.display(description="Secret")
    def secret_hint(self, obj: WebhookEndpoint) -> str:
        return f"{MASK}{obj.secret[-4:]}" if obj.secret else "—"

    def get_historical_record_context_helper(self, request, historical_record):
        return _MaskedSecretHistory(self.model, historical_record)

    def save_model(self, request, obj, form, change):
        secret = form.cleaned_data.get("new_secret")
        if secret:
            obj.secret = secret
        elif not obj.secret:
            obj.secret = secrets.token_urlsafe(32)
            messages.warning(
                request,
                f"The signing secret of {obj.name} is {obj.secret} — copy it now to the "
                "platform's configuration; it will not be shown again.",
            )
        super().save_model(request, obj, form, change)


# --- Deliveries and the outbox -------------------------------------------------------------


class DeliveryAttemptInline(ReadOnlyInline):
    """The delivery log."""

    model = DeliveryAttempt
    fields = ("at", "status_code", "error", "duration_ms")
    readonly_fields = fields
    ordering = ("-at",)
    verbose_name = "attempt"
    verbose_name_plural = "delivery log"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(InspectionAdmin):
    list_display = (
        "id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "endpoint", "event__event_type")
    list_select_related = ("event", "endpoint")
    search_fields = ("=event__id",)
    fields = (
        "event",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "locked_until",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    )
    readonly_fields = fields
    inlines = (DeliveryAttemptInline,)
    actions = ("redeliver",)
    show_full_result_count = False

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("event", "endpoint")
        return _with_visible_events(queryset, request, "event__payload")

    @admin.display(description="Event", ordering="event__event_type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.event_type

    def has_redeliver_permission(self, request) -> bool:
        return _is_senior(request)

    @admin.action(description="Redeliver", permissions=("redeliver",))
    def redeliver(self, request, queryset):
        done, refused = 0, []
        for delivery in queryset:
            try:
                delivery_redeliver(actor=request.user, delivery_id=delivery.pk)
                done += 1
            except (ConflictError, PermissionDenied) as exc:
                refused.append(f"#{delivery.pk}: {exc}")
        if done:
            self.message_user(
                request, f"{done} deliver{'y' if done == 1 else 'ies'} queued.", messages.SUCCESS
            )
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)


class DeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fields = ("endpoint", "status", "attempts", "last_status_code", "next_attempt_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(OutboxEvent)
class OutboxEventAdmin(InspectionAdmin):
    list_display = ("id", "event_type", "created_at", "fanned_out_at")
    list_filter = ("event_type",)
    search_fields = ("=id",)
    date_hierarchy = "created_at"
    fields = ("id", "event_type", "created_at", "fanned_out_at", "payload_json")
    readonly_fields = fields
    inlines = (DeliveryInline,)
    show_full_result_count = False

    def get_queryset(self, request):
        return _with_visible_events(super().get_queryset(request), request, "payload")

    @admin.display(description="Payload")
    def payload_json(self, obj: OutboxEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))


# --- Policies and strikes ------------------------------------------------------------------


class SectionInline(ReadOnlyInline):
    model = PolicySection
    fields = ("code", "version", "title", "severity", "effective_from", "superseded_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Policy)
class PolicyAdmin(HistoryAdmin, ConfigurationAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")
    inlines = (SectionInline,)

    def has_delete_permission(self, request, obj=None):
        # Sections, and the decisions made under them, refer to their policy.
        return False


class PolicySectionAddForm(forms.ModelForm):
    class Meta:
        model = PolicySection
        fields = (
            "policy",
            "code",
            "title",
            "public_summary",
            "internal_guidance",
            "severity",
            "reasons",
            "legal_ground",
            "effective_from",
        )

    def clean(self):
        cleaned = super().clean()
        code, policy = cleaned.get("code"), cleaned.get("policy")
        if code and PolicySection.objects.filter(code=code).exists():
            self.add_error(
                "code",
                "This section exists. Revising it creates a new version, which the admin "
                "cannot do yet: decisions keep the version they were made under.",
            )
        if code and policy and not code.upper().startswith(f"{policy.code.upper()}-"):
            self.add_error("code", f"Sections of this policy start with {policy.code.upper()}-.")
        return cleaned


@admin.register(PolicySection)
class PolicySectionAdmin(HistoryAdmin, ConfigurationAdmin):
    """Seniors add new sections; existing ones are read-only, because decisions refer to the
    exact version they were made under (revising needs a new version, not an edit)."""

    list_display = ("code", "version", "title", "severity", "effective_from", "is_current")
    list_filter = ("policy", "severity", ("superseded_at", admin.EmptyFieldListFilter))
    search_fields = ("code", "title")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = PolicySectionAddForm
        return super().get_form(request, obj, **kwargs)

    @admin.display(boolean=True, description="Current")
    def is_current(self, obj: PolicySection) -> bool:
        return obj.is_current

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ResponseTemplate)
class ResponseTemplateAdmin(InspectionAdmin):
    """Every version of every response template, read-only: seniors keep them on the
    templates page (``enforcement.responses``), where editing makes a new version."""

    list_display = ("section_code", "kind", "title", "version", "is_current", "retired_at")
    list_filter = ("kind", ("superseded_at", admin.EmptyFieldListFilter))
    search_fields = ("section_code", "title", "body")
    readonly_fields = ("key",)

    @admin.display(boolean=True, description="Current")
    def is_current(self, obj: ResponseTemplate) -> bool:
        return obj.is_current


@admin.register(StrikePolicy)
class StrikePolicyAdmin(HistoryAdmin, ConfigurationAdmin):
    list_display = ("name", "expiry_days", "points_by_severity", "ladder")

    def has_delete_permission(self, request, obj=None):
        return False


# --- Decisions and actions (read-only) ------------------------------------------------------


class ActionInline(ReadOnlyInline):
    model = EnforcementAction
    fields = ("action_type", "subject", "status", "starts_at", "expires_at", "proposed_by")
    readonly_fields = fields
    show_change_link = True


@admin.register(Decision)
class DecisionAdmin(InspectionAdmin):
    list_display = ("id", "case", "outcome", "policy_section", "decided_by", "created_at")
    list_filter = ("outcome", "automated")
    list_select_related = ("case", "policy_section", "decided_by")
    date_hierarchy = "created_at"
    inlines = (ActionInline,)
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(case__in=_visible_case_ids(request))


@admin.register(EnforcementAction)
class EnforcementActionAdmin(HistoryAdmin, InspectionAdmin):
    list_display = (
        "id",
        "action_type",
        "status",
        "subject",
        "case",
        "starts_at",
        "expires_at",
    )
    list_filter = ("status", "action_type")
    list_select_related = ("subject", "case")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(case__in=_visible_case_ids(request))
