"""Where the client finds its server URL and token.

Each of the two values is taken from the first place that has it:

1. the explicit argument (``SDDClient(url, token)``, ``sdd … --url --token``);
2. the environment: ``SDD_URL`` and ``SDD_TOKEN``;
3. the config file ``sdd login`` writes: ``$SDD_CONFIG``, else ``$XDG_CONFIG_HOME/sdd/config.json``,
   else ``~/.config/sdd/config.json`` — JSON ``{"url": ..., "token": ...}``, mode 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sdd_client.errors import ConfigError

URL_ENV = "SDD_URL"
TOKEN_ENV = "SDD_TOKEN"
CONFIG_ENV = "SDD_CONFIG"
FILE_MODE = 0o600


@dataclass(frozen=True)
class ClientConfig:
    url: str
    token: str
    token_source: str = "the caller"  # "--token", "$SDD_TOKEN" or the config file's path, for messages

    def __repr__(self) -> str:  # never print the token
        return f"ClientConfig(url={self.url!r}, token='{self.token[:6]}…')"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file's path (it may not exist)."""
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]).expanduser() if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "sdd" / "config.json"


def read_config_file(path: Path) -> dict[str, str]:
    """The saved ``url``/``token`` (empty when the file does not exist)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the sdd config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"the sdd config file {path} must hold a JSON object with 'url' and 'token'")
    return {key: str(value) for key, value in data.items() if key in ("url", "token") and value}


def write_config_file(url: str, token: str, path: Path | None = None) -> Path:
    """Save ``url`` and ``token`` atomically, readable by the owner only (0600); returns the path."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".config-", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"url": url, "token": token}, handle, indent=2)
            handle.write("\n")
        os.chmod(tmp_name, FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def resolve_config(
    url: str | None = None, token: str | None = None, *, env: Mapping[str, str] | None = None
) -> ClientConfig:
    """URL and token from the arguments, else the environment, else the config file."""
    env = os.environ if env is None else env
    token_source = "--token" if token else f"${TOKEN_ENV}"
    url = url or env.get(URL_ENV) or None
    token = token or env.get(TOKEN_ENV) or None
    if url is None or token is None:
        token_source = token_source if token else str(config_path(env))
        saved = read_config_file(config_path(env))
        url = url or saved.get("url")
        token = token or saved.get("token")
    missing = [name for name, value in (("server URL", url), ("token", token)) if not value]
    if missing:
        raise ConfigError(
            f"no {' and no '.join(missing)}: pass --url/--token, set {URL_ENV}/{TOKEN_ENV}, "
            f"or run `sdd login --url URL --token TOKEN` (writes {config_path(env)})"
        )
    assert url is not None and token is not None
    return ClientConfig(url=url.rstrip("/"), token=token, token_source=token_source)
