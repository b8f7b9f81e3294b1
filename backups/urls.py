from django.urls import path

from backups import change_views, export_views, operation_views, restore_views, views

app_name = "backups"

urlpatterns = [
    path("environments/<slug:slug>/backups/system/", views.system_tab, name="system"),
    path("environments/<slug:slug>/backups/manual/", views.manual_tab, name="manual"),
    path("environments/<slug:slug>/backups/create/", views.backup_create, name="create"),
    path("environments/<slug:slug>/backups/<int:pk>/edit/", views.backup_edit, name="edit"),
    path("environments/<slug:slug>/backups/<int:pk>/delete/", views.backup_delete, name="delete"),
    path("environments/<slug:slug>/backups/restore/", restore_views.restore_panel, name="restore"),
    path("environments/<slug:slug>/copy/", restore_views.copy_environment, name="copy"),
    path("environments/<slug:slug>/update-version/", views.version_update, name="update-version"),
    path("environments/<slug:slug>/changes/", change_views.changes, name="changes"),
    path("environments/<slug:slug>/changes/restore/", change_views.put_back, name="put-back"),
    path("operations/", operation_views.operations, name="operations"),
    path("restores/<int:pk>/", restore_views.operation_progress, name="operation"),
    path("restores/<int:pk>/undo/", restore_views.operation_undo, name="undo"),
]

# Exports (backups.export_views): Export on a backup, the Exports page and its schedule,
# Download, Verify, and Restore from a file.
urlpatterns += [
    path("environments/<slug:slug>/exports/", export_views.exports_page, name="exports"),
    path("environments/<slug:slug>/exports/new/", export_views.export_start, name="export-start"),
    path(
        "environments/<slug:slug>/exports/schedule/",
        export_views.export_schedule,
        name="export-schedule",
    ),
    path("exports/<int:pk>/", export_views.export_detail, name="export"),
    path("exports/<int:pk>/download/", export_views.export_download, name="export-download"),
    path("exports/<int:pk>/verify/", export_views.export_verify, name="export-verify"),
    path("restore-from-file/", export_views.restore_from_file, name="restore-file"),
    path("restore-from-file/<int:pk>/", export_views.import_progress, name="import"),
]
