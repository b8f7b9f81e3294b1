"""The forms of the export pages: the export schedule, and Restore from a file. They validate
and normalise; the services (backups.export_schedules, backups.imports) decide."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from backups.export_schedules import KEEP_MAX, WEEKDAYS
from backups.models import ExportSchedule


class ScheduleForm(forms.Form):
    frequency = forms.ChoiceField(
        label="Scheduled exports",
        choices=ExportSchedule.Frequency.choices,
        widget=forms.RadioSelect,
    )
    hour = forms.TypedChoiceField(
        label="At",
        coerce=int,
        choices=[(h, f"{h:02d}:00") for h in range(24)],
        initial=2,
    )
    weekday = forms.TypedChoiceField(
        label="On (weekly)",
        coerce=int,
        choices=list(enumerate(WEEKDAYS)),
        initial=6,
        required=False,  # a daily schedule has no day
        empty_value=6,
    )
    time_zone = forms.CharField(
        label="Time zone",
        max_length=64,
        help_text="The hour is read in this zone, for example Europe/Paris.",
    )
    keep = forms.IntegerField(
        label="Keep the last",
        min_value=1,
        max_value=KEEP_MAX,
        initial=7,
        help_text="Older scheduled exports are deleted after each new one succeeds. "
        "Exports you make yourself are kept.",
    )

    def __init__(self, *args, zone: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].initial = zone
        self.fields["time_zone"].widget.attrs.update(
            {"list": "id_time_zone_list", "autocomplete": "off", "spellcheck": "false"}
        )

    @classmethod
    def for_schedule(cls, data, schedule: ExportSchedule | None, *, zone: str) -> ScheduleForm:
        initial = {"frequency": ExportSchedule.Frequency.OFF}
        if schedule is not None:
            initial = {
                "frequency": schedule.frequency,
                "hour": schedule.hour,
                "weekday": schedule.weekday,
                "time_zone": schedule.time_zone,
                "keep": schedule.keep,
            }
        return cls(data, initial=initial, zone=zone)


class RestoreFileForm(forms.Form):
    """Restore from a file: an archive uploaded now or one already in the backups storage,
    and the new sandbox's details."""

    file = forms.FileField(
        label="Upload an archive",
        required=False,
        help_text="An export archive (.tar) downloaded from this portal or another one.",
    )
    stored = forms.ChoiceField(label="Or choose one in the backups storage", required=False)
    name = forms.CharField(label="Name of the new sandbox", max_length=100)
    slug = forms.CharField(
        label="URL name",
        max_length=63,
        help_text="Lowercase letters, digits and hyphens; it cannot be changed later.",
    )
    region = forms.ChoiceField(label="Region", required=False)
    security_group = forms.CharField(
        label="Security group",
        max_length=100,
        required=False,
        help_text="Optional: only its members can use the new sandbox's data.",
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, stored: list[tuple[str, int]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stored"].choices = [("", "None: I upload one")] + [
            (name, f"{name} ({filesizeformat(size)})") for name, size in stored
        ]
        self.fields["region"].choices = [("", "The archive's region")] + list(settings.REGIONS)
        self.fields["file"].widget.attrs["accept"] = ".tar,application/x-tar"

    def clean(self) -> dict:
        data = super().clean()
        if data.get("file") and data.get("stored"):
            self.add_error("file", "Upload a file or choose one in the storage, not both.")
        elif not data.get("file") and not data.get("stored") and not self.has_error("file"):
            self.add_error("file", "Upload an archive, or choose one in the backups storage.")
        return data
