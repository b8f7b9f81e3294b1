"""The disaster drill (`make dr-drill`; issue 24): the portal loses its database server and comes
back, twice, with nothing it acknowledged lost. PostgreSQL only; run as root (the clusters run
as the postgres user). It never touches the main cluster: everything lives in a scratch folder
under /tmp, on ports of its own, and is removed at the end.

    .venv/bin/python deploy/drill.py                 # CI's run: 20,000 rows, about a minute
    .venv/bin/python deploy/drill.py --rows 1000000  # the figures of docs/benchmarks.md

1. A primary cluster set up by deploy/pg-dr as production is (archiving with pgBackRest into a
   scratch repository, WAL streamed into it by pg_receivewal), a store of --rows rows, a full
   backup; a standby restored from the repository; commits synchronous to both copies
   (deploy/pg-dr sync). The environments list shows "Disaster recovery: standby N s behind".
2. The portal (gunicorn and a task worker, production settings) takes writes through its API:
   environments, manual backups, restores, a copy, a restore into a new sandbox; rows through
   the store. Two past moments are noted on the way. Then an incremental backup, and every
   table of every environment is checksummed now and at both moments.
3. The loss: rows keep being written (each one acknowledged when its commit returns) while a
   restore is held inside its transaction; the primary is killed with SIGKILL and its data
   folder deleted.
4. (a) The standby is promoted; (b) separately, a fresh cluster is restored from the repository
   to the latest point. For each, the portal is started on it and the drill checks that every
   acknowledged operation and row is there, every checksum is as it was, and the restore in
   flight is complete or absent with its target Ready within 60 s of the portal starting.

Exit status 0 when every check passes. The figures (RPO, RTO, backup times) are printed and
written to var/dr-drill.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_DR = ROOT / "deploy" / "pg-dr"
PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
DATABASE = "envportal"
READY_WITHIN = 60.0  # seconds from the portal's start to the in-flight restore's target Ready
STARTED = time.monotonic()


class DrillFailure(Exception):
    pass


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", flush=True)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise DrillFailure(message)
    log(f"  ok: {message}")


def free_ports(count: int) -> list[int]:
    ports: list[int] = []
    sockets = []
    while len(ports) < count:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if value := predicate():
                return value
        if time.monotonic() > deadline:
            raise DrillFailure(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


# -- the clusters, through deploy/pg-dr (the production setup's own steps) ------------------------


@dataclass
class Scratch:
    root: Path
    primary_port: int
    standby_port: int
    fresh_port: int

    def env(self) -> dict:
        return {
            **os.environ,
            "DR_SCRATCH": "1",
            "DR_SCRATCH_ROOT": str(self.root),
            "DR_PORT": str(self.primary_port),
            "DR_STANDBY_PORT": str(self.standby_port),
            "PG_VERSION": PG_VERSION,
        }

    def pg_dr(self, *args: str, **extra: str) -> float:
        """Run a step; returns its seconds."""
        t0 = time.monotonic()
        result = subprocess.run(
            [str(PG_DR), *args], env={**self.env(), **extra}, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise DrillFailure(f"deploy/pg-dr {' '.join(args)} failed:\n{result.stderr}")
        return time.monotonic() - t0

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"

    def psql(self, port: int, sql: str, database: str = DATABASE) -> str:
        return subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
            + ["-d", database, "-Atqc", sql],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def postmaster_pid(self, cluster: str) -> int:
        return int((self.root / cluster / "data" / "postmaster.pid").read_text().split()[0])

    def stop_everything(self) -> None:
        """Every server and receiver the drill started, by their own pid files."""
        receiver = self.root / "run" / "portal_walstream.pid"
        with contextlib.suppress(Exception):
            os.kill(int(receiver.read_text()), signal.SIGTERM)
        for pidfile in self.root.glob("*/data/postmaster.pid"):
            with contextlib.suppress(Exception):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)  # immediate stop
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
            _alive(p) for p in self.root.glob("*/data/postmaster.pid")
        ):
            time.sleep(0.1)


def _alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().split()[0]), 0)
        return True
    except (OSError, ValueError):
        return False


# -- the portal's processes -----------------------------------------------------------------------


class Portal:
    """gunicorn and a task worker with the production settings, on one database."""

    def __init__(self, database_url: str, log_dir: Path, name: str, **settings: str):
        self.port = free_ports(1)[0]
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": database_url,
            "STATIC_ROOT": str(log_dir / "static"),
            "TASKS_BACKEND": "default",
            "API_WRITES_PER_MINUTE": "0",
            **settings,
        }
        self.logs = [(log_dir / f"{name}-{p}.log").open("wb") for p in ("gunicorn", "worker")]
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "portal/gunicorn.conf.py", "--bind"]
                + [f"127.0.0.1:{self.port}", "--workers", "2", "portal.wsgi"],
                cwd=ROOT,
                env=env,
                stdout=self.logs[0],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ),
            subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--no-reload"],
                cwd=ROOT,
                env=env,
                stdout=self.logs[1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            ),
        ]

    def stop(self) -> None:
        for p in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        for f in self.logs:
            f.close()


class Api:
    def __init__(self, portal: Portal, token: str):
        self.base = f"http://127.0.0.1:{portal.port}/api/v1"
        self.token = token

    def call(self, method: str, path: str, body: dict | None = None, key: str | None = None):
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def ok(self, method: str, path: str, body: dict | None = None, key: str | None = None):
        status, answer = self.call(method, path, body, key)
        if status >= 300:
            raise DrillFailure(f"{method} {path}: {status} {answer}")
        return answer

    def answers(self) -> bool:
        return self.call("GET", "/environments")[0] == 200

    def finished(self, op_id: int, timeout: float = 120) -> dict:
        return wait_for(
            lambda: (
                (op := self.ok("GET", f"/operations/{op_id}"))["status"] in ("succeeded", "failed")
                and op
            ),
            timeout,
            f"operation {op_id}",
        )


# -- what the portal acknowledged, and how every environment reads ---------------------------------


@dataclass
class Ledger:
    environments: set[str] = field(default_factory=set)
    backups: dict[int, str] = field(default_factory=dict)  # id: label
    operations: dict[int, str] = field(default_factory=dict)  # id: status when acknowledged
    rows: dict[str, tuple[int, float]] = field(default_factory=dict)  # key: (n, acked at)
    moments: dict[str, datetime.datetime] = field(default_factory=dict)


def checksums(moments: dict[str, datetime.datetime], skip: set[str]) -> dict[str, str]:
    """{"slug/table@moment": "rows:hash"} for every table of every environment, now and at each
    moment: an order-free sum of md5s over (key, values), computed by the database."""
    from django.db import connection

    from environments import lineage, store
    from environments.models import Environment

    sums: dict[str, str] = {}
    for env in Environment.objects.order_by("slug"):
        if env.slug in skip:
            continue
        for label, moment in [("now", None), *moments.items()]:
            snap = store.current(env) if moment is None else store.as_of(env, moment)
            for table in snap.tables():
                rows = snap.rows(table)
                querysets = rows.querysets if isinstance(rows, lineage.Rows) else [rows]
                count, total = 0, 0
                for qs in querysets:
                    sql, params = qs.order_by().values("key", "values").query.sql_with_params()
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT count(*), coalesce(sum(('x' || substr(md5(s.key || ':' || "
                            f's."values"::text), 1, 15))::bit(60)::bigint), 0) FROM ({sql}) s',
                            params,
                        )
                        n, h = cursor.fetchone()
                    count, total = count + n, (total + int(h)) % 2**64
                sums[f"{env.slug}/{table.name}@{label}"] = f"{count}:{total:016x}"
    return sums


def point_django_at(port: int) -> None:
    from django.db import connections

    for alias in connections:
        connection = connections[alias]
        connection.close()
        connection.settings_dict["PORT"] = port


# -- the drill ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the large environment")
    parser.add_argument("--keep", action="store_true", help="leave the scratch folder behind")
    parser.add_argument("--report", default=str(ROOT / "var" / "dr-drill.json"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("The drill runs as root (its clusters run as the postgres user).", file=sys.stderr)
        return 2
    if not (PG_BIN / "postgres").exists():
        print(f"PostgreSQL {PG_VERSION} is not installed ({PG_BIN}).", file=sys.stderr)
        return 2
    if shutil.which("pgbackrest") is None:
        subprocess.run([str(PG_DR), "install", "pgbackrest"], check=True)

    root = Path(tempfile.mkdtemp(prefix="envportal-drill-", dir="/tmp"))
    shutil.chown(root, "postgres")
    os.chmod(root, 0o755)
    logs = root / "portal-logs"
    logs.mkdir()
    scratch = Scratch(root, *free_ports(3))
    log(
        f"scratch folder {root}; ports {scratch.primary_port} (primary), "
        f"{scratch.standby_port} (standby), {scratch.fresh_port} (restored)"
    )
    figures: dict = {"rows": args.rows}
    portals: list[Portal] = []
    try:
        drill(args, scratch, logs, figures, portals)
        figures["passed"] = True
        return 0
    except Exception as failure:
        figures["passed"] = False
        log(f"FAILED: {failure.__class__.__name__}: {failure}")
        if not isinstance(failure, DrillFailure):
            traceback.print_exc()
        for f in sorted(logs.glob("*.log")):
            print(f"--- {f.name} (end)\n{f.read_text(errors='replace')[-3000:]}")
        return 1
    finally:
        for portal in portals:
            portal.stop()
        scratch.stop_everything()
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
        figures["seconds"] = round(time.monotonic() - STARTED, 1)
        Path(args.report).parent.mkdir(exist_ok=True)
        Path(args.report).write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures, indent=2))


def drill(args, scratch: Scratch, logs: Path, figures: dict, portals: list[Portal]) -> None:
    log("1. the primary, archiving into the scratch repository (deploy/pg-dr primary)")
    scratch.pg_dr("primary")
    scratch.psql(scratch.primary_port, f"CREATE DATABASE {DATABASE}", database="postgres")
    os.environ.update(
        DATABASE_URL=scratch.url(scratch.primary_port),
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="true",  # the drill's own process: the pages in-process, through the test client
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from bench import builders
    from environments import store
    from environments.models import Environment
    from portal.models import User
    from portal.tokens import token_create

    call_command("migrate", verbosity=0)
    admin = User.objects.create(username="drill", tenant_role="global_admin")
    log(f"   the store: {args.rows:,} rows in 10 tables, four versions each")
    built = builders.build_store(
        rows=args.rows, tables=10, other_environments=0, admin=admin, prefix="drill"
    )
    figures["full_backup_s"] = round(scratch.pg_dr("backup", "full"), 2)
    log(f"   full backup: {figures['full_backup_s']} s")
    scratch.pg_dr("walstream")
    scratch.pg_dr("standby")
    wait_for(
        lambda: (
            scratch.psql(
                scratch.primary_port,
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            )
            == "2"
        ),
        60,
        "the standby and the receiver streaming",
    )
    scratch.pg_dr("sync")
    sync = scratch.psql(scratch.primary_port, "SHOW synchronous_standby_names")
    check(
        sync == "ANY 2 (portal_standby, portal_walstream)",
        f"commits wait for the standby and the receiver ({sync})",
    )
    browser = Client()
    browser.force_login(admin)

    def dr_line() -> str:
        page = browser.get("/environments/").content.decode()
        start = page.find("Disaster recovery:")
        return page[start : page.find("</p>", start)] if start >= 0 else ""

    line = wait_for(lambda: (text := dr_line()).endswith("s behind") and text, 30, "lag shown")
    check(line.startswith("Disaster recovery: standby "), f"the environments list shows '{line}'")

    log("2. the portal's writes, through its API (gunicorn and a worker on the primary)")
    _, token = token_create(user=admin, name="drill")
    portal = Portal(scratch.url(scratch.primary_port), logs, "primary")
    portals.append(portal)
    api = Api(portal, token)
    wait_for(api.answers, 60, "the portal on the primary")
    ledger = Ledger()
    write_phase(api, ledger, built, store, Environment, timezone)
    figures["incremental_backup_s"] = round(scratch.pg_dr("backup", "incr"), 2)
    log(f"   incremental backup: {figures['incremental_backup_s']} s")
    sums = checksums(ledger.moments, skip={"drill-ledger"})
    log(f"   {len(sums)} checksums of tables, now and at two past moments")

    log("3. the loss: rows being written, a restore in flight; kill -9 the primary")
    in_flight = loss(scratch, api, ledger, sums, Environment, store, timezone)
    loss_at = in_flight.pop("loss_at")
    portal.stop()
    portals.remove(portal)
    # The receiver would try the dead primary for ever; what it wrote is the repository's now.
    with contextlib.suppress(Exception):
        os.kill(int((scratch.root / "run" / "portal_walstream.pid").read_text()), signal.SIGTERM)

    log("4a. promote the standby; the portal on it")
    t0 = time.monotonic()
    scratch.pg_dr("promote")
    figures["a_promote_s"] = round(time.monotonic() - t0, 2)
    result = recover(scratch, scratch.standby_port, logs, "standby", token, ledger, sums, in_flight)
    portals.extend(result.pop("portals"))
    figures["a_rto_s"] = round(result.pop("answered_at") - loss_at, 1)
    figures.update({f"a_{k}": v for k, v in result.items()})
    point_django_at(scratch.standby_port)
    line = dr_line()
    check(line == "Disaster recovery: no standby", f"the environments list shows '{line}'")
    for p in portals:
        p.stop()
    portals.clear()
    subprocess.run(
        [str(PG_BIN / "pg_ctl"), "-D", str(scratch.root / "standby" / "conf"), "-m", "fast"]
        + ["-w", "stop"],
        user="postgres",
        check=True,
        capture_output=True,
    )

    log("4b. a fresh cluster restored from the repository to the latest point")
    t0 = time.monotonic()
    # The timeline the primary was on (the promoted standby archived a new one meanwhile); the
    # drill's second server keeps out of the repository.
    scratch.pg_dr(
        "restore",
        "fresh",
        str(scratch.fresh_port),
        DR_TARGET_TIMELINE="current",
        DR_RESTORE_ARCHIVE_MODE="off",
    )
    figures["b_restore_s"] = round(time.monotonic() - t0, 2)
    result = recover(scratch, scratch.fresh_port, logs, "fresh", token, ledger, sums, in_flight)
    portals.extend(result.pop("portals"))
    figures["b_rto_s"] = round(result.pop("answered_at") - t0, 1)
    figures.update({f"b_{k}": v for k, v in result.items()})


def write_phase(api: Api, ledger: Ledger, built, store, Environment, timezone) -> None:
    def create(slug: str, name: str, kind: str) -> None:
        api.ok(
            "POST",
            "/environments",
            {"name": name, "slug": slug, "type": kind, "region": "unitedstates"},
        )
        ledger.environments.add(slug)

    create("drill-prod", "Drill production", "production")
    create("drill-sandbox-1", "Drill sandbox 1", "sandbox")
    create("drill-sandbox-2", "Drill sandbox 2", "sandbox")
    prod = Environment.objects.get(slug="drill-prod")
    with store.changes(prod) as cs:
        accounts = cs.create_table(
            name="accounts",
            display_name="Accounts",
            columns=[{"name": "name", "type": "text"}, {"name": "n", "type": "integer"}],
        )
        for n in range(200):
            cs.create_row(accounts, {"name": f"Account {n}", "n": n}, key=f"a{n:04d}")

    def backup(label: str) -> None:
        answer = api.ok("POST", "/environments/drill-prod/backups", {"label": label})
        ledger.backups[answer["id"]] = label

    def operation(path: str, body: dict, key: str) -> None:
        op = api.ok("POST", path, body, key)
        ledger.operations[op["id"]] = api.finished(op["id"])["status"]
        if ledger.operations[op["id"]] != "succeeded":
            raise DrillFailure(f"{path}: {ledger.operations[op['id']]}")

    backup("Before the first changes")
    time.sleep(0.01)
    ledger.moments["t1"] = timezone.now()
    for round_ in range(3):
        with store.changes(prod) as cs:
            table = cs.table("accounts")
            for n in range(round_, 150, 7):
                cs.update_row(table, f"a{n:04d}", {"name": f"Account {n} v{round_}", "n": n})
            cs.delete_row(table, f"a{150 + round_:04d}")
    operation(
        "/environments/drill-sandbox-1/restore",
        {
            "sourceEnvironmentId": "drill-prod",
            "restorePointDateTime": ledger.moments["t1"].isoformat(),
        },
        "drill-restore-1",
    )
    operation(
        f"/environments/{built.source.slug}/restore-to-new",
        {
            "restorePointDateTime": "latest",
            "targetEnvironmentName": "Drill large copy",
            "targetEnvironmentSlug": "drill-large-copy",
        },
        "drill-restore-new",
    )
    ledger.environments.add("drill-large-copy")
    operation(
        "/environments/drill-prod/copy",
        {"targetEnvironmentName": "Drill copy", "targetEnvironmentSlug": "drill-copy"},
        "drill-copy",
    )
    ledger.environments.add("drill-copy")
    operation(
        f"/environments/{built.target.slug}/restore",
        {"sourceEnvironmentId": built.source.slug, "restorePointDateTime": "latest"},
        "drill-restore-large",
    )
    time.sleep(0.01)
    ledger.moments["t2"] = timezone.now()
    with store.changes(prod) as cs:
        table = cs.table("accounts")
        for n in range(300, 320):
            cs.create_row(table, {"name": f"Account {n}", "n": n}, key=f"a{n:04d}")
    backup("After the second round")
    create("drill-ledger", "Drill ledger", "production")
    log(
        f"   acknowledged: {len(ledger.environments)} environments, {len(ledger.backups)} "
        f"manual backups, {len(ledger.operations)} restores and copies"
    )


def loss(scratch: Scratch, api: Api, ledger: Ledger, sums, Environment, store, timezone) -> dict:
    import psycopg
    from django.db import connection

    env = Environment.objects.get(slug="drill-ledger")
    with store.changes(env) as cs:
        cs.create_table(
            name="ledger", display_name="Ledger", columns=[{"name": "n", "type": "integer"}]
        )
    stop = threading.Event()

    def writer() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1
                with store.changes(env) as cs:
                    cs.create_row(cs.table("ledger"), {"n": n}, key=f"r{n:06d}")
                ledger.rows[f"r{n:06d}"] = (n, time.monotonic())  # acknowledged: committed
        except Exception:  # the server is gone: this write was never acknowledged
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    # The restore's worker waits inside its transaction on this lock (writing its "Before
    # restore" backup), after its progress says it is copying: in flight when the server dies.
    # SHARE mode stops writes to the table only: the request's own row locks go through.
    holder = psycopg.connect(scratch.url(scratch.primary_port))
    holder.execute("LOCK TABLE backups_manualbackup IN SHARE MODE")
    op = api.ok(
        "POST",
        "/environments/drill-sandbox-2/restore",
        {"sourceEnvironmentId": "drill-prod", "restorePointDateTime": "latest"},
        "drill-in-flight",
    )
    wait_for(
        lambda: api.ok("GET", f"/operations/{op['id']}")["phase"] == "copying",
        60,
        "the restore in flight",
    )
    time.sleep(1.0)  # rows go on being written meanwhile
    pid = scratch.postmaster_pid("main")
    os.kill(pid, signal.SIGKILL)
    loss_at = time.monotonic()
    shutil.rmtree(scratch.root / "main" / "data")
    log(f"   killed the primary (pid {pid}) and deleted its data folder")
    stop.set()
    thread.join()
    with contextlib.suppress(Exception):
        holder.close()
    connection.close()
    log(f"   {len(ledger.rows)} rows acknowledged before the loss")
    return {
        "id": op["id"],
        "target": "drill-sandbox-2",
        "before": {k: v for k, v in sums.items() if k.startswith("drill-sandbox-2/")},
        # a restore of "latest" from drill-prod, which nothing wrote after the checksums
        "after": {
            k.replace("drill-prod/", "drill-sandbox-2/"): v
            for k, v in sums.items()
            if k.startswith("drill-prod/") and k.endswith("@now")
        },
        "loss_at": loss_at,
    }


def recover(scratch, port, logs, name, token, ledger, sums, in_flight) -> dict:
    from backups.models import ManualBackup, RestoreOperation
    from environments import store
    from environments.models import Environment

    started = time.monotonic()
    portal = Portal(scratch.url(port), logs, name)
    api = Api(portal, token)
    wait_for(api.answers, 60, f"the portal on {name}")
    answered_at = time.monotonic()
    log(f"   the portal answers {answered_at - started:.1f} s after it started")
    point_django_at(port)

    ready = wait_for(
        lambda: Environment.objects.get(slug=in_flight["target"]).is_ready and time.monotonic(),
        READY_WITHIN + 30,
        "the in-flight restore's target Ready",
    )
    ready_s = round(ready - started, 1)
    op = RestoreOperation.objects.get(pk=in_flight["id"])
    check(
        ready_s <= READY_WITHIN,
        f"the restore in flight is {op.status}, its target Ready "
        f"{ready_s} s after the portal started",
    )
    check(op.status in ("succeeded", "failed"), "the restore in flight ended")

    present = set(Environment.objects.values_list("slug", flat=True))
    check(ledger.environments <= present, f"all {len(ledger.environments)} environments there")
    backups = dict(ManualBackup.objects.values_list("pk", "label"))
    check(
        all(backups.get(pk) == label for pk, label in ledger.backups.items()),
        f"all {len(ledger.backups)} manual backups there",
    )
    statuses = dict(RestoreOperation.objects.values_list("pk", "status"))
    check(
        all(statuses.get(pk) == status for pk, status in ledger.operations.items()),
        f"all {len(ledger.operations)} restores and copies there, as acknowledged",
    )
    env = Environment.objects.get(slug="drill-ledger")
    snap = store.current(env)
    table = snap.table("ledger")
    found = {r.key: r.values["n"] for r in snap.rows(table)} if table else {}
    missing = [k for k in ledger.rows if found.get(k) != ledger.rows[k][0]]
    rpo = round(seconds_lost(ledger, missing), 2) if missing else 0.0
    check(
        not missing,
        f"all {len(ledger.rows)} acknowledged rows there ({len(found)} found; "
        f"{len(missing)} missing, {rpo} s of acknowledged writes)",
    )

    after = checksums(ledger.moments, skip={"drill-ledger"})
    target = in_flight["target"]
    others = {k: v for k, v in sums.items() if not k.startswith(target + "/")}
    mismatched = [k for k, v in others.items() if after.get(k) != v]
    check(not mismatched, f"{len(others)} checksums as they were ({mismatched[:3]})")
    now = {k: v for k, v in after.items() if k.startswith(target + "/") and k.endswith("@now")}
    past_ok = all(after.get(k) == v for k, v in in_flight["before"].items() if "@now" not in k)
    expected = (
        in_flight["after"]
        if op.status == "succeeded"
        else {k: v for k, v in in_flight["before"].items() if k.endswith("@now")}
    )
    check(
        past_ok and now == expected,
        f"the restore in flight is {'complete' if op.status == 'succeeded' else 'absent'}",
    )
    return {
        "portals": [portal],
        "answered_at": answered_at,
        "portal_start_s": round(answered_at - started, 1),
        "rpo_s": rpo,
        "acknowledged_rows": len(ledger.rows),
        "in_flight": op.status,
        "in_flight_ready_s": ready_s,
    }


def seconds_lost(ledger: Ledger, missing: list[str]) -> float:
    """Seconds of acknowledged writes lost: from the first lost acknowledgement to the last."""
    times = [ledger.rows[k][1] for k in missing]
    last = max(at for _, at in ledger.rows.values())
    return last - min(times)


if __name__ == "__main__":
    sys.exit(main())
