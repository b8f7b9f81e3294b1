from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from backups import selectors
from backups.models import ManualBackup
from portal.forms import LocalMomentForm
from portal.templatetags.portal import when

PRESETS = {
    "latest": datetime.timedelta(0),
    "1h": datetime.timedelta(hours=1),
    "1d": datetime.timedelta(days=1),
}


class MomentForm(LocalMomentForm):
    """System tab: a date and time in the admin's time zone, or a preset."""

    preset = forms.ChoiceField(required=False, choices=[("", "")] + [(k, k) for k in PRESETS])

    def __init__(self, *args, now: datetime.datetime, window=None, **kwargs):
        # window: the restorable window (an environments.models.Window), if known
        super().__init__(*args, within=window, **kwargs)
        self.now = now

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("preset"):
            data["moment"] = self.now - PRESETS[data["preset"]]
            return data
        return self.clean_moment(data)


class BackupForm(forms.Form):
    label = forms.CharField(label="Label", max_length=100, strip=True)
    notes = forms.CharField(
        label="Notes", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )


class PointForm(forms.Form):
    """The restore point the panel works on: pick=at:<ISO moment>, or pick=backup:<id> for a
    manual backup of the environment that has not expired."""

    pick = forms.CharField(required=False)
    MISSING = (
        "Choose a backup to restore first: the moment is missing, not valid, or its backup "
        "has expired."
    )

    def __init__(self, *args, environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.environment = environment
        self.moment: datetime.datetime | None = None
        self.backup: ManualBackup | None = None

    def clean_pick(self) -> str:
        raw = self.cleaned_data["pick"].strip()[:100]
        kind, _, value = raw.partition(":")
        if kind == "backup" and value.isascii() and value.isdigit() and len(value) < 18:
            self.backup = ManualBackup.objects.filter(
                pk=int(value), environment=self.environment, expires_at__gt=timezone.now()
            ).first()
            if self.backup is not None:
                self.moment = self.backup.backup_at
                return raw
        elif kind == "at":
            try:  # Feb 30th, +25:00, year 1 minus an hour... are not moments
                moment = parse_datetime(value)
                if moment is not None and not timezone.is_naive(moment):
                    self.moment = moment.astimezone(datetime.UTC)
            except (ValueError, OverflowError):
                pass
            if self.moment is not None:
                self._refuse_outside_window(self.moment)
                return raw
        raise forms.ValidationError(self.MISSING)

    def _refuse_outside_window(self, moment: datetime.datetime) -> None:
        """A moment the environment cannot be restored to is refused here, on the panel,
        before anything is previewed (the restore service says the same to the API, in UTC);
        the times in the viewer's zone, like every other on the page."""
        env = self.environment
        now = timezone.now()
        if selectors.is_restorable(env, moment, now=now, grace=selectors.START_GRACE):
            return
        if not env.backed_up:
            raise forms.ValidationError(
                format_html(
                    "{} is a {} environment, which is not backed up: it has no earlier moment "
                    "to restore.",
                    env.name,
                    env.get_type_display().lower(),
                )
            )
        window = env.restorable_window(now=now)
        raise forms.ValidationError(
            format_html(
                "{} is {}: {} can be restored to any moment from {} to now.",
                when(moment, seconds=True),
                "in the future" if moment > now else "before the oldest moment kept",
                env.name,
                when(window.start, seconds=True),
            )
        )


# The target choice that makes a new sandbox ("new" is a URL name no environment can have).
NEW_TARGET = "new"


def target_choices(targets, can_create: bool) -> list[tuple[str, str]]:
    """The sandboxes one may overwrite, then (for those who may make environments) a new one."""
    new = [(NEW_TARGET, "A new sandbox environment")] if can_create else []
    existing = [
        (t.slug, f"{t.name} ({t.get_type_display()}, {t.get_region_display()})") for t in targets
    ]
    return [("", "Select an environment"), *existing, *new]


class NewSandboxFields(forms.Form):
    """ "A new sandbox environment" as the target of a restore or a copy: what to call it."""

    new_env_name = forms.CharField(label="Name", required=False, max_length=100)
    new_env_slug = forms.CharField(
        label="URL name",
        required=False,
        max_length=63,
        help_text="Lowercase letters, digits and hyphens; the environment's address.",
    )
    new_env_security_group = forms.CharField(
        label="Security group", required=False, max_length=100, help_text="Optional."
    )

    def require_new_sandbox_fields(self, data: dict) -> None:
        for field in ("new_env_name", "new_env_slug"):
            if not (data.get(field) or "").strip():
                self.add_error(field, "Required for a new environment.")

    def new_sandbox(self) -> dict:
        """The new sandbox as copies.restore_to_new takes it."""
        return {
            "name": self.cleaned_data["new_env_name"],
            "slug": self.cleaned_data["new_env_slug"],
            "security_group": self.cleaned_data["new_env_security_group"],
        }


class RestoreForm(NewSandboxFields):
    """The restore panel: the target and, under Edit details, its new name and security group."""

    target = forms.ChoiceField(
        # Not "to overwrite": the list also offers a new sandbox, where nothing is overwritten.
        label="Restore to",
        widget=forms.Select(attrs={"aria-describedby": "target-hint"}),
    )
    new_name = forms.CharField(label="Name after restore", required=False, max_length=100)
    security_group = forms.CharField(
        label="Security group after restore",
        required=False,
        max_length=100,
        help_text="Leave as it is to keep the target's group.",
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, targets, can_create: bool = False, preview: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.preview = preview  # a change of target: nothing to say yet about empty fields
        self.targets = {t.slug: t for t in targets}
        self.fields["target"].choices = target_choices(targets, can_create)

    @property
    def new_target(self) -> bool:
        return self.is_bound and self.data.get("target") == NEW_TARGET

    def clean(self):
        data = super().clean()
        if data.get("target") == NEW_TARGET and not self.preview:
            self.require_new_sandbox_fields(data)
        return data

    def details(self, target) -> dict:
        """Edit details as restore_start takes them: an empty field keeps what the target
        has, and so does the security group it already has."""
        group = self.cleaned_data["security_group"].strip()
        return {
            "new_name": self.cleaned_data["new_name"].strip() or None,
            "security_group": group if group and group != target.security_group else None,
        }


class ConfirmForm(RestoreForm):
    confirm_name = forms.CharField(
        label="Type the target environment's name to confirm", max_length=100
    )

    def clean(self):
        data = super().clean()
        target = self.targets.get(data.get("target") or "")
        if target is not None and data.get("confirm_name", "").strip() != target.name:
            self.add_error("confirm_name", f"Type {target.name} exactly to confirm.")
        return data


class CopyForm(NewSandboxFields):
    """Copy environment: where to (a sandbox of the source's region, or a new one), what
    (everything, or the schema only), and, over an existing sandbox, its name typed to confirm."""

    target = forms.ChoiceField(label="Copy to")
    what = forms.ChoiceField(
        label="What to copy",
        choices=[
            ("everything", "Everything: the tables and all their rows"),
            ("schema", "Schema only: the tables and their columns, no rows"),
        ],
        initial="everything",
        widget=forms.RadioSelect,
    )
    confirm_name = forms.CharField(
        label="Type the target environment's name to confirm", max_length=100, required=False
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, targets, can_create: bool, preview: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.targets = {t.slug: t for t in targets}
        self.preview = preview  # a change of target: nothing to say yet about empty fields
        self.fields["target"].choices = target_choices(targets, can_create)

    @property
    def new_target(self) -> bool:
        return self.is_bound and self.data.get("target") == NEW_TARGET

    @property
    def chosen_target(self):
        """The existing sandbox chosen, if one is."""
        return self.targets.get(self.data.get("target", "")) if self.is_bound else None

    def clean(self):
        data = super().clean()
        if self.preview:
            return data
        if data.get("target") == NEW_TARGET:
            self.require_new_sandbox_fields(data)
        elif (target := self.chosen_target) is not None and (
            data.get("confirm_name") or ""
        ).strip() != target.name:
            self.add_error("confirm_name", f"Type {target.name} exactly to confirm.")
        return data

    def copy_arguments(self) -> dict:
        """What copies.copy_start takes besides the source and the requester."""
        data = self.cleaned_data
        arguments = {"schema_only": data["what"] == "schema"}
        if data["target"] == NEW_TARGET:
            arguments["new"] = self.new_sandbox()
        else:
            arguments["target"] = self.targets[data["target"]]
        return arguments


class UndoForm(forms.Form):
    """Undo overwrites the environment too: confirmed by typing its name, like a restore."""

    confirm_name = forms.CharField(label="Type the environment's name to confirm", max_length=100)
    # One per dialog: a second click of the same dialog lands on the same undo.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100, required=False)

    def __init__(self, *args, target, **kwargs):
        super().__init__(*args, **kwargs)
        self.target = target

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"].strip()
        if typed != self.target.name:
            raise forms.ValidationError(f"Type {self.target.name} exactly to confirm.")
        return typed


class VersionForm(forms.Form):
    version = forms.CharField(
        label="New version",
        max_length=30,
        help_text="For example 9.2.24101.00180. A backup is recorded first.",
    )
