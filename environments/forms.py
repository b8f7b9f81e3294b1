import datetime

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.utils.html import format_html

from environments import columns as cols
from environments.models import Environment, EnvironmentType, Window
from portal.forms import LocalMomentForm
from portal.templatetags.portal import when

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


class EnvironmentCreateForm(forms.Form):
    """The New environment page. The service checks everything again (the API and the command
    call it directly); the form gives each field its own message."""

    name = forms.CharField(label="Name", max_length=100)
    slug = forms.CharField(
        label="URL name",
        max_length=63,
        help_text="Lowercase letters, digits and hyphens. The environment's address is "
        "https://<URL name>.example.test; it cannot be changed later.",
    )
    type = forms.ChoiceField(
        label="Type",
        choices=list(EnvironmentType.choices),
        initial=EnvironmentType.SANDBOX,
        help_text="Trial environments expire after 30 days and are not backed up.",
    )
    region = forms.ChoiceField(label="Region", choices=settings.REGIONS)
    security_group = forms.CharField(
        label="Security group",
        max_length=100,
        required=False,
        help_text="Optional: only its members can use the environment's data.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A tenant has one Default environment: once it exists, it is no choice to offer (the
        # service still refuses a second one, for the API and a stale page).
        if Environment.objects.filter(type=EnvironmentType.DEFAULT).exists():
            self.fields["type"].choices = [
                c for c in EnvironmentType.choices if c[0] != EnvironmentType.DEFAULT
            ]


class RecoverForm(forms.Form):
    """Recover a deleted environment; a new name only when a live one took its name."""

    name = forms.CharField(
        label="Name",
        max_length=100,
        required=False,
        help_text="Names are unique among environments that are not deleted.",
    )


class DeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the environment's name to confirm", max_length=100)
    confirm_production = forms.BooleanField(
        label="Yes, delete this production environment", required=False
    )


class ConvertForm(forms.Form):
    type = forms.ChoiceField(
        choices=[(EnvironmentType.PRODUCTION, "Production"), (EnvironmentType.SANDBOX, "Sandbox")]
    )


class SwitchForm(forms.Form):
    enabled = forms.ChoiceField(choices=[("on", "On"), ("off", "Off")])

    @property
    def value(self) -> bool:
        return self.cleaned_data["enabled"] == "on"


class KeyField(forms.CharField):
    """A row key, as the store makes them (columns.KEY_RE): checked before it reaches a query,
    since PostgreSQL refuses some characters (a NUL byte) and keys are never longer than 64."""

    default_error_messages = {
        "invalid": "A key is letters, digits, '.', '_' or '-' (at most 64), starting with a "
        "letter or digit."
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, **kwargs)
        self.validators.append(RegexValidator(cols.KEY_RE, self.error_messages["invalid"]))
        self.widget.attrs.update(maxlength="64", spellcheck="false", autocomplete="off")


class RowListForm(forms.Form):
    """What the row list shows: a search (`q`) and where its page starts. Pages go by key
    (keyset): `after` / `before` a key, or `from` a key on; a search's pages go by its sort
    order, so its links also carry the upper-cased title (`after_title` / `before_title`)."""

    q = forms.CharField(
        label="Search rows",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    after = KeyField()
    before = KeyField()
    after_title = forms.CharField(required=False, max_length=cols.TITLE_LENGTH, strip=False)
    before_title = forms.CharField(required=False, max_length=cols.TITLE_LENGTH, strip=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword, so the field cannot be declared in the class body.
        self.fields["from"] = KeyField(label="Go to key")
        self.order_fields(["q", "from"])

    def clean_q(self) -> str:
        return self.cleaned_data["q"].strip()

    def clean(self) -> dict:
        data = super().clean()
        if data.get("q"):
            for side in ("after", "before"):
                if side not in self.errors and bool(data.get(side)) != bool(
                    data.get(f"{side}_title")
                ):
                    self.add_error(side, "It lacks the key or the title of its row.")
                    data.pop(f"{side}_title", None)
        return data

    def problems(self) -> list[str]:
        """The errors, in words that say which part of the address was not used."""
        names = {
            "q": "The search",
            "from": "The key to go to",
            "after": "The page link",
            "before": "The page link",
            "after_title": "The page link",
            "before_title": "The page link",
        }
        return [
            f"{names[name]} was ignored: {' '.join(errors)}" for name, errors in self.errors.items()
        ]


class TableForm(forms.Form):
    """New table: its name and label; its columns come from ColumnFormSet."""

    name = forms.CharField(
        label="Name",
        max_length=63,
        help_text="Lowercase letters, digits and _, starting with a letter; it cannot be "
        "changed later.",
    )
    display_name = forms.CharField(label="Display name", max_length=100, required=False)


class ColumnForm(forms.Form):
    """One column of a new table; a row left blank is no column."""

    name = forms.CharField(label="Column name", max_length=63, required=False)
    label = forms.CharField(label="Label", max_length=100, required=False)
    type = forms.ChoiceField(
        label="Type",
        choices=[(t, t.replace("_", " ").capitalize()) for t in cols.COLUMN_TYPES],
        initial="text",
    )
    required = forms.BooleanField(label="Required", required=False)
    choices = forms.CharField(
        label="Choices", max_length=1000, required=False, help_text="For Choice: comma-separated."
    )

    # The store refuses the same (the API and the commands meet it there); here the message
    # goes beside the field.
    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if problem := cols.reserved_name_problem(name):
            raise forms.ValidationError(problem)
        return name

    def clean_label(self) -> str:
        label = self.cleaned_data["label"].strip()
        if problem := cols.reserved_label_problem(label):
            raise forms.ValidationError(problem)
        return label

    def column(self) -> dict | None:
        data = self.cleaned_data
        if not data.get("name"):
            return None
        column = {
            "name": data["name"].strip(),
            "label": data["label"].strip(),
            "type": data["type"],
            "required": data["required"],
        }
        if data["type"] == "choice":
            column["choices"] = [c.strip() for c in data["choices"].split(",") if c.strip()]
        return column


ColumnFormSet = forms.formset_factory(ColumnForm, extra=6, max_num=40, absolute_max=40)


class AsOfForm(LocalMomentForm):
    """The data browser's As of control: a date, a time and a time zone, read by the System
    tab's rules (portal.localtime), naming a moment of the environment's restorable window."""

    def __init__(self, *args, environment: Environment, window: Window, **kwargs) -> None:
        super().__init__(*args, within=window, auto_id="as-of-%s", **kwargs)
        self.environment = environment
        self.window = window
        # All three are needed (and marked so); the messages are the System tab's.
        for name, message in (("date", "Choose a date."), ("time", "Choose a time.")):
            self.fields[name].required = True
            self.fields[name].error_messages["required"] = message
        self.fields["tz"].help_text = "A name such as Europe/Paris, or a city such as Kolkata."
        self.fields["tz"].widget.attrs.update(
            list="as-of-tz-list", autocomplete="off", autocapitalize="off", spellcheck="false"
        )

    def full_clean(self) -> None:
        super().full_clean()
        if self.errors:  # the page comes back with the focus where the person has to act
            first = next((name for name in self.fields if name in self.errors), "date")
            self.fields[first].widget.attrs["autofocus"] = True

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        data = self.clean_moment(data)
        if self.errors:
            return data
        problem = unviewable(self.environment, self.window, data["moment"])
        if problem:
            raise forms.ValidationError(problem, code="outside-window")
        return data


def unviewable(environment: Environment, window: Window, moment: datetime.datetime) -> str:
    """Why the data cannot be shown as it was at `moment` ("" when it can): only the moments
    of the restorable window are kept. Times in the viewer's zone, like every other."""
    if moment in window:
        return ""
    if not environment.backed_up:
        return format_html(
            "{} is a {} environment, which is not backed up: its data can be seen only as it is "
            "now.",
            environment.name,
            environment.get_type_display().lower(),
        )
    return format_html(
        "{} is {}: {} can be seen as it was at any moment from {} to now.",
        when(moment, seconds=True),
        "in the future" if moment > window.end else "before the oldest moment kept",
        environment.name,
        when(window.start, seconds=True),
    )
