"""Config loading on real files: the shipped config, every kind of bad input, secrets, singleton."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalp_radar.core import config as config_module
from scalp_radar.core.config import (
    CONFIG_FILES,
    AppConfig,
    ConfigError,
    EngineConfig,
    ExchangeConfig,
    RateLimitConfig,
    WebSocketConfig,
    get_config,
    load_config,
    packaged_config_dir,
    summarize,
    write_default_config,
)
from scalp_radar.core.config_models import ExchangesFile
from scalp_radar.core.models import TimeFrame

REPO = Path(__file__).resolve().parent.parent
SECRET_VARS = (
    "BITGET_API_KEY",
    "BITGET_SECRET",
    "BITGET_PASSPHRASE",
    "DATABASE_PATH",
    "DATABASE_URL",
    "ENABLE_WEBSOCKET",
    "LOG_LEVEL",
)
SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]


@pytest.fixture(autouse=True)
def clean_env(tmp_path, monkeypatch):
    """No user environment, .env or cached singleton leaks into (or out of) a test."""
    for key in list(os.environ):
        if key.upper() in SECRET_VARS or key == "SCALP_RADAR_CONFIG":
            monkeypatch.delenv(key)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    config_module._cached = None
    yield
    config_module._cached = None


@pytest.fixture
def cfg(tmp_path) -> Path:
    """An editable copy of the shipped config."""
    target = tmp_path / "cfg"
    shutil.copytree(REPO / "config", target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact snippet (the test fails if the shipped file no longer has it)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def line_number(path: Path, snippet: str) -> int:
    """1-based line of the first line containing snippet."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if snippet in line:
            return number
    raise AssertionError(f"{snippet!r} not in {path}")


def config_error(*args, **kwargs) -> str:
    """load_config's ConfigError message, checked to be exactly one line."""
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


# ---------------------------------------------------------------- the shipped config


def test_shipped_config_has_the_seed_values():
    config = load_config()
    assert config.config_dir == packaged_config_dir().resolve()
    assert config.symbols == SYMBOLS
    tfs = [TimeFrame.M1, TimeFrame.M5, TimeFrame.M15, TimeFrame.H1]
    assert all(asset.timeframes == tfs for asset in config.assets)
    assert config.streams[:2] == [(SYMBOLS[0], TimeFrame.M1), (SYMBOLS[0], TimeFrame.M5)]
    assert len(config.streams) == 12
    assert {a.correlation_group for a in config.assets} == {"crypto_major"}
    group = config.correlation_groups["crypto_major"]
    assert (group.max_concurrent_same_direction, group.max_exposure_percent) == (2, 60)

    risk = config.risk
    assert (risk.kill_switch.max_session_loss_percent, risk.kill_switch.max_daily_loss_percent) == (
        5,
        10,
    )
    assert risk.position.max_risk_per_trade_percent == 2
    assert risk.position.default_leverage == 15
    assert (risk.fees.maker_percent, risk.fees.taker_percent) == (0.02, 0.06)
    assert risk.slippage.default_estimate_percent == 0.05
    assert risk.sl_tp.sl_real_cost_includes == ["distance", "taker_fee", "slippage"]

    ex = config.exchange
    assert ex.name == "bitget" and ex.sim_url is None
    assert list(ex.rate_limits) == ["market_data", "trade", "account", "position"]
    assert (ex.api.product_type, ex.api.price_type, ex.api.default_type) == (
        "USDT-FUTURES",
        "mark",
        "swap",
    )
    assert ex.websocket.url == "wss://ws.bitget.com/v2/ws/public"
    assert config.engine == EngineConfig()
    named = config.strategies.named()
    assert [p[0] for p in named] == ["vwap_rsi", "liquidation", "orderflow", "momentum", "funding"]
    assert all(set(s.assets) <= set(SYMBOLS) and s.assets for s in named.values())
    assert config.strategies.custom_strategies == {}


def test_repo_config_and_packaged_copy_are_byte_identical():
    repo_dir, packaged = REPO / "config", REPO / "scalp_radar" / "default_config"
    for name in CONFIG_FILES:
        assert filecmp.cmp(repo_dir / name, packaged / name, shallow=False), name
    assert sorted(p.name for p in packaged.glob("*.yaml")) == sorted(CONFIG_FILES)
    assert sorted(p.name for p in repo_dir.glob("*.yaml")) == sorted(CONFIG_FILES)


def test_interface_defaults_other_modules_rely_on():
    ws = WebSocketConfig()
    assert (ws.ping_interval_s, ws.subscribe_rate_per_s, ws.reconnect_delay_s) == (30, 5, 1)
    assert (ws.max_reconnect_delay_s, ws.stable_after_s) == (60, 60)
    engine = EngineConfig()
    assert (engine.buffer_size, engine.flush_interval_s, engine.snapshot_hz) == (500, 1.0, 4.0)
    assert (engine.stale_multiplier, engine.stale_min_s, engine.incidents_max) == (3.0, 15.0, 200)
    assert (engine.sparkline_points, engine.heal_gaps) == (60, True)
    limits = {
        c: RateLimitConfig(requests_per_second=5, burst=5)
        for c in config_module.RATE_LIMIT_CATEGORIES
    }
    exchange = ExchangeConfig(rate_limits=limits)
    assert exchange.api.timeout_ms == 10000 and exchange.sim_url is None


# ---------------------------------------------------------------- directory resolution


def test_env_var_selects_dir_and_argument_beats_it(cfg, tmp_path, monkeypatch):
    edit(cfg / "risk.yaml", "default_leverage: 15", "default_leverage: 10")
    monkeypatch.setenv("SCALP_RADAR_CONFIG", str(cfg))
    assert load_config().risk.position.default_leverage == 10
    assert load_config().config_dir == cfg.resolve()
    assert load_config(REPO / "config").risk.position.default_leverage == 15


def test_missing_dir_and_missing_file_name_them(cfg, tmp_path, monkeypatch):
    assert "nope" in config_error(tmp_path / "nope")
    monkeypatch.setenv("SCALP_RADAR_CONFIG", str(tmp_path / "gone"))
    message = config_error()
    assert "gone" in message and "SCALP_RADAR_CONFIG" in message
    (cfg / "strategies.yaml").unlink()
    message = config_error(cfg)
    assert message.startswith(f"{cfg / 'strategies.yaml'}:") and "not found" in message


# ---------------------------------------------------------------- bad YAML and bad values


def test_broken_yaml_gives_file_and_line(cfg):
    edit(cfg / "risk.yaml", "  taker_percent: 0.06", "  taker_percent: [0.06")
    message = config_error(cfg)
    assert message.startswith(f"{cfg / 'risk.yaml'}:")
    assert "invalid YAML" in message
    line = int(message.split(":")[1])
    assert line >= line_number(cfg / "risk.yaml", "taker_percent")


def test_yaml_top_level_must_be_a_mapping(cfg):
    (cfg / "exchanges.yaml").write_text("- bitget\n- binance\n")
    assert config_error(cfg) == (
        f"{cfg / 'exchanges.yaml'}:1: expected a mapping of keys at the top level, got a list"
    )


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "expected", "at"),
    [
        (
            "risk.yaml",
            "default_leverage: 15",
            "default_leverage: lots",
            "position.default_leverage",
            "integer",
            None,
        ),
        (
            "assets.yaml",
            "tick_size: 0.01",
            "tick_size: -1",
            "assets[1].tick_size",
            "greater than 0",
            None,
        ),
        (
            "risk.yaml",
            "mode: isolated",
            "mode: isolatd",
            "margin.mode",
            "'isolated' or 'cross'",
            None,
        ),
        (
            "exchanges.yaml",
            "burst: 2 ",
            "burst: many ",
            "exchange.rate_limits.market_data.burst",
            "integer",
            None,
        ),
        (
            "exchanges.yaml",
            "sim_url: null",
            "sim_url: localhost",
            "exchange.sim_url",
            "http://",
            None,
        ),
        (
            "assets.yaml",
            "symbol: SOL/USDT:USDT",
            "symbol: SOLUSDT",
            "assets[2].symbol",
            "BTC/USDT:USDT",
            None,
        ),
        (
            "assets.yaml",
            "timeframes: [1m, 5m, 15m, 1h]",
            "timeframes: 1m",
            "assets[0].timeframes",
            "list",
            None,
        ),
        (
            "risk.yaml",
            "max_daily_loss_percent: 10.0",
            "max_daily_loss_percent: 4",
            "kill_switch",
            "<=",
            "kill_switch:",
        ),
    ],
)
def test_wrong_values_name_file_line_and_key(cfg, file, old, new, key, expected, at):
    edit(cfg / file, old, new)
    message = config_error(cfg)
    line = line_number(cfg / file, at or new)
    assert message.startswith(f"{cfg / file}:{line}: {key}: "), message
    assert expected in message.split(f" {key}: ", 1)[1]


def test_unknown_key_gives_path_and_suggestion(cfg):
    edit(cfg / "strategies.yaml", "rsi_period: 14", "rsi_periode: 14")
    message = config_error(cfg)
    line = line_number(cfg / "strategies.yaml", "rsi_periode")
    assert message.startswith(
        f"{cfg / 'strategies.yaml'}:{line}: vwap_rsi.rsi_periode: unknown key"
    )
    assert "did you mean rsi_period?" in message


def test_unknown_top_level_key(cfg):
    (cfg / "assets.yaml").write_text((cfg / "assets.yaml").read_text() + "typo_key: 1\n")
    message = config_error(cfg)
    line = line_number(cfg / "assets.yaml", "typo_key")
    assert message.startswith(f"{cfg / 'assets.yaml'}:{line}: typo_key: unknown key")


def test_duplicate_key_is_refused(cfg):
    (cfg / "risk.yaml").write_text((cfg / "risk.yaml").read_text() + "fees:\n  maker_percent: 1\n")
    message = config_error(cfg)
    line = len((cfg / "risk.yaml").read_text().splitlines()) - 1
    assert message == f"{cfg / 'risk.yaml'}:{line}: fees: duplicate key (each key may appear once)"


def test_bad_timeframe_lists_valid_values(cfg):
    edit(cfg / "assets.yaml", "timeframes: [1m, 5m, 15m, 1h]", "timeframes: [1m, 5x]")
    message = config_error(cfg)
    line = line_number(cfg / "assets.yaml", "5x")
    assert message.startswith(f"{cfg / 'assets.yaml'}:{line}: assets[0].timeframes[1]: ")
    assert "'5x'" in message and "1m, 3m, 5m, 15m, 30m, 1h, 4h" in message


def test_2h_timeframe_is_refused_because_it_cannot_stream(cfg):
    edit(cfg / "assets.yaml", "timeframes: [1m, 5m, 15m, 1h]", "timeframes: [1m, 2h]")
    message = config_error(cfg)
    assert "assets[0].timeframes[1]" in message
    assert "'2h'" in message and "websocket" in message
    valid = message.split("expected one of ")[1].split(", ")
    assert "2h" not in valid and "1h" in valid and "4h" in valid


def test_leverage_above_an_asset_max_is_refused(cfg):
    edit(cfg / "assets.yaml", "max_leverage: 50", "max_leverage: 10")
    message = config_error(cfg)
    line = line_number(cfg / "risk.yaml", "default_leverage")
    assert message.startswith(f"{cfg / 'risk.yaml'}:{line}: position.default_leverage: ")
    assert "at most 10" in message and "SOL/USDT:USDT" in message


def test_unknown_correlation_group_is_refused(cfg):
    edit(cfg / "assets.yaml", "correlation_group: crypto_major", "correlation_group: crypto_majr")
    message = config_error(cfg)
    line = line_number(cfg / "assets.yaml", "crypto_majr")
    assert message.startswith(f"{cfg / 'assets.yaml'}:{line}: assets[0].correlation_group: ")
    assert "crypto_majr" in message and "crypto_major" in message


def test_strategy_naming_an_unknown_asset_is_refused(cfg):
    edit(
        cfg / "strategies.yaml",
        "assets: [BTC/USDT:USDT, ETH/USDT:USDT]",
        "assets: [BTC/USDT:USDT, DOGE/USDT:USDT]",
    )
    message = config_error(cfg)
    line = line_number(cfg / "strategies.yaml", "DOGE")
    assert message.startswith(f"{cfg / 'strategies.yaml'}:{line}: liquidation.assets[1]: ")
    assert "DOGE/USDT:USDT" in message


def test_strategy_timeframe_must_be_streamed_by_its_assets(cfg):
    edit(cfg / "strategies.yaml", "timeframe: 5m", "timeframe: 30m")
    message = config_error(cfg)
    assert "vwap_rsi.timeframe" in message and "30m" in message


def test_custom_strategy_is_cross_checked(cfg):
    edit(
        cfg / "strategies.yaml",
        "custom_strategies: {}",
        "custom_strategies:\n  mine:\n    assets: [XRP/USDT:USDT]\n    timeframe: 1m\n"
        "    tp_percent: 0.4\n    sl_percent: 0.2\n    params: {ema: 9}\n",
    )
    message = config_error(cfg)
    assert "custom_strategies.mine.assets[0]" in message and "XRP" in message
    edit(cfg / "strategies.yaml", "XRP/USDT:USDT", "BTC/USDT:USDT")
    custom = load_config(cfg).strategies.custom_strategies["mine"]
    assert custom.params == {"ema": 9}


@pytest.mark.parametrize("category", ["market_data", "trade", "account", "position"])
def test_every_rate_limit_category_is_required(cfg, category):
    path = cfg / "exchanges.yaml"
    edit(path, f"    {category}:", f"    {category}_typo:")
    message = config_error(cfg)
    assert message.startswith(f"{path}:{line_number(path, 'rate_limits:')}: exchange.rate_limits: ")
    assert "market_data, trade, account, position" in message


# ---------------------------------------------------------------- secrets


def test_secrets_never_appear_in_repr_str_or_errors(cfg, tmp_path):
    env = tmp_path / "secrets.env"
    env.write_text(
        "BITGET_API_KEY=key-ABC123\nBITGET_SECRET='sec-XYZ789'\nexport BITGET_PASSPHRASE=pass-QQQ\n"
    )
    config = load_config(cfg, env_file=env)
    assert config.secrets.bitget_api_key.get_secret_value() == "key-ABC123"
    assert config.secrets.bitget_secret.get_secret_value() == "sec-XYZ789"
    assert config.secrets.has_api_keys
    shown = " ".join(
        [
            repr(config),
            str(config),
            repr(config.secrets),
            config.model_dump_json(),
            summarize(config),
        ]
    )
    for secret in ("key-ABC123", "sec-XYZ789", "pass-QQQ"):
        assert secret not in shown
    env.write_text(env.read_text() + "ENABLE_WEBSOCKET=maybe\n")
    message = config_error(cfg, env_file=env)
    assert message.startswith(f"{env}:4: ENABLE_WEBSOCKET: expected true or false")
    assert "key-ABC123" not in message and "maybe" not in message


def test_env_vars_override_env_file_values(cfg, tmp_path, monkeypatch):
    env = tmp_path / "x.env"
    env.write_text(
        "LOG_LEVEL=debug\nDATABASE_PATH=/tmp/radar.db\nENABLE_WEBSOCKET=false  # dev\n"
        "BITGET_API_KEY=\nDATABASE_URL=\n"
    )
    secrets = load_config(cfg, env_file=env).secrets
    assert (secrets.log_level, secrets.database_path, secrets.enable_websocket) == (
        "DEBUG",
        Path("/tmp/radar.db"),
        False,
    )
    assert secrets.bitget_api_key is None and secrets.database_url is None
    monkeypatch.setenv("DATABASE_PATH", "")  # empty means unset: the file's value stays
    assert load_config(cfg, env_file=env).secrets.database_path == Path("/tmp/radar.db")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("ENABLE_WEBSOCKET", "1")
    secrets = load_config(cfg, env_file=env).secrets
    assert (secrets.log_level, secrets.enable_websocket) == ("WARNING", True)
    monkeypatch.setenv("ENABLE_WEBSOCKET", "maybe")
    assert config_error(cfg, env_file=env).startswith("environment: ENABLE_WEBSOCKET: ")


def test_env_file_typo_is_named_with_suggestion(cfg, tmp_path):
    env = tmp_path / "typo.env"
    env.write_text("# keys\n\nBITGET_APIKEY=abc\n")
    message = config_error(cfg, env_file=env)
    assert message.startswith(f"{env}:3: BITGET_APIKEY: unknown key (did you mean BITGET_API_KEY?")
    assert "abc" not in message


def test_default_env_files_cwd_lenient_config_dir_strict(cfg):
    # The current directory's .env may belong to another tool: foreign keys are ignored there.
    Path(".env").write_text("OTHER_TOOL_TOKEN=zzz\nBITGET_API_KEY=from-cwd\nLOG_LEVEL=error\n")
    (cfg / ".env").write_text("LOG_LEVEL=debug\n")
    secrets = load_config(cfg).secrets
    assert secrets.bitget_api_key.get_secret_value() == "from-cwd"
    assert secrets.log_level == "DEBUG"  # the config dir's .env wins over the cwd one
    (cfg / ".env").write_text("LOG_LEVL=debug\n")
    assert config_error(cfg).startswith(f"{cfg.resolve() / '.env'}:1: LOG_LEVL: unknown key")


# ---------------------------------------------------------------- singleton, init, summary


def test_get_config_is_a_singleton_until_force_reload(cfg):
    first = get_config(cfg)
    assert get_config() is first and get_config(cfg) is first
    edit(cfg / "risk.yaml", "default_leverage: 15", "default_leverage: 12")
    assert get_config().risk.position.default_leverage == 15
    reloaded = get_config(force_reload=True)  # same directory as the first load
    assert reloaded is not first and reloaded.risk.position.default_leverage == 12
    assert get_config() is reloaded
    other = get_config(REPO / "config")
    assert other.config_dir == (REPO / "config").resolve() and other is not reloaded


def test_write_default_config_refuses_to_overwrite(tmp_path):
    target = tmp_path / "new" / "cfg"
    written = write_default_config(target)
    assert [p.name for p in written] == list(CONFIG_FILES)
    for path in written:
        assert path.read_bytes() == (packaged_config_dir() / path.name).read_bytes()
    assert isinstance(load_config(target), AppConfig)
    edit(target / "risk.yaml", "default_leverage: 15", "default_leverage: 3")
    with pytest.raises(ConfigError, match="already exists"):
        write_default_config(target)
    assert "default_leverage: 3" in (target / "risk.yaml").read_text()
    write_default_config(target, overwrite=True)
    assert load_config(target).risk.position.default_leverage == 15
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="file.txt"):
        write_default_config(a_file)


def test_summarize_shows_what_config_check_prints(cfg, tmp_path):
    edit(cfg / "exchanges.yaml", "sim_url: null", "sim_url: http://127.0.0.1:8765/")
    env = tmp_path / "s.env"
    env.write_text(
        "ENABLE_WEBSOCKET=off\nDATABASE_PATH=/data/radar.db\n"
        "DATABASE_URL=postgres://bob:hunter2@db:5432/radar\n"
    )
    text = summarize(load_config(cfg, env_file=env))
    assert "bitget" in text and "http://127.0.0.1:8765" in text
    for symbol in SYMBOLS:
        assert symbol in text
    for category in ("market_data", "trade", "account", "position"):
        assert category in text
    assert "1m 5m 15m 1h" in text and "streams:    12 " in text
    assert "disabled" in text and "/data/radar.db" in text
    assert "hunter2" not in text and "bob:***@db" in text
    assert "live" in summarize(load_config(REPO / "config"))


def test_config_import_stays_light():
    code = (
        "import sys\n"
        "import scalp_radar.core.config, scalp_radar.core.paths\n"
        "print(','.join(m for m in ('ccxt', 'textual') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


# ---------------------------------------------------------------- ranges (issue 10 item 8)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "buffer_size: 500 ",
            "buffer_size: 99999999999999999999999999 ",
            "data_engine.buffer_size",
        ),
        ("requests_per_second: 18 ", "requests_per_second: .inf ", "requests_per_second"),
        ("flush_interval_s: 1.0 ", "flush_interval_s: 1e308 ", "data_engine.flush_interval_s"),
        ("stale_min_s: 15.0 ", "stale_min_s: .inf ", "data_engine.stale_min_s"),
        ("snapshot_hz: 4.0 ", "snapshot_hz: 1e-300 ", "data_engine.snapshot_hz"),
        ("ping_interval_s: 30 ", "ping_interval_s: 1e300 ", "websocket.ping_interval_s"),
        ("timeout_ms: 10000 ", "timeout_ms: 10000000000 ", "api.timeout_ms"),
        ("burst: 2 ", "burst: 1000000000 ", "market_data.burst"),
    ],
)
def test_out_of_range_numbers_are_refused_with_file_line_and_key(cfg, old, new, key):
    # Regression: each passed `config check`; the first two then crashed the run.
    edit(cfg / "exchanges.yaml", old, new)
    message = config_error(cfg)
    assert message.startswith(
        f"{cfg / 'exchanges.yaml'}:{line_number(cfg / 'exchanges.yaml', new.strip())}:"
    )
    assert key in message and "expected" in message


@pytest.mark.parametrize("value", [".inf", ".nan", "1.0e+400", "99999999999999999999999999"])
def test_custom_strategy_params_must_be_finite_numbers(cfg, value):
    edit(
        cfg / "strategies.yaml",
        "custom_strategies: {}",
        "custom_strategies:\n  x:\n    assets: [BTC/USDT:USDT]\n    timeframe: 1m\n"
        f"    tp_percent: 0.4\n    sl_percent: 0.2\n    params:\n      ema: {value}\n",
    )
    message = config_error(cfg)
    assert "custom_strategies.x.params" in message and "expected" in message


@pytest.mark.timeout(20)  # the bug hung for minutes; the test fails instead of hanging
def test_yaml_alias_bomb_is_refused_naming_file_and_line(cfg):
    # Regression: nested aliases under custom_strategies.x.params hung `config check` at 100 % CPU.
    levels = ['      a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"      {name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    bomb = (
        "custom_strategies:\n  x:\n    assets: [BTC/USDT:USDT]\n    timeframe: 1m\n"
        "    tp_percent: 0.4\n    sl_percent: 0.2\n    params:\n" + "\n".join(levels) + "\n"
    )
    edit(cfg / "strategies.yaml", "custom_strategies: {}", bomb)
    message = config_error(cfg)
    line = line_number(cfg / "strategies.yaml", "b: &b")
    assert message.startswith(f"{cfg / 'strategies.yaml'}:{line}: ")
    assert "alias *a is not allowed" in message


def test_assets_yaml_as_a_directory_is_named_as_such(cfg):
    # Regression: said "file not found" for a file that is there, as a directory.
    (cfg / "assets.yaml").unlink()
    (cfg / "assets.yaml").mkdir()
    message = config_error(cfg)
    assert message.startswith(f"{cfg / 'assets.yaml'}: expected a YAML file, found a directory")


# Values a hostile or careless edit writes.
_EDGES = [0, 1, 2, 0.05, 0.1, 20, 60, 100_000, 1e-300, 1e300, 1e308, 10**26, float("inf")]
_NUMBER = st.one_of(
    st.sampled_from(_EDGES),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
)
# Every numeric setting of exchanges.yaml, as (section, key).
_SETTINGS = (
    [
        ("data_engine", key)
        for key in (
            "buffer_size",
            "flush_interval_s",
            "snapshot_hz",
            "stale_multiplier",
            "stale_min_s",
            "incidents_max",
            "sparkline_points",
        )
    ]
    + [
        ("websocket", key)
        for key in (
            "ping_interval_s",
            "subscribe_rate_per_s",
            "reconnect_delay_s",
            "max_reconnect_delay_s",
            "stable_after_s",
        )
    ]
    + [("market_data", "requests_per_second"), ("market_data", "burst"), ("api", "timeout_ms")]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.dictionaries(st.sampled_from(_SETTINGS), _NUMBER, min_size=1, max_size=3))
def test_what_config_check_accepts_builds_a_running_engine(edits):
    """Property: any exchanges.yaml the validation accepts builds the limiter, buffers, engine
    and their timers without an error (before the ranges: OverflowError, inf rates)."""
    import asyncio

    from pydantic import ValidationError

    from scalp_radar.core.limiter import RateLimiter
    from scalp_radar.engine.buffer import CandleBuffer
    from scalp_radar.engine.data_engine import DataEngine

    base = load_config(REPO / "config")
    exchange = base.exchange.model_dump()
    engine: dict[str, object] = {}
    sections = {
        "data_engine": engine,
        "websocket": exchange["websocket"],
        "market_data": exchange["rate_limits"]["market_data"],
        "api": exchange["api"],
    }
    for (section, key), value in edits.items():
        sections[section][key] = value
    try:
        checked = ExchangesFile.model_validate({"exchange": exchange, "data_engine": engine})
    except ValidationError:
        return  # refused by `config check`: nothing to run
    config = base.model_copy(update={"exchange": checked.exchange, "engine": checked.data_engine})
    limiter = RateLimiter.from_exchange_config(config.exchange)
    CandleBuffer("BTC/USDT:USDT", TimeFrame.M1, maxlen=config.engine.buffer_size)
    engine_obj = DataEngine(config, None, limiter)
    assert len(engine_obj.streams) == len(config.streams)
    bucket = limiter.bucket("market_data")
    delays = [
        bucket.capacity / bucket.rate_per_s,
        config.engine.flush_interval_s,
        1 / config.engine.snapshot_hz,
        config.engine.stale_min_s * config.engine.stale_multiplier,
        config.exchange.websocket.ping_interval_s,
        config.exchange.websocket.max_reconnect_delay_s,
        config.exchange.api.timeout_ms / 1000,
    ]
    loop = asyncio.new_event_loop()
    try:
        for delay in delays:  # every period the run waits on must be a schedulable timer
            loop.call_later(delay, lambda: None).cancel()
    finally:
        loop.close()
