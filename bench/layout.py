"""Why the versions table is partitioned by table, and why search is a B-tree prefix lookup
(not a benchmark of the portal: plain SQL on a scratch PostgreSQL database).

    .venv/bin/python bench/layout.py --rows 1000000

1. Copy: a store of `--tables` tables of `--rows` / 10 rows each (four versions per row, the
   versions of all tables interleaved on disk as weeks of writes leave them). Copying one
   environment's (ten tables') rows live at a moment, three ways: into one unpartitioned table
   with its primary key, as the planner chooses; the same with sequential scans disabled (the
   primary key forced); and the partitioned layout, where the source is read from its own
   partitions and loaded into a bare table whose primary key is built afterwards.
2. Search index: what a restore's load of `--rows` rows costs (read from the partitions, into a
   bare table, then its primary key and the search index built) with no search index, a
   B-tree on the title, a full-text GIN over the values, or a trigram GIN over the values'
   text.

Prints Markdown tables (median of `--runs`, interleaved). The scratch database (default
envportal_layout) is dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg

SOURCE = """
    SELECT table_id + 1000, key, %(ts)s::timestamptz, NULL::timestamptz, "values", size, title
    FROM {versions} WHERE table_id BETWEEN 1 AND 10 AND valid_from <= %(moment)s
      AND (valid_to IS NULL OR valid_to > %(moment)s)
"""
COLUMNS = (
    "table_id bigint NOT NULL, key varchar(64) NOT NULL, valid_from timestamptz NOT NULL, "
    'valid_to timestamptz, "values" jsonb NOT NULL, size integer NOT NULL, '
    "title varchar(100) NOT NULL"
)
PK = "PRIMARY KEY (table_id, key, valid_from)"
INDEXES = {
    "primary key only": [],
    "+ B-tree on the title (what the portal uses)": [
        'CREATE INDEX ON {t} (table_id, (upper(title) COLLATE "C"), key) WHERE valid_to IS NULL'
    ],
    "+ full-text GIN over the values": [
        "CREATE INDEX ON {t} USING gin "
        '(jsonb_to_tsvector(\'simple\', "values", \'["string", "numeric"]\')) '
        "WHERE valid_to IS NULL"
    ],
    "+ trigram GIN over the values' text": [
        "CREATE INDEX ON {t} USING gin ((key || ' ' || \"values\"::text) gin_trgm_ops) "
        "WHERE valid_to IS NULL"
    ],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of one environment")
    parser.add_argument("--tables", type=int, default=25, help="tables in the store (10 a env)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="envportal_layout")
    return parser.parse_args()


def timed(conn: psycopg.Connection, statements: list[tuple[str, dict | None]]) -> float:
    """Seconds to run the statements in one transaction, rolled back afterwards."""
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL jit = off")
        started = time.perf_counter()
        for sql, params in statements:
            conn.execute(sql, params)
        return time.perf_counter() - started


def build(conn: psycopg.Connection, rows_per_table: int, tables: int) -> None:
    """The same versions twice: one plain table, and one partitioned by table."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    conn.execute(f"CREATE TABLE made ({COLUMNS})")
    # Version v of every row is written in the v-th week; the rows of all tables interleave.
    conn.execute(
        """
        INSERT INTO made
        SELECT t, lpad(g::text, 8, '0'),
          '2026-10-01'::timestamptz + (v * 7 + g %% 7) * interval '1 day' + g * interval '1 ms',
          CASE WHEN v < 3 THEN '2026-10-01'::timestamptz
            + ((v + 1) * 7 + g %% 7) * interval '1 day' + g * interval '1 ms' END,
          jsonb_build_object('name', 'Company ' || md5(g::text), 'email',
            'user' || g || '@example.com', 'employees', g %% 5000, 'tier', 'gold'),
          120, 'Company ' || md5(g::text)
        FROM generate_series(0, 3) v, generate_series(1, %(tables)s) t,
          generate_series(1, %(rows)s) g
        ORDER BY v, md5(t::text || g::text)
        """,
        {"tables": tables, "rows": rows_per_table},
    )
    conn.execute(f"CREATE TABLE plain ({COLUMNS}, {PK})")
    conn.execute("INSERT INTO plain SELECT * FROM made")
    conn.execute(f"CREATE TABLE parted ({COLUMNS}, {PK}) PARTITION BY LIST (table_id)")
    for t in range(1, tables + 1):
        conn.execute(f"CREATE TABLE parted_t{t} PARTITION OF parted FOR VALUES IN ({t})")
    conn.execute("INSERT INTO parted SELECT * FROM made ORDER BY table_id, key, valid_from")
    conn.execute("DROP TABLE made")
    conn.execute("ANALYZE plain")
    conn.execute("ANALYZE parted")


def main() -> None:
    args = parse_args()
    rows_per_table = args.rows // 10
    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    try:
        with psycopg.connect(f"{args.server}/{args.database}", autocommit=True) as conn:
            started = time.perf_counter()
            build(conn, rows_per_table, args.tables)
            versions = conn.execute("SELECT count(*) FROM plain").fetchone()[0]
            print(f"<!-- built {versions:,} versions in {time.perf_counter() - started:.0f} s -->")
            params = {"ts": "2026-12-01", "moment": "2026-11-30"}
            ways = {
                "one table, the planner's choice": [
                    (f"INSERT INTO plain {SOURCE.format(versions='plain')} ORDER BY 1, 2", params)
                ],
                "one table, primary key forced": [
                    ("SET LOCAL enable_seqscan = off", None),
                    (f"INSERT INTO plain {SOURCE.format(versions='plain')} ORDER BY 1, 2", params),
                ],
                "partitioned: load a bare table, then its key": [
                    (f"CREATE TABLE loaded ({COLUMNS})", None),
                    (
                        f"INSERT INTO loaded {SOURCE.format(versions='parted')} ORDER BY 1, 2",
                        params,
                    ),
                    (f"ALTER TABLE loaded ADD {PK}", None),
                ],
            }
            copy = {name: [] for name in ways}
            loads = {name: [] for name in INDEXES}
            for _ in range(args.runs):
                for name, statements in ways.items():
                    copy[name].append(timed(conn, statements))
                for name, indexes in INDEXES.items():
                    statements = [
                        (f"CREATE TABLE fresh ({COLUMNS})", None),
                        (
                            f"INSERT INTO fresh {SOURCE.format(versions='parted')} ORDER BY 1, 2",
                            params,
                        ),
                        (f"ALTER TABLE fresh ADD {PK}", None),
                        *[(sql.format(t="fresh"), None) for sql in indexes],
                    ]
                    loads[name].append(timed(conn, statements))
            print(f"\nCopying one environment's {args.rows:,} rows out of {versions:,} versions")
            print(f"(median of {args.runs}, interleaved)\n")
            print("| layout | seconds |\n|---|---:|")
            for name, times in copy.items():
                print(f"| {name} | {statistics.median(times):.2f} |")
            print(f"\nLoading {args.rows:,} rows, then its indexes (median of {args.runs})\n")
            print("| indexes | seconds |\n|---|---:|")
            for name, times in loads.items():
                print(f"| {name} | {statistics.median(times):.2f} |")
    finally:
        with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
