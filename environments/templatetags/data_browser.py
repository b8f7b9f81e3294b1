"""Links into the data browser for pages of other apps (a backup's Browse): those apps name a
moment, and this decides whether the person may see the data then."""

from __future__ import annotations

import datetime
from urllib.parse import urlencode

from django import template
from django.urls import reverse

from environments import permissions
from environments.models import Environment
from environments.viewing import AT, at_text

register = template.Library()


@register.simple_tag(takes_context=True)
def browse_url(context, environment: Environment, moment: datetime.datetime) -> str:
    """The data browser at `moment`, read only; "" when the person may not read the
    environment's data or the moment is outside its restorable window."""
    user = context["request"].user
    if moment not in environment.restorable_window() or not permissions.can_read_data(
        user, environment
    ):
        return ""
    url = reverse("environments:tables", kwargs={"slug": environment.slug})
    return f"{url}?{urlencode({AT: at_text(moment)})}"
