"""Where Enclave keeps things, per user and machine-wide.

``ENCLAVE_HOME`` moves every per-user directory under one root (tests, portable installs). It
cannot touch the machine-wide policy directory: nothing a user controls may loosen policy.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "Enclave"
APP_AUTHOR = "Enclave"


def _program_data() -> Path:
    """The machine's ProgramData folder, asked of Windows itself.

    Never ``%PROGRAMDATA%``: a user can point it at a folder of their own, and with it the
    policy that governs them.
    """
    import ctypes
    from ctypes import wintypes

    class _Guid(ctypes.Structure):
        _fields_ = [("d1", wintypes.DWORD), ("d2", wintypes.WORD), ("d3", wintypes.WORD),
                    ("d4", ctypes.c_ubyte * 8)]

    # FOLDERID_ProgramData {62AB5D82-FDC1-4DC3-A9DD-070D1D495D97}
    folder = _Guid(0x62AB5D82, 0xFDC1, 0x4DC3,
                   (ctypes.c_ubyte * 8)(0xA9, 0xDD, 0x07, 0x0D, 0x1D, 0x49, 0x5D, 0x97))
    out = ctypes.c_wchar_p()
    shell32 = ctypes.windll.shell32  # type: ignore[attr-defined]
    if shell32.SHGetKnownFolderPath(ctypes.byref(folder), 0, None, ctypes.byref(out)) != 0:
        return Path(r"C:\ProgramData")
    try:
        return Path(str(out.value))
    finally:
        ctypes.windll.ole32.CoTaskMemFree(out)  # type: ignore[attr-defined]


def _machine_policy_root() -> Path:
    if sys.platform.startswith("win"):
        return _program_data() / APP_NAME / "policies"
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME / "policies"
    return Path("/etc/enclave/policies")


def _machine_models_dir() -> Path:
    if sys.platform.startswith("win"):
        return _program_data() / APP_NAME / "models"
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME / "models"
    # platformdirs' site data dir on Linux is the first XDG_DATA_DIRS entry, which a user's
    # environment can change; IT's directory must be fixed.
    return Path("/usr/share/enclave/models")


@dataclass(frozen=True)
class AppPaths:
    """Every directory the app reads or writes."""

    data_dir: Path
    config_dir: Path
    cache_dir: Path
    log_dir: Path
    user_models_dir: Path
    site_models_dir: Path
    policy_root: Path

    @property
    def database_file(self) -> Path:
        """The encrypted history database."""
        return self.data_dir / "history.db"

    @property
    def log_file(self) -> Path:
        """The application log (never contains conversation text)."""
        return self.log_dir / "enclave.log"

    def user_dirs(self) -> list[Path]:
        """Directories that hold per-user state (what a canary test must scan)."""
        return [self.data_dir, self.config_dir, self.cache_dir, self.log_dir]

    @classmethod
    def under(cls, root: Path, *, site_models_dir: Path, policy_root: Path) -> AppPaths:
        """Every per-user directory below one root (``ENCLAVE_HOME``, tests, benchmarks)."""
        return cls(
            data_dir=root / "data",
            config_dir=root / "config",
            cache_dir=root / "cache",
            log_dir=root / "log",
            user_models_dir=root / "data" / "models",
            site_models_dir=site_models_dir,
            policy_root=policy_root,
        )

    def ensure(self) -> AppPaths:
        """Create the per-user directories, private to the user."""
        for d in (*self.user_dirs(), self.user_models_dir):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def default_paths() -> AppPaths:
    """Resolve the directories for this user on this machine."""
    home = os.environ.get("ENCLAVE_HOME")
    site_models = os.environ.get("ENCLAVE_SITE_MODELS_DIR")
    site_models_dir = Path(site_models) if site_models else _machine_models_dir()
    if home:
        return AppPaths.under(Path(home), site_models_dir=site_models_dir,
                              policy_root=_machine_policy_root())
    data = Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))
    return AppPaths(
        data_dir=data,
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)),
        cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)),
        user_models_dir=data / "models",
        site_models_dir=site_models_dir,
        policy_root=_machine_policy_root(),
    )
