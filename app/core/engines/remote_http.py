"""The HTTP side of a remote endpoint: TLS, proxy, timeouts, and where its API key comes from.

TLS verification is always on. An endpoint's ``ca_bundle`` replaces the default trust store
(an on-prem server signed by the site's CA trusts that CA only); without one, the system
store plus certifi's bundle apply. The environment's proxy variables are ignored
(``trust_env=False``): only the policy's ``proxy`` decides where traffic goes.

API keys live in the OS keyring under ``connector-key:<endpoint>`` (``enclave connector
set-key``), or in a key file an administrator names with the endpoint's ``api_key_file``
(not yet in the policy schema). Keys never reach settings files, logs, errors or audit records.
"""

from __future__ import annotations

import os
import ssl
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.core.engines.remote_errors import RemoteConfigError

KEY_PREFIX = "connector-key:"
MAX_KEY_FILE_BYTES = 16 * 1024


@dataclass(frozen=True)
class RemoteTimeouts:
    """How long to wait on a remote endpoint, in seconds.

    Attributes:
        connect: To open the TCP and TLS connection.
        read: Between two pieces of the answer (not for the whole answer).
        write: To send the request.
        pool: To get a free connection from the client's pool.
    """

    connect: float = 10.0
    read: float = 60.0
    write: float = 30.0
    pool: float = 10.0


def endpoint_host(endpoint: Mapping[str, Any]) -> str:
    """The host name of an endpoint's base URL (for messages; never includes credentials)."""
    try:
        return urlsplit(str(endpoint.get("base_url", ""))).hostname or "?"
    except ValueError:
        return "?"


def ssl_context(endpoint: Mapping[str, Any]) -> ssl.SSLContext:
    """A verifying TLS context: the endpoint's CA bundle, or the system store and certifi.

    Raises:
        RemoteConfigError: the CA bundle named by policy cannot be read.
    """
    ca_bundle = endpoint.get("ca_bundle")
    if ca_bundle:
        try:
            return ssl.create_default_context(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise RemoteConfigError(
                f"The CA bundle {ca_bundle} for {endpoint.get('name')} cannot be used "
                f"({type(exc).__name__}).",
                "Ask your administrator to fix the endpoint's ca_bundle in the policy.",
            ) from None
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError, ssl.SSLError):
        pass  # the system store alone
    return context


def make_http_client(endpoint: Mapping[str, Any], timeouts: RemoteTimeouts) -> Any:
    """An ``httpx2.Client`` for one endpoint: verifying TLS, the policy's proxy, bounded waits.

    Raises:
        RemoteConfigError: the CA bundle or proxy cannot be used.
    """
    import httpx2

    proxy = endpoint.get("proxy") or None
    try:
        return httpx2.Client(
            verify=ssl_context(endpoint),
            proxy=proxy,
            trust_env=False,
            timeout=httpx2.Timeout(
                connect=timeouts.connect, read=timeouts.read, write=timeouts.write,
                pool=timeouts.pool,
            ),
            follow_redirects=False,
        )
    except (ValueError, TypeError) as exc:
        raise RemoteConfigError(
            f"The proxy for {endpoint.get('name')} cannot be used ({type(exc).__name__}).",
            "Ask your administrator to fix the endpoint's proxy in the policy.",
        ) from None


def key_name(endpoint_name: str) -> str:
    """The keyring entry that holds an endpoint's API key."""
    return f"{KEY_PREFIX}{endpoint_name}"


def read_key_file(path: Path) -> str:
    """Read an API key from an administrator's key file, checking who could have changed it.

    The file must be owned by root (or, on Windows, is trusted to the installer's ACLs),
    writable by nobody else and not readable by everyone: the group bit is how an
    administrator lets the connector's users read it.

    Raises:
        RemoteConfigError: the file is missing, unsafe, too large or empty.
    """
    hint = "Ask your administrator to fix the endpoint's api_key_file."
    try:
        st = path.stat()
    except OSError as exc:
        raise RemoteConfigError(
            f"The key file {path} cannot be read ({exc.strerror}).", hint
        ) from None
    if sys.platform != "win32":
        if st.st_uid != 0:
            raise RemoteConfigError(f"The key file {path} is not owned by root.", hint)
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_IROTH):
            raise RemoteConfigError(
                f"The key file {path} is writable by others or readable by everyone "
                f"(mode {stat.S_IMODE(st.st_mode):o}).",
                "It must be mode 0600 or 0640, owned by root. " + hint,
            )
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_KEY_FILE_BYTES:
        raise RemoteConfigError(f"The key file {path} is not a small regular file.", hint)
    try:
        with path.open("rb") as handle:
            key = handle.read(MAX_KEY_FILE_BYTES).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise RemoteConfigError(
            f"The key file {path} cannot be read ({type(exc).__name__}).", hint
        ) from None
    if not key:
        raise RemoteConfigError(f"The key file {path} is empty.", hint)
    return key


def load_api_key(endpoint: Mapping[str, Any]) -> str | None:
    """The endpoint's API key: its ``api_key_file`` if policy names one, else the keyring.

    Returns:
        The key, or None when none is stored (servers without authentication).

    Raises:
        RemoteConfigError: the key file is unusable.
        KeyringUnavailable: no trusted keyring can be read.
    """
    key_file = endpoint.get("api_key_file")
    if key_file:
        return read_key_file(Path(os.fspath(key_file)))
    from app.core.secrets import get_secret

    return get_secret(key_name(str(endpoint["name"])))
