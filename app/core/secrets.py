"""The OS keyring, chosen rather than inherited.

keyring picks its backend from ``PYTHON_KEYRING_BACKEND``, a keyringrc file or whatever
packages happen to be installed (keyrings.alt brings plaintext ones). Any of those could turn
a secret into a file on disk, so Enclave ignores them: it walks the installed backends itself
and accepts only the operating systems' own secret stores. When none is usable, callers get
``KeyringUnavailable`` and must choose an explicit alternative (the passphrase path) — never a
silent plaintext fallback.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from app.core.errors import EnclaveError, ExitCode

SERVICE = "Enclave"

log = logging.getLogger(__name__)

# Backends that keep secrets in the OS's own protected store. Everything else (plaintext,
# "encrypted" files with a key beside them, null, fail, chainers) is refused.
_TRUSTED_BACKEND_MODULES = (
    "keyring.backends.SecretService",
    "keyring.backends.libsecret",
    "keyring.backends.kwallet",
    "keyring.backends.macOS",
    "keyring.backends.Windows",
)


class KeyringUnavailable(EnclaveError):
    """No trusted OS keyring can be used right now."""

    exit_code = ExitCode.STORE  # the history's key is what cannot be reached


_lock = threading.Lock()
_cached: object | None = None


def _candidates() -> list[object]:
    from keyring.backend import get_all_keyring

    found = []
    for backend in get_all_keyring():
        module = type(backend).__module__
        if not module.startswith(_TRUSTED_BACKEND_MODULES):
            continue
        try:
            priority = float(backend.priority)
        except Exception:  # noqa: BLE001 - a backend reports unusability by raising here
            continue
        if priority > 0:
            found.append((priority, backend))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [backend for _, backend in found]


def trusted_backend() -> object:
    """Return the best trusted keyring backend that answers a read.

    Raises:
        KeyringUnavailable: if no trusted backend is installed, reachable and unlocked.
    """
    global _cached
    with _lock:
        if _cached is not None:
            return _cached
        reasons = []
        for backend in _candidates():
            try:
                # A locked collection or a dead D-Bus session fails here, not at priority time.
                backend.get_password(SERVICE, "__probe__")  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
                reasons.append(f"{type(backend).__name__}: {type(exc).__name__}")
                continue
            _cached = backend
            log.info("keyring backend: %s", type(backend).__name__)
            return backend
        detail = "; ".join(reasons) or "no Secret Service, KWallet, macOS Keychain or Windows vault"
        raise KeyringUnavailable(
            f"No usable OS keyring ({detail}).",
            "Unlock your desktop keyring, or use a passphrase instead.",
        )


def reset_backend_cache() -> None:
    """Forget the chosen backend (after the desktop session changed, and in tests)."""
    global _cached
    with _lock:
        _cached = None


def get_secret(name: str) -> str | None:
    """Read a secret from the trusted keyring; ``None`` if it is not there."""
    value = trusted_backend().get_password(SERVICE, name)  # type: ignore[attr-defined]
    return None if value is None else str(value)


def set_secret(name: str, value: str) -> None:
    """Store a secret in the trusted keyring."""
    trusted_backend().set_password(SERVICE, name, value)  # type: ignore[attr-defined]


def delete_secret(name: str) -> None:
    """Remove a secret; silently succeeds if it was not there."""
    import keyring.errors

    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        trusted_backend().delete_password(SERVICE, name)  # type: ignore[attr-defined]
