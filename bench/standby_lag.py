"""How far behind the standby falls under the scale benchmark's load (issue 24; not a test).

    .venv/bin/python bench/standby_lag.py                       # 200,000 rows, 60 s of load
    .venv/bin/python bench/standby_lag.py --rows 1000000 --duration 120

Run as root, like `make dr-drill`, whose scratch clusters it borrows (deploy/drill.py): a
primary set up by deploy/pg-dr with its repository, WAL receiver and standby, commits
synchronous to both (deploy/pg-dr sync), on ports of their own. bench/scale.py then builds its
store there and puts its load on it (20 clients through gunicorn, then the same while a restore
of the large environment runs). Twice a second this samples what the portal shows
(portal.dr's query: the standby's replay lag as the primary sees it) and the bytes of WAL not
yet replayed. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.drill import Scratch, free_ports, log, wait_for  # noqa: E402

# What bench/scale.py prints as each phase of its load begins, and the line after the load.
PHASES = {
    "  load: ": "under the clients' load",
    "  load while restore": "under load while a restore of the large environment runs",
    "  load while another process flattens": "under load while a restored table is flattened",
    "## Load": "after the load",
}
SAMPLE = """SELECT coalesce(extract(epoch FROM replay_lag), 0),
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)
FROM pg_stat_replication WHERE application_name = 'portal_standby'"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="envportal-lag-", dir="/tmp"))
    shutil.chown(root, "postgres")
    root.chmod(0o755)
    scratch = Scratch(root, *free_ports(3))
    samples: list[tuple[float, float, float]] = []  # (at, seconds, bytes)
    stop = threading.Event()
    try:
        scratch.pg_dr("primary")
        scratch.psql(scratch.primary_port, "CREATE DATABASE envportal", database="postgres")
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

        def sampler() -> None:
            while not stop.is_set():
                out = scratch.psql(scratch.primary_port, SAMPLE, database="postgres")
                if out:
                    seconds, lag_bytes = out.split("|")
                    samples.append((time.monotonic(), float(seconds), float(lag_bytes or 0)))
                stop.wait(0.5)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        log(f"bench/scale.py: {args.rows:,} rows, {args.clients} clients, {args.duration:.0f} s")
        bench_log = root / "scale.log"
        marks: list[tuple[float, str]] = []  # when each phase of the load began (and ended)
        with bench_log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "bench/scale.py"]
                + ["--database-url", scratch.url(scratch.primary_port)]
                + ["--rows", str(args.rows), "--duration", str(args.duration)]
                + ["--clients", str(args.clients), "--repeat", "1", "--warmups", "0"],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for line in process.stdout:
                out.write(line)
                for phase in PHASES:
                    if line.startswith(phase):
                        marks.append((time.monotonic(), PHASES[phase]))
            returncode = process.wait()
        stop.set()
        thread.join()
        print(bench_log.read_text()[-3000:])
        if returncode not in (0, 1):  # 1: a target missed or a check failed, reported above
            log(f"bench/scale.py exited {returncode}")
            return 1
        report("the whole run (build, page timings, load)", samples)
        for (began, name), (ended, _) in zip(marks, marks[1:], strict=False):
            report(name, [s for s in samples if began <= s[0] < ended])
        return 0
    finally:
        stop.set()
        scratch.stop_everything()
        shutil.rmtree(root, ignore_errors=True)


def report(what: str, samples: list[tuple[float, float, float]]) -> None:
    if not samples:
        print(f"{what}: no samples")
        return
    seconds = sorted(s[1] for s in samples)
    lag_bytes = sorted(s[2] for s in samples)
    p95 = seconds[int(0.95 * (len(seconds) - 1))]
    print(
        f"{what}: {len(samples)} samples; replay lag median {statistics.median(seconds):.3f} s, "
        f"p95 {p95:.3f} s, max {seconds[-1]:.3f} s; WAL not yet replayed median "
        f"{statistics.median(lag_bytes) / 1024:.0f} kB, max {lag_bytes[-1] / 1024:.0f} kB"
    )


if __name__ == "__main__":
    sys.exit(main())
