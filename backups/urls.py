from django.urls import path

from backups import change_views, operation_views, restore_views, views

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
