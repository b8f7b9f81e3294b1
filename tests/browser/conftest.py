"""Browser tests: Debian's Chromium driven by Playwright against a live server and a real worker.

The portal runs in this process (pytest-django's `live_server`, a thread), the background worker
in a subprocess (`manage.py db_worker`) on the same test database, so both see what a test
commits. The browser is Debian's package, launched by path; nothing downloads a browser.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

import portal.settings as portal_settings
from backups.models import RestoreOperation
from environments import store
from portal.models import User
from tests.factories import EnvironmentFactory, make_table

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORD = "secret-pass-1"  # what tests.factories.UserFactory sets
# A zone without daylight saving time, so the offsets the pages show are always the same.
VIEWER_TIME_ZONE = "Asia/Kolkata"
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"

expect.set_options(timeout=10_000)


def _in_this_folder(item: pytest.Item) -> bool:
    return Path(__file__).parent in Path(item.path).parents


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark each browser test as it is collected, before `-m "not browser"` selects."""
    if _in_this_folder(item):
        item.add_marker(pytest.mark.browser)


@pytest.hookimpl(trylast=True)  # after pytest-django's and pytest's own reordering
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: once Playwright has started, its event loop stays in this
    thread until the session ends (see _django_beside_playwright)."""
    browser = [item for item in items if _in_this_folder(item)]
    ids = {id(item) for item in browser}
    items[:] = [item for item in items if id(item) not in ids] + browser


@pytest.fixture(scope="session", autouse=True)
def _django_beside_playwright() -> Iterator[None]:
    """Playwright's sync API runs an event loop in this thread, and Django refuses database
    calls from a thread with a running loop. The tests and the live server are plain synchronous
    code, so lift the check for the rest of the session (the browser tests run last)."""
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    yield
    if previous is None:
        os.environ.pop(ASYNC_UNSAFE, None)
    else:
        os.environ[ASYNC_UNSAFE] = previous


# -- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} is missing: the browser tests use Debian's Chromium "
            "(apt-get install -y chromium); .ci/run installs it"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": browser_type_launch_args.get("headless", True),
        # No sandbox as root; no calls home, which the closed network would refuse at length.
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def base_url(live_server) -> str:
    return live_server.url  # so that page.goto("/environments/") opens the live server


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    # The page's own script reports the zone in a cookie; a fixed zone makes the times testable.
    return {
        **browser_context_args,
        "locale": "en-US",
        "timezone_id": VIEWER_TIME_ZONE,
        "viewport": {"width": 1280, "height": 800},
    }


@dataclass
class _PageProblems:
    """JavaScript errors and Content-Security-Policy refusals seen in any page of a test."""

    messages: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.on("weberror", lambda error: self.messages.append(f"error: {error.error}"))
        context.on("console", self._console)

    def _console(self, message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.messages.append(f"CSP: {message.text}")


@pytest.fixture
def page_problems() -> Iterator[_PageProblems]:
    problems = _PageProblems()
    yield problems
    assert not problems.messages, "the pages reported problems:\n" + "\n".join(problems.messages)


@pytest.fixture
def signed_in_page(new_context, page_problems) -> Callable[..., Page]:
    """A page in a browser of its own, signed in through the real sign-in form."""

    def sign_in(user: User, password: str = PASSWORD) -> Page:
        context = new_context()
        page_problems.watch(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        return page

    return sign_in


@pytest.fixture
def anonymous_page(new_context, page_problems) -> Page:
    context = new_context()
    page_problems.watch(context)
    return context.new_page()


def tab_to(page: Page, target, *, limit: int = 80) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


# -- checks and artifacts ----------------------------------------------------------------------


@pytest.fixture
def axe_check() -> Callable[[Page], None]:
    """Run axe-core (from npm, in node_modules) on the page; fail on serious or critical
    violations, listing each rule and the elements it found."""
    if not AXE_JS.exists():
        pytest.fail(
            f"{AXE_JS.relative_to(ROOT)} is missing: run `npm ci` (`make test` does)", pytrace=False
        )
    source = AXE_JS.read_text()

    def check(page: Page) -> None:
        # Evaluated through the debugging protocol, which the page's CSP (no inline scripts)
        # does not govern, so the tests run with the real policy in force.
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(source)
        results = page.evaluate(
            "() => axe.run(document, {resultTypes: ['violations']})"
            ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' '))})))"
        )
        bad = [v for v in results if v["impact"] in ("serious", "critical")]
        assert not bad, f"axe found on {page.url}:\n" + "\n".join(
            f"- {v['impact']} {v['id']}: {v['help']} ({', '.join(v['nodes'][:5])})" for v in bad
        )

    return check


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """Save a full-page screenshot to tests/artifacts/<name>.png (ignored by git) for review."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page: Page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


# -- the portal: live server settings and a real worker ----------------------------------------


@pytest.fixture(autouse=True)
def _as_deployed(settings, live_server) -> None:
    """Undo tests/conftest.py's in-process task settings: the portal queues restores in the
    database and a worker process runs them, with progress on its own connection."""
    settings.TASKS_BACKEND = "default"
    settings.RESTORE_PROGRESS_DATABASE = portal_settings.RESTORE_PROGRESS_DATABASE


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"  # the file named in DATABASES["default"]["TEST"]
    if connection.vendor == "postgresql":
        auth = quote(s["USER"], safe="") + (
            f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else ""
        )
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    raise NotImplementedError(f"no worker for {connection.vendor}")


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(
        self, predicate: Callable[[], object], *, what: str, timeout: float = 30.0
    ) -> object:
        """Poll until predicate() is truthy; fail early, with the worker's log, if it died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := predicate():
                return value
            if self.process.poll() is not None:
                pytest.fail(
                    f"the worker exited ({self.process.returncode}) before {what}:\n{self.log()}"
                )
            time.sleep(0.05)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; worker log:\n{self.log()}")


@pytest.fixture
def worker(transactional_db, live_server, tmp_path) -> Iterator[Worker]:
    """`manage.py db_worker` on the test database for the length of one test."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "true",
        "TASKS_BACKEND": "default",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop(ASYNC_UNSAFE, None)  # the worker has no event loop: keep Django's check there
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--no-reload",
                "--interval",
                "0.2",
                "--no-startup-delay",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Worker(process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# -- a small tenant for the restore flows ---------------------------------------------------


@pytest.fixture
def tenant(db, global_admin):
    """A production environment and a sandbox in one region, each with accounts made three
    hours ago, and a sandbox elsewhere."""
    three_hours_ago = timezone.now() - datetime.timedelta(hours=3)
    created = timezone.now() - datetime.timedelta(days=10)
    prod = EnvironmentFactory(
        name="Contoso Production", slug="contoso-prod", type="production", created_at=created
    )
    sandbox = EnvironmentFactory(
        name="Contoso Sandbox",
        slug="contoso-sandbox",
        type="sandbox",
        created_at=created,
        security_group="Testers",
    )
    EnvironmentFactory(
        name="Europe Sandbox",
        slug="europe-sandbox",
        type="sandbox",
        region="europe",
        created_at=created,
    )
    with time_machine.travel(three_hours_ago, tick=False):
        for env, names in (
            (prod, ["Adatum", "Blue Yonder"]),
            (sandbox, ["Coho Winery", "Fourth Coffee"]),
        ):
            accounts = make_table(env)
            with store.changes(env) as cs:
                for name in names:
                    cs.create_row(accounts, {"name": name, "employees": 10})
    return {"prod": prod, "sandbox": sandbox}


def wait_for_restore(worker, *, count: int = 1) -> RestoreOperation:
    def finished():
        ops = list(RestoreOperation.objects.order_by("id"))
        return len(ops) >= count and not ops[count - 1].is_active and ops[count - 1]

    op = worker.wait_until(finished, what="the restore to finish")
    assert op.status == "succeeded", op.error
    return op
