"""The portal's icons: small inline SVGs drawn for it, in the spirit of Fluent's 16 px outline
icons, so a page never fetches an icon font or an image from anywhere (the portal works
offline and its Content-Security-Policy allows no third party).

An icon is decoration beside a word that stays text: it is hidden from assistive technology and
takes the colour of the text around it (`currentColor`). Presentation is in SVG attributes, not
styles, which the policy would refuse.
"""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

# Each icon: the inner elements of a 16 x 16 viewBox, drawn as 1.25 px strokes.
PATHS: dict[str, str] = {
    "home": '<path d="M2.5 7.5 8 3l5.5 4.5"/><path d="M4 6.5v6.5h3v-3.5h2V13h3V6.5"/>',
    "environments": (
        '<rect x="2.5" y="2.5" width="11" height="4" rx="1"/>'
        '<rect x="2.5" y="9.5" width="11" height="4" rx="1"/>'
        '<path d="M5 4.5h.01M5 11.5h.01"/>'
    ),
    "operations": (
        '<path d="M5.5 4h8M5.5 8h8M5.5 12h8"/><path d="M2.5 4h.01M2.5 8h.01M2.5 12h.01"/>'
    ),
    "key": '<circle cx="5.5" cy="10.5" r="3"/><path d="M7.6 8.4 13.5 2.5M11 5l2 2M12.5 3.5l1 1"/>',
    "support": (
        '<path d="M10.5 2.8a3.2 3.2 0 0 0-3.9 4.1L2.8 10.7a1.2 1.2 0 0 0 1.7 1.7'
        'l3.8-3.8a3.2 3.2 0 0 0 4.1-3.9L10.6 6.5 9.3 5.2Z"/>'
    ),
    "backup": (
        '<path d="M4.5 12.5h-.7a2.8 2.8 0 0 1-.3-5.6 4 4 0 0 1 7.8-.9 2.9 2.9 0 0 1 1.2 5.6"/>'
        '<path d="M8 14V8.5M6 10.5l2-2 2 2"/>'
    ),
    "restore": (
        '<path d="M3 8a5 5 0 1 0 1.5-3.6"/><path d="M3 2.5v2.5h2.5"/><path d="M8 5.5V8l2 1.5"/>'
    ),
    "copy": (
        '<rect x="5.5" y="5.5" width="8" height="8" rx="1"/>'
        '<path d="M10.5 5.5v-2a1 1 0 0 0-1-1h-6a1 1 0 0 0-1 1v6a1 1 0 0 0 1 1h2"/>'
    ),
    "changes": '<path d="M2.5 5h9M9 2.5 11.5 5 9 7.5"/><path d="M13.5 11h-9M7 8.5 4.5 11 7 13.5"/>',
    "deleted-records": (
        '<path d="M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.5 9h6l.5-9"/>'
        '<path d="M6.5 9.5l1.5-1.5 1.5 1.5"/>'
    ),
    "data": (
        '<rect x="2.5" y="3" width="11" height="10" rx="1"/>'
        '<path d="M2.5 6.5h11M2.5 10h11M6.5 6.5v6.5"/>'
    ),
    "edit": '<path d="M10.5 3 13 5.5 6 12.5l-3 .5.5-3Z"/><path d="M9 4.5 11.5 7"/>',
    "delete": '<path d="M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.5 9h6l.5-9M7 7v4M9 7v4"/>',
    "add": '<path d="M8 3v10M3 8h10"/>',
    "convert": '<path d="M3 5.5h9.5M10 3l2.5 2.5L10 8"/><path d="M13 10.5H3.5M6 8l-2.5 2.5L6 13"/>',
    "update": '<circle cx="8" cy="8" r="5.5"/><path d="M8 11V5.5M5.8 7.7 8 5.5l2.2 2.2"/>',
    "download": '<path d="M8 2.5v8M5 7.5l3 3 3-3"/><path d="M3 13.5h10"/>',
    "recover": '<path d="M5.5 3 3 5.5 5.5 8"/><path d="M3 5.5h6.5a3.5 3.5 0 0 1 0 7H6"/>',
    "menu": '<path d="M2.5 4h11M2.5 8h11M2.5 12h11"/>',
    "close": '<path d="M4 4l8 8M12 4l-8 8"/>',
    "chevron-down": '<path d="M4.5 6.5 8 10l3.5-3.5"/>',
}


def svg(name: str) -> SafeString:
    """The icon's <svg>, hidden from assistive technology; an unknown name is a programming
    error, said at once rather than drawn as nothing."""
    try:
        paths = PATHS[name]
    except KeyError:
        known = ", ".join(sorted(PATHS))
        raise ValueError(f"no icon named {name!r}; the icons are: {known}") from None
    return format_html(
        '<svg class="icon icon-{}" width="16" height="16" viewBox="0 0 16 16" fill="none" '
        'stroke="currentColor" stroke-width="1.25" stroke-linecap="round" stroke-linejoin="round" '
        'aria-hidden="true" focusable="false">{}</svg>',
        name,
        mark_safe(paths),  # the module's own constants, never input
    )
