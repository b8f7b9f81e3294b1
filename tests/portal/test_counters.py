"""The counters behind the API's limits and the once-per-pause lockout audit: one database
statement per hit, so every process shares a count and no hit is ever lost, even at once on
many connections. The same limits through two real server processes are in
tests/api/test_limits_across_processes.py."""

import ast
import datetime
import threading
from pathlib import Path

import pytest
from django.db import connection, connections
from django.test import Client

from backups import housekeeping
from portal.counters import counter_hit, counter_value, counters_prune
from portal.models import RateCounter
from tests import factories

NOW = datetime.datetime(2026, 11, 20, 9, 0, 30, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)
IN_A_MINUTE = NOW + MINUTE

POSTGRES_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: concurrent writers on connections of their own "
    "(CI runs the whole suite on PostgreSQL as well as SQLite)",
)


def hit(key: str = "k", now: datetime.datetime = NOW, expires_at=IN_A_MINUTE) -> int:
    return counter_hit(key=key, expires_at=expires_at, now=now)


def test_each_hit_adds_one_and_answers_the_count_with_it(db):
    assert [hit() for _ in range(3)] == [1, 2, 3]
    assert counter_value(key="k", now=NOW) == 3


def test_each_key_counts_on_its_own(db):
    hit("a"), hit("a"), hit("b")
    assert counter_value(key="a", now=NOW) == 2
    assert counter_value(key="b", now=NOW) == 1
    assert counter_value(key="never", now=NOW) == 0


def test_reading_a_count_does_not_add_to_it(db):
    hit()
    assert [counter_value(key="k", now=NOW) for _ in range(3)] == [1, 1, 1]


def test_an_expired_counter_starts_again_at_one_with_its_new_expiry(db):
    hit(), hit()
    later = IN_A_MINUTE + datetime.timedelta(seconds=5)
    assert counter_value(key="k", now=later) == 0
    assert hit(now=later, expires_at=later + MINUTE) == 1
    assert RateCounter.objects.get(key="k").expires_at == later + MINUTE


def test_a_hit_before_expiry_keeps_the_first_expiry(db):
    hit()
    hit(now=NOW + datetime.timedelta(seconds=20), expires_at=IN_A_MINUTE + MINUTE)
    assert RateCounter.objects.get(key="k").expires_at == IN_A_MINUTE


def test_a_key_longer_than_the_column_is_counted_by_its_digest(db):
    long_key = "lockout-audited:" + "x" * 400
    assert [hit(long_key), hit(long_key)] == [1, 2]
    assert counter_value(key=long_key, now=NOW) == 2
    assert RateCounter.objects.get().key.startswith("sha256:")


def test_pruning_deletes_expired_counters_only(db):
    hit("old", expires_at=NOW + datetime.timedelta(seconds=1))
    hit("current")
    assert counters_prune(now=NOW + datetime.timedelta(seconds=1)) == 1
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["current"]


def test_each_housekeeping_round_deletes_expired_counters(db, clock):
    RateCounter.objects.create(key="old", hits=3, expires_at=factories.NOW - MINUTE)
    RateCounter.objects.create(key="current", hits=1, expires_at=factories.NOW + MINUTE)
    housekeeping.run_once(purge_due=False)
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["current"]


def test_no_module_of_the_portal_counts_in_the_per_process_cache():
    """Django's cache is local to each process (settings.CACHES): a limit counted there would
    multiply by the number of web processes. Counts belong in portal.counters."""
    root = Path(__file__).resolve().parents[2]
    users = set()
    for app in ("portal", "environments", "backups"):
        for path in (root / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                if any(
                    n == "django.core.cache" or n.startswith("django.core.cache.") for n in names
                ):
                    users.add(str(path.relative_to(root)))
    assert not users


def _at_once(call, n: int) -> list:
    """`call()` from n threads at the same moment, each on its own database connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@POSTGRES_ONLY
@pytest.mark.django_db(transaction=True)
def test_hits_from_many_connections_at_once_are_all_counted_once():
    def hits() -> list[int]:
        return [hit() for _ in range(25)]

    results = _at_once(hits, 8)
    assert not [r for r in results if isinstance(r, Exception)], results
    # Each hit saw a count of its own: none was lost, none was counted twice.
    assert sorted(n for r in results for n in r) == list(range(1, 8 * 25 + 1))
    assert counter_value(key="k", now=NOW) == 8 * 25


@POSTGRES_ONLY
@pytest.mark.django_db(transaction=True)
def test_bad_tokens_checked_at_once_get_no_more_401s_than_the_limit(settings, clock):
    """Several checks may pass the first look at the count together; the count that each
    failure adds decides, so exactly the limit get a 401 (time stands still: one minute)."""
    settings.API_TOKEN_FAILURES_PER_MINUTE = 10

    def guess() -> int:
        return (
            Client()
            .get(
                "/api/v1/environments",
                headers={"Authorization": "Bearer envp_deadbeef_guess"},
                REMOTE_ADDR="203.0.113.9",
            )
            .status_code
        )

    answers = _at_once(guess, 16)
    assert sorted(answers) == [401] * 10 + [429] * 6
