"""Where the API listens, and who decided: policy first, then what the user asked.

By default a Unix socket only this user can open (mode 0600 in a 0700 folder of the user's
runtime directory) or, asked for with a port, 127.0.0.1. Any other address needs managed
policy to list it (``api.remote_bind_addresses``) and a site certificate and key from
managed policy (``api.tls_cert``/``api.tls_key``): off loopback the API speaks only TLS. A
recommended or user value can never open the API to the network.

The Host header must name the address listened on (or, off loopback, a name in the
certificate): a web page that rebinds its own name to 127.0.0.1 still sends its own name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.api.errors import ApiConfigError, ApiRefused
from app.core.hosts import is_loopback

LOOPBACK = "127.0.0.1"
SOCKET_NAME = "api.sock"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


@dataclass(frozen=True)
class Binding:
    """A decided address.

    Attributes:
        host: The IP address for TCP; empty for a Unix socket.
        port: The TCP port (0: any free one, known once listening).
        socket_path: The Unix socket, or None for TCP.
        tls_cert: The certificate served (off loopback only).
        tls_key: Its key.
        allowed_hosts: Host header values accepted (without port).
    """

    host: str = ""
    port: int = 0
    socket_path: Path | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @property
    def tls(self) -> bool:
        """Whether the API speaks HTTPS."""
        return self.tls_cert is not None


def runtime_dir() -> Path:
    """The user's private runtime folder (``$XDG_RUNTIME_DIR``, else the data folder's)."""
    from app.core.paths import default_paths

    given = os.environ.get("XDG_RUNTIME_DIR")
    if given and Path(given).is_dir():
        return Path(given) / "enclave"
    return default_paths().data_dir / "run"


def default_socket() -> Path:
    """Where ``enclave serve`` listens when given no address."""
    return runtime_dir() / SOCKET_NAME


def _rule(policy: Any, key: str) -> str:
    entry = policy.entry(key)
    return f"{entry.level}:{key} ({entry.source})"


def check_enabled(policy: Any) -> None:
    """Refuse to start unless policy turns the API on.

    Raises:
        ApiRefused: naming the rule.
    """
    if policy.restricted:
        raise ApiRefused("The local API is off: the policy could not be read, so Enclave runs "
                         "local only.", "Ask IT to fix the policy (enclave policy show).")
    if not policy.get("api.enabled"):
        raise ApiRefused("Your organization has not enabled the local API.",
                         f"Rule: {_rule(policy, 'api.enabled')}. Ask IT to set api.enabled.")


def plan_binding(
    policy: Any, *, port: int | None = None, socket_path: Path | None = None,
    host: str | None = None,
) -> Binding:
    """Decide where to listen.

    Args:
        policy: The effective policy.
        port: Listen on TCP (127.0.0.1 unless ``host``); 0 picks a free port.
        socket_path: Listen on this Unix socket; default when neither port nor host is given.
        host: An address other than loopback; managed policy must list it.

    Raises:
        ApiRefused: the API is off, or policy does not allow the address.
        ApiConfigError: the certificate or key cannot be used.
    """
    check_enabled(policy)
    if host is not None and not is_loopback(host):
        return _remote(policy, host, port or 8443)
    if port is None and host is None:
        if not hasattr(socket, "AF_UNIX"):
            port = 8765  # Windows: no Unix sockets for Python's servers
        else:
            return Binding(socket_path=socket_path or default_socket(),
                           allowed_hosts=_LOOPBACK_HOSTS)
    return Binding(host=LOOPBACK, port=port or 0, allowed_hosts=_LOOPBACK_HOSTS)


def _remote(policy: Any, host: str, port: int) -> Binding:
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ApiRefused(f"{host!r:.60} is not an IP address.",
                         "Give the address to listen on, e.g. --host 10.0.0.5.") from None
    key = "api.remote_bind_addresses"
    listed = policy.get(key) or []
    if not policy.locked(key) or address not in listed:
        raise ApiRefused(
            f"The local API may not listen on {address}: only managed policy can open it "
            "beyond this machine.", f"Rule: {_rule(policy, key)}. It listens on 127.0.0.1 or "
            "a Unix socket otherwise.")
    cert, key_file = policy.get("api.tls_cert"), policy.get("api.tls_key")
    if not (cert and key_file and policy.locked("api.tls_cert")
            and policy.locked("api.tls_key")):
        raise ApiRefused(
            f"Listening on {address} needs the site's certificate: api.tls_cert and "
            "api.tls_key must be set by managed policy.", "Ask IT to set both.")
    names = certificate_names(Path(cert))
    return Binding(host=address, port=port, tls_cert=str(cert), tls_key=str(key_file),
                   allowed_hosts=frozenset({address, f"[{address}]", *names}))


def certificate_names(path: Path) -> set[str]:
    """The DNS names and addresses a PEM certificate is for (its subjectAltName).

    Raises:
        ApiConfigError: the file cannot be read or is not a certificate.
    """
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ApiConfigError(f"The API's certificate {path} cannot be used: {exc}.",
                             "Ask IT to check api.tls_cert.") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    names |= {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return names


def open_listener(binding: Binding) -> socket.socket:
    """Bind the listening socket; a Unix socket is made private before it accepts anything.

    Raises:
        ApiConfigError: the address is in use or cannot be bound.
    """
    if binding.socket_path is not None:
        return _unix_listener(binding.socket_path)
    family = socket.AF_INET6 if ":" in binding.host else socket.AF_INET
    # Named as TCP, not protocol 0: asyncio turns Nagle off only on sockets that say they
    # are TCP, and with it on every small response waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((binding.host, binding.port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ApiConfigError(f"Cannot listen on {binding.host}:{binding.port}: {exc.strerror}.",
                             "Choose another --port, or stop the program using it.") from None
    return sock


def _unix_listener(path: Path) -> socket.socket:
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = folder.stat()
    getuid = getattr(os, "getuid", None)
    if (getuid is not None and info.st_uid != getuid()) or stat.S_IMODE(info.st_mode) & 0o077:
        raise ApiConfigError(f"{folder} is not private to you; the API socket cannot go there.",
                             "Give --socket a path in a folder only you can open.")
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ApiConfigError(f"{path} exists and is not a socket.", "Choose another path.")
        if _answers(path):
            raise ApiConfigError(f"Another Enclave API already listens on {path}.",
                                 "Stop it first, or give --socket another path.")
        path.unlink()  # left by a server that did not stop cleanly
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ApiConfigError(f"Cannot listen on {path}: {exc.strerror}.", "") from None
    return sock


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def remove_socket(binding: Binding) -> None:
    """Remove the Unix socket file after the server stopped."""
    if binding.socket_path is not None:
        with contextlib.suppress(FileNotFoundError):
            binding.socket_path.unlink()


def host_allowed(binding: Binding, host_header: str | None) -> bool:
    """Whether a request's Host header names this server (DNS rebinding defence)."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        name = host.split("]", 1)[0] + "]"
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name.rstrip(".") in binding.allowed_hosts


def address_text(binding: Binding, port: int | None = None) -> str:
    """How clients reach it: ``unix:/run/user/1000/enclave/api.sock`` or a base URL."""
    if binding.socket_path is not None:
        return f"unix:{binding.socket_path}"
    scheme = "https" if binding.tls else "http"
    host = f"[{binding.host}]" if ":" in binding.host else binding.host
    return f"{scheme}://{host}:{port if port is not None else binding.port}/v1"


__all__ = ["Binding", "address_text", "check_enabled", "default_socket", "host_allowed",
           "open_listener", "plan_binding", "remove_socket"]
