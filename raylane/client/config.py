"""Connection profiles: where the API is and which key to use.

The profile file is TOML, ``~/.raylane/config.toml`` unless ``RAYLANE_CONFIG`` names another::

    default_profile = "local"

    [profiles.local]
    url = "http://127.0.0.1:8000"
    api_key = "rl_..."

Resolution, first match wins for each of the URL and the key:

1. explicit arguments (``Client(base_url=..., api_key=...)``, ``--url``, ``--api-key``);
2. an explicitly named profile (``Client(profile=...)``, ``--profile``) — when one is named,
   the environment's URL and key are not consulted, so a key exported for one deployment is
   never sent to another;
3. ``RAYLANE_URL`` / ``RAYLANE_API_KEY``;
4. the profile named by ``RAYLANE_PROFILE``, else ``default_profile``, else ``default``;
5. the URL of the local runtime, ``http://127.0.0.1:8000`` (no key).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from raylane.client.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_ENV = "RAYLANE_CONFIG"
PROFILE_ENV = "RAYLANE_PROFILE"
URL_ENV = "RAYLANE_URL"
API_KEY_ENV = "RAYLANE_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_PROFILE = "default"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Profile:
    """One named connection; either field may be missing."""

    url: str | None = None
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ConfigFile:
    """The parsed profile file."""

    default_profile: str | None = None
    profiles: Mapping[str, Profile] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """Where to connect, after applying the precedence rules.

    Attributes:
        url: The API root.
        api_key: The bearer key, or None when none is configured.
        profile: The profile that supplied a value, or None when none did.
    """

    url: str
    api_key: str | None = field(repr=False)
    profile: str | None = None


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The profile file's path: ``RAYLANE_CONFIG``, else ``~/.raylane/config.toml``."""
    env = os.environ if env is None else env
    override = env.get(CONFIG_ENV)
    return Path(override).expanduser() if override else Path.home() / ".raylane" / "config.toml"


def load_config(path: Path | None = None) -> ConfigFile:
    """Read the profile file; a missing file is an empty configuration.

    Raises:
        ConfigError: the file is not valid TOML or has the wrong shape.
    """
    path = path or config_path()
    raw = _read_raw(path)
    profiles_raw = raw.get("profiles", {})
    if not isinstance(profiles_raw, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table")
    profiles: dict[str, Profile] = {}
    for name, values in profiles_raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table")
        profiles[name] = Profile(
            url=_opt_str(values, "url", path), api_key=_opt_str(values, "api_key", path)
        )
    default = raw.get("default_profile")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{path}: 'default_profile' must be a string")
    return ConfigFile(default_profile=default, profiles=profiles)


def resolve(
    *,
    url: str | None = None,
    api_key: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Resolved:
    """Decide the URL and key from arguments, environment and profile file.

    Args:
        url: An explicit API root; wins over everything.
        api_key: An explicit key; wins over everything.
        profile: An explicitly chosen profile; it must exist.
        env: The environment to read (``os.environ`` by default).
        path: The profile file (``config_path(env)`` by default).

    Returns:
        The resolved connection.

    Raises:
        ConfigError: the chosen profile does not exist, or the file cannot be read.
    """
    env = os.environ if env is None else env
    if url and api_key:
        # Nothing left to look up: never fail on a broken profile file the caller does not need.
        return Resolved(url=url, api_key=api_key)
    config = load_config(path or config_path(env))
    if profile is not None:
        chosen = _profile(config, profile, "--profile")
        return Resolved(
            url=url or chosen.url or DEFAULT_URL, api_key=api_key or chosen.api_key, profile=profile
        )
    name = env.get(PROFILE_ENV) or config.default_profile
    if name:
        source = PROFILE_ENV if env.get(PROFILE_ENV) else "default_profile"
        chosen = _profile(config, name, source)
    else:
        name = DEFAULT_PROFILE
        chosen = config.profiles.get(name, Profile())
    used = name if name in config.profiles else None
    return Resolved(
        url=url or env.get(URL_ENV) or chosen.url or DEFAULT_URL,
        api_key=api_key or env.get(API_KEY_ENV) or chosen.api_key,
        profile=used,
    )


def save_profile(
    name: str,
    *,
    url: str,
    api_key: str | None,
    make_default: bool = False,
    path: Path | None = None,
) -> Path:
    """Create or replace one profile, keeping the rest of the file.

    The file is written atomically with mode 0600 (it holds secrets), its directory 0700.

    Args:
        name: Profile name: letters, digits, ``-`` and ``_``.
        url: The API root.
        api_key: The key to store, or None to store the URL only.
        make_default: Also set ``default_profile`` to this profile.
        path: The profile file (``config_path()`` by default).

    Returns:
        The path written.

    Raises:
        ConfigError: the name is invalid or the existing file cannot be parsed.
    """
    if not _PROFILE_NAME.match(name):
        raise ConfigError(f"invalid profile name {name!r}: use letters, digits, '-' and '_'")
    path = path or config_path()
    raw = _read_raw(path)
    profiles = raw.setdefault("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table")
    entry: dict[str, Any] = {"url": url}
    if api_key:
        entry["api_key"] = api_key
    profiles[name] = entry
    if make_default or "default_profile" not in raw:
        raw["default_profile"] = name
    _write_private(path, tomli_w.dumps(raw).encode())
    return path


def _profile(config: ConfigFile, name: str, source: str) -> Profile:
    try:
        return config.profiles[name]
    except KeyError:
        known = ", ".join(sorted(config.profiles)) or "none"
        raise ConfigError(
            f"profile {name!r} (from {source}) is not defined; known profiles: {known}"
        ) from None


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    _warn_if_shared(path)
    try:
        return tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _opt_str(values: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = values.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{path}: '{key}' must be a string")
    return value or None


def _warn_if_shared(path: Path) -> None:
    # Keys in a group- or world-readable file leak to other local users; say so, once per read.
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("profile file %s is readable by other users; run: chmod 600 %s", path, path)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
