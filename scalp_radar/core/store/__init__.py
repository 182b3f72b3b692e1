"""The SQLite store, one job per module:

- `schema`: migrations, version, application id, the expected tables
- `ownership`: is a file ours and sound? (read-only, before anything writes)
- `connection`: open, WAL, migrate, one-transaction writes
- `codec`: candle rows <-> Candle models
- `candles`, `records`: the queries; `database`: `Database`, which has them all
"""

from scalp_radar.core.store.candles import CandleWrites, CoverageRow
from scalp_radar.core.store.database import Database
from scalp_radar.core.store.errors import DatabaseError
from scalp_radar.core.store.ownership import check_database_file
from scalp_radar.core.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CandleWrites",
    "CoverageRow",
    "Database",
    "DatabaseError",
    "check_database_file",
]
