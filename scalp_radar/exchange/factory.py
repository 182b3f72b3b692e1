"""Build the ccxt.pro Bitget exchange: real Bitget, or a simulator at a given URL.

ccxt is imported inside the function (it costs ~0.7 s), so importing this module is cheap.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

# ccxt throttles websocket sends with its REST bucket: 1000 / rateLimit(50 ms) = 20 tokens/s.
_CCXT_TOKENS_PER_S = 20.0
_DEFAULT_SUBSCRIBE_RATE = 8.0  # frames/s; Bitget allows 10 messages/s including pings


def _deep_merge(base: dict, extra: dict) -> dict:
    """base updated recursively with extra (new dict; nested dicts merged, not replaced)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _exchange_section(config: Any) -> Any:
    """The ExchangeConfig of an AppConfig, or the object itself (duck-typed)."""
    return getattr(config, "exchange", config) if config is not None else None


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None


def check_sim_url(sim_url: str) -> str:
    """http://host:port of a simulator (trailing slash removed); ValueError otherwise."""
    parts = urlsplit(sim_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
        raise ValueError(f"sim_url: expected http://HOST:PORT, got {sim_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def point_at_simulator(exchange: Any, sim_url: str) -> None:
    """Rewrite a ccxt.pro bitget instance's URLs in place to a simulator (spec section 0)."""
    base = check_sim_url(sim_url)
    ws_base = "ws" + base[4:]  # http -> ws, https -> wss
    api = exchange.urls["api"]
    for key, value in list(api.items()):
        if isinstance(value, str):
            api[key] = base
    api["ws"] = {
        "public": f"{ws_base}/v2/ws/public",
        "private": f"{ws_base}/v2/ws/private",
        "utaPublic": f"{ws_base}/v3/ws/public",
        "utaPrivate": f"{ws_base}/v3/ws/private",
    }


def create_exchange(
    config: Any = None, sim_url: str | None = None, *, options: dict | None = None
) -> Any:
    """A ccxt.pro.bitget for USDT-M swaps; pointed at sim_url (or config.exchange.sim_url).

    `options` is merged into ccxt's `options` (e.g. {'ws': {'keepAlive': 500}} in tests).
    API keys are set only for the real Bitget and only when present; they are never logged.
    """
    import ccxt.pro as ccxtpro

    section = _exchange_section(config)
    sim_url = sim_url or getattr(section, "sim_url", None)
    api_cfg = getattr(section, "api", None)
    ws_cfg = getattr(section, "websocket", None)
    timeout_ms = int(getattr(api_cfg, "timeout_ms", 10_000) or 10_000)
    rate = float(getattr(ws_cfg, "subscribe_rate_per_s", _DEFAULT_SUBSCRIBE_RATE) or 8.0)
    default_type = getattr(api_cfg, "default_type", "swap") or "swap"

    base_options: dict = {
        "defaultType": default_type,
        "fetchMarkets": {"types": ["swap"]},
        # Each ws frame costs `cost` tokens of ccxt's 20/s bucket: pace subscribes to `rate`/s.
        "ws": {"cost": _CCXT_TOKENS_PER_S / rate},
    }
    params: dict = {
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "options": _deep_merge(base_options, options or {}),
    }
    secrets = getattr(config, "secrets", None)
    # Real API keys are for the real Bitget only: a simulator (possibly another host) never sees them.
    if secrets is not None and not sim_url:
        key = _secret(getattr(secrets, "bitget_api_key", None))
        secret = _secret(getattr(secrets, "bitget_secret", None))
        password = _secret(getattr(secrets, "bitget_passphrase", None))
        if key and secret:
            params["apiKey"] = key
            params["secret"] = secret
            if password:
                params["password"] = password
    exchange = ccxtpro.bitget(params)
    # Instance level only: skips the 333 ms /spot/public/coins call of load_markets.
    exchange.has["fetchCurrencies"] = False
    if sim_url:
        point_at_simulator(exchange, sim_url)
        # close() sleeps timeout_on_exit (250 ms) to let TLS transports shut down; plain
        # http/ws to a simulator has none, and the engine re-creates exchanges after errors.
        if sim_url.startswith("http://"):
            exchange.timeout_on_exit = 0
    return exchange
