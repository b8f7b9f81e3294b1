from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from portal.models import AuditEvent, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + (("Portal", {"fields": ("tenant_role", "time_zone")}),)
    list_display = ("username", "get_full_name", "email", "tenant_role", "is_staff", "is_active")
    list_filter = ("tenant_role", "is_staff", "is_active", "groups")


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is never edited, whoever asks."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "action", "environment_name", "actor", "outcome", "summary")
    list_filter = ("action", "outcome", ("at", admin.DateFieldListFilter))
    search_fields = ("summary", "environment_name", "actor__username")
    date_hierarchy = "at"
    list_select_related = ("actor",)
