"""The docs page at /api/v1/docs: rendered on the server from the OpenAPI schema, in the
portal's own layout. ninja's Swagger page loads scripts from a CDN and runs inline code, which
the portal's offline, nonce-only CSP forbids."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import DocsBase

METHODS = ("get", "post", "put", "patch", "delete")


class SchemaPage(DocsBase):
    def render_page(self, request: HttpRequest, api: Any, **kwargs: Any) -> HttpResponse:
        schema = api.get_openapi_schema(path_params=kwargs)
        operations = []
        for path, item in schema.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    op = item[method]
                    operations.append(
                        {
                            "method": method.upper(),
                            "path": path,
                            "summary": op.get("summary", ""),
                            "description": op.get("description", ""),
                            "tags": op.get("tags", []),
                            "parameters": op.get("parameters", []),
                            "statuses": sorted(op.get("responses", {})),
                        }
                    )
        return render(
            request,
            "portal/api_docs.html",
            {
                "api": api,
                "operations": operations,
                "openapi_url": self.get_openapi_url(api, kwargs),
            },
        )
