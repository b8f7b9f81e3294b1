"""schemathesis's positive_data_acceptance, for this API: a request the schema calls valid must
not be refused as bad input. 400 always counts as such a refusal. 422 ("refused by a rule")
counts too, except for the rules that depend on what the portal holds rather than on the
request's shape (a URL name already taken, a moment outside the window, a restore that did not
succeed): no schema can state those, so a schema-valid request may meet them.

Any other 422 to a schema-valid request means the schema is looser than the server: state the
rule in the schema (portal.api.schemas), or, if it is about the portal's state, add it below.

For a deeper run of the CLI against a served portal, tests.api.schemathesis_hooks registers it
(see that module).
"""

from __future__ import annotations

import re

from schemathesis.specs.openapi.checks import positive_data_acceptance

# The refusals that depend on the portal's state, as their messages say it (services, the
# restore rules, environments.permissions): one line each, so that a new one is a reviewed choice.
STATE_REFUSALS = re.compile(
    "|".join(
        [
            r"The URL name '.*' is taken",  # another environment has it
            r"The URL name '.*' belongs to a deleted environment",
            r"There is already a Default environment",  # a tenant has one
            r"is already a \w+ environment",  # change-type to the type it has
            r"The Default environment cannot be deleted",
            r"is a production environment: confirm",  # delete: depends on its type
            r"can no longer be recovered",
            r"environments are not backed up",  # a trial source
            r"environments have no manual backups",  # trial, developer, default
            r"Only sandbox environments can be restored to",  # the target's type
            r"must share a region",
            r"is outside that window",  # the window moves with the clock
            r"A backup can only mark a moment inside the restorable window",
            r"There is no backup \d+ that you can restore",  # a backup id that names none
            r"That backup belongs to another environment",
            r"has expired",
            r"is deleted; recover it first",
            r"Copy .* to another environment",  # a copy onto its own source
            r"idempotency key was already used",
            r"must remain free",  # the tenant's storage capacity
            r"Only a (restore|copy) that succeeded can be undone",
            r"The moment before this (restore|copy) is no longer kept",
            r"A later restore or copy replaced this one.s data",
            r"only sandbox environments can be restored to: convert it",
            # Putting rows back: the tables an environment has now and had then.
            r"has no table '.*' now",
            r"had no table '.*' at that moment",
            r"has other columns now than at that moment",
            r"can be put back as it was at any moment from",  # the window moves with the clock
            r"is restoring; you cannot put rows back",
            # Not expressible in a JSON schema: two moments in order.
            r"The start of the range must be before its end",
            # Reading the data at a moment, and the changes between two (environments.data_reads,
            # environments.changelog): the window moves with the clock, tables come and go, and a
            # page link is an opaque token the server hands out.
            r"is in the future; .* can be read as it was up to now",
            r"History before .* is no longer kept",
            r"was created at .*; choose a moment at or after it",
            r"which is not backed up: ",  # a trial: its data only as it is now
            r"The end of the range cannot be in the future",
            r"had no table '.*' in that range",
            r"That page link is not valid",
            # Exports and restore from a file (backups.exports, backups.imports): what a file
            # holds and what the backups storage holds are not the request's shape.
            r"This file is not an environment export archive",
            r"There is no archive '.*' in the backups storage",
            r"Scheduled exports are for production and sandbox environments",
        ]
    )
)


def _message(response) -> str:
    try:
        return str(response.json().get("message", ""))
    except (ValueError, AttributeError):
        return ""


def schema_valid_requests_are_accepted(ctx, response, case) -> bool | None:
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:  # schemathesis's failures are AssertionErrors
        if response.status_code == 422 and STATE_REFUSALS.search(_message(response)):
            return None
        raise
