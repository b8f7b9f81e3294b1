import datetime
from collections.abc import Container

from django import forms
from django.forms.renderers import TemplatesSetting

from portal import localtime


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text='What will use it, e.g. "nightly backup script". Only you see it.',
    )


class PortalFormRenderer(TemplatesSetting):
    """Every field renders through one project template (label, required mark, widget, help,
    errors): `{{ form.field.as_field_group }}`."""

    field_template_name = "includes/field.html"


class ZoneField(forms.CharField):
    """A time zone typed by name or city (see localtime.find_zone), cleaned to its IANA name."""

    def clean(self, value):
        value = super().clean(value)
        found = localtime.find_zone(value)
        if found.name is None:
            raise forms.ValidationError(found.error, code="unknown-zone")
        return found.name


class LocalMomentForm(forms.Form):
    """A date and a time in a time zone the person types, made one exact moment by
    portal.localtime: a time the clocks skipped is refused, one they passed twice is asked
    about (only when both readings are `within` the moments that can be used). The System tab
    of Restore or manage and the data browser's As of control."""

    date = forms.DateField(
        label="Date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    time = forms.TimeField(
        label="Time", required=False, widget=forms.TimeInput(attrs={"type": "time", "step": "1"})
    )
    tz = ZoneField(label="Time zone", max_length=100)
    fold = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", ""), ("0", "first"), ("1", "second")],
    )

    def __init__(self, *args, within: Container[datetime.datetime] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.within = within
        self.local: localtime.LocalMoment | None = None  # after cleaning

    def clean_moment(self, data: dict) -> dict:
        """Put the moment the date, time and zone name in data["moment"], or say why not."""
        if not data.get("date"):
            self.add_error("date", "Choose a date.")
        if data.get("time") is None:
            self.add_error("time", "Choose a time.")
        if self.errors:
            return data
        self.local = localtime.resolve(
            data["date"], data["time"], data["tz"], data.get("fold"), within=self.within
        )
        if self.local.moment is None:
            raise forms.ValidationError(self.local.error, code="local-time")
        data["moment"] = self.local.moment
        return data
