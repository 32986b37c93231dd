"""Admin access follows capabilities from tsops.roles, not Django's per-model permissions."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from tsops.permissions import has_capability


class ConfigurationAdmin(admin.ModelAdmin):
    """Editable by members with the ``configure_operations`` capability (seniors)."""

    def has_module_permission(self, request):
        return has_capability(request.user, "configure_operations")

    def has_view_permission(self, request, obj=None):
        return has_capability(request.user, "configure_operations")

    def has_add_permission(self, request):
        return has_capability(request.user, "configure_operations")

    def has_change_permission(self, request, obj=None):
        return has_capability(request.user, "configure_operations")

    def has_delete_permission(self, request, obj=None):
        return has_capability(request.user, "configure_operations")


class InspectionAdmin(ConfigurationAdmin):
    """Read-only inspection for seniors: records are changed through services, never here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class HistoryAdmin(SimpleHistoryAdmin):
    """django-simple-history's admin, for reading past versions only.

    Its page for one past version (``<id>/history/<version>/``) saves whatever form is posted
    to it for anyone who may merely view the model, bypassing the services, the timeline and
    the read-only inspection admins; and both history pages fall back to the historical rows
    of an object the admin's queryset hides (a restricted case). Here a version is shown only
    for an object the member may see, and nothing is ever saved from a history page: a state
    changes through its service, configuration through its change form.
    """

    def _check_visible(self, request, object_id) -> None:
        object_id = unquote(object_id)
        hidden = not self.get_queryset(request).filter(pk=object_id).exists()
        # A deleted object keeps its history page; a hidden one has none for this member.
        if hidden and self.model._default_manager.filter(pk=object_id).exists():
            raise Http404("No such object.")

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_view(self, request, object_id, extra_context=None):
        self._check_visible(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("Past versions are read-only.")
        self._check_visible(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)
