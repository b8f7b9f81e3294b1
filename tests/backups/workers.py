"""Helpers for tests with real worker processes and concurrent connections (PostgreSQL)."""

import os
import threading
import time

import psycopg
import pytest
from django.db import connection, connections

POSTGRES_ONLY = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: concurrent writers and a second connection reading progress "
        "(CI runs the whole suite on PostgreSQL as well as SQLite)",
    ),
]


def database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def worker_env(**extra: str) -> dict:
    """The environment of a `manage.py` worker process on the test database."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "true",
        "TASKS_BACKEND": "default",
        **extra,
    }


def wait_until(predicate, *, timeout: float = 60.0, what: str = "condition"):
    """Poll another process's observable state until it holds, with a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def blocker() -> psycopg.Connection:
    """A connection of the test's own, outside Django, to hold locks with."""
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, user=s["USER"], dbname=s["NAME"]
    )


def waiting_on_lock(query_text: str) -> bool:
    """Whether some session waits on a lock while running a query that contains the text."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
            [f"%{query_text}%"],
        )
        return cursor.fetchone() is not None


def at_once(calls) -> list:
    """Run the calls at the same moment on their own connections; their results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
