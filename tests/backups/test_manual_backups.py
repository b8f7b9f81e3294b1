import datetime

import pytest

from backups import services
from backups.models import ManualBackup
from environments.models import Environment, EnvironmentState
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import AuditEvent
from tests.factories import NOW, EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")


def test_a_manual_backup_is_a_named_moment_with_a_fixed_expiry(admin, source):
    backup = services.backup_create(
        environment=source, label="  Before go-live  ", notes="Sprint 12", actor=admin
    )
    assert (backup.label, backup.notes, backup.backup_at) == ("Before go-live", "Sprint 12", NOW)
    assert backup.expires_at == NOW + datetime.timedelta(days=28)
    assert backup.created_by == admin
    assert AuditEvent.objects.filter(action="backup.create", environment=source).exists()


def test_sandbox_backups_expire_after_seven_days(admin, target):
    backup = services.backup_create(environment=target, label="Test", actor=admin)
    assert backup.expires_at == NOW + datetime.timedelta(days=7)


@pytest.mark.parametrize("kind", ["trial", "developer", "default"])
def test_other_types_have_no_manual_backups(admin, db, kind):
    env = EnvironmentFactory(type=kind, created_at=ago(days=3))
    with pytest.raises(Refused, match="only production and sandbox"):
        services.backup_create(environment=env, label="x", actor=admin)
    assert not ManualBackup.objects.exists()


@pytest.mark.parametrize(
    "label, message", [("", "Enter a label"), ("   ", "Enter a label"), ("x" * 101, "at most 100")]
)
def test_it_refuses_a_bad_label(admin, source, label, message):
    with pytest.raises(Refused, match=message) as excinfo:
        services.backup_create(environment=source, label=label, actor=admin)
    assert excinfo.value.field == "label"
    assert not ManualBackup.objects.exists()


def test_it_refuses_long_notes(admin, source):
    with pytest.raises(Refused, match="2000"):
        services.backup_create(environment=source, label="x", notes="n" * 2001, actor=admin)


def test_there_is_no_limit_on_the_number_of_backups(admin, source):
    for n in range(30):
        services.backup_create(environment=source, label=f"b{n}", actor=admin)
    assert ManualBackup.objects.count() == 30


def test_makers_cannot_back_up(maker, source):
    with pytest.raises(NotAllowed):
        services.backup_create(environment=source, label="x", actor=maker)


def test_label_and_notes_can_be_edited(admin, source):
    backup = services.backup_create(environment=source, label="a", actor=admin)
    services.backup_update(backup=backup, label=" b ", notes="why", actor=admin)
    backup.refresh_from_db()
    assert (backup.label, backup.notes) == ("b", "why")
    with pytest.raises(Refused):
        services.backup_update(backup=backup, label="", notes="", actor=admin)
    backup.refresh_from_db()
    assert backup.label == "b"


def test_a_backup_can_be_deleted_but_not_while_the_environment_is_restoring(admin, target):
    backup = services.backup_create(environment=target, label="a", actor=admin)
    Environment.objects.filter(pk=target.pk).update(state=EnvironmentState.RESTORING)
    with pytest.raises(Conflict, match="restoring"):
        services.backup_delete(backup=backup, actor=admin)
    assert ManualBackup.objects.filter(pk=backup.pk).exists()
    Environment.objects.filter(pk=target.pk).update(state=EnvironmentState.READY)
    services.backup_delete(backup=backup, actor=admin)
    assert not ManualBackup.objects.filter(pk=backup.pk).exists()
    assert AuditEvent.objects.filter(action="backup.delete").exists()


def test_a_version_update_records_a_backup_first(admin, source):
    old = source.version
    services.environment_update_version(environment=source, new_version="9.3.1.5", actor=admin)
    backup = ManualBackup.objects.get(environment=source)
    assert backup.kind == "version_update"
    assert backup.label == f"Before update from {old} to 9.3.1.5"
    assert backup.backup_at == NOW
    assert source.version == "9.3.1.5"


@pytest.mark.parametrize(
    "version, message",
    [
        ("nine", "Enter a version"),
        ("9.2.24101.00180", "already on version"),
        ("9.2.24101.180", "already on version"),  # the same numbers
        ("9.2.24101.00179", "9.2.24101.00179 is earlier than 9.2.24101.00180"),
        ("9.1.99999", "an update only goes forward"),
        ("8.9", "is earlier than"),
    ],
)
def test_a_bad_version_update_changes_nothing(admin, source, version, message):
    with pytest.raises(Refused, match=message):
        services.environment_update_version(environment=source, new_version=version, actor=admin)
    assert not ManualBackup.objects.exists()
