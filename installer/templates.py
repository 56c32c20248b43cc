"""Fill the Windows and macOS installer templates from one version and one file list.

Usage::

    python installer/templates.py --dist build/dist/enclave --out build/installer

Writes, from ``pyproject.toml``'s version and the files of the PyInstaller folder:

- ``OUT/windows/enclave.iss``            Inno Setup script (every file listed explicitly)
- ``OUT/windows/policy-templates/``      ADMX + ADML, made by ``enclave policy admx`` with the
                                         frozen program itself
- ``OUT/macos/Info.plist``               for installer/macos/build_app.sh
- ``OUT/files.txt``                      the file list every installer is built from

Run it on the platform the installer is for (the Windows folder holds ``enclave.exe``).
Only the standard library is used.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "installer"
BUNDLE_ID = "com.example.enclave"


def project_version(root: Path = ROOT) -> str:
    """The one version string, from pyproject.toml."""
    data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    return str(data["project"]["version"])


def dist_files(dist: Path) -> list[PurePosixPath]:
    """Every file (and file symlink) under the PyInstaller folder, relative, sorted."""
    found = [
        PurePosixPath(p.relative_to(dist).as_posix())
        for p in dist.rglob("*")
        if p.is_file() or p.is_symlink()
    ]
    return sorted(found)


def is_bundled_model(rel: PurePosixPath) -> bool:
    """A model file shipped in the bundle (installers move these to the site models dir)."""
    return rel.parent == PurePosixPath("_internal/models") and rel.name != "catalog.toml"


def _win(rel: PurePosixPath) -> str:
    return str(rel).replace("/", "\\")


def iss_file_lines(files: list[PurePosixPath]) -> list[str]:
    """The ``[Files]`` entries: the program under {app}, bundled models under ProgramData."""
    lines = []
    for rel in files:
        if is_bundled_model(rel):
            dest = "{commonappdata}\\Enclave\\models"
        else:
            dest = "{app}" + ("\\" + _win(rel.parent) if str(rel.parent) != "." else "")
        lines.append(
            f'Source: "{{#SourceDir}}\\{_win(rel)}"; DestDir: "{dest}"; Flags: ignoreversion'
        )
    lines.append(
        'Source: "{#PolicyTemplatesDir}\\*"; '
        'DestDir: "{commonappdata}\\Enclave\\policy-templates"; '
        "Flags: ignoreversion recursesubdirs"
    )
    return lines


def render_iss(
    template: str, *, version: str, dist: Path, files: list[PurePosixPath], policy_dir: Path,
    output_dir: Path,
) -> str:
    """Fill ``enclave.iss.in``."""
    icon = ROOT / "assets" / "icons" / "enclave.ico"
    replacements = {
        "@VERSION@": version,
        "@SOURCE_DIR@": str(dist),
        "@POLICY_TEMPLATES_DIR@": str(policy_dir),
        "@OUTPUT_DIR@": str(output_dir),
        "@ICON@": str(icon),
        "@FILES@": "\n".join(iss_file_lines(files)),
    }
    for key, value in replacements.items():
        template = template.replace(key, value)
    leftover = re.findall(r"@[A-Z_]+@", template)
    if leftover:
        raise SystemExit(f"templates: unfilled placeholders {leftover}")
    return template


def render_plist(template: str, *, version: str) -> str:
    """Fill ``Info.plist.in``."""
    return template.replace("@VERSION@", version).replace("@BUNDLE_ID@", BUNDLE_ID)


def write_admx(exe: Path, outdir: Path) -> list[Path]:
    """Have the frozen program write its Group Policy templates into ``outdir``.

    Raises:
        SystemExit: the program failed; its output is shown.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [str(exe), "policy", "admx", str(outdir)], capture_output=True, text=True, check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise SystemExit(f"templates: `{exe} policy admx` failed:\n{proc.stdout}{proc.stderr}")
    written = sorted(p for p in outdir.rglob("*") if p.is_file())
    if not any(p.suffix.lower() == ".admx" for p in written):
        raise SystemExit(f"templates: `{exe} policy admx` wrote no .admx file into {outdir}")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, required=True, help="PyInstaller folder")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    dist = args.dist.resolve()
    out = args.out.resolve()
    exe = dist / ("enclave.exe" if sys.platform.startswith("win") else "enclave")
    version = project_version()
    files = dist_files(dist)
    if not files:
        raise SystemExit(f"templates: {dist} is empty; run make package first")

    (out / "windows").mkdir(parents=True, exist_ok=True)
    (out / "macos").mkdir(parents=True, exist_ok=True)
    policy_dir = out / "windows" / "policy-templates"
    write_admx(exe, policy_dir)
    iss = render_iss(
        (HERE / "windows" / "enclave.iss.in").read_text("utf-8"), version=version, dist=dist,
        files=files, policy_dir=policy_dir, output_dir=out / "windows",
    )
    (out / "windows" / "enclave.iss").write_text(iss, encoding="utf-8")
    plist = render_plist((HERE / "macos" / "Info.plist.in").read_text("utf-8"), version=version)
    (out / "macos" / "Info.plist").write_text(plist, encoding="utf-8")
    (out / "files.txt").write_text("".join(f"{f}\n" for f in files), encoding="utf-8")
    print(f"templates: Enclave {version}, {len(files)} files -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
