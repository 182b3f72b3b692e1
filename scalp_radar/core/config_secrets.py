"""Secrets and machine-specific settings: `.env` files and environment variables.

Real environment variables win over file values; later files win over earlier ones.
Secret values never appear in repr, str or ConfigError messages.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scalp_radar.core.config_errors import ConfigError, describe_error, unknown_key_hint

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


class SecretsConfig(BaseSettings):
    """Secrets and machine-specific settings from environment variables and `.env` files.

    Which `.env` files are read is decided by `load_secrets` (see `default_env_files`); real
    environment variables always win over file values. Secret values never appear in
    repr, str or error messages.
    """

    model_config = SettingsConfigDict(
        env_file=None,
        env_ignore_empty=True,  # `export LOG_LEVEL=` means unset, like `KEY=` in a .env file
        case_sensitive=False,
        extra="forbid",
        hide_input_in_errors=True,
        validate_assignment=True,
    )

    bitget_api_key: SecretStr | None = None
    bitget_secret: SecretStr | None = None
    bitget_passphrase: SecretStr | None = None
    database_path: Path | None = None
    database_url: str | None = None
    enable_websocket: bool = True
    log_level: str = "INFO"

    @field_validator(
        "bitget_api_key",
        "bitget_secret",
        "bitget_passphrase",
        "database_path",
        "database_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `KEY=` in a .env file means "not set", not an empty secret or the path ".".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return level

    @property
    def has_api_keys(self) -> bool:
        """True when key, secret and passphrase are all set."""
        return all((self.bitget_api_key, self.bitget_secret, self.bitget_passphrase))


def default_env_files(config_dir: Path) -> list[Path]:
    """`.env` files read when none is given: `./.env` first, then `<config_dir>/.env` (wins).

    The current directory's `.env` may belong to another tool, so unknown keys there are
    ignored; in the config directory's `.env` (or an explicit env_file) they are errors.
    """
    cwd_env = Path.cwd() / ".env"
    dir_env = config_dir / ".env"
    if cwd_env.resolve() == dir_env.resolve():
        return [dir_env]
    return [cwd_env, dir_env]


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def _parse_env_file(path: Path) -> dict[str, tuple[str, int]]:
    """KEY=VALUE lines -> {KEY: (value, line)}; supports comments, quotes and `export`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read env file ({exc})", file=path) from None
    found: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(raw)
        if not match:
            raise ConfigError("expected KEY=VALUE", file=path, line=number)
        key, value = match.group(1), match.group(2).strip()
        if value[:1] in ("'", '"'):
            end = value.find(value[0], 1)
            if end < 0:
                raise ConfigError(f"unterminated quote in {key}'s value", file=path, line=number)
            value = value[1:end]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        found[key.upper()] = (value, number)
    return found


def load_secrets(env_files: list[Path], *, strict: list[bool] | None = None) -> SecretsConfig:
    """SecretsConfig from env files (later ones win) then environment variables (win over files)."""
    fields = {name.upper(): name for name in SecretsConfig.model_fields}
    strict = strict if strict is not None else [True] * len(env_files)
    values: dict[str, Any] = {}
    origin: dict[str, tuple[Path, int]] = {}
    for path, is_strict in zip(env_files, strict, strict=True):
        if not path.is_file():
            continue
        for key, (value, line) in _parse_env_file(path).items():
            if key not in fields:
                if is_strict:
                    hint = unknown_key_hint(SecretsConfig, (), key, upper=True)
                    raise ConfigError(hint, file=path, line=line, key=key)
                continue
            if value.strip():  # `KEY=` means unset
                values[fields[key]], origin[fields[key]] = value, (path, line)
    environ = {k.upper() for k, v in os.environ.items() if v.strip()}
    # Environment variables beat file values: drop file values they shadow, then let
    # pydantic-settings read the environment itself.
    values = {k: v for k, v in values.items() if k.upper() not in environ}
    try:
        return SecretsConfig(**values, _env_file=None)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        expected = describe_error(error, SecretsConfig, show_input=False)
        if error["type"] == "bool_parsing":
            expected = "expected true or false (or 1/0, yes/no, on/off)"
        if name in origin and name in values:
            path, line = origin[name]
            raise ConfigError(expected, file=path, line=line, key=name.upper()) from None
        raise ConfigError(expected, file="environment", key=name.upper()) from None
