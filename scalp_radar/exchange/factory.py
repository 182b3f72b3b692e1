"""Build the ccxt.pro Bitget exchange: real Bitget, or a simulator at a given URL.

ccxt and the config models are imported inside the function (ccxt costs ~0.7 s), so importing
this module (the CLI checks `--sim-url` with it) is cheap.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

    from pydantic import SecretStr

    from scalp_radar.core.config_models import AppConfig

# ccxt throttles websocket sends with its REST bucket: 1000 / rateLimit(50 ms) = 20 tokens/s.
_CCXT_TOKENS_PER_S = 20.0


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """base updated recursively with extra (new dict; nested dicts merged, not replaced)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@functools.cache
def shared_ssl_context(cafile: str) -> ssl.SSLContext:
    """The TLS context ccxt would build for each instance (its CA bundle), built once.

    Every shard's instance (and every re-creation) otherwise loads the bundle again: ~0.9 MB
    and ~40 ms each. An `SSLContext` is made to be shared between connections.
    """
    import ssl

    return ssl.create_default_context(cafile=cafile)


def _secret(value: SecretStr | None) -> str | None:
    return (value.get_secret_value() or None) if value is not None else None


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
    config: AppConfig | None = None,
    sim_url: str | None = None,
    *,
    options: dict[str, Any] | None = None,
    exchange_class: type | None = None,
) -> Any:
    """A ccxt.pro.bitget for USDT-M swaps; pointed at sim_url (or config.exchange.sim_url).

    Without a config, the defaults of `ExchangeConfig` apply. `options` is merged into ccxt's
    `options` (e.g. {'ws': {'keepAlive': 500}} in tests). `exchange_class` replaces
    ccxt.pro.bitget by a subclass of it (the ticker shards' one). API keys are set only for the
    real Bitget and only when present; they are never logged.
    """
    import ccxt.pro as ccxtpro

    from scalp_radar.core.config_models import ApiConfig, WebSocketConfig

    section = config.exchange if config is not None else None
    sim_url = sim_url or (section.sim_url if section is not None else None)
    api_cfg = section.api if section is not None else ApiConfig()
    ws_cfg = section.websocket if section is not None else WebSocketConfig()

    base_options: dict[str, Any] = {
        "defaultType": api_cfg.default_type,
        "fetchMarkets": {"types": ["swap"]},
        # Each ws frame costs `cost` tokens of ccxt's 20/s bucket: pace subscribes to `rate`/s.
        "ws": {"cost": _CCXT_TOKENS_PER_S / ws_cfg.subscribe_rate_per_s},
    }
    params: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": api_cfg.timeout_ms,
        "options": _deep_merge(base_options, options or {}),
    }
    # Real API keys are for the real Bitget only: a simulator (possibly another host) never sees them.
    if config is not None and not sim_url:
        secrets = config.secrets
        key = _secret(secrets.bitget_api_key)
        secret = _secret(secrets.bitget_secret)
        password = _secret(secrets.bitget_passphrase)
        if key and secret:
            params["apiKey"] = key
            params["secret"] = secret
            if password:
                params["password"] = password
    exchange = (exchange_class or ccxtpro.bitget)(params)
    # Instance level only: skips the 333 ms /spot/public/coins call of load_markets.
    exchange.has["fetchCurrencies"] = False
    if exchange.verify is True and exchange.ssl_context is None:
        exchange.ssl_context = shared_ssl_context(exchange.cafile)
    if sim_url:
        point_at_simulator(exchange, sim_url)
        # close() sleeps timeout_on_exit (250 ms) to let TLS transports shut down; plain
        # http/ws to a simulator has none, and the engine re-creates exchanges after errors.
        if sim_url.startswith("http://"):
            exchange.timeout_on_exit = 0
    return exchange
