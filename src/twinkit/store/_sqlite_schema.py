"""The SQLite schema of :class:`~twinkit.store.SQLiteStore`, and its migrations.

The schema version is SQLite's ``PRAGMA user_version``. :data:`MIGRATIONS` is the ordered list
of steps; step *n* takes a database from version *n - 1* to *n* (version 0 is an empty file).
Opening a database applies the missing steps, each in its own transaction together with the new
version number, so a crash mid-migration leaves the database at the last completed version.
A database written by a newer twinkit (a version past the last step) is refused rather than
guessed at. Add a step to the end of the list; never edit a released one.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from twinkit.errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: the statements that take it from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


_V1 = Migration(
    version=1,
    description="initial schema: events, series, points, snapshots, dead letters",
    statements=(
        # The event log: one row per event, clustered by (twin, seq) so that a twin's log is a
        # contiguous range. `data` is the orjson encoding of the event's payload.
        """CREATE TABLE events (
            twin_id  TEXT    NOT NULL,
            seq      INTEGER NOT NULL,
            type     TEXT    NOT NULL,
            time     REAL    NOT NULL,
            recorded REAL    NOT NULL,
            cause    TEXT    NOT NULL,
            data     BLOB    NOT NULL,
            PRIMARY KEY (twin_id, seq)
        ) WITHOUT ROWID""",
        # One row per telemetry stream; points refer to it by a small integer.
        """CREATE TABLE series (
            id      INTEGER PRIMARY KEY,
            twin_id TEXT NOT NULL,
            name    TEXT NOT NULL,
            UNIQUE (twin_id, name)
        )""",
        # Clustered by (series, time): a range query is one b-tree range. A NULL value is a NaN
        # (SQLite stores a bound NaN as NULL).
        """CREATE TABLE points (
            series_id INTEGER NOT NULL REFERENCES series (id),
            time      REAL    NOT NULL,
            value     REAL,
            PRIMARY KEY (series_id, time)
        ) WITHOUT ROWID""",
        """CREATE TABLE snapshots (
            twin_id TEXT    PRIMARY KEY,
            version INTEGER NOT NULL,
            data    BLOB    NOT NULL
        )""",
        """CREATE TABLE dead_letters (
            id       INTEGER PRIMARY KEY,
            source   TEXT NOT NULL,
            payload  BLOB NOT NULL,
            reason   TEXT NOT NULL,
            received REAL NOT NULL,
            replayed REAL
        )""",
        # Pending dead letters are what an operator lists; keep that cheap as replayed ones pile up.
        "CREATE INDEX dead_letters_pending ON dead_letters (id) WHERE replayed IS NULL",
    ),
)

_V2 = Migration(
    version=2,
    description="the live runtime: non-numeric points, touches, models, tokens",
    statements=(
        # A point whose value is not a number keeps its JSON (orjson) here. `value` is then 1.0
        # or 0.0 for a boolean (aggregates average them) and NULL otherwise; with `data` NULL, a
        # NULL value is still a NaN. The newest point of a series needs no column of its own:
        # it is the last entry of the series' primary-key range, one b-tree probe away.
        "ALTER TABLE points ADD COLUMN data BLOB",
        # The newest report per property that repeated its current value (not an event).
        """CREATE TABLE touches (
            twin_id TEXT NOT NULL,
            name    TEXT NOT NULL,
            time    REAL NOT NULL,
            PRIMARY KEY (twin_id, name)
        ) WITHOUT ROWID""",
        # DTDL interface documents (orjson) by their @id; `seq` keeps the upload order.
        """CREATE TABLE models (
            seq      INTEGER PRIMARY KEY,
            id       TEXT NOT NULL UNIQUE,
            document BLOB NOT NULL,
            uploaded REAL NOT NULL
        )""",
        # API bearer tokens, by a hash the API computes; the token itself is never stored.
        """CREATE TABLE tokens (
            id      TEXT PRIMARY KEY,
            name    TEXT NOT NULL,
            role    TEXT NOT NULL,
            hash    BLOB NOT NULL UNIQUE,
            created REAL NOT NULL,
            revoked REAL
        )""",
    ),
)

_V3 = Migration(
    version=3,
    description="history and queries: query index of the graph, snapshot history, rollups, retention",
    statements=(
        # The query index of the live graph (see _sqlite_index.py). `doc` is the twin's query
        # document (orjson); a database migrated from version 2 gets it rebuilt on open.
        """CREATE TABLE twins (
            id      TEXT    PRIMARY KEY,
            model   TEXT    NOT NULL,
            version INTEGER NOT NULL,
            doc     BLOB    NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX twins_model ON twins (model)",
        # Every node of every reported value: a property filter is one range of the primary key.
        # `kind` is n(umber), s(tring), b(oolean, value 0/1), z (null), o(bject), a(rray, JSON).
        """CREATE TABLE twin_values (
            path    TEXT NOT NULL,
            kind    TEXT NOT NULL,
            value,
            twin_id TEXT NOT NULL,
            PRIMARY KEY (path, kind, value, twin_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX twin_values_twin ON twin_values (twin_id, path)",
        """CREATE TABLE edges (
            source     TEXT NOT NULL,
            id         TEXT NOT NULL,
            name       TEXT NOT NULL,
            target     TEXT NOT NULL,
            properties BLOB NOT NULL,
            PRIMARY KEY (source, id)
        ) WITHOUT ROWID""",
        "CREATE INDEX edges_name ON edges (name, source)",
        "CREATE INDEX edges_target ON edges (target, name)",
        # Every snapshot ever taken, for time travel; `time` is the latest event time folded
        # into it (event times need not grow with seq), so a snapshot with time <= T holds
        # only events at or before T.
        """CREATE TABLE snapshot_history (
            twin_id TEXT    NOT NULL,
            version INTEGER NOT NULL,
            time    REAL    NOT NULL,
            data    BLOB    NOT NULL,
            PRIMARY KEY (twin_id, version)
        ) WITHOUT ROWID""",
        # Aggregates of the numeric points of a series per bucket of `width` seconds (60 and
        # 3600), aligned to the epoch. `count` counts numeric values; first/last by time.
        """CREATE TABLE rollups (
            series_id  INTEGER NOT NULL,
            width      INTEGER NOT NULL,
            bucket     REAL    NOT NULL,
            count      INTEGER NOT NULL,
            sum        REAL,
            min        REAL,
            max        REAL,
            first_time REAL,
            first      REAL,
            last_time  REAL,
            last       REAL,
            PRIMARY KEY (series_id, width, bucket)
        ) WITHOUT ROWID""",
        # Minutes whose rollups are out of date and older than what a restart re-checks anyway.
        """CREATE TABLE rollup_dirty (
            series_id INTEGER NOT NULL,
            minute    REAL    NOT NULL,
            PRIMARY KEY (series_id, minute)
        ) WITHOUT ROWID""",
        # Per series, how far retention purged: raw points before `raw_before` and 1-minute
        # rows before `minute_before` are gone, so the rollups over them are final.
        """CREATE TABLE rollup_sealed (
            series_id     INTEGER PRIMARY KEY,
            raw_before    REAL NOT NULL,
            minute_before REAL NOT NULL
        )""",
        # Retention rules, in seconds (NULL keeps forever). `scope` is 'default',
        # 'model:<dtmi>' or 'series:<twin id>/<name>'; the most specific rule wins.
        """CREATE TABLE retention (
            scope     TEXT PRIMARY KEY,
            raw       REAL,
            rollup_1m REAL,
            rollup_1h REAL
        )""",
    ),
)

_V4 = Migration(
    version=4,
    description="what-if scenarios: their records and simulated series, apart from reality's",
    statements=(
        # One row per scenario; `spec` is the orjson of its spec, `cause` who ran it.
        """CREATE TABLE scenarios (
            name     TEXT PRIMARY KEY,
            spec     BLOB NOT NULL,
            status   TEXT NOT NULL,
            progress REAL NOT NULL,
            error    TEXT,
            created  REAL NOT NULL,
            started  REAL,
            finished REAL,
            cause    TEXT NOT NULL
        )""",
        # A scenario's series: `name` is the content (or simulator output) of the twin.
        """CREATE TABLE scenario_series (
            id       INTEGER PRIMARY KEY,
            scenario TEXT NOT NULL REFERENCES scenarios (name),
            twin_id  TEXT NOT NULL,
            name     TEXT NOT NULL,
            UNIQUE (scenario, twin_id, name)
        )""",
        # Clustered by (series, time) as reality's points are; NULL is a NaN.
        """CREATE TABLE scenario_points (
            series_id INTEGER NOT NULL REFERENCES scenario_series (id),
            time      REAL    NOT NULL,
            value     REAL,
            PRIMARY KEY (series_id, time)
        ) WITHOUT ROWID""",
    ),
)

_V5 = Migration(
    version=5,
    description="the registry of trained predictors and detectors, with their artifacts",
    statements=(
        # One row per version of a trained model. `info` is the orjson of what the predict
        # layer records (inputs, window, training range, metrics, environment...); `checksum`
        # (sha256, hex) and `size` describe the artifact, kept apart so listing never reads it.
        """CREATE TABLE predictors (
            name     TEXT    NOT NULL,
            version  INTEGER NOT NULL,
            model    TEXT    NOT NULL,
            kind     TEXT    NOT NULL,
            active   INTEGER NOT NULL DEFAULT 0,
            created  REAL    NOT NULL,
            cause    TEXT    NOT NULL,
            checksum TEXT    NOT NULL,
            size     INTEGER NOT NULL,
            info     BLOB    NOT NULL,
            PRIMARY KEY (name, version)
        ) WITHOUT ROWID""",
        # At most one active version per name, whatever writes the table.
        "CREATE UNIQUE INDEX predictors_active ON predictors (name) WHERE active = 1",
        # The last version number handed out per name: deleting the newest version never
        # makes its number come back for a different model.
        """CREATE TABLE predictor_names (
            name         TEXT    PRIMARY KEY,
            last_version INTEGER NOT NULL
        )""",
        # The serialized fitted objects (a rowid table: large blobs stay off the b-tree's
        # interior pages).
        """CREATE TABLE predictor_artifacts (
            name    TEXT    NOT NULL,
            version INTEGER NOT NULL,
            data    BLOB    NOT NULL,
            UNIQUE (name, version)
        )""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4, _V5)
"""Every schema step, in order; ``MIGRATIONS[i].version == i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code writes and reads."""


def migrate(conn: sqlite3.Connection, where: str) -> int:
    """Bring the database behind ``conn`` to :data:`SCHEMA_VERSION`; returns the old version.

    ``conn`` must be in autocommit mode (``isolation_level=None``). ``where`` names the database
    in errors and logs.
    """
    found = _user_version(conn)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"database {where} has schema version {found}, but this twinkit knows versions up to "
            f"{SCHEMA_VERSION}: it was written by a newer twinkit; upgrade twinkit to open it"
        )
    for step in MIGRATIONS[found:]:
        _apply(conn, step)
        logger.info("migrated %s to schema version %s: %s", where, step.version, step.description)
    return found


def _user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _apply(conn: sqlite3.Connection, step: Migration) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _user_version(conn) != step.version - 1:  # another process migrated meanwhile
            conn.execute("ROLLBACK")
            return
        for statement in step.statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {int(step.version)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
