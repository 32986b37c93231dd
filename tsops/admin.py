from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from tsops import services
from tsops.admin_mixins import HistoryAdmin
from tsops.models import AccessLog, ApiKey, WorkerHeartbeat

admin.site.site_header = "TSOps configuration"
admin.site.site_title = "TSOps admin"

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class MemberAdmin(HistoryAdmin, UserAdmin):
    list_display = ("username", "email", "is_active", "is_staff", "last_login")


@admin.register(ApiKey)
class ApiKeyAdmin(HistoryAdmin):
    list_display = ("name", "user", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("prefix", "key_hash", "last_used_at", "revoked_at", "created_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        # Keys are created with `manage.py create_api_key`, which shows the secret once.
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            services.api_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_username", "action", "object_type", "object_id", "ip_address")
    list_filter = ("action", "object_type")
    search_fields = ("actor_username", "object_id", "reason")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("worker", "last_seen")
