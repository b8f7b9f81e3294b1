"""The forms of the Changes page and of putting rows back: a range of two moments typed in the
admin's time zone (the System tab's parsing and daylight-saving rules, portal.localtime), the
filters, and the confirmation of a put-back."""

from __future__ import annotations

import datetime

from django import forms
from django.utils.dateparse import parse_datetime

from environments.changelog import KINDS
from portal import localtime
from portal.forms import ZoneField

DEFAULT_RANGE = datetime.timedelta(hours=24)
KIND_CHOICES = [
    ("", "Any change"),
    ("added", "Added"),
    ("changed", "Changed"),
    ("deleted", "Deleted"),
]


WHOLE_SECOND = datetime.timedelta(microseconds=999_999)


def iso_moment(text: str) -> datetime.datetime | None:
    """A moment written as ISO 8601 with its offset (links between pages carry these)."""
    try:
        moment = parse_datetime(text.strip())
    except ValueError:
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(datetime.UTC)


class OptionalZoneField(ZoneField):
    """A time zone, or nothing (the viewer's)."""

    def clean(self, value):
        return super().clean(value) if (value or "").strip() else ""


class RangeForm(forms.Form):
    """From and to, each a date and a time in one time zone; or `start`/`end` as exact moments
    (what links carry). Empty: the last 24 hours."""

    from_date = forms.DateField(
        label="From date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    from_time = forms.TimeField(
        label="From time",
        required=False,
        widget=forms.TimeInput(attrs={"type": "time", "step": "1"}),
    )
    to_date = forms.DateField(
        label="To date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    to_time = forms.TimeField(
        label="To time", required=False, widget=forms.TimeInput(attrs={"type": "time", "step": "1"})
    )
    tz = OptionalZoneField(label="Time zone", max_length=100, required=False)
    start = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    end = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    table = forms.CharField(label="Table", required=False, max_length=63)
    kind = forms.ChoiceField(label="Change", required=False, choices=KIND_CHOICES)
    who = forms.CharField(label="Made by", required=False, max_length=150)
    q = forms.CharField(
        label="Key or title",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "spellcheck": "false", "autocomplete": "off"}
        ),
    )

    def __init__(self, *args, now: datetime.datetime, zone: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.now, self.zone = now, zone
        self.notes: list[str] = []

    def clean_kind(self) -> str:
        kind = self.cleaned_data["kind"]
        return kind if kind in KINDS else ""

    def _moment(self, side: str) -> datetime.datetime | None:
        data = self.cleaned_data
        exact = data.get("start" if side == "from" else "end") or ""
        if exact:
            moment = iso_moment(exact)
            if moment is None:
                self.add_error(None, "That link's range is not valid; choose the moments again.")
            return moment
        date, time = data.get(f"{side}_date"), data.get(f"{side}_time")
        if date is None and time is None:
            return None
        if date is None or time is None:
            self.add_error(
                f"{side}_date" if date is None else f"{side}_time", "Give a date and a time."
            )
            return None
        local = localtime.resolve(date, time, data.get("tz") or self.zone, None)
        if local.choices:
            # A time that happened twice: the range takes in both (from the first, to the
            # second), and says so.
            first, second = local.choices
            self.notes.append(
                f"{first:%Y-%m-%d %H:%M} happened twice in {first.tzinfo}: the range "
                f"{'starts at the first' if side == 'from' else 'ends at the second'}."
            )
            return first.astimezone(datetime.UTC) if side == "from" else self._end(second)
        if local.moment is None:
            self.add_error(f"{side}_time", local.error)
            return None
        return local.moment if side == "from" else self._end(local.moment)

    def _end(self, moment: datetime.datetime) -> datetime.datetime:
        """A time is given to the second: a range's end takes in that whole second, up to now
        (the page shows now to the second; a change made in that second is in the range)."""
        moment = moment.astimezone(datetime.UTC)
        return min(moment + WHOLE_SECOND, self.now) if moment <= self.now else moment

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        end = self._moment("to") or self.now
        start = self._moment("from") or end - DEFAULT_RANGE
        data["span"] = (start, end)
        return data


class PutBackForm(forms.Form):
    """The confirmation of a put-back: which moment, what to do with rows changed again
    since, and on production the environment's name typed."""

    keep_newer = forms.TypedChoiceField(
        label="Rows changed again since",
        coerce=lambda v: v == "keep",
        choices=[("keep", "Keep the newer value"), ("overwrite", "Put back anyway")],
        initial="keep",
        widget=forms.RadioSelect,
    )
    confirm_name = forms.CharField(
        label="Type the environment's name", required=False, max_length=100
    )
    idempotency_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.environment = environment
        self.typed = environment.type == "production"
        if self.typed:
            self.fields["confirm_name"].required = True

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"].strip()
        if self.typed and typed != self.environment.name:
            raise forms.ValidationError(
                f"Type {self.environment.name} exactly to confirm (it is a production environment)."
            )
        return typed
