"""{% disaster_recovery %}: the standby's lag, for those who may see it (portal.dr)."""

from django import template

from environments import permissions
from portal import dr

register = template.Library()


@register.inclusion_tag("portal/_disaster_recovery.html", takes_context=True)
def disaster_recovery(context) -> dict:
    user = context["request"].user
    if not permissions.can_see_disaster_recovery(user):
        return {"status": None}
    return {"status": dr.standby_status()}
