"""The deterministic candle truth of the simulated market.

The 1m candle for (seed, symbol, ts) is a pure function. Minutes are generated one UTC day at a
time: a day is a volatility-clustered Brownian bridge between two daily anchors, and the anchors
are a mean-reverting random walk chained from the listing day. So the first open of a day equals
the previous day's last close, and a block needs nothing but its two anchors. Every other
timeframe is an exact aggregate of the 1m truth (open of first, max high, min low, close of last,
volume summed in time order). The forming (unclosed) candle follows a per-minute path of 1 s ticks
that ends exactly on the truth's close and touches its high and low.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable
from itertools import accumulate

from scalp_radar.sim.events import EventPlan
from scalp_radar.sim.symbols import LISTING_MS, SymbolSpec, make_spec, stable_int
from scalp_radar.sim.timeframes import DAY_MS, MINUTE_MS, TF_MS, align, next_start

__all__ = ["LISTING_MS", "Market", "Row"]
_MINUTES_PER_DAY = 1440
_TICKS = 60  # forming-candle sub-steps: one per simulated second

Row = tuple[int, float, float, float, float, float]  # ts, open, high, low, close, volume


_NORMALS: list[float] | None = None


def _normals() -> list[float]:
    """65536 standard normal deviates from a fixed seed (built once per process)."""
    global _NORMALS
    if _NORMALS is None:
        # Build the whole table first and publish it in one assignment: REST handlers run in
        # worker threads, and a half-filled shared list gave concurrent readers an IndexError.
        rng = random.Random(20240917)
        _NORMALS = [rng.gauss(0.0, 1.0) for _ in range(1 << 16)]
    return _NORMALS


class _Lru(OrderedDict):
    """A tiny LRU map."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def get_or(self, key, make):
        """The cached value for key, else make() stored (evicting the least recent).

        Tolerates concurrent use from two threads (the values are deterministic, so a race
        at worst computes one twice).
        """
        try:
            value = self[key]
        except KeyError:
            value = make()
            self[key] = value
            while len(self) > self.maxsize:
                try:
                    self.popitem(last=False)
                except KeyError:
                    break
            return value
        with contextlib.suppress(KeyError):
            self.move_to_end(key)
        return value


class _Anchors:
    """The daily anchor walk of one (seed, spec): shared by every Market of the process."""

    def __init__(self, spec: SymbolSpec, seed: int) -> None:
        self.spec = spec
        # Arrays, not lists: a contract listed years ago has thousands of days.
        self.values = array("d")
        self.day_mult = array("d")
        self._rng = random.Random(stable_int(seed, spec.inst_id, "anchors"))
        self._state = (math.log(spec.level), 0.0)
        self._lock = threading.Lock()

    def get(self, k: int) -> float:
        """Open price of day index k (days since listing), chaining the walk as needed."""
        values = self.values
        if k < len(values):
            return values[k]
        with self._lock:
            return self._extend(k)

    def _extend(self, k: int) -> float:
        anchors = self.values
        rng = self._rng
        x, dv = self._state
        spec = self.spec
        log_level = math.log(spec.level)
        places = spec.price_places
        while len(anchors) <= k:
            anchors.append(max(round(math.exp(x), places), spec.tick))
            dv = 0.85 * dv + 0.15 * rng.gauss(0.0, 1.0)
            mult = math.exp(dv - 0.04)
            self.day_mult.append(mult)
            x += spec.daily_vol * mult * rng.gauss(0.0, 1.0) - 0.12 * (x - log_level)
        self._state = (x, dv)
        return anchors[k]


# Anchor walks and 1m day blocks are pure functions of (seed, spec, day, events): shared by every
# Market of the process, so many simulators (tests) or a 500-contract universe build each once.
_ANCHORS: dict[tuple[int, SymbolSpec], _Anchors] = {}
_ANCHORS_LOCK = threading.Lock()
# ~57 kB each: today's blocks of a 500-contract universe stay, older ones are rebuilt on demand.
BLOCK_CACHE_SIZE = 800
_BLOCKS: _Lru = _Lru(BLOCK_CACHE_SIZE)
_BLOCK_LOCK = threading.Lock()
# Aggregates of a day block (5m, 15m, ... 1d) as five arrays: ~4 kB for 15m, kept far longer.
_AGGS: _Lru = _Lru(6000)


def _anchors_of(spec: SymbolSpec, seed: int) -> _Anchors:
    key = (seed, spec)
    found = _ANCHORS.get(key)
    if found is None:
        with _ANCHORS_LOCK:
            found = _ANCHORS.setdefault(key, _Anchors(spec, seed))
    return found


def _aggregate(rows: Iterable[Row], ts: int) -> Row | None:
    """One candle at ts from consecutive rows (None when there are none)."""
    it = iter(rows)
    first = next(it, None)
    if first is None:
        return None
    _, o, h, lo, c, v = first
    for r in it:
        if r[2] > h:
            h = r[2]
        if r[3] < lo:
            lo = r[3]
        c = r[4]
        v += r[5]
    return (ts, o, h, lo, c, v)


class _SymbolMarket:
    """The truth for one symbol."""

    def __init__(self, spec: SymbolSpec, seed: int, events: EventPlan | None = None) -> None:
        self.spec = spec
        self.seed = seed
        self.listing_ms = spec.listing_ms
        self._listing_day = spec.listing_ms // DAY_MS
        self._walk = _anchors_of(spec, seed)
        self.events = events
        self._days: dict[int, Row] = {}
        # Only the current minute matters here: with 500 contracts larger caches grow by
        # hundreds of MB over a long run.
        self._ticks = _Lru(8)
        self._closed_part = _Lru(32)

    # -- anchors ---------------------------------------------------------------------------
    def _anchor(self, k: int) -> float:
        """Open price of day index k (days since listing)."""
        return self._walk.get(k)

    # -- 1m blocks -------------------------------------------------------------------------
    def _block_key(self, k: int) -> tuple:
        day0 = (self._listing_day + k) * DAY_MS
        shape = self.events.shape_key(self.spec.inst_id, day0) if self.events else ()
        return (self.seed, self.spec, k, shape)

    def block(self, k: int) -> tuple[array, array, array, array, array]:
        """The 1440 one-minute candles of day index k as (open, high, low, close, volume)."""
        day0 = (self._listing_day + k) * DAY_MS
        key = self._block_key(k)
        found = _BLOCKS.get(key)
        if found is not None:
            return found
        with _BLOCK_LOCK:  # one builder at a time: a warm-up thread and a request share the work
            return _BLOCKS.get_or(key, lambda: self._make_block(k, day0))

    def _make_block(self, k: int, day0: int) -> tuple[array, array, array, array, array]:
        spec = self.spec
        p1 = self._anchor(k + 1)
        p0 = self._walk.values[k]
        dm = self._walk.day_mult[k]
        rng = random.Random(stable_int(self.seed, spec.inst_id, "day", k))
        n = _MINUTES_PER_DAY
        # Normal deviates from a fixed table indexed by random 16-bit words: drawn in bulk,
        # this is ~10x cheaper than calling gauss() per value (the market must be fast).
        table = _normals()
        words = array("H", rng.getrandbits(16 * 4 * n).to_bytes(8 * n, "little"))
        z_vol = [table[i] for i in words[0:n]]
        z_move = [table[i] for i in words[n : 2 * n]]
        z_hi = [abs(table[i]) for i in words[2 * n : 3 * n]]
        z_lo = [abs(table[i]) for i in words[3 * n : 4 * n]]
        r = rng.random
        exp = math.exp
        sig = spec.daily_vol / math.sqrt(n) * dm
        # Bursts: a few stretches of a day where volatility and volume jump, then decay.
        mult = [sig] * n
        for _ in range(int(r() * 4)):
            start = int(r() * n)
            length = 5 + int(r() * 40)
            amp = 2.0 + 3.0 * r()
            for i in range(start, min(n, start + length)):
                mult[i] = sig * (1.0 + (amp - 1.0) * exp(-(i - start) / (length / 2)))
        # Volatility clustering: AR(1) log-volatility.
        lvs = [0.0] * n
        lv = 0.0
        for i, z in enumerate(z_vol):
            lv = 0.96 * lv + 0.12 * z
            lvs[i] = lv
        sd = [m * exp(x) for m, x in zip(mult, lvs, strict=True)]
        cw = list(accumulate(s * z for s, z in zip(sd, z_move, strict=True)))
        cv = list(accumulate(s * s for s in sd))
        # Bridge: pull the walk so that the day ends exactly on the next anchor.
        corr = (cw[-1] - math.log(p1 / p0)) / cv[-1]
        places = spec.price_places
        tick = spec.tick
        # int(x * scale + 0.5) / scale is the decimal round(x, places) gives, 8x cheaper.
        scale = 10.0**places
        shift = self.events.price_shift(spec.inst_id, day0) if self.events else None
        if shift is not None:
            # Planted trends bend the path (an offset in log price at each minute's end); the day
            # still starts and ends on its anchors times the offset there, so days chain exactly.
            f0 = shift[0]
            cw = [w + f - f0 for w, f in zip(cw, shift[1:], strict=True)]
            p0 = max(tick, int(p0 * exp(f0) * scale + 0.5) / scale)
            p1 = max(tick, int(p1 * exp(shift[-1]) * scale + 0.5) / scale)
        close = [
            int(p0 * exp(w - v * corr) * scale + 0.5) / scale for w, v in zip(cw, cv, strict=True)
        ]
        close[-1] = p1
        close = [x if x >= tick else tick for x in close]
        opens = [p0, *close[:-1]]
        # Wicks beyond the body scale with the minute's volatility.
        high = [
            int((c if c > o else o) * (1.0 + 0.6 * s * z) * scale + 0.5) / scale
            for o, c, s, z in zip(opens, close, sd, z_hi, strict=True)
        ]
        low = [
            int((o if c > o else c) * (1.0 - 0.6 * s * z) * scale + 0.5) / scale
            for o, c, s, z in zip(opens, close, sd, z_lo, strict=True)
        ]
        low = [
            x if x >= tick else min(tick, o, c) for x, o, c in zip(low, opens, close, strict=True)
        ]
        # Volume follows volatility, with rare spikes.
        vscale = 10.0**spec.volume_places
        base = spec.minute_volume / sig
        vstep = spec.volume_step
        vol = []
        vmult = self.events.volume_mult(spec.inst_id, day0) if self.events else None
        for i, s in enumerate(sd):
            x = base * s * (0.4 + 1.2 * r())
            if r() < 0.01:
                x *= 3.0 + 7.0 * r()
            if vmult is not None:
                x *= vmult[i]
            x = int(x * vscale + 0.5) / vscale
            vol.append(x if x >= vstep else vstep)
        return (
            array("d", opens),
            array("d", high),
            array("d", low),
            array("d", close),
            array("d", vol),
        )

    def _agg_block(self, k: int, step: int) -> tuple[array, array, array, array, array]:
        """Day k aggregated into candles of `step` minutes (step divides 1440), as five arrays."""

        def make() -> tuple[array, array, array, array, array]:
            o, h, lo, c, v = self.block(k)
            starts = range(0, _MINUTES_PER_DAY, step)
            vols = array("d")
            for j in starts:
                vol = 0.0
                for x in v[j : j + step]:
                    vol += x
                vols.append(vol)
            return (
                array("d", (o[j] for j in starts)),
                array("d", (max(h[j : j + step]) for j in starts)),
                array("d", (min(lo[j : j + step]) for j in starts)),
                array("d", (c[j + step - 1] for j in starts)),
                vols,
            )

        return _AGGS.get_or((self._block_key(k), step), make)

    def _agg_rows(self, k: int, step: int, j0: int, j1: int) -> list[Row]:
        """Rows j0..j1-1 of day k aggregated into `step` minutes."""
        o, h, lo, c, v = self._agg_block(k, step)
        day0 = (self._listing_day + k) * DAY_MS
        span = step * MINUTE_MS
        return [(day0 + j * span, o[j], h[j], lo[j], c[j], v[j]) for j in range(j0, j1)]

    def day(self, k: int) -> Row:
        """The 1d candle of day index k (kept forever: five floats per day)."""
        row = self._days.get(k)
        if row is None:
            row = self._agg_rows(k, _MINUTES_PER_DAY, 0, 1)[0]
            self._days[k] = row
        return row

    # -- closed candles ----------------------------------------------------------------------
    def candles(self, tf: str, start_ms: int, end_ms: int) -> list[Row]:
        """Closed-or-not candles of tf with start_ms <= ts < end_ms (the caller clips to now)."""
        start_ms = max(start_ms, self.listing_ms)
        if end_ms <= start_ms:
            return []
        if tf == "1m" or TF_MS[tf] < DAY_MS:
            return self._intraday(tf, start_ms, end_ms)
        if tf == "1d":
            first = (align("1d", start_ms + DAY_MS - 1) - self.listing_ms) // DAY_MS
            last = (end_ms - 1 - self.listing_ms) // DAY_MS
            return [self.day(k) for k in range(first, last + 1)]
        rows: list[Row] = []
        ts = align(tf, start_ms)
        if ts < start_ms:
            ts = next_start(tf, ts)
        while ts < end_ms:
            nxt = next_start(tf, ts)
            k0 = max(0, (ts - self.listing_ms) // DAY_MS)
            k1 = (nxt - self.listing_ms) // DAY_MS
            agg = _aggregate((self.day(k) for k in range(k0, k1)), ts)
            if agg is not None:
                rows.append(agg)
            ts = nxt
        return rows

    def _intraday(self, tf: str, start_ms: int, end_ms: int) -> list[Row]:
        tf_ms = TF_MS[tf]
        step = tf_ms // MINUTE_MS
        first_ts = align(tf, start_ms + tf_ms - 1)
        rows: list[Row] = []
        k = (first_ts - self.listing_ms) // DAY_MS
        while True:
            day0 = self.listing_ms + k * DAY_MS
            if day0 >= end_ms:
                break
            j0 = max(0, (first_ts - day0) // tf_ms)
            j1 = min(_MINUTES_PER_DAY // step, -(-(end_ms - day0) // tf_ms))
            if j0 < j1:
                if step == 1:
                    o, h, lo, c, v = self.block(k)
                    for j in range(j0, j1):
                        rows.append((day0 + j * MINUTE_MS, o[j], h[j], lo[j], c[j], v[j]))
                else:
                    rows.extend(self._agg_rows(k, step, j0, j1))
            k += 1
        return rows

    # -- the forming candle ------------------------------------------------------------------
    def _tick_path(self, minute_ts: int) -> tuple[list[float], list[float]]:
        """Prices at each second 0..60 of a minute and cumulative volume fractions."""

        def make() -> tuple[list[float], list[float]]:
            _, o, h, lo, c, _v = self.candles("1m", minute_ts, minute_ts + MINUTE_MS)[0]
            rng = random.Random(stable_int(self.seed, self.spec.inst_id, "ticks", minute_ts))
            t1, t2 = sorted(rng.sample(range(1, _TICKS - 1), 2))
            e1, e2 = (h, lo) if rng.random() < 0.5 else (lo, h)
            knots = [(0, o), (t1, e1), (t2, e2), (_TICKS, c)]
            places = self.spec.price_places
            path = [o] * (_TICKS + 1)
            for (ta, pa), (tb, pb) in zip(knots, knots[1:], strict=False):
                span = tb - ta
                noise = 0.0
                noises = []
                for _ in range(span):
                    noise += rng.gauss(0.0, 1.0)
                    noises.append(noise)
                scale = (h - lo) * 0.15 / math.sqrt(span)
                for i in range(1, span):
                    frac = i / span
                    bridge = noises[i - 1] - frac * noises[-1]
                    p = pa + (pb - pa) * frac + scale * bridge
                    path[ta + i] = min(h, max(lo, round(p, places)))
                path[tb] = pb
            weights = [rng.random() + 0.2 for _ in range(_TICKS)]
            total = sum(weights)
            cum = [0.0]
            acc = 0.0
            for wgt in weights:
                acc += wgt
                cum.append(acc / total)
            cum[-1] = 1.0
            return path, cum

        return self._ticks.get_or(minute_ts, make)

    def forming_1m(self, now_ms: int) -> Row:
        """The 1m candle containing now_ms as it looks at now_ms (1 s resolution)."""
        m = now_ms - now_ms % MINUTE_MS
        s = (now_ms - m) // 1000
        path, cum = self._tick_path(m)
        seen = path[: s + 1]
        vol_total = self.candles("1m", m, m + MINUTE_MS)[0][5]
        vol = round(vol_total * cum[s] if s else vol_total * cum[1] * 0.5, self.spec.volume_places)
        return (m, path[0], max(seen), min(seen), path[s], vol)

    def forming(self, tf: str, now_ms: int) -> Row:
        """The candle of tf containing now_ms, built from closed 1m truth plus the forming minute."""
        partial = self.forming_1m(now_ms)
        if tf == "1m":
            return partial
        ts = align(tf, now_ms)
        m = partial[0]
        closed = self._closed_part.get_or((tf, m), lambda: self._closed_between(ts, m))
        if closed is None:
            return (ts, *partial[1:])
        return _aggregate([closed, partial], ts)  # type: ignore[return-value]

    def _closed_between(self, ts: int, end: int) -> Row | None:
        """Aggregate of the closed truth from ts to end: whole days, then 1m of the last day."""
        day_start = align("1d", end)
        parts: list[Row] = []
        if day_start > ts:
            parts.extend(self.candles("1d", ts, day_start))
        parts.extend(self.candles("1m", max(ts, day_start), end))
        return _aggregate(parts, ts)


class Market:
    """The simulated market of a seed: closed candles, forming candles and ticker figures."""

    def __init__(
        self,
        symbols: Iterable[str] = (),
        seed: int = 42,
        *,
        specs: Iterable[SymbolSpec] = (),
        events: EventPlan | None = None,
    ) -> None:
        self.seed = seed
        self.events = events
        self.specs: dict[str, SymbolSpec] = {}
        self._by_id: dict[str, _SymbolMarket] = {}
        for spec in [*(make_spec(text) for text in symbols), *specs]:
            self.specs[spec.inst_id] = spec
            self._by_id[spec.inst_id] = _SymbolMarket(spec, seed, events)

    def resolve(self, symbol: str) -> str | None:
        """Bitget id of a unified symbol or id, if simulated."""
        text = symbol.strip().upper()
        if text in self._by_id:
            return text
        try:
            inst = make_spec(text).inst_id
        except ValueError:
            return None
        return inst if inst in self._by_id else None

    def _sym(self, symbol: str) -> _SymbolMarket:
        inst = self.resolve(symbol)
        if inst is None:
            raise KeyError(f"symbol {symbol!r} is not simulated (have {', '.join(self._by_id)})")
        return self._by_id[inst]

    def candles(self, symbol: str, tf: str, start_ms: int, end_ms: int, now_ms: int) -> list[Row]:
        """Closed candles with start_ms <= ts < end_ms and ts + tf <= now_ms."""
        sm = self._sym(symbol)
        limit_end = align(tf, now_ms)  # first candle not yet closed
        return sm.candles(tf, start_ms, min(end_ms, limit_end))

    def forming(self, symbol: str, tf: str, now_ms: int) -> Row:
        """The candle of tf containing now_ms, as it looks at now_ms."""
        return self._sym(symbol).forming(tf, now_ms)

    def day_stats(self, symbol: str, now_ms: int) -> tuple[float, float, float, float]:
        """(open, high, low, base volume) over the 24 h before now_ms, from 15m truth + forming."""
        sm = self._sym(symbol)
        start = align("15m", now_ms - DAY_MS)
        rows = sm.candles("15m", start, align("15m", now_ms))
        rows.append(sm.forming("15m", now_ms))
        agg = _aggregate(rows, start)
        assert agg is not None
        return agg[1], agg[2], agg[3], agg[5]

    def day_open(self, symbol: str, now_ms: int) -> float:
        """Open of the current UTC day."""
        sm = self._sym(symbol)
        k = (now_ms - sm.listing_ms) // DAY_MS
        return sm.candles("1m", sm.listing_ms + k * DAY_MS, sm.listing_ms + k * DAY_MS + 1)[0][1]

    def spec(self, symbol: str) -> SymbolSpec:
        """The SymbolSpec of a simulated symbol (KeyError if not simulated)."""
        return self._sym(symbol).spec
