import pytest
from django.db import IntegrityError, transaction

from environments import services
from environments.models import Environment, EnvironmentState
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import AuditEvent
from tests.factories import EnvironmentFactory


def test_converting_production_to_sandbox_is_recorded(global_admin, production):
    services.environment_change_type(environment=production, new_type="sandbox", actor=global_admin)
    production.refresh_from_db()
    assert production.type == "sandbox"
    event = AuditEvent.objects.get(action="environment.change_type")
    assert (event.actor, event.environment, event.details) == (
        global_admin,
        production,
        {"from": "production", "to": "sandbox"},
    )


def test_it_refuses_to_convert_types_other_than_production_and_sandbox(global_admin, db):
    trial = EnvironmentFactory(type="trial")
    with pytest.raises(NotAllowed, match="Only production and sandbox"):
        services.environment_change_type(environment=trial, new_type="sandbox", actor=global_admin)
    trial.refresh_from_db()
    assert trial.type == "trial"


def test_it_refuses_to_convert_to_the_same_type_or_to_another_type(global_admin, sandbox):
    with pytest.raises(Refused, match="already a sandbox"):
        services.environment_change_type(
            environment=sandbox, new_type="sandbox", actor=global_admin
        )
    with pytest.raises(Refused, match="only be converted to production or sandbox"):
        services.environment_change_type(
            environment=sandbox, new_type="default", actor=global_admin
        )


def test_it_refuses_to_convert_an_environment_being_restored(global_admin, sandbox):
    Environment.objects.filter(pk=sandbox.pk).update(state=EnvironmentState.RESTORING)
    with pytest.raises(Conflict, match="restoring"):
        services.environment_change_type(
            environment=sandbox, new_type="production", actor=global_admin
        )


def test_makers_cannot_convert(maker, production):
    with pytest.raises(NotAllowed):
        services.environment_change_type(environment=production, new_type="sandbox", actor=maker)
    assert not AuditEvent.objects.filter(action="environment.change_type").exists()


def test_administration_mode_switches_and_is_audited_once(env_admin, sandbox):
    services.environment_set_admin_mode(environment=sandbox, enabled=True, actor=env_admin)
    services.environment_set_admin_mode(environment=sandbox, enabled=True, actor=env_admin)
    assert sandbox.admin_mode
    assert AuditEvent.objects.filter(action="environment.admin_mode").count() == 1


def test_background_operations_switch(env_admin, sandbox):
    services.environment_set_background_operations(
        environment=sandbox, enabled=False, actor=env_admin
    )
    assert not sandbox.background_operations


def test_there_is_exactly_one_default_environment(db):
    EnvironmentFactory(type="default")
    with pytest.raises(Refused, match="exactly one"):
        EnvironmentFactory(type="default")
    assert Environment.objects.filter(type="default").count() == 1


def test_the_database_also_refuses_a_second_default(db):
    first = EnvironmentFactory(type="default")
    second = EnvironmentFactory(type="sandbox")
    with pytest.raises(IntegrityError), transaction.atomic():
        Environment.objects.filter(pk=second.pk).update(type="default")
    assert first.type == "default"


def test_it_refuses_a_taken_or_malformed_url_name(db):
    EnvironmentFactory(slug="taken")
    with pytest.raises(Refused, match="taken"):
        EnvironmentFactory(slug="taken")
    with pytest.raises(Exception, match="lowercase"):
        EnvironmentFactory(slug="Bad Slug!")
    assert Environment.objects.count() == 1


def test_a_new_environment_has_a_live_generation_and_an_audit_entry(db):
    env = EnvironmentFactory()
    assert env.generations.filter(valid_to__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="environment.create", environment=env).exists()
