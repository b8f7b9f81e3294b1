"""manage.py restore_rows: put chosen rows, the rows matching a filter, or a whole table back in
place, as they were at a moment; or undo such a put-back.

    manage.py restore_rows --as alex contoso-sales --table accounts --keys 000012,000013 \\
        --at 2026-11-20T14:00:00+01:00 [--preview] [--wait]
    manage.py restore_rows --as alex contoso-sales --table accounts --matching \\
        --from 2026-11-20T14:00:00+01:00 --to 2026-11-20T14:10:00+01:00 \\
        [--who bob] [--kind changed] [--search Contoso] [--put-back-anyway] [--preview] [--wait]
    manage.py restore_rows --as alex contoso-sales --table accounts --whole-table --at ISO
    manage.py restore_rows --as alex --undo OPERATION_ID [--put-back-anyway] [--wait]

Rows go back as they were at --at (or at --from); rows changed again after --to keep their
newer value unless --put-back-anyway. --preview says what it would do and changes nothing.
The write runs in the background worker (`manage.py worker`); with --wait the command follows
it and exits 0 when it succeeded, 1 when it was refused or failed, 2 on bad usage.
"""

from __future__ import annotations

from django.core.management.base import CommandError

from backups import lookups, put_backs
from backups.management.commands import restore
from backups.models import RestoreOperation
from backups.put_back_engine import PutBackRequest, Selection
from environments.changelog import KINDS, Filters, Span
from environments.lookups import environment_for_admin
from portal import cli


class Command(restore.Command):
    help = (
        "Put chosen rows, the rows matching a filter, or a whole table back as they were at a "
        "moment, or undo that (exit 0 done, 1 refused or failed, 2 bad usage)."
    )

    noun = "restore of rows"

    def add_arguments(self, parser):
        parser.add_argument("environment", nargs="?", help="slug or id")
        parser.add_argument("--table", help="the table's name")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--keys", help="chosen rows: keys separated by commas")
        which.add_argument(
            "--matching", action="store_true", help="every row the changes in --from..--to touched"
        )
        which.add_argument("--whole-table", action="store_true", help="the whole table")
        which.add_argument("--undo", type=int, metavar="OPERATION_ID", help="undo a put-back")
        parser.add_argument("--at", metavar="ISO", help="as the rows were at this moment")
        parser.add_argument("--from", dest="start", metavar="ISO", help="start of the range")
        parser.add_argument("--to", dest="end", metavar="ISO", help="end of the range")
        parser.add_argument("--who", default="", help="with --matching: changes by this user")
        parser.add_argument("--kind", default="", choices=["", *KINDS])
        parser.add_argument("--search", default="", help="with --matching: a key or a title")
        parser.add_argument(
            "--put-back-anyway",
            action="store_true",
            help="also rows changed again after --to (else they keep their newer value)",
        )
        parser.add_argument(
            "--preview", action="store_true", help="say what it would do; change nothing"
        )
        self.add_following(parser)

    def handle(self, *args, **options):
        if options["undo"] is None and not (options["environment"] and options["table"]):
            raise CommandError("Name the environment and --table (or give --undo).", returncode=2)
        if options["undo"] is None and not (
            options["keys"] or options["matching"] or options["whole_table"]
        ):
            raise CommandError("Give --keys, --matching or --whole-table.", returncode=2)
        for name in ("at", "start", "end"):
            if options[name]:
                options[name] = cli.parse_moment(options[name], f"--{name}")
        user = cli.actor(options)
        try:
            if options["preview"]:
                return self._preview(user, options)
            op = self.start(user, options)
        except CommandError:
            raise
        except Exception as exc:
            raise cli.refusal(exc) from None
        op.refresh_from_db()
        self.stdout.write(
            f"{op.label}: {op.selection_summary} in {op.target.name}, as at {cli.when(op.moment)}."
        )
        if options["wait"]:
            self._follow(op, options["poll_interval"])
        elif op.is_active:
            self.stdout.write(
                "Queued. A worker (manage.py worker) runs it; follow it with "
                f"GET /api/v1/operations/{op.pk}, or run this command with --wait."
            )
        return self._finish(op)

    def _preview(self, user, options: dict) -> None:
        if options["undo"] is not None:
            raise CommandError("--preview does not go with --undo.", returncode=2)
        preview = put_backs.put_back_preview(self.request(user, options))
        self.stdout.write(
            f"{preview.rows:,} rows of {preview.table.display_name} as they were at "
            f"{cli.when(preview.moment)}: {preview.restore:,} come back, {preview.change:,} "
            f"get their old values, {preview.delete:,} go; {preview.changed_again_count:,} "
            f"changed again since ({preview.kept:,} kept). Nothing was changed."
        )

    def request(self, user, options: dict) -> PutBackRequest:
        env = environment_for_admin(user, options["environment"])
        span = None
        if options["start"] and options["end"]:
            span = Span(options["start"], options["end"])
        table = options["table"]
        if options["whole_table"]:
            selection = Selection(table=table, whole=True, span=span)
        elif options["matching"]:
            if span is None:
                raise CommandError("--matching needs --from and --to.", returncode=2)
            filters = Filters(
                table=table, kind=options["kind"], who=options["who"], q=options["search"]
            )
            selection = Selection(table=table, span=span, filters=filters)
        else:
            keys = tuple(k.strip() for k in options["keys"].split(",") if k.strip())
            selection = Selection(table=table, keys=keys, span=span)
        return PutBackRequest(
            environment=env,
            requested_by=user,
            selection=selection,
            moment=options["at"],
            keep_newer=not options["put_back_anyway"],
            idempotency_key=options["idempotency_key"],
        )

    def start(self, user, options: dict) -> RestoreOperation:
        if options["undo"] is not None:
            operation = lookups.operation_for_user(user, options["undo"])
            if not operation.is_put_back:
                raise CommandError(
                    f"Operation {operation.pk} is not a restore of rows; undo it from its page "
                    "or the API.",
                    returncode=cli.REFUSED,
                )
            return put_backs.put_back_undo(
                operation=operation,
                actor=user,
                keep_newer=not options["put_back_anyway"],
                idempotency_key=options["idempotency_key"],
            )
        return put_backs.put_back_start(self.request(user, options))

    def _finish(self, op: RestoreOperation) -> None:
        if op.status == RestoreOperation.Status.SUCCEEDED:
            op.refresh_from_db()
            self.stdout.write(
                f"Done: {op.rows_copied:,} rows of {op.selection.get('table')} in "
                f"{op.target.name} as they were at {cli.when(op.moment)} "
                f"({op.elapsed.total_seconds():.1f} s). Undo it with --undo {op.pk}."
            )
        elif op.status == RestoreOperation.Status.FAILED:
            raise CommandError(f"{op.label} failed: {op.error}", returncode=cli.REFUSED)
