"""Find, read and validate ``trading_config.yaml``; secrets come from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tradelib.config.ib import ACCOUNT_ENV
from tradelib.config.model import TradingConfig
from tradelib.config.storage import SECRET_ENV_KEYS
from tradelib.errors import ConfigError
from tradelib.secrets import register_secret

CONFIG_ENV = "TRADELIB_CONFIG"
CONFIG_RELPATH = Path("config") / "trading_config.yaml"
# A real config is ~10 kB; refuse anything absurd before parsing it.
MAX_CONFIG_BYTES = 1_000_000


def first_line(text: str, limit: int = 200) -> str:
    """Return the first line of ``text``, cut to ``limit`` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _find_upwards(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_RELPATH
        if candidate.is_file():
            return candidate
    return None


def workspace_root(start: Path | None = None) -> Path:
    """Return the folder holding ``config/trading_config.yaml`` above ``start`` (default CWD).

    Falls back to ``start`` itself when no such folder exists.
    """
    here = (start or Path.cwd()).resolve()
    found = _find_upwards(here)
    return found.parent.parent if found else here


def resolve_config_path(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> Path | None:
    """Return the config file to read: ``path``, else $TRADELIB_CONFIG, else found upwards.

    ``None`` means no file: use the model defaults.
    """
    environ = os.environ if env is None else env
    if path is not None:
        return Path(path)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return _find_upwards(Path.cwd().resolve())


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a config file into a mapping; raise ``ConfigError`` naming file and line."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {size} bytes is too big for a config file")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if "\x00" in text:
        raise ConfigError(f"{path}: not a text file (it contains NUL bytes)")
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config file") from None
    except ValueError as exc:
        # PyYAML builds ints and dates itself: a 5,000-digit number or 2026-13-45
        # escapes as a plain ValueError
        raise ConfigError(f"{path}: invalid value: {first_line(str(exc))}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"YAML syntax error in {where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error in {path}: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections, got {type(data).__name__}"
        )
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise ConfigError(f"{path}: section names must be strings, got {bad_keys!r}")
    return data


def load_config(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> TradingConfig:
    """Load and validate the trading configuration.

    Reads ``path``, else $TRADELIB_CONFIG, else ``config/trading_config.yaml`` found by
    walking up from the current folder, else uses the defaults. The IB account comes
    only from $TRADELIB_IB_ACCOUNT and is registered for log masking, as are any
    object-store secrets in ``env`` (default: the process environment).
    """
    environ = os.environ if env is None else env
    resolved = resolve_config_path(path, env=environ)
    if resolved is None:
        config = TradingConfig()
    else:
        config = TradingConfig.from_mapping(read_yaml(resolved), source=str(resolved))
    account = environ.get(ACCOUNT_ENV, "").strip()
    for key in (ACCOUNT_ENV, *SECRET_ENV_KEYS):
        if environ.get(key):
            register_secret(environ[key].strip())
    return config.with_account(account or None)
