"""Load, cross-check and summarize the YAML configuration and `.env` secrets.

Config directory: the argument, else $SCALP_RADAR_CONFIG, else the default shipped inside the
package (`scalp_radar/default_config/`, a byte-identical copy of the repo's `config/`).
Every failure is one `ConfigError` line: `<file>:<line>: <key.path>: <what was expected>`.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from scalp_radar.core.config_errors import (
    ConfigError,
    CrossCheckError,
    compose_yaml,
    error_from_validation,
    line_of,
)
from scalp_radar.core.config_models import (
    NON_STREAMABLE_TIMEFRAMES,
    RATE_LIMIT_CATEGORIES,
    STREAMABLE_TIMEFRAMES,
    ApiConfig,
    AppConfig,
    AssetConfig,
    AssetsFile,
    CorrelationGroupConfig,
    CustomStrategyConfig,
    EngineConfig,
    ExchangeConfig,
    ExchangesFile,
    RateLimitConfig,
    RiskConfig,
    StrategiesConfig,
    UniverseConfig,
    WebSocketConfig,
)
from scalp_radar.core.config_secrets import SecretsConfig, default_env_files, load_secrets

__all__ = [
    "CONFIG_ENV_VAR",
    "CONFIG_FILES",
    "NON_STREAMABLE_TIMEFRAMES",
    "RATE_LIMIT_CATEGORIES",
    "STREAMABLE_TIMEFRAMES",
    "ApiConfig",
    "AppConfig",
    "AssetConfig",
    "ConfigError",
    "CorrelationGroupConfig",
    "CustomStrategyConfig",
    "EngineConfig",
    "ExchangeConfig",
    "RateLimitConfig",
    "RiskConfig",
    "SecretsConfig",
    "StrategiesConfig",
    "UniverseConfig",
    "WebSocketConfig",
    "default_env_files",
    "get_config",
    "load_config",
    "load_secrets",
    "packaged_config_dir",
    "resolve_config_dir",
    "summarize",
    "write_default_config",
]

CONFIG_ENV_VAR = "SCALP_RADAR_CONFIG"
CONFIG_FILES = ("assets.yaml", "strategies.yaml", "risk.yaml", "exchanges.yaml")
_FILE_MODELS: dict[str, type[BaseModel]] = {
    "assets.yaml": AssetsFile,
    "strategies.yaml": StrategiesConfig,
    "risk.yaml": RiskConfig,
    "exchanges.yaml": ExchangesFile,
}


# ---------------------------------------------------------------- directories


def packaged_config_dir() -> Path:
    """The default config shipped inside the installed package."""
    return Path(str(resources.files("scalp_radar").joinpath("default_config")))


def resolve_config_dir(config_dir: Path | str | None = None) -> Path:
    """Argument, else $SCALP_RADAR_CONFIG, else the packaged default; checks all 4 files exist."""
    if config_dir is not None:
        path, origin = Path(config_dir).expanduser(), "--config"
    elif os.environ.get(CONFIG_ENV_VAR):
        path, origin = Path(os.environ[CONFIG_ENV_VAR]).expanduser(), f"${CONFIG_ENV_VAR}"
    else:
        path, origin = packaged_config_dir(), "packaged default"
    if not path.is_dir():
        raise ConfigError(
            f"config directory not found (from {origin}): expected a directory holding "
            f"{', '.join(CONFIG_FILES)} (`scalp-radar config init DIR` writes one)",
            file=path,
        )
    for name in CONFIG_FILES:
        if (path / name).exists() and not (path / name).is_file():
            raise ConfigError("expected a YAML file, found a directory or device", file=path / name)
        if not (path / name).is_file():
            raise ConfigError(
                f"file not found: expected {', '.join(CONFIG_FILES)} in {path} "
                "(`scalp-radar config init DIR` writes a fresh set)",
                file=path / name,
            )
    return path.resolve()


# ---------------------------------------------------------------- YAML files


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Data and node tree of one YAML file; unreadable or broken files raise ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("expected a UTF-8 text file", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file ({exc.strerror})", file=path) from None
    data, node = compose_yaml(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping of keys at the top level, got a {type(data).__name__}",
            file=path,
            line=line_of(node, ()),
        )
    return data, node


def _load_file(path: Path, model: type[BaseModel]) -> tuple[Any, yaml.Node | None]:
    """Validate one YAML file against its model; the first error becomes a ConfigError."""
    data, node = _read_yaml(path)
    try:
        return model.model_validate(data), node
    except ValidationError as exc:
        raise error_from_validation(exc, model, path, node) from None


# ---------------------------------------------------------------- loading


def load_config(
    config_dir: Path | str | None = None, env_file: Path | str | None = None
) -> AppConfig:
    """Read the 4 YAML files and the secrets, validate each, then cross-check them together.

    env_file: one `.env` to read (strict); None reads `default_env_files(config_dir)`.
    """
    directory = resolve_config_dir(config_dir)
    parts: dict[str, Any] = {}
    nodes: dict[str, yaml.Node | None] = {}
    for name in CONFIG_FILES:
        parts[name], nodes[name] = _load_file(directory / name, _FILE_MODELS[name])
    if env_file is not None:
        secrets = load_secrets([Path(env_file).expanduser()])
    else:
        secrets = load_secrets(default_env_files(directory), strict=[False, True])
    assets: AssetsFile = parts["assets.yaml"]
    exchanges: ExchangesFile = parts["exchanges.yaml"]
    try:
        return AppConfig(
            assets=assets.assets,
            correlation_groups=assets.correlation_groups,
            universe=assets.universe,
            strategies=parts["strategies.yaml"],
            risk=parts["risk.yaml"],
            exchange=exchanges.exchange,
            engine=exchanges.data_engine,
            secrets=secrets,
            config_dir=directory,
        )
    except CrossCheckError as exc:
        name = exc.file or ""
        line = line_of(nodes.get(name), exc.loc or ())
        raise ConfigError(exc.expected, file=directory / name, line=line, key=exc.loc) from None


_lock = threading.Lock()
_cached: AppConfig | None = None
_cached_arg: Path | str | None = None


def get_config(config_dir: Path | str | None = None, force_reload: bool = False) -> AppConfig:
    """The process-wide config, loaded once.

    Reloads when force_reload is set (from the directory given then, else the one used for
    the first load) or when asked for a directory other than the cached one.
    """
    global _cached, _cached_arg
    with _lock:
        if _cached is not None and config_dir is None and not force_reload:
            return _cached
        wanted = config_dir if config_dir is not None else _cached_arg
        if (
            _cached is not None
            and not force_reload
            and resolve_config_dir(wanted) == _cached.config_dir
        ):
            return _cached
        _cached, _cached_arg = load_config(wanted), wanted
        return _cached


# ---------------------------------------------------------------- init / summary


def write_default_config(target_dir: Path, overwrite: bool = False) -> list[Path]:
    """Copy the packaged YAML files into target_dir; refuses to replace files unless overwrite."""
    target_dir = Path(target_dir).expanduser()
    if target_dir.exists() and not target_dir.is_dir():
        raise ConfigError("expected a directory, found a file", file=target_dir)
    targets = [target_dir / name for name in CONFIG_FILES]
    existing = [path for path in targets if path.exists()]
    if existing and not overwrite:
        raise ConfigError(
            "file already exists (use --force to overwrite, or choose another directory)",
            file=existing[0],
        )
    source = packaged_config_dir()
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        for name, target in zip(CONFIG_FILES, targets, strict=True):
            shutil.copyfile(source / name, target)
    except OSError as exc:
        raise ConfigError(f"cannot write config ({exc.strerror})", file=target_dir) from None
    return targets


def summarize(config: AppConfig) -> str:
    """A few lines for `scalp-radar config check`: exchange, streams, limits, storage."""
    exchange = config.exchange
    target = f"simulator at {exchange.sim_url}" if exchange.sim_url else "live"
    websocket = "enabled" if config.secrets.enable_websocket else "disabled (ENABLE_WEBSOCKET)"
    lines = [
        f"config:     {config.config_dir}",
        f"exchange:   {exchange.name} ({target}), {exchange.api.product_type}, "
        f"{exchange.api.price_type} price",
        f"websocket:  {exchange.websocket.url} ({websocket})",
        f"streams:    {len(config.streams)} ({len(config.assets)} assets x their timeframes)",
    ]
    for asset in config.assets:
        tfs = " ".join(tf.value for tf in asset.timeframes)
        lines.append(f"  {asset.symbol:<16} {tfs}  (max x{asset.max_leverage})")
    lines.append("rate limits:")
    for category, limit in exchange.rate_limits.items():
        lines.append(f"  {category:<12} {limit.requests_per_second:g}/s, burst {limit.burst}")
    enabled = [
        ".".join(path) for path, strategy in config.strategies.named().items() if strategy.enabled
    ]
    lines.append(f"strategies: {', '.join(enabled) or 'none enabled'}")
    risk = config.risk
    lines.append(
        f"risk:       x{risk.position.default_leverage}, "
        f"{risk.position.max_risk_per_trade_percent:g}% per trade, kill switch "
        f"{risk.kill_switch.max_session_loss_percent:g}%/{risk.kill_switch.max_daily_loss_percent:g}%"
    )
    secrets = config.secrets
    db = str(secrets.database_path) if secrets.database_path else "not set (user data directory)"
    lines.append(f"DATABASE_PATH: {db}")
    if secrets.database_url:
        # A URL may carry a password: mask whatever sits between "user:" and "@".
        url = re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", secrets.database_url)
        lines.append(f"DATABASE_URL:  {url}")
    lines.append(f"API keys:   {'set' if secrets.has_api_keys else 'not set (public data only)'}")
    return "\n".join(lines)
