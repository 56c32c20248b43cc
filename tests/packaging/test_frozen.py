"""The frozen program: it runs (CLI, real model, GUI offscreen) and carries what it needs only."""

from __future__ import annotations

import configparser
import json
import os
import plistlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from app.core.docs.embed import EmbeddingFiles
from tests.packaging.conftest import ROOT

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

pytestmark = [pytest.mark.package, pytest.mark.timeout(3600)]


def _exe(dist: Path) -> Path:
    return dist / ("enclave.exe" if sys.platform.startswith("win") else "enclave")


def test_frozen_program_passes_the_smoke_test(frozen_dist: Path, site_models_dir: Path,
                                               tmp_path: Path) -> None:
    report = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "installer" / "smoke_test.py"), str(_exe(frozen_dist)),
         "--models", str(site_models_dir), "--report", str(report)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    timings = json.loads(report.read_text())
    assert timings["version"] == f"enclave {VERSION}"
    assert "gui_first_window_s" in timings


def test_llama_cpp_picks_its_cpu_variant_at_run_time(frozen_dist: Path) -> None:
    # A portable build ships every CPU variant; ggml looks for them beside the executable.
    lib = frozen_dist / "_internal" / "llama_cpp" / "lib"
    variants = sorted(p.name for p in lib.glob("libggml-cpu-*.so"))
    assert "libggml-cpu-x64.so" in variants, f"not a portable build: {sorted(os.listdir(lib))}"
    for name in variants:
        beside_exe = frozen_dist / name
        assert beside_exe.resolve() == (lib / name).resolve()
    # The name ctypes opens and the soname libllama links against are one file.
    assert (lib / "libllama.so").resolve() == (lib / "libllama.so.0").resolve()
    assert (lib / "libggml.so").resolve() == (lib / "libggml.so.0").resolve()


def test_frozen_doctor_names_the_cpu_backend(frozen_dist: Path, tmp_path: Path) -> None:
    # The CPU variants (libggml-cpu-cannonlake.so…) beside the program are not GPU backends.
    env = {**os.environ, "ENCLAVE_HOME": str(tmp_path / "home")}
    proc = subprocess.run([str(_exe(frozen_dist)), "doctor", "--json"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    gpu = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "gpu")
    assert gpu["status"] == "ok", gpu
    assert gpu["data"]["backend"] == "CPU" and gpu["data"]["gpu_backends_built"] == []
    assert any(d["kind"] == "cpu" for d in gpu["data"]["devices"])


def test_frozen_program_makes_the_int8_embedding_copy(frozen_dist: Path, tmp_path: Path,
                                                      embedding_files: EmbeddingFiles) -> None:
    # A new documents index embeds with the int8 copy, made by the program's own child
    # (``__embed-optimize``): onnx and onnxruntime's quantizer must be in the bundle.
    target = tmp_path / "copy.onnx"
    proc = subprocess.run(
        [str(_exe(frozen_dist)), "__embed-optimize", str(embedding_files.model), str(target),
         "fast", "full"], env={**os.environ, "ENCLAVE_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert target.stat().st_size > 10_000_000


def test_bundle_carries_the_runtime_pieces(frozen_dist: Path) -> None:
    internal = frozen_dist / "_internal"
    assert (internal / "models" / "catalog.toml").is_file()
    assert any((internal / "sqlite_vec").glob("vec0.*"))
    assert any((internal / "onnxruntime").rglob("libonnxruntime*"))
    assert any(internal.glob("tokenizers/tokenizers*"))
    keyring_meta = next(internal.glob("keyring-*.dist-info"))
    assert "SecretService" in (keyring_meta / "entry_points.txt").read_text()
    assert next(internal.glob("enclave-*.dist-info"), None) is not None
    assert any(internal.rglob("QtCharts*"))


def test_bundle_leaves_out_what_the_app_does_not_use(frozen_dist: Path) -> None:
    names = [p.relative_to(frozen_dist).as_posix() for p in frozen_dist.rglob("*")]
    unwanted = re.compile(r"Qt6?(WebEngine|Quick|Qml|3D|Multimedia|Pdf|Designer)|libgtk-3|"
                          r"huggingface_hub|hf_xet|/PIL/")
    assert [n for n in names if unwanted.search(n)] == []
    qm = [n for n in names if n.endswith(".qm")]
    assert all(n.endswith("_en.qm") for n in qm), qm


def test_installer_templates_match_the_build(frozen_dist: Path, tmp_path: Path) -> None:
    out = tmp_path / "installer"
    subprocess.run(
        [sys.executable, str(ROOT / "installer" / "templates.py"), "--dist", str(frozen_dist),
         "--out", str(out)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    iss = (out / "windows" / "enclave.iss").read_text()
    # Inno Setup's format is INI-like: sections in brackets, [Setup] is key=value lines.
    sections = re.findall(r"^\[(\w+)\]$", iss, flags=re.M)
    assert {"Setup", "Dirs", "Files", "Icons", "Code"} <= set(sections)
    setup_text = iss.split("[Setup]", 1)[1].split("\n[", 1)[0]
    setup = configparser.ConfigParser(interpolation=None, comment_prefixes=(";",))
    setup.read_string("[Setup]\n" + setup_text)
    assert setup["Setup"]["AppVersion"] == "{#AppVersion}"
    assert setup["Setup"]["PrivilegesRequired"] == "admin"
    assert f'#define AppVersion "{VERSION}"' in iss
    assert re.findall(r"@[A-Z_]+@", iss) == []
    # Every file the script names exists in the PyInstaller output (or the ADMX folder).
    sources = re.findall(r'^Source: "([^"]+)"', iss, flags=re.M)
    assert len(sources) > 100
    policy = out / "windows" / "policy-templates"
    for src in sources:
        if src.startswith("{#PolicyTemplatesDir}"):
            assert any(policy.glob("*.admx")) and any(policy.rglob("*.adml"))
            continue
        rel = src.removeprefix("{#SourceDir}\\").replace("\\", "/")
        assert (frozen_dist / rel).exists() or (frozen_dist / rel).is_symlink(), rel
    plist = plistlib.loads((out / "macos" / "Info.plist").read_bytes())
    assert plist["CFBundleShortVersionString"] == VERSION
    assert plist["CFBundleExecutable"] == "enclave-gui"
