from django.urls import path

from environments import data_views, export_views, views

app_name = "environments"

urlpatterns = [
    path("", views.environment_list, name="list"),
    path("new/", views.environment_new, name="new"),  # "new" is a reserved URL name
    path("deleted/", views.deleted_list, name="deleted"),  # and so is "deleted"
    path("deleted/<int:pk>/recover/", views.environment_recover, name="recover"),
    path("<slug:slug>/", views.environment_detail, name="detail"),
    path("<slug:slug>/convert/", views.environment_convert, name="convert"),
    path("<slug:slug>/delete/", views.environment_delete, name="delete"),
    path("<slug:slug>/admin-mode/", views.environment_admin_mode, name="admin-mode"),
    path(
        "<slug:slug>/background-operations/",
        views.environment_background_operations,
        name="background-operations",
    ),
    path("<slug:slug>/data/", data_views.table_list, name="tables"),
    # "new-table" has a hyphen: no table is named so.
    path("<slug:slug>/data/new-table/", data_views.table_create, name="table-create"),
    path("<slug:slug>/data/<slug:table>/", data_views.row_list, name="rows"),
    path("<slug:slug>/data/<slug:table>/new/", data_views.row_create, name="row-create"),
    path("<slug:slug>/data/<slug:table>/rows/<str:key>/", data_views.row_detail, name="row"),
    path(
        "<slug:slug>/data/<slug:table>/rows/<str:key>/edit/", data_views.row_edit, name="row-edit"
    ),
    path(
        "<slug:slug>/data/<slug:table>/rows/<str:key>/delete/",
        data_views.row_delete,
        name="row-delete",
    ),
]

# CSV exports (environments/export_views.py); the Changes page and the as-of browser link here.
urlpatterns += [
    path(
        "<slug:slug>/data/<slug:table>/export.csv",
        export_views.table_export,
        name="table-export",
    ),
    path("<slug:slug>/changes/export.csv", export_views.changes_export, name="changes-export"),
]
