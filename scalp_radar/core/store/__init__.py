"""The SQLite store, one job per module:

- `schema`: migrations, version, application id, the expected tables
- `ownership`: is a file ours and sound? (read-only, before anything writes)
- `connection`: open, WAL, migrate, one-transaction writes
- `codec`: candle rows <-> Candle models
- `candles`, `records`: the queries; `database`: `Database`, which has them all
"""

from typing import TYPE_CHECKING

from scalp_radar.core.store.errors import DatabaseError
from scalp_radar.core.store.ownership import check_database_file
from scalp_radar.core.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

if TYPE_CHECKING:
    from scalp_radar.core.store.candles import CandleWrites, CoverageRow
    from scalp_radar.core.store.database import Database

# The queries need the pydantic models (~0.1 s to import): loaded on first use, so a command
# that only checks a file's ownership (`status`, `--help`) does not pay for them.
_LAZY = {
    "CandleWrites": "scalp_radar.core.store.candles",
    "CoverageRow": "scalp_radar.core.store.candles",
    "Database": "scalp_radar.core.store.database",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


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
