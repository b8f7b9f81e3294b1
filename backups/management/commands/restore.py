"""manage.py restore: restore a source environment, as it was at a moment, over a sandbox
or into a new one.

    manage.py restore --as alex --source contoso-prod --target contoso-test \\
        (--at 2026-11-20T09:30:00+01:00 | --backup ID | --latest) [--name NEW] [--wait]
    manage.py restore --as alex --source contoso-prod --new contoso-copy --name "Contoso Copy" \\
        --latest [--security-group GROUP] [--wait]

With --new, a sandbox of that URL name is made in the source's region (Global and Power
Platform admins only), with the acting user as its admin, and the restore runs into it.

The restore runs in the background worker (`manage.py worker`). With --wait the command
follows it, printing progress, and exits 0 when it succeeded, 1 when it failed.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from backups import copies, lookups, restores
from backups.models import RestoreOperation
from environments.lookups import environment_for_admin, visible_environment
from portal import cli

NO_WORKER_HINT_AFTER = 10  # seconds queued before the command says a worker may be missing


class Command(BaseCommand):
    help = (
        "Restore a source environment's backup over a sandbox "
        "(exit 0 done, 1 refused or failed, 2 bad usage)."
    )

    noun = "restore"

    def add_arguments(self, parser):
        self.add_source_and_target(parser)
        point = parser.add_mutually_exclusive_group(required=True)
        point.add_argument(
            "--at", metavar="ISO", help="a moment, ISO 8601 with offset: 2026-11-20T09:30:00+01:00"
        )
        point.add_argument("--backup", type=int, metavar="ID", help="a manual backup's id")
        point.add_argument("--latest", action="store_true", help="the source as it is now")
        parser.add_argument("--name", help="rename the target; with --new, the new one's name")
        parser.add_argument(
            "--security-group", help="set the target's security group (empty: none)"
        )
        self.add_following(parser)

    def add_source_and_target(self, parser) -> None:
        parser.add_argument("--source", required=True, help="source environment: slug or id")
        into = parser.add_mutually_exclusive_group(required=True)
        into.add_argument("--target", help="the sandbox to overwrite: slug or id")
        into.add_argument(
            "--new", metavar="URL_NAME", help="make a new sandbox of this URL name (needs --name)"
        )

    def add_following(self, parser) -> None:
        """--idempotency-key, --wait and --poll-interval, and who acts."""
        parser.add_argument(
            "--idempotency-key",
            help=f"run again with the same key to get the same operation, not a second {self.noun}",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help=f"follow the {self.noun} until it finishes, printing progress",
        )
        parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds")
        cli.add_actor_argument(parser)

    def handle(self, *args, **options):
        if options["new"] and not options["name"]:
            raise CommandError("--new needs --name: the new environment's name.", returncode=2)
        # Bad usage is said before anything is looked up.
        options["moment"] = cli.parse_moment(options["at"]) if options.get("at") else None
        user = cli.actor(options)
        try:
            op = self.start(user, options)
        except CommandError:
            raise
        except Exception as exc:
            raise cli.refusal(exc) from None
        op.refresh_from_db()
        where = "into the new sandbox" if options["new"] else "over"
        self.stdout.write(
            f"{'Copy' if op.is_copy else 'Restore'} {op.pk}: {op.source.name} as of "
            f"{cli.when(op.moment)} {where} {op.target.name}."
        )
        if not options["wait"]:
            if op.is_active:
                self.stdout.write(
                    f"Queued. A worker (manage.py worker) runs it; follow it with "
                    f"GET /api/v1/operations/{op.pk}, or run this command with --wait."
                )
            return self._finish(op)
        self._follow(op, options["poll_interval"])
        return self._finish(op)

    def start(self, user, options: dict) -> RestoreOperation:
        moment = options["moment"]
        # The target first: one who cannot see it learns nothing about the source.
        target = None if options["new"] else environment_for_admin(user, options["target"])
        source = visible_environment(user, options["source"])
        backup = lookups.backup_to_restore(user, options["backup"]) if options["backup"] else None
        if options["latest"]:
            moment = restores.LATEST
        point = {"requested_by": user, "moment": moment, "backup": backup}
        key = options["idempotency_key"]
        if options["new"]:
            return copies.restore_to_new(
                restores.RestoreRequest(source=source, idempotency_key=key, **point),
                name=options["name"],
                slug=options["new"],
                security_group=options["security_group"] or "",
            )
        return restores.restore_start(
            restores.RestoreRequest(
                source=source,
                target=target,
                new_name=options["name"],
                security_group=options["security_group"],
                idempotency_key=key,
                **point,
            )
        )

    def _follow(self, op: RestoreOperation, interval: float) -> None:
        last = None
        queued_since = time.monotonic()
        hinted = False
        while True:
            op.refresh_from_db()
            line = self._progress(op)
            if line != last:
                self.stdout.write(line)
                last = line
            if not op.is_active:
                return
            if (
                op.status == RestoreOperation.Status.QUEUED
                and not hinted
                and time.monotonic() - queued_since > NO_WORKER_HINT_AFTER
            ):
                self.stdout.write("Still queued: is a worker running (manage.py worker)?")
                hinted = True
            time.sleep(interval)

    def _progress(self, op: RestoreOperation) -> str:
        text = f"[{op.percent:3d}%] {op.get_phase_display()}"
        if op.phase == RestoreOperation.Phase.COPYING:
            text += (
                f": {op.tables_done} of {op.tables_total} tables, {op.rows_copied:,} of "
                f"{op.rows_total:,} rows"
            )
        return text

    def _finish(self, op: RestoreOperation) -> None:
        if op.status == RestoreOperation.Status.SUCCEEDED:
            seconds = op.elapsed.total_seconds()
            op.target.refresh_from_db()
            self.stdout.write(
                f"Done: {'copied' if op.is_copy else 'restored'} {op.rows_copied:,} rows in "
                f"{op.tables_total} tables in "
                f"{seconds:.1f} s. {op.target.name} is in administration mode."
            )
        elif op.status == RestoreOperation.Status.FAILED:
            raise CommandError(f"{op.label} failed: {op.error}", returncode=cli.REFUSED)
