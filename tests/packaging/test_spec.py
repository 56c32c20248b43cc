"""build.spec, read without building: what the frozen program needs is neither excluded nor
left for PyInstaller to miss.

A frozen build takes minutes (the ``package`` tests make one); these checks take a second, so
they catch an exclude or a by-name import the moment the code starts to need it. Module names
are taken from the code itself (what importing it loads, what uvicorn loads by name with the
settings ``app/core/api/server.py`` passes), not copied here.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "build.spec"


def _assignments() -> dict[str, ast.expr]:
    tree = ast.parse(SPEC.read_text("utf-8"))
    return {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def _strings(name: str) -> set[str]:
    """Every string literal in the spec's value for ``name``, following ``*OTHER`` lists."""
    values = _assignments()
    found: set[str] = set()
    pending, seen = [values[name]], {name}
    while pending:
        for node in ast.walk(pending.pop()):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
            elif (isinstance(node, ast.Starred) and isinstance(node.value, ast.Name)
                  and node.value.id in values and node.value.id not in seen):
                seen.add(node.value.id)
                pending.append(values[node.value.id])
    return found


def _loaded_packages(code: str) -> set[str]:
    """The top-level third-party packages a fresh interpreter holds after running ``code``."""
    probe = (f"import json, sys\n{code}\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return {m for m in json.loads(out.splitlines()[-1])
            if m not in sys.stdlib_module_names and not m.startswith("_") and m != "app"}


def _excluded(module: str, excludes: set[str]) -> bool:
    return any(module == e or module.startswith(e + ".") for e in excludes)


def _uvicorn_settings() -> dict[str, str]:
    """The string settings ``server.py`` passes to ``uvicorn.Config``."""
    tree = ast.parse((ROOT / "app" / "core" / "api" / "server.py").read_text("utf-8"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "Config"):
            return {k.arg: k.value.value for k in node.keywords
                    if k.arg and isinstance(k.value, ast.Constant)
                    and isinstance(k.value.value, str)}
    raise AssertionError("server.py no longer builds a uvicorn.Config")


def test_spec_excludes_nothing_enclave_serve_imports() -> None:
    needed = _loaded_packages("import app.core.api.server, app.core.api.protocol, "
                              "app.core.api.app, uvicorn.config")
    assert {"uvicorn", "starlette", "h11"} <= needed
    excluded = sorted(m for m in needed if _excluded(m, _strings("excludes")))
    assert excluded == [], f"build.spec excludes what `enclave serve` imports: {excluded}"


def test_spec_names_what_uvicorn_loads_by_string() -> None:
    import uvicorn.config as config

    settings = _uvicorn_settings()
    tables = {"lifespan": config.LIFESPAN, "loop": config.LOOP_FACTORIES,
              "ws": config.WS_PROTOCOLS, "http": config.HTTP_PROTOCOLS}
    # uvicorn.Config's own defaults; ``http`` is passed as a class, so it is imported normally.
    defaults = {"lifespan": "auto", "loop": "auto", "ws": "auto"}
    wanted = set()
    for key, table in tables.items():
        value = settings.get(key, defaults.get(key))
        target = table.get(value) if value else None
        if target:
            wanted.add(target.split(":")[0])
    assert wanted, "no by-name uvicorn module found: the settings table moved?"
    hidden = _strings("hiddenimports")
    missing = sorted(wanted - hidden)
    assert missing == [], f"build.spec lacks uvicorn's by-name imports: {missing}"


def test_spec_ships_usearch_and_numkong() -> None:
    hidden = _strings("hiddenimports")
    assert {"usearch.index", "usearch.compiled", "numkong._numkong"} <= hidden
    # usearch imports these when the graph module loads it (tqdm at the top of usearch.index).
    needed = _loaded_packages("import onnxruntime\nfrom app.core.docs.graph import usearch_index\n"
                              "usearch_index()")
    assert {"usearch", "numkong", "tqdm"} <= needed
    excluded = sorted(m for m in needed if _excluded(m, _strings("excludes")))
    assert excluded == [], f"build.spec excludes what the HNSW graph imports: {excluded}"
    spec = SPEC.read_text("utf-8")
    assert 'collect_dynamic_libs("usearch")' in spec
    assert 'collect_dynamic_libs("numkong")' in spec


@pytest.mark.parametrize("icon", sorted(p.name for p in (ROOT / "assets" / "icons").glob("*.svg")))
def test_spec_ships_the_whole_assets_folder(icon: str) -> None:
    """The icons are shipped by collecting ``assets`` whole, so each svg travels with it."""
    values = _assignments()
    assert "datas" in values
    spec = SPEC.read_text("utf-8")
    assert 'datas.append((str(ROOT / "assets"), "assets"))' in spec
    assert (ROOT / "assets" / "icons" / icon).stat().st_size > 0
    assert not _excluded("assets", _strings("excludes"))
