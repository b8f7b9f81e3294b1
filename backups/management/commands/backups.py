"""manage.py backups: manual backups (list, create, edit, delete), exports (export, exports,
download, verify, schedule) and restore from a file (restore-file), as the acting user.

    manage.py backups export contoso-prod [--at 2026-11-20T09:30:00+01:00 | --backup ID] \
        [--wait] --as alex
    manage.py backups exports contoso-prod --as alex
    manage.py backups download 12 ./backups/ --as alex
    manage.py backups verify ./contoso-prod-20261120T083000Z-12.tar   (no --as: a local file)
    manage.py backups verify 12 --as alex                     (an export: the result is kept)
    manage.py backups verify exports/contoso-prod/x.tar --as alex   (a name in the storage)
    manage.py backups schedule contoso-prod --frequency weekly --weekday sunday --hour 2 \
        --time-zone Europe/Paris --keep 7 --as alex
    manage.py backups restore-file ./x.tar --name "Contoso Copy" --slug contoso-copy \
        [--region europe] [--security-group G] [--wait] --as alex
    manage.py backups restore-file --stored exports/contoso-prod/x.tar --name ... --slug ...

Exports and restores from a file run in the background worker (`manage.py worker`); with
--wait the command follows the row, printing progress, as `manage.py restore --wait` does.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backups import (
    archive_storage,
    archives,
    export_schedules,
    exports,
    imports,
    lookups,
    selectors,
    services,
)
from backups.models import ArchiveImport, Export, ExportSchedule
from environments import permissions
from environments.lookups import environment_for_admin, environment_for_backups
from portal import cli

NO_WORKER_HINT_AFTER = 10  # seconds queued before --wait says a worker may be missing
BACKUP_ACTIONS = ("list", "create", "edit", "delete")
WEEKDAYS = [day.lower() for day in export_schedules.WEEKDAYS]


class Command(BaseCommand):
    help = (
        "Manual backups of an environment (list, create, edit, delete), its exports (export, "
        "exports, download, verify, schedule) and restore from a file (restore-file) "
        "(exit 0 done, 1 refused or failed, 2 bad usage)."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{list,create,edit,delete,export,exports,download,verify,schedule,"
            "restore-file}",
        )
        listing = actions.add_parser("list", help="the restorable window and manual backups")
        listing.add_argument("environment", help="slug or id")
        create = actions.add_parser("create", help="make a manual backup of this moment")
        create.add_argument("environment", help="slug or id")
        create.add_argument("--label", required=True)
        create.add_argument("--notes", default="")
        edit = actions.add_parser("edit", help="change a backup's label or notes")
        edit.add_argument("environment", help="slug or id")
        edit.add_argument("backup", type=int, help="backup id")
        edit.add_argument("--label")
        edit.add_argument("--notes")
        delete = actions.add_parser("delete", help="delete a manual backup")
        delete.add_argument("environment", help="slug or id")
        delete.add_argument("backup", type=int, help="backup id")
        for sub in (listing, create, edit, delete):
            cli.add_actor_argument(sub)
        self._add_export_actions(actions)

    def _add_export_actions(self, actions) -> None:
        export = actions.add_parser(
            "export", help="export the environment at a moment as an archive (in the worker)"
        )
        export.add_argument("environment", help="slug or id")
        point = export.add_mutually_exclusive_group()
        point.add_argument(
            "--at", metavar="MOMENT", help="ISO 8601 with offset (default: as it is now)"
        )
        point.add_argument("--backup", type=int, metavar="ID", help="a manual backup's moment")
        export.add_argument(
            "--idempotency-key", default="", help="the same key again gives the same export"
        )
        listing = actions.add_parser("exports", help="the environment's exports, newest first")
        listing.add_argument("environment", help="slug or id")
        download = actions.add_parser("download", help="save an export's archive to a file")
        download.add_argument("export", type=int, help="export id")
        download.add_argument("path", help="a file, or a folder to save it in by its own name")
        verify = actions.add_parser(
            "verify",
            help="check an archive against its manifest: an export id, a name in the backups "
            "storage, or a local file (which needs no --as)",
        )
        verify.add_argument("archive")
        schedule = actions.add_parser("schedule", help="set the environment's export schedule")
        schedule.add_argument("environment", help="slug or id")
        schedule.add_argument("--frequency", required=True, choices=ExportSchedule.Frequency.values)
        schedule.add_argument("--hour", type=int, help="0-23, in --time-zone")
        schedule.add_argument(
            "--weekday", help="for weekly: monday ... sunday (or 0 for Monday ... 6)"
        )
        schedule.add_argument("--time-zone", help="an IANA time zone, e.g. Europe/Paris")
        schedule.add_argument("--keep", type=int, help="keep the last N scheduled exports")
        restore = actions.add_parser(
            "restore-file", help="restore an export archive into a new sandbox"
        )
        source = restore.add_mutually_exclusive_group(required=True)
        source.add_argument("path", nargs="?", help="a local archive (uploaded to the storage)")
        source.add_argument("--stored", metavar="NAME", help="an archive in the backups storage")
        restore.add_argument("--name", required=True, help="the new sandbox's name")
        restore.add_argument("--slug", required=True, help="the new sandbox's URL name")
        restore.add_argument("--region", default="", help="default: the archive's")
        restore.add_argument("--security-group", default="")
        restore.add_argument(
            "--idempotency-key", default="", help="the same key again gives the same restore"
        )
        for sub in (export, restore):
            sub.add_argument(
                "--wait", action="store_true", help="follow it until it ends, printing progress"
            )
            sub.add_argument("--poll-interval", type=float, default=1.0, help="seconds")
        for sub in (export, listing, download, verify, schedule, restore):
            cli.add_actor_argument(sub)

    def handle(self, *args, **options):
        action = options["action"]
        if action == "verify":
            return self._verify(options)
        # Bad usage is said before anything is looked up.
        if action == "export" and options["at"]:
            options["moment"] = cli.parse_moment(options["at"])
        if action == "schedule" and options["weekday"] is not None:
            options["weekday"] = _weekday(options["weekday"])
        if action == "restore-file" and options["path"] and not os.path.isfile(options["path"]):
            raise CommandError(f"There is no file {options['path']!r}.", returncode=cli.USAGE)
        user = cli.actor(options)
        try:
            if action in BACKUP_ACTIONS:
                env = environment_for_backups(user, options["environment"])
                getattr(self, f"_{action}")(user, env, options)
            else:
                getattr(self, f"_{action.replace('-', '_')}")(user, options)
        except CommandError:
            raise
        except Exception as exc:
            raise cli.refusal(exc) from None

    def _list(self, user, env, options):
        window = env.restorable_window()
        days = env.retention.days
        self.stdout.write(
            f"{env.name} ({env.slug}): any moment from {cli.when(window.start)} "
            f"to now can be restored ({days} days of system backups)."
        )
        backups = selectors.unexpired_backups(env).select_related("created_by")
        rows = [
            [
                str(b.pk),
                cli.when(b.backup_at),
                cli.when(b.expires_at),
                b.label,
                b.created_by.username if b.created_by else "-",
            ]
            for b in backups
        ]
        if rows:
            self.stdout.write(
                cli.table(rows, ["ID", "BACKUP TIME", "EXPIRES", "LABEL", "CREATED BY"])
            )
        else:
            self.stdout.write("No manual backups.")

    def _create(self, user, env, options):
        backup = services.backup_create(
            environment=env, label=options["label"], notes=options["notes"], actor=user
        )
        self.stdout.write(
            f"Created backup {backup.pk} of {env.name} at "
            f"{cli.when(backup.backup_at)}: {backup.label} "
            f"(expires {cli.when(backup.expires_at)})."
        )

    def _edit(self, user, env, options):
        if options["label"] is None and options["notes"] is None:
            raise CommandError("Give --label, --notes or both.", returncode=cli.USAGE)
        backup = lookups.backup_of(env, options["backup"])
        backup = services.backup_update(
            backup=backup,
            actor=user,
            label=backup.label if options["label"] is None else options["label"],
            notes=backup.notes if options["notes"] is None else options["notes"],
        )
        self.stdout.write(f"Updated backup {backup.pk}: {backup.label}.")

    def _delete(self, user, env, options):
        backup = lookups.backup_of(env, options["backup"])
        label = backup.label
        services.backup_delete(backup=backup, actor=user)
        self.stdout.write(f"Deleted backup {options['backup']} of {env.name}: {label}.")

    # -- exports ---------------------------------------------------------------------------

    def _export(self, user, options):
        env = environment_for_admin(user, options["environment"])
        backup = None
        if options["backup"] is not None:
            permissions.can_export(user, env).require()
            backup = lookups.backup_of(env, options["backup"])
        export = exports.export_start(
            environment=env,
            requested_by=user,
            moment=options.get("moment"),
            backup=backup,
            idempotency_key=options["idempotency_key"],
        )
        export.refresh_from_db()
        self.stdout.write(
            f"Export {export.pk}: {export.environment_name} as at {cli.when(export.moment)}."
        )
        if options["wait"]:
            self._follow(export, options["poll_interval"], _export_progress)
        elif export.is_active:
            self.stdout.write(
                "Queued. A worker (manage.py worker) writes it; follow it with "
                f"`manage.py backups exports {env.slug}`, or run this command with --wait."
            )
        if export.status == Export.Status.SUCCEEDED:
            self.stdout.write(
                f"Done: {export.rows:,} rows in {export.tables_done} tables, "
                f"{export.size:,} bytes, SHA-256 {export.sha256}. Save it with "
                f"`manage.py backups download {export.pk} PATH`."
            )
        elif export.status == Export.Status.FAILED:
            raise CommandError(export.error, returncode=cli.REFUSED)

    def _exports(self, user, options):
        env = environment_for_admin(user, options["environment"])
        found = exports.visible_exports(user, env).order_by("-created_at", "-id")
        rows = [
            [
                str(e.pk),
                e.get_status_display(),
                cli.when(e.moment),
                f"{e.size:,}" if e.is_done else "-",
                _verified(e),
                e.file_name or e.error[:60] or "-",
            ]
            for e in found
        ]
        if rows:
            self.stdout.write(
                cli.table(rows, ["ID", "STATUS", "BACKUP TIME", "BYTES", "VERIFIED", "FILE"])
            )
        else:
            self.stdout.write(f"No exports of {env.name}.")

    def _download(self, user, options):
        export = lookups.export_for_user(user, options["export"])
        if not export.is_done:
            raise CommandError(
                f"{export.label} has no archive to download ({export.get_status_display()}).",
                returncode=cli.REFUSED,
            )
        path = Path(options["path"])
        if path.is_dir():
            path = path / export.download_name
        partial = path.with_name(path.name + ".part")
        sha, size = hashlib.sha256(), 0
        try:
            with open(partial, "wb") as out:
                for chunk in archive_storage.read_chunks(export.file_name):
                    out.write(chunk)
                    sha.update(chunk)
                    size += len(chunk)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(f"Could not save {path}: {exc}", returncode=cli.REFUSED) from None
        if size != export.size or sha.hexdigest() != export.sha256:
            partial.unlink(missing_ok=True)
            raise CommandError(
                f"The stored archive of {export.label} is not the one the export wrote (its "
                "size or SHA-256 differs): nothing was saved.",
                returncode=cli.REFUSED,
            )
        partial.replace(path)
        self.stdout.write(
            f"Saved {export.label} to {path}: {size:,} bytes, SHA-256 {export.sha256}."
        )

    def _verify(self, options):
        archive = options["archive"]
        if os.path.isfile(archive):
            with open(archive, "rb") as stream:
                return self._check(stream, archive)
        user = cli.actor(options)
        try:
            if archive.isascii() and archive.isdigit():
                export = lookups.export_for_user(user, int(archive))
                export = exports.export_verify(export, actor=user)
                if not export.verified_ok:
                    raise CommandError(
                        f"{export.label} is damaged: {export.verify_error}", returncode=cli.REFUSED
                    )
                self.stdout.write(
                    f"{export.label} ({export.file_name}): every part matches its checksum; "
                    f"{export.size:,} bytes, SHA-256 {export.sha256}, as stored. Verified at "
                    f"{cli.when(export.verified_at)}."
                )
                return
            permissions.can_restore_from_file(user).require()
            imports.manifest_of(archive)  # refuses a name outside the storage, or none
            with archive_storage.open_stream(archive) as stream:
                self._check(stream, archive)
        except CommandError:
            raise
        except Exception as exc:
            raise cli.refusal(exc) from None

    def _check(self, stream, name: str) -> None:
        """Read the archive once, printing each check as it passes."""
        write = self.stdout.write
        try:
            reader = archives.Reader(stream)
            manifest = reader.manifest
            env = manifest.environment
            write(
                f"{name}: {archives.FORMAT} version {manifest.format_version}, written "
                f"{archives.utc(manifest.written_at)} by {manifest.portal or '-'}."
            )
            write(
                f"  {env.get('name', '-')} ({env.get('slug', '-')}, {env.get('type', '-')}, "
                f"{env.get('region', '-')}) as at {archives.utc(manifest.moment)}: "
                f"{len(manifest.tables)} tables, {manifest.rows:,} rows."
            )
            for part, rows in reader.tables():
                for _ in rows:
                    pass
                write(
                    f"  ok  {part.part}: {part.rows:,} row{'s' * (part.rows != 1)}, "
                    f"{part.size:,} bytes, SHA-256"
                )
            checked = reader.checked()
        except archives.ArchiveRefused as refusal:
            write(f"  FAILED  {refusal.message}")
            raise CommandError(f"{name}: {refusal.message}", returncode=cli.REFUSED) from None
        write("  ok  SHA256SUMS: the manifest and every part")
        write(f"The archive is whole: {checked.size:,} bytes, SHA-256 {checked.sha256}.")

    def _schedule(self, user, options):
        env = environment_for_admin(user, options["environment"])
        current = export_schedules.schedule_of(env) or ExportSchedule(environment=env)
        schedule = export_schedules.schedule_set(
            environment=env,
            actor=user,
            frequency=options["frequency"],
            hour=current.hour if options["hour"] is None else options["hour"],
            weekday=current.weekday if options["weekday"] is None else options["weekday"],
            time_zone=current.time_zone if options["time_zone"] is None else options["time_zone"],
            keep=current.keep if options["keep"] is None else options["keep"],
        )
        line = f"Exports of {env.name}: {export_schedules.describe(schedule)}."
        upcoming = export_schedules.next_slot(schedule, timezone.now())
        if upcoming is not None:
            line += f" Next: {cli.when(upcoming)}."
        self.stdout.write(line)

    # -- restore from a file ---------------------------------------------------------------

    def _restore_file(self, user, options):
        permissions.can_restore_from_file(user).require()
        uploaded = None
        if options["path"]:
            with open(options["path"], "rb") as f:
                uploaded = imports.upload(f, os.path.basename(options["path"]))
        file_name = uploaded or options["stored"]
        try:
            op = imports.import_start(
                requested_by=user,
                file_name=file_name,
                name=options["name"],
                slug=options["slug"],
                region=options["region"],
                security_group=options["security_group"],
                idempotency_key=options["idempotency_key"],
            )
        except Exception:
            if uploaded:  # nothing is kept of a refused file
                archive_storage.delete(uploaded)
            raise
        if uploaded and op.file_name != uploaded:  # the same key again: the first one's file
            archive_storage.delete(uploaded)
        op.refresh_from_db()
        self.stdout.write(
            f"{op.label}: {op.source_name} as at {cli.when(op.moment)} from {op.file_name} "
            f"into the new sandbox {op.target_name} ({op.target.slug})."
        )
        if options["wait"]:
            self._follow(op, options["poll_interval"], _import_progress)
        elif op.is_active:
            self.stdout.write(
                "Queued. A worker (manage.py worker) checks the file, then loads it; follow it "
                f"with GET /api/v1/imports/{op.pk}, or run this command with --wait."
            )
        if op.status == ArchiveImport.Status.SUCCEEDED:
            self.stdout.write(
                f"Done: {op.rows_done:,} rows in {op.tables_total} tables. {op.target_name} is "
                "in administration mode."
            )
        elif op.status == ArchiveImport.Status.FAILED:
            raise CommandError(op.error, returncode=cli.REFUSED)

    def _follow(self, row, interval: float, progress) -> None:
        """Print the row's progress until it ends (as manage.py restore --wait does)."""
        last = None
        queued_since = time.monotonic()
        hinted = False
        while True:
            row.refresh_from_db()
            line = progress(row)
            if line != last:
                self.stdout.write(line)
                last = line
            if not row.is_active:
                return
            if (
                row.status == "queued"
                and not hinted
                and time.monotonic() - queued_since > NO_WORKER_HINT_AFTER
            ):
                self.stdout.write("Still queued: is a worker running (manage.py worker)?")
                hinted = True
            time.sleep(interval)


def _export_progress(export: Export) -> str:
    text = f"[{export.percent:3d}%] {export.get_status_display()}"
    if export.status == Export.Status.RUNNING:
        text += (
            f": {export.tables_done} of {export.tables_total} tables, {export.rows_done:,} of "
            f"{export.rows_total:,} rows"
        )
    return text


def _import_progress(op: ArchiveImport) -> str:
    text = f"[{op.percent:3d}%] {op.get_phase_display()}"
    if op.phase == ArchiveImport.Phase.LOADING:
        text += f": {op.rows_done:,} of {op.rows_total:,} rows"
    return text


def _verified(export: Export) -> str:
    if export.verified_ok is None:
        return "-"
    return f"{'ok' if export.verified_ok else 'DAMAGED'} {cli.when(export.verified_at)}"


def _weekday(text: str) -> int:
    value = text.strip().lower()
    if value.isascii() and value.isdigit() and int(value) <= 6:
        return int(value)
    for number, name in enumerate(WEEKDAYS):
        if len(value) >= 3 and name.startswith(value):
            return number
    raise CommandError(
        f"--weekday: {text!r} is not a day of the week (monday ... sunday, or 0 ... 6).",
        returncode=cli.USAGE,
    )
