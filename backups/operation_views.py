"""The tenant's Operations page (backups.operation_log reads it): a GET form of filters, so a
filtered page can be bookmarked, and a list that keeps polling while something on it runs."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.db.models import Q
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from backups import operation_log
from backups.models import RestoreOperation
from environments import lookups, permissions
from environments.models import Membership
from portal.errors import Refused
from portal.http import HtmxHttpRequest, render_partial
from portal.models import User

FILTERS = ("environment", "kind", "status", "who")


class OperationFilterForm(forms.Form):
    environment = forms.ChoiceField(
        label="Environment",
        required=False,
        error_messages={
            "invalid_choice": "That is not an environment you manage; pick one from the list."
        },
    )
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "All kinds"), *operation_log.KINDS],
        error_messages={"invalid_choice": "Pick a kind from the list."},
    )
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "All statuses"), *RestoreOperation.Status.choices],
        error_messages={"invalid_choice": "Pick a status from the list."},
    )
    who = forms.CharField(
        label="Requested by",
        required=False,
        max_length=150,
        help_text="Their user name.",
        widget=forms.TextInput(attrs={"list": "operation-people", "autocomplete": "off"}),
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.environments = {
            env.slug: env for env in permissions.manageable_environments(user).order_by("name")
        }
        self.fields["environment"].choices = [("", "All environments")] + [
            (slug, f"{env.name} ({slug})") for slug, env in self.environments.items()
        ]

    def clean_who(self) -> User | None:
        name = self.cleaned_data["who"].strip()
        if not name:
            return None
        person = User.objects.filter(username__iexact=name).first()
        if person is None:
            raise forms.ValidationError(f"No one has the user name “{name}”.")
        return person

    def filters(self) -> operation_log.Filters:
        data = self.cleaned_data
        return operation_log.Filters(
            environment=self.environments.get(data["environment"]),
            kind=data["kind"],
            status=data["status"],
            who=data["who"],
        )

    def people(self) -> list[User]:
        """The Requested by suggestions: the tenant's admins and the admins of the
        environments this viewer manages (anyone else typed by user name still works)."""
        admins = Membership.objects.filter(
            environment__in=self.environments.values(), role=Membership.Role.ADMIN
        ).values("user_id")
        return list(
            User.objects.filter(Q(tenant_role__gt="") | Q(pk__in=admins), is_active=True)
            .order_by("username")
            .distinct()[:200]
        )


def _url(params: dict) -> str:
    return f"{reverse('backups:operations')}?{urlencode(params)}" if params else ""


@require_GET
def operations(request: HtmxHttpRequest) -> HttpResponse:
    lookups.require_admin_center(request.user)
    form = OperationFilterForm(request.GET or None, user=request.user)
    context: dict = {"form": form, "page": None, "problem": ""}
    if not form.is_bound or form.is_valid():
        filters = form.filters() if form.is_bound else operation_log.Filters()
        carried = {k: request.GET[k] for k in FILTERS if request.GET.get(k, "").strip()}
        try:
            after, before = (
                operation_log.Cursor.parse(request.GET[side]) if request.GET.get(side) else None
                for side in ("after", "before")
            )
        except Refused as exc:
            context["problem"] = exc.message
            after = before = None
        page = operation_log.page(request.user, filters, after=after, before=before)
        context.update(
            {
                "page": page,
                "filtered": bool(carried),
                "first_url": _url(carried) or reverse("backups:operations")
                if page.has_previous
                else "",
                "previous_url": _url({**carried, "before": page.entries[0].cursor.token()})
                if page.has_previous and page.entries
                else "",
                "next_url": _url({**carried, "after": page.entries[-1].cursor.token()})
                if page.has_next
                else "",
                "polling": any(e.active for e in page.entries),
            }
        )
    return render_partial(request, "backups/operations.html", context, partial="operations-list")
