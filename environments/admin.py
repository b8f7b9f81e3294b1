from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from environments import columns as cols
from environments.models import DataTable, Environment, Generation, Membership, RowVersion
from portal.admin import ReadOnlyAdmin


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "In use"), ("recoverable", "Deleted, recoverable"), ("removed", "Removed")]

    def queryset(self, request, queryset):
        return {
            "no": queryset.filter(deleted_at__isnull=True),
            "recoverable": queryset.filter(deleted_at__isnull=False, removed_at__isnull=True),
            "removed": queryset.filter(removed_at__isnull=False),
        }.get(self.value(), queryset)


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "type",
        "state",
        "region",
        "admin_mode",
        "version",
        "created_at",
        "lifecycle",
    )
    list_filter = ("type", "state", "region", "admin_mode", DeletedFilter)
    search_fields = ("name", "slug", "security_group")
    # Every field of an environment is read-only here: each change has its own door in the
    # portal, with its rules, its permission check and its audit event (convert, admin mode,
    # Update version, Edit details during a restore, delete and recover), and a URL name or a
    # region never changes once made. Only the memberships below are edited here.
    readonly_fields = (
        "in_the_portal",
        "name",
        "slug",
        "type",
        "state",
        "region",
        "version",
        "security_group",
        "admin_mode",
        "background_operations",
        "created_at",
        "created_by",
        "last_change_at",
        "purged_before",
        "expires_at",
        "deleted_at",
        "deleted_by",
        "removed_at",
    )
    inlines = [MembershipInline]

    @admin.display(description="Deleted / expires")
    def lifecycle(self, obj: Environment) -> str:
        if obj.removed_at:
            return f"Removed {obj.removed_at:%Y-%m-%d}"
        if obj.deleted_at:
            return f"Deleted; recoverable until {obj.recoverable_until:%Y-%m-%d %H:%M} UTC"
        if obj.expires_at:
            return f"Trial: expires {obj.expires_at:%Y-%m-%d}"
        return ""

    @admin.display(description="In the admin center")
    def in_the_portal(self, obj: Environment) -> str:
        """Where its changes are made (by those who manage it): convert, switches, restore."""
        if obj.deleted_at:
            return format_html(
                '<a href="{}">Deleted environments</a>', reverse("environments:deleted")
            )
        url = reverse("environments:detail", args=[obj.slug])
        return format_html('<a href="{}">Open {}</a>', url, obj.name)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """Nothing of the environment itself is saved: its row was read when the form was
        shown, and writing it back would undo whatever a restore, a conversion or a switch
        changed since (a restore's lock included). The memberships are saved by save_related."""


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdmin):
    list_display = ("environment", "valid_from", "valid_to", "reason")
    list_filter = ("environment",)
    list_select_related = ("environment",)


@admin.register(DataTable)
class DataTableAdmin(ReadOnlyAdmin):
    list_display = (
        "display_name",
        "name",
        "environment",
        "valid_from",
        "valid_to",
        "reads_from",
        "depth",
        "flattening",
        "versions",
    )
    list_filter = ("generation__environment",)
    search_fields = ("name", "display_name", "generation__environment__name")
    list_select_related = ("generation__environment", "base__generation__environment")

    @admin.display(description="Reads from")
    def reads_from(self, obj: DataTable):
        """A restored table's base: the table it reads and the moment it reads it at."""
        if obj.base is None:
            return "Its own rows"
        return (
            f"{obj.base.display_name} of {obj.base.generation.environment} "
            f"as of {obj.base_at:%Y-%m-%d %H:%M:%S} UTC"
        )

    @admin.display(description="Environment")
    def environment(self, obj: DataTable):
        return obj.generation.environment

    @admin.display(description="Flattening")
    def flattening(self, obj: DataTable):
        if obj.base_id is None:
            return "Flat" if obj.flattened_rows else "—"

        def rows(n: int) -> str:
            return f"{n} row{'s' * (n != 1)}"

        if not obj.flattened_rows:
            return f"Not started ({rows(obj.shared_rows)} read from the base)"
        return f"{rows(obj.flattened_rows)} copied, up to key {obj.flattened_to}"

    @admin.display(description="Row versions")
    def versions(self, obj: DataTable):
        url = reverse("admin:environments_datatable_versions", args=[obj.pk])
        return format_html('<a href="{}">View row versions</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/versions/",
                self.admin_site.admin_view(self.versions_view),
                name="environments_datatable_versions",
            ),
        ] + super().get_urls()

    def versions_view(self, request, pk: int):
        """Row versions are keyed by (table, key, valid_from), which the admin's change list
        cannot page through, so they get this read-only list instead."""
        table = get_object_or_404(
            DataTable.objects.select_related("generation__environment"), pk=pk
        )
        if not self.has_view_permission(request, table):
            raise PermissionDenied
        versions = RowVersion.objects.filter(table=table).order_by("key", "valid_from")
        key = request.GET.get("key", "").strip()
        if key:
            versions = versions.filter(key=key) if cols.KEY_RE.match(key) else versions.none()
        paginator = Paginator(versions, 100)
        if not key:  # the table's stored figures: no count of its (maybe millions of) versions
            paginator.count = table.live_rows - table.shared_rows + table.closed_versions
        page = paginator.get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Row versions of {table.display_name} in {table.generation.environment}",
            "opts": self.model._meta,
            "table": table,
            "page": page,
            "key": key,
        }
        return TemplateResponse(request, "admin/environments/row_versions.html", context)
