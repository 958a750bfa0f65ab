"""The admin interface's token (TCP listeners): read from its secrets file, and how long
it must be not to be guessed. Apart from admin.py so that `check` reads it without
importing the server."""

from __future__ import annotations

from bridge.config import AdminConfig, ConfigError, check_private

MIN_TOKEN = 16  # bytes: fewer can be guessed by whoever reaches a TCP admin listener


def read_token(config: AdminConfig) -> bytes | None:
    if config.token_file is None:
        return None
    check_private(config.token_file)
    token = config.token_file.read_bytes().strip()
    if not token:  # else a request without a token would match it
        raise ConfigError(f"admin.token_file {config.token_file}: empty")
    return token


def token_warnings(config: AdminConfig | None) -> list[str]:
    """A token short enough to guess: every local user can reach a loopback listener and
    try tokens as fast as it answers (and the admin interface unlocks accounts)."""
    if config is None or config.token_file is None:
        return []
    try:
        token = read_token(config)
    except (ConfigError, OSError):
        return []  # the stage that reads it reports that
    if token is None or len(token) >= MIN_TOKEN:
        return []
    return [f"admin.token_file {config.token_file}: a token of {len(token)} bytes can be "
            f"guessed by anyone who reaches admin.listen; use at least {MIN_TOKEN} random "
            "ones (head -c 32 /dev/urandom | base64 > admin.token)"]  # fmt: skip
