"""The migration that brought in ChangeBatch rebuilds, from the history already stored, the
batches the store records as it writes: creates, updates and deletes, not a restore's copies
nor a dropped table's closes."""

import importlib

import pytest
import time_machine
from django.apps import apps

from backups import services
from environments import store
from environments.models import ChangeBatch
from tests.factories import NOW, ago

backfill = importlib.import_module(
    "environments.migrations.0006_change_batches"
).batches_from_history


pytestmark = pytest.mark.usefixtures("clock")


def recorded() -> list[tuple]:
    return sorted(ChangeBatch.objects.values_list("environment_id", "at", "changes"))


def test_the_backfill_matches_what_the_store_recorded(admin, source, target, run_restore):
    run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    with time_machine.travel(NOW, tick=False):
        with store.changes(target) as cs:
            accounts = cs.table("accounts")
            cs.update_row(accounts, "b", {"name": "Beta 3"})
            cs.create_row(accounts, {"name": "Delta"}, key="d")
        with store.changes(target) as cs:
            cs.delete_row(cs.table("accounts"), "c")
            cs.drop_table(cs.table("contacts"))
    services.backup_create(environment=target, label="x", actor=admin)
    expected = recorded()
    assert expected  # the store wrote batches as it went
    ChangeBatch.objects.all().delete()
    backfill(apps, None)
    assert recorded() == expected
