"""The garbage collector's thresholds for a process that runs the engine.

CPython collects its youngest generation every 700 net allocations of container objects. The
engine allocates thousands of short-lived ones a second (a snapshot of every stream 4 times a
second, a candle per update); at that threshold many are still referenced when a collection runs,
get promoted, and soon trigger full collections that traverse every long-lived object (ccxt's
markets and clients, the cached views): a third of the CPU of ingest plus snapshots at 400
streams in a micro-benchmark (120 of 360 ms).
Collecting the young generation every 50,000 allocations lets them die by reference counting
first; cyclic garbage still goes, a little later (a few MB at most).
"""

from __future__ import annotations

import gc

ENGINE_GC_THRESHOLDS = (50_000, 20, 20)


def tune_gc() -> None:
    """Set the engine's collector thresholds (process-wide; idempotent, never lowers them)."""
    current = gc.get_threshold()
    gc.set_threshold(*(max(c, e) for c, e in zip(current, ENGINE_GC_THRESHOLDS, strict=True)))
