"""The JSON API under /api/v1/ (django-ninja). `portal.api.main.api` is the NinjaAPI instance;
the environments and backups routers live in their apps (`environments/api.py`,
`backups/api.py`). Every endpoint calls the same services and `environments.permissions` as the
pages do."""
