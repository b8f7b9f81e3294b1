from django import forms

from environments.models import EnvironmentType

SORTABLE = {
    "name": "name",
    "type": "type",
    "state": "state",
    "region": "region",
    "admin_mode": "admin_mode",
    "created": "created_at",
}


class EnvironmentFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search"}),
    )
    type = forms.ChoiceField(
        label="Type",
        required=False,
        choices=[("", "All types")] + list(EnvironmentType.choices),
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[("", "")] + [(k, k) for k in SORTABLE] + [(f"-{k}", f"-{k}") for k in SORTABLE],
        widget=forms.HiddenInput,
    )

    def ordering(self) -> list[str]:
        sort = self.cleaned_data.get("sort") or "name"
        desc = sort.startswith("-")
        field = SORTABLE[sort.lstrip("-")]
        return [f"-{field}" if desc else field, "name"]


class ConvertForm(forms.Form):
    type = forms.ChoiceField(
        choices=[(EnvironmentType.PRODUCTION, "Production"), (EnvironmentType.SANDBOX, "Sandbox")]
    )


class SwitchForm(forms.Form):
    enabled = forms.ChoiceField(choices=[("on", "On"), ("off", "Off")])

    @property
    def value(self) -> bool:
        return self.cleaned_data["enabled"] == "on"


class RowSearchForm(forms.Form):
    q = forms.CharField(
        label="Search rows",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    page = forms.IntegerField(required=False, min_value=1)
