"""Demo data: realistic tables and rows (factory-boy + Faker) with a back-dated history.

Used by `manage.py seed_demo`. The made-up past is loaded in bulk through environments.loading;
it keeps the store's rules (closed intervals, one version live per key, ordered times).
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import factory
import factory.random
from django.db import transaction

from environments import columns as cols
from environments import loading
from environments.models import DataTable, Environment, Generation, RowVersion
from environments.store import Author, version_size

INDUSTRIES = ["Manufacturing", "Retail", "Healthcare", "Finance", "Education", "Energy", "Media"]
STAGES = ["Qualify", "Develop", "Propose", "Close won", "Close lost"]
PRIORITIES = ["Low", "Normal", "High", "Critical"]
CASE_STATUS = ["Active", "On hold", "Waiting on customer", "Resolved", "Cancelled"]
ACTIVITY_KINDS = ["Call", "Email", "Meeting", "Task"]


class AccountFactory(factory.DictFactory):
    name = factory.Faker("company")
    industry = factory.Faker("random_element", elements=INDUSTRIES)
    city = factory.Faker("city")
    phone = factory.Faker("numerify", text="+1 ###-###-####")
    annual_revenue = factory.Faker("pyint", min_value=50_000, max_value=90_000_000, step=1000)
    active = factory.Faker("pybool", truth_probability=85)


class ContactFactory(factory.DictFactory):
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(
        lambda o: f"{o.first_name}.{o.last_name}@example.com".lower().replace("'", "")
    )
    job_title = factory.Faker("job")
    company = factory.Faker("company")


class OpportunityFactory(factory.DictFactory):
    topic = factory.Faker("catch_phrase")
    account = factory.Faker("company")
    stage = factory.Faker("random_element", elements=STAGES)
    estimated_value = factory.Faker(
        "pydecimal", left_digits=6, right_digits=2, positive=True, min_value=1000
    )
    close_date = factory.Faker("date_between", start_date="-30d", end_date="+120d")


class CaseFactory(factory.DictFactory):
    title = factory.Faker("sentence", nb_words=6)
    customer = factory.Faker("company")
    priority = factory.Faker("random_element", elements=PRIORITIES)
    status = factory.Faker("random_element", elements=CASE_STATUS)
    description = factory.Faker("paragraph", nb_sentences=2)


class ProductFactory(factory.DictFactory):
    name = factory.Faker("bs")
    sku = factory.Faker("bothify", text="SKU-####-??")
    unit_price = factory.Faker("pydecimal", left_digits=4, right_digits=2, positive=True)
    in_stock = factory.Faker("pybool", truth_probability=70)


class ActivityFactory(factory.DictFactory):
    subject = factory.Faker("sentence", nb_words=5)
    kind = factory.Faker("random_element", elements=ACTIVITY_KINDS)
    regarding = factory.Faker("company")
    due_date = factory.Faker("date_between", start_date="-30d", end_date="+30d")
    done = factory.Faker("pybool", truth_probability=40)


@dataclass(frozen=True)
class TableSpec:
    name: str
    display_name: str
    columns: list[dict]
    factory: type[factory.DictFactory]
    # Which fields an update touches, to make history look like real edits.
    mutable: tuple[str, ...]


def _col(name, label, kind, required=False, **extra) -> dict:
    return {"name": name, "label": label, "type": kind, "required": required, **extra}


TABLES: dict[str, TableSpec] = {
    "accounts": TableSpec(
        "accounts",
        "Accounts",
        [
            _col("name", "Account name", "text", True, max_length=160),
            _col("industry", "Industry", "choice", choices=INDUSTRIES),
            _col("city", "City", "text"),
            _col("phone", "Main phone", "text", max_length=40),
            _col("annual_revenue", "Annual revenue", "integer"),
            _col("active", "Active", "boolean"),
        ],
        AccountFactory,
        ("city", "phone", "annual_revenue", "active", "industry"),
    ),
    "contacts": TableSpec(
        "contacts",
        "Contacts",
        [
            _col("first_name", "First name", "text", True, max_length=80),
            _col("last_name", "Last name", "text", True, max_length=80),
            _col("email", "Email", "email"),
            _col("job_title", "Job title", "text"),
            _col("company", "Company", "text"),
        ],
        ContactFactory,
        ("email", "job_title", "company"),
    ),
    "opportunities": TableSpec(
        "opportunities",
        "Opportunities",
        [
            _col("topic", "Topic", "text", True),
            _col("account", "Account", "text"),
            _col("stage", "Sales stage", "choice", True, choices=STAGES),
            _col("estimated_value", "Estimated value", "decimal"),
            _col("close_date", "Estimated close date", "date"),
        ],
        OpportunityFactory,
        ("stage", "estimated_value", "close_date"),
    ),
    "cases": TableSpec(
        "cases",
        "Cases",
        [
            _col("title", "Case title", "text", True),
            _col("customer", "Customer", "text", True),
            _col("priority", "Priority", "choice", True, choices=PRIORITIES),
            _col("status", "Status", "choice", True, choices=CASE_STATUS),
            _col("description", "Description", "long_text"),
        ],
        CaseFactory,
        ("priority", "status", "description"),
    ),
    "products": TableSpec(
        "products",
        "Products",
        [
            _col("name", "Product name", "text", True),
            _col("sku", "SKU", "text", True, max_length=20),
            _col("unit_price", "Unit price", "decimal"),
            _col("in_stock", "In stock", "boolean"),
        ],
        ProductFactory,
        ("unit_price", "in_stock"),
    ),
    "activities": TableSpec(
        "activities",
        "Activities",
        [
            _col("subject", "Subject", "text", True),
            _col("kind", "Activity type", "choice", True, choices=ACTIVITY_KINDS),
            _col("regarding", "Regarding", "text"),
            _col("due_date", "Due date", "date"),
            _col("done", "Completed", "boolean"),
        ],
        ActivityFactory,
        ("due_date", "done", "subject"),
    ),
}


def _stored(spec: TableSpec, raw: dict) -> dict:
    columns = cols.validate_columns(spec.columns)
    return {c["name"]: cols.to_json(c, raw.get(c["name"])) for c in columns}


def _random_moment(
    rng: random.Random, start: datetime.datetime, end: datetime.datetime
) -> datetime.datetime:
    span = (end - start).total_seconds()
    return start + datetime.timedelta(seconds=rng.uniform(0, span))


def _row_versions(
    *,
    table: DataTable,
    spec: TableSpec,
    key: str,
    values: dict,
    born: datetime.datetime,
    now: datetime.datetime,
    rng: random.Random,
    pool: list[dict],
    churn: bool,
) -> Iterator[RowVersion]:
    """A row's versions from its creation to now: some edits, sometimes a delete."""
    moments = sorted(
        _random_moment(rng, born, now)
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3]) if churn else 0)
    )
    deleted_at = _random_moment(rng, born, now) if churn and rng.random() < 0.06 else None
    if deleted_at is not None:
        moments = [m for m in moments if m < deleted_at]
    start = born
    current = values
    for moment in moments:
        if moment <= start:
            continue
        yield _version(table, key, start, moment, current)
        fresh = rng.choice(pool)
        field = rng.choice(spec.mutable)
        current = {**current, field: fresh[field]}
        start = moment
    end = deleted_at if deleted_at is not None and deleted_at > start else None
    yield _version(table, key, start, end, current)
    if end is not None:  # the deletion's tombstone, as the store writes one (store.delete_row)
        tombstone = _version(table, key, end, end, {})
        tombstone.size, tombstone.title = 0, cols.title(table.columns, current)
        yield tombstone


def _version(table, key, valid_from, valid_to, values) -> RowVersion:
    return RowVersion(
        table=table,
        key=key,
        valid_from=valid_from,
        valid_to=valid_to,
        values=values,
        size=version_size(key, values),
        title=cols.title(table.columns, values),
    )


def load_table(
    *,
    environment: Environment,
    generation: Generation,
    spec: TableSpec,
    rows: int,
    since: datetime.datetime,
    now: datetime.datetime,
    seed: int,
    history: bool = True,
    activity: Counter | None = None,
) -> DataTable:
    """Create one table with `rows` rows made over [since, now] and write them in batches."""
    rng = random.Random(seed)
    factory.random.reseed_random(seed)
    table = loading.new_table(
        generation=generation,
        name=spec.name,
        display_name=spec.display_name,
        columns=spec.columns,
        valid_from=since,
    )
    # Faker is slow (~0.3 ms a row); past 300 rows recycle a pool of made values.
    pool = [_stored(spec, spec.factory()) for _ in range(min(rows, 300))]
    first_hour = since + datetime.timedelta(hours=1)

    def versions() -> Iterator[RowVersion]:
        for n in range(1, rows + 1):
            if history and rng.random() > 0.7:
                born = _random_moment(rng, first_hour, now)
            else:
                born = _random_moment(rng, since, first_hour)
            made = list(
                _row_versions(
                    table=table,
                    spec=spec,
                    key=f"{n:06d}",
                    values=pool[(n - 1) % len(pool)],
                    born=born,
                    now=now,
                    rng=rng,
                    pool=pool,
                    churn=history,
                )
            )
            if activity is not None:
                # A create or an update opens each version; a delete leaves a tombstone.
                activity.update(v.valid_from for v in made)
            yield from made

    loading.load_versions(table, versions())
    return table


def load_environment(
    *,
    environment: Environment,
    tables: dict[str, int],
    now: datetime.datetime,
    history_days: int = 30,
    seed: int = 0,
    authors: list | None = None,
) -> None:
    """Load the tables with a made-up month of history; each made-up write transaction is
    put down to one of `authors` (users), chosen by the seed."""
    since = max(environment.created_at, now - datetime.timedelta(days=history_days))
    activity: Counter = Counter()
    with transaction.atomic():
        generation = Generation.objects.get(environment=environment, valid_to__isnull=True)
        for i, (name, count) in enumerate(tables.items()):
            load_table(
                environment=environment,
                generation=generation,
                spec=TABLES[name],
                rows=count,
                since=since,
                now=now,
                seed=seed * 100 + i,
                activity=activity,
            )
        # Each made-up change is its own transaction: a batch at its moment, by someone.
        pick = random.Random(seed)
        people = [Author.person(user) for user in authors or []]
        loading.finish(
            environment,
            activity,
            now=now,
            author_of=(lambda _at: pick.choice(people)) if people else None,
        )
