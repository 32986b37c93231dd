"""Admin access follows capabilities from tsops.roles, not Django's per-model permissions."""

from django.contrib import admin

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
