"""market/exchange.py: real Bitget untouched, simulator URLs rewritten in place, config honoured."""

from __future__ import annotations

import asyncio

import ccxt
import pytest
from pydantic import SecretStr

from scalp_radar.core.config import load_config
from scalp_radar.core.config_secrets import SecretsConfig
from scalp_radar.exchange.factory import check_sim_url, create_exchange
from scalp_radar.sim import SimExchange, SimLimits


def fake_config(sim_url=None, timeout_ms=4321, rate=5.0, secrets=None):
    """The shipped config with these exchange settings and secrets (none by default)."""
    base = load_config()
    exchange = base.exchange.model_copy(
        update={
            "sim_url": sim_url,
            "api": base.exchange.api.model_copy(update={"timeout_ms": timeout_ms}),
            "websocket": base.exchange.websocket.model_copy(update={"subscribe_rate_per_s": rate}),
        }
    )
    return base.model_copy(
        update={"exchange": exchange, "secrets": secrets or SecretsConfig(_env_file=None)}
    )


def keys(**values) -> SecretsConfig:
    return SecretsConfig(_env_file=None, **values)


def test_real_bitget_urls_are_untouched() -> None:
    import ccxt.pro

    reference = ccxt.pro.bitget().urls["api"]
    ex = create_exchange(fake_config())
    assert ex.urls["api"] == reference
    assert ex.options["defaultType"] == "swap" and ex.options["fetchMarkets"]["types"] == ["swap"]
    assert ex.options["ws"]["cost"] == 4.0  # 20 tokens/s / 5 subscribes/s
    assert ex.timeout == 4321 and ex.has["fetchCurrencies"] is False
    assert ccxt.pro.bitget().has["fetchCurrencies"] is True  # instance-level change only
    assert not ex.apiKey and not ex.secret


def test_simulator_urls_are_rewritten_in_place() -> None:
    ex = create_exchange(fake_config(sim_url="http://127.0.0.1:9999/"))
    api = ex.urls["api"]
    rest = [v for v in api.values() if isinstance(v, str)]
    assert len(rest) >= 10 and set(rest) == {"http://127.0.0.1:9999"}
    assert api["ws"]["public"] == "ws://127.0.0.1:9999/v2/ws/public"
    # An explicit argument wins over the config key.
    other = create_exchange(fake_config(sim_url="http://127.0.0.1:9999"), "http://127.0.0.1:1234")
    assert other.urls["api"]["ws"]["public"] == "ws://127.0.0.1:1234/v2/ws/public"


def test_options_merge_and_secrets_only_when_present() -> None:
    secrets = keys(bitget_api_key=SecretStr("k-123"), bitget_secret=SecretStr("s-456"))
    ex = create_exchange(fake_config(secrets=secrets), options={"ws": {"keepAlive": 500}})
    assert ex.options["ws"] == {"cost": 4.0, "keepAlive": 500}
    assert ex.apiKey == "k-123" and ex.secret == "s-456" and not ex.password


def test_works_with_the_real_app_config() -> None:
    from scalp_radar.core.config import load_config

    config = load_config()
    ex = create_exchange(config, "http://127.0.0.1:8765")
    assert ex.options["ws"]["cost"] == 20.0 / config.exchange.websocket.subscribe_rate_per_s
    assert ex.timeout == config.exchange.api.timeout_ms
    assert create_exchange(None).urls["api"]["ws"]["public"].startswith("wss://")


@pytest.mark.parametrize(
    "bad", ["127.0.0.1:8765", "ws://127.0.0.1:8765", "http://127.0.0.1", "ftp://x:1"]
)
def test_bad_sim_urls_are_rejected(bad) -> None:
    with pytest.raises(ValueError, match="sim_url: expected http://HOST:PORT"):
        check_sim_url(bad)


PAIRS = [
    (s, tf)
    for s in ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
    for tf in ["1m", "5m", "15m", "1h"]
]


async def test_subscribes_are_paced_under_ten_per_second() -> None:
    # Bitget's 10 messages/s per connection is on (SimLimits default): 12 paced watches pass.
    async with SimExchange(limits=SimLimits(rest_rates=None)) as sim:
        ex = create_exchange(fake_config(rate=8.0), sim.url)
        try:
            await ex.load_markets()
            results = await asyncio.gather(*(ex.watch_ohlcv(s, tf) for s, tf in PAIRS))
            assert all(len(r) >= 1 for r in results)
            session = next(iter(sim.hub.sessions))
            assert len(session.subs) == 12 and not session.closing
        finally:
            await ex.close()


async def test_unpaced_subscribes_trip_the_limit() -> None:
    # ccxt's default (cost 1: ~20 frames/s) is what trips 30007 on real Bitget.
    async with SimExchange(limits=SimLimits(rest_rates=None)) as sim:
        ex = create_exchange(fake_config(), sim.url, options={"ws": {"cost": 1}})
        try:
            await ex.load_markets()
            with pytest.raises(ccxt.RateLimitExceeded):
                await asyncio.gather(*(ex.watch_ohlcv(s, tf) for s, tf in PAIRS))
        finally:
            await ex.close()


def test_api_keys_are_never_handed_to_a_simulator() -> None:
    # Regression: keys from .env were set on an exchange pointed at --sim-url (any host).
    secrets = keys(bitget_api_key=SecretStr("k-123"), bitget_secret=SecretStr("s-456"))
    ex = create_exchange(fake_config(sim_url="http://127.0.0.1:9", secrets=secrets))
    assert not ex.apiKey and not ex.secret
