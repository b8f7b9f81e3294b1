"""The docs page at /api/v1/docs: rendered on the server from the OpenAPI schema, in the
portal's own layout. ninja's Swagger page loads scripts from a CDN and runs inline code, which
the portal's offline, nonce-only CSP forbids. The schema's descriptions are CommonMark (as
OpenAPI says they are): rendered here with markdown-it-py, raw HTML in them escaped, never
passed through."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from ninja.openapi.docs import DocsBase

METHODS = ("get", "post", "put", "patch", "delete")
# CommonMark without raw HTML (escaped as text) and with markdown-it's safe-link check.
MARKDOWN = MarkdownIt("commonmark", {"html": False})


def markdown(text: str, *, inline: bool = False) -> SafeString:
    """A description as HTML: a block (paragraphs) or, inside a table cell, inline."""
    html = MARKDOWN.renderInline(text) if inline else MARKDOWN.render(text)
    return mark_safe(html)  # markdown-it escapes the text and leaves raw HTML out


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
                            "summary": markdown(op.get("summary", ""), inline=True),
                            "description": markdown(op.get("description", ""), inline=True),
                            "tags": op.get("tags", []),
                            "parameters": [
                                {
                                    **p,
                                    "description": markdown(p.get("description", ""), inline=True),
                                }
                                for p in op.get("parameters", [])
                            ],
                            "statuses": sorted(op.get("responses", {})),
                        }
                    )
        return render(
            request,
            "portal/api_docs.html",
            {
                "api": api,
                "description": markdown(api.description or ""),
                "operations": operations,
                "openapi_url": self.get_openapi_url(api, kwargs),
            },
        )
