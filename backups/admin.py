from django.contrib import admin, messages
from django.utils.html import format_html

from backups import console
from backups.models import ArchiveImport, Export, ExportSchedule, ManualBackup, RestoreOperation
from environments import permissions
from portal.admin import ReadOnlyAdmin
from portal.errors import Refused


@admin.register(ManualBackup)
class ManualBackupAdmin(ReadOnlyAdmin):
    list_display = ("label", "environment", "kind", "backup_at", "created_by", "expires_at")
    list_filter = ("kind", ("backup_at", admin.DateFieldListFilter), "environment__type")
    search_fields = ("label", "notes", "environment__name", "environment__slug")
    list_select_related = ("environment", "created_by")
    date_hierarchy = "backup_at"


@admin.register(RestoreOperation)
class RestoreOperationAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "target",
        "source",
        "moment",
        "status",
        "phase",
        "progress",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("kind", "status", ("created_at", admin.DateFieldListFilter), "phase")
    search_fields = (
        "target__name",
        "target__slug",
        "source__name",
        "source__slug",
        "idempotency_key",
    )
    list_select_related = ("target", "source", "requested_by")
    date_hierarchy = "created_at"
    actions = ["retry_failed", "mark_stale_failed"]

    @admin.display(description="Progress")
    def progress(self, obj: RestoreOperation):
        return format_html(
            "{} / {} tables, {} / {} rows",
            obj.tables_done,
            obj.tables_total,
            obj.rows_copied,
            obj.rows_total,
        )

    # Who may run the safe actions is decided in environments.permissions.
    def has_retry_permission(self, request) -> bool:
        return permissions.can_retry_restore(request.user)

    def has_fail_permission(self, request) -> bool:
        return permissions.can_fail_restore(request.user)

    @admin.action(description="Retry the selected failed restores", permissions=["retry"])
    def retry_failed(self, request, queryset):
        for op in queryset.select_related("source", "target", "backup", "requested_by"):
            try:
                new = console.restore_retry(operation=op, actor=request.user)
            except Refused as exc:
                self.message_user(request, f"Restore {op.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Restore {op.pk} queued again as {new.pk}.", messages.SUCCESS
                )

    @admin.action(description="Mark the selected stale restores as failed", permissions=["fail"])
    def mark_stale_failed(self, request, queryset):
        for op in queryset.select_related("source", "target"):
            try:
                console.restore_mark_stale_failed(operation=op, actor=request.user)
            except Refused as exc:
                self.message_user(request, f"Restore {op.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Restore {op.pk} marked failed; {op.target} is ready again.",
                    messages.SUCCESS,
                )


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    """Exports with their state, archive and last check; read-only (the portal asks for them)."""

    list_display = (
        "id",
        "environment_name",
        "moment",
        "status",
        "scheduled_for",
        "rows",
        "size",
        "verified",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "verified_ok", ("created_at", admin.DateFieldListFilter))
    search_fields = ("environment__name", "environment__slug", "environment_name", "file_name")
    list_select_related = ("environment", "requested_by")
    date_hierarchy = "created_at"

    @admin.display(description="Verified")
    def verified(self, obj: Export) -> str:
        if obj.verified_at is None:
            return "Not yet"
        return f"{'OK' if obj.verified_ok else 'Failed'} {obj.verified_at:%Y-%m-%d %H:%M} UTC"


@admin.register(ExportSchedule)
class ExportScheduleAdmin(ReadOnlyAdmin):
    list_display = ("environment", "frequency", "hour", "time_zone", "keep", "last_failure_at")
    list_filter = ("frequency",)
    search_fields = ("environment__name", "environment__slug")
    list_select_related = ("environment",)


@admin.register(ArchiveImport)
class ArchiveImportAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "target_name",
        "source_name",
        "moment",
        "status",
        "phase",
        "rows_done",
        "rows_total",
        "requested_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("target_name", "source_name", "file_name")
    list_select_related = ("requested_by",)
    date_hierarchy = "created_at"
