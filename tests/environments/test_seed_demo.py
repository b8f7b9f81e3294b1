import datetime

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from environments import store
from environments.models import DataTable, Environment, Membership, RowVersion
from portal.models import User


@pytest.mark.django_db
def test_seed_demo_builds_a_realistic_tenant_once(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "admin    / admin" in out

    assert {u.username for u in User.objects.all()} >= {
        "admin",
        "ppadmin",
        "alex",
        "morgan",
        "support",
    }
    admin = User.objects.get(username="admin")
    assert admin.check_password("admin") and admin.tenant_role == "global_admin"
    assert Membership.objects.filter(role="admin").exists()
    assert Membership.objects.filter(role="maker").exists()
    assert User.objects.get(username="support").groups.filter(name="Support staff").exists()

    environments = Environment.objects.all()
    assert environments.count() >= 8
    assert set(environments.values_list("type", flat=True)) == {
        "production",
        "sandbox",
        "trial",
        "developer",
        "default",
    }
    assert len(set(environments.values_list("region", flat=True))) >= 2

    now = timezone.now()
    for env in environments:
        snapshot = store.current(env)
        tables = list(snapshot.tables())
        assert 3 <= len(tables) <= 6, env
        live = sum(snapshot.rows(t).count() for t in tables)
        assert 100 <= live <= 10_000, (env, live)
        # A month of history: a day apart, the data differs.
        week_ago = store.as_of(env, now - datetime.timedelta(days=6)).as_dict()
        day_later = store.as_of(env, now - datetime.timedelta(days=5)).as_dict()
        assert week_ago != day_later, env

    versions = RowVersion.objects.count()
    call_command("seed_demo")
    assert "nothing to add" in capsys.readouterr().out
    assert RowVersion.objects.count() == versions
    assert Environment.objects.count() == environments.count()


@pytest.mark.django_db
def test_seed_demo_scales_one_environment_for_benchmarks():
    call_command("seed_demo", rows=4000)
    sales = Environment.objects.get(slug="contoso-sales")
    tables = DataTable.objects.filter(generation__environment=sales)
    keys = RowVersion.objects.filter(table__in=tables).values("table_id", "key").distinct().count()
    assert keys == 4000
    assert tables.annotate(n=Count("id")).count() == 4


@pytest.mark.django_db
def test_seed_demo_refuses_a_bad_row_count():
    with pytest.raises(CommandError, match="positive"):
        call_command("seed_demo", rows=0)
    assert not Environment.objects.exists()


@pytest.mark.django_db
def test_seed_demo_without_the_demo_extra_says_how_to_install_it(monkeypatch):
    import sys

    import environments

    # As on a production install: neither Faker's nor factory-boy's modules can be imported.
    for name in ("factory", "faker", "environments.demo"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delattr(environments, "demo", raising=False)
    with pytest.raises(CommandError, match=r"demo extra .*requirements-demo\.lock"):
        call_command("seed_demo")
    assert not Environment.objects.exists()


def test_a_production_install_needs_no_test_data_generators():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"]).lower()
    assert "faker" not in runtime and "factory" not in runtime
    assert "faker" not in (root / "requirements.lock").read_text().lower()
    assert "faker" in (root / "requirements-demo.lock").read_text().lower()


@pytest.mark.django_db
def test_the_demo_history_is_put_down_to_the_demo_people(capsys):
    from environments.models import ChangeBatch

    call_command("seed_demo")
    authors = set(ChangeBatch.objects.values_list("author_name", flat=True).distinct())
    assert authors == {"alex", "morgan", "admin"}
