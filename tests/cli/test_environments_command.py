import json

import pytest

from environments.models import Environment
from tests.cli.conftest import manage
from tests.factories import EnvironmentFactory


def test_it_lists_the_environments_the_user_manages(run, global_admin, sandbox, production):
    result = run("environments", "list", "--as", "global")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["SLUG", "NAME", "TYPE", "STATE", "REGION", "ADMIN", "MODE"]
    assert lines[1].startswith("sales ") and lines[2].startswith("sales-sandbox ")


def test_it_filters_and_prints_json(run, global_admin, sandbox, production):
    EnvironmentFactory(slug="eu-trial", type="trial", region="europe")
    result = run("environments", "list", "--as", "global", "--region", "europe", "--json")
    assert [e["slug"] for e in json.loads(result.out)] == ["eu-trial"]
    result = run("environments", "list", "--as", "global", "--type", "sandbox")
    assert "sales-sandbox" in result.out and "eu-trial" not in result.out


def test_an_environment_admin_sees_only_theirs(run, env_admin, sandbox, production):
    result = run("environments", "list", "--as", "envadmin")
    assert "sales-sandbox" in result.out and "\nsales " not in result.out


def test_a_maker_is_refused_with_exit_code_1(run, maker, sandbox):
    result = run("environments", "list", "--as", "maker")
    assert result.code == 1 and "administrators" in result.err


def test_an_unknown_user_is_refused(run, db):
    result = run("environments", "list", "--as", "nobody")
    assert result.code == 1 and "no active user 'nobody'" in result.err


def test_the_user_can_come_from_portal_user(run, monkeypatch, global_admin, sandbox):
    monkeypatch.setenv("PORTAL_USER", "global")
    assert run("environments", "list").code == 0  # default read when arguments are defined


@pytest.mark.django_db(transaction=True)
def test_a_real_process_lists_and_exits_0(global_admin, sandbox):
    done = manage("environments", "list", "--as", "global")
    assert done.returncode == 0, done.stderr
    assert "sales-sandbox" in done.stdout


def test_without_a_user_it_is_bad_usage_exit_2():
    done = manage("environments", "list")
    assert done.returncode == 2 and "--as USERNAME" in done.stderr


def test_an_unknown_subcommand_is_bad_usage_exit_2():
    done = manage("environments", "frobnicate")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_create_makes_an_environment_as_the_acting_user(run, global_admin, clock):
    result = run(
        "environments", "create", "--name", "Test Lab", "--slug", "test-lab", "--type",
        "trial", "--region", "asia", "--as", "global",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip() == ("Created test-lab (trial); it expires 2026-12-20 12:00:00 UTC.")
    env = Environment.objects.get(slug="test-lab")
    assert (env.name, env.region, env.created_by) == ("Test Lab", "asia", global_admin)


def test_create_refuses_an_environment_admin_and_a_taken_url_name(
    run, global_admin, env_admin, sandbox
):
    args = ["--name", "X", "--type", "sandbox", "--region", "europe"]
    result = run("environments", "create", "--slug", "lab", *args, "--as", "envadmin")
    assert result.code == 1 and "Only Global admins" in result.err
    result = run("environments", "create", "--slug", "sales-sandbox", *args, "--as", "global")
    assert (result.code, result.err) == (1, "The URL name 'sales-sandbox' is taken.")
    assert not Environment.objects.filter(slug="lab").exists()


def test_create_checks_its_arguments(run, global_admin):
    result = manage("environments", "create", "--name", "X", "--slug", "x", "--as", "global")
    assert result.returncode == 2 and "--type" in result.stderr


def test_delete_list_and_recover(run, global_admin, sandbox, clock):
    refused = run(
        "environments", "delete", "sales-sandbox", "--confirm-name", "x", "--as", "global"
    )
    assert (refused.code, refused.err) == (1, "Type Sales Sandbox exactly to confirm.")
    done = run(
        "environments", "delete", "sales-sandbox", "--confirm-name", "Sales Sandbox",
        "--as", "global",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert done.out.strip() == (
        "Deleted sales-sandbox; it can be recovered until 2026-11-27 12:00:00 UTC."
    )
    listed = run("environments", "deleted", "--as", "global")
    assert listed.out.splitlines()[1].startswith("sales-sandbox  Sales Sandbox  Sandbox")
    assert "sales-sandbox" not in run("environments", "list", "--as", "global").out
    back = run("environments", "recover", "sales-sandbox", "--as", "global")
    assert (back.code, back.out.strip()) == (0, "Recovered sales-sandbox.")
    assert run("environments", "deleted", "--as", "global").out.strip() == (
        "No deleted environments can be recovered."
    )


def test_only_tenant_admins_list_or_recover_deleted_environments(run, env_admin, sandbox):
    result = run("environments", "deleted", "--as", "envadmin")
    assert result.code == 1 and "Only Global admins" in result.err
