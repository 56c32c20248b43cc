"""Health checks shared by ``enclave doctor`` and the GUI's About/diagnostics view."""

from __future__ import annotations

import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict
from importlib import metadata
from typing import Any

from app import __version__
from app.core.approval.gate import REQUIRE_KEY, approval_files, check_approval
from app.core.approval.suites import SuiteError, all_suites, site_dirs
from app.core.audit import audit_log_path, verify
from app.core.audit.identity import signing_key
from app.core.checks import Check as Check  # re-exported: the report's line type
from app.core.checks import Status
from app.core.engines.backend import gpu_offload_supported
from app.core.engines.devices import (
    GPU_BACKEND_NAMES,
    active_backend,
    backend_devices,
    gpu_backends_built,
    onnx_providers,
)
from app.core.engines.health import engine_checks
from app.core.errors import EnclaveError
from app.core.models.catalog import default_entry
from app.core.models.registry import ModelRegistry
from app.core.paths import AppPaths
from app.core.policy import load_policy
from app.core.secrets import KeyringUnavailable, trusted_backend
from app.core.store import PassphraseRequired, store_status
from app.core.store.database import damaged


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def check_versions() -> Check:
    """Versions of Enclave and the libraries it stands on."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    data = {
        "enclave": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "llama-cpp-python": _version("llama-cpp-python"),
        "llama.cpp system": info,
        "pyside6": _version("pyside6"),
        "onnxruntime": _version("onnxruntime"),
        "onnxruntime-gpu": _version("onnxruntime-gpu"),
        "sqlcipher3": _version("sqlcipher3"),
        "keyring": _version("keyring"),
        "jinja2": _version("jinja2"),
    }
    return Check("versions", "ok", f"Enclave {__version__} on Python {data['python']}", data=data)


def check_gpu(paths: AppPaths) -> Check:
    """The backend models run on (CPU, CUDA, Vulkan, Metal…) and every device llama.cpp sees."""
    offload = gpu_offload_supported()
    devices = backend_devices()
    gpu_allowed = bool(load_policy(paths.policy_root).get("engine.gpu_allowed"))
    backend = active_backend(devices, gpu_allowed=gpu_allowed)
    data: dict[str, Any] = {
        "offload": offload,
        "backend": backend,
        "gpu_allowed_by_policy": gpu_allowed,
        "devices": [{**asdict(d), "offloads": d.offloads} for d in devices],
        "gpu_backends_built": gpu_backends_built(),
        "onnxruntime_providers": onnx_providers(),
    }
    gpus = [d for d in devices if d.offloads]
    if backend != "CPU":
        names = ", ".join(f"{d.name} ({d.description}, {d.memory_total / 1024**3:.1f} GiB)"
                          for d in gpus)
        return Check("gpu", "ok", f"Models run on {backend}: {names}.", data=data)
    if gpus and not gpu_allowed:
        return Check("gpu", "ok", f"Models run on the CPU: policy does not allow the GPU "
                     f"({', '.join(d.name for d in gpus)}).", data=data)
    if data["gpu_backends_built"]:
        # A GPU build (CUDA, Vulkan…) whose device did not register: no driver or no GPU.
        modules = data["gpu_backends_built"]
        built = ", ".join(GPU_BACKEND_NAMES.get(m, m) for m in modules) or "GPU"
        tool = "nvidia-smi" if "cuda" in modules else "vulkaninfo" if "vulkan" in modules else ""
        return Check(
            "gpu", "warning", f"This is a {built} build of llama.cpp, but it found no usable "
            "GPU; models run on the CPU.",
            hint="Check that the GPU driver is installed"
            + (f" (`{tool}` should list the GPU)" if tool else "")
            + " and that this user may use the GPU.", data=data)
    return Check(
        "gpu", "ok", "Models run on the CPU (this llama.cpp build has no GPU backend).",
        hint="For a GPU build see README (GPU builds) or `make package GPU=cuda`.",
        data=data,
    )


def check_paths(paths: AppPaths) -> Check:
    """Where things live, and free disk space there."""
    free = shutil.disk_usage(paths.data_dir if paths.data_dir.exists() else "/").free
    data = {k: str(v) for k, v in asdict(paths).items()}
    data["free_disk_bytes"] = str(free)
    status: Status = "ok" if free > 1024**3 else "warning"
    return Check("paths", status, f"data in {paths.data_dir}; {free / 1024**3:.1f} GB free",
                 hint="" if status == "ok" else "Free some disk space.", data=data)


def check_models(paths: AppPaths) -> list[Check]:
    """Every installed model verifies; the default model is present."""
    registry = ModelRegistry(paths)
    checks: list[Check] = []
    default_id = default_entry().id
    seen_default = False
    for model in registry.installed():
        try:
            resolved = registry.resolve(str(model.path))
            # Only the catalog vouches for bytes; an import is unchanged, not verified.
            how = ("verifies against the approved catalog" if resolved.verified else
                   "is unverified (not in the approved catalog; unchanged since import)")
            checks.append(Check(
                f"model {model.id}", "ok" if resolved.verified else "warning",
                f"{model.display_name} ({model.location}) {how}",
                data={"path": str(model.path), "sha256": resolved.sha256,
                      "location": model.location},
            ))
            seen_default = seen_default or model.id == default_id
        except EnclaveError as exc:
            checks.append(Check(f"model {model.id}", "error", exc.message, exc.hint,
                                data={"path": str(model.path)}))
    if not seen_default:
        checks.append(Check(
            "default model", "error", f"The default model {default_id} is not installed.",
            "Run `enclave models provision` (or `make run`).",
        ))
    return checks


def check_policy(paths: AppPaths) -> list[Check]:
    """The machine's policy loads; restricted mode is an error a user must hear about."""
    policy = load_policy(paths.policy_root)
    data = {"sha256": policy.sha256, "root": str(paths.policy_root)}
    if policy.restricted:
        return [Check("policy", "error",
                      "Restricted mode: " + "; ".join(policy.restricted_reasons),
                      "Ask your administrator to fix the policy files "
                      "(`enclave policy show` lists them).", data=data)]
    return [Check("policy", "ok", f"policy loaded (sha256 {policy.sha256[:12]}…)", data=data)]


def check_keyring(_paths: AppPaths) -> list[Check]:
    """A trusted OS keyring answers (else the history uses a passphrase)."""
    try:
        backend = trusted_backend()
    except KeyringUnavailable as exc:
        return [Check("keyring", "warning", exc.message,
                      "The history will ask for a passphrase instead.")]
    return [Check("keyring", "ok", f"OS keyring available ({type(backend).__name__})")]


def check_history(paths: AppPaths) -> list[Check]:
    """The encrypted history opens and no page is damaged (never created here)."""
    if not paths.database_file.exists():
        return [Check("history", "ok", "no history yet; it is created on first use")]
    try:
        status = store_status(paths)
    except PassphraseRequired:
        return [Check("history", "ok", "history is protected by a passphrase (not checked)")]
    except EnclaveError as exc:
        return [Check("history", "error", exc.message, exc.hint)]
    if status.damage is not None:

        error = damaged(paths.database_file, status.damage)
        return [Check("history", "error", error.message, error.hint)]
    return [Check("history", "ok",
                  f"history opens and every page checks out: {status.conversations} "
                  f"conversations, {status.messages} messages ({status.mode} mode, "
                  f"{status.cipher_version})")]


def check_audit(paths: AppPaths) -> list[Check]:
    """The audit log's hash chain and checkpoints verify."""
    path = audit_log_path(paths)
    try:
        key = signing_key(None, create=False)
    except EnclaveError:
        key = None
    try:
        report = verify(path, key)
    except FileNotFoundError:  # neither the log nor its head file: nothing audited yet
        return [Check("audit", "ok", "no audit records yet")]
    if report.ok:
        return [Check("audit", "ok", f"audit log verifies ({report.records} records)")]
    return [Check("audit", "error",
                  f"audit log fails verification at record {report.first_bad_seq}: "
                  f"{report.problem} ({report.detail})",
                  "Keep the file as evidence and tell your security officer.")]


def check_approvals(paths: AppPaths) -> list[Check]:
    """Evaluation suites load; under ``models.require_approval``, which models may load.

    A model that is not approved, or whose evaluation is due again (a new llama.cpp build, a
    changed suite), is an error for the model new chats use and a warning for the others;
    drift flagged in the audit log is a warning that asks for a new evaluation.
    """
    policy = load_policy(paths.policy_root)
    required = bool(policy.get(REQUIRE_KEY))
    try:
        suites = all_suites(site_dirs(policy))
    except SuiteError as exc:
        # Without the gate only `enclave models evaluate` needs them; with it no model loads.
        return [Check("evaluation suites", "error" if required else "warning", exc.message,
                      exc.hint)]
    checks = [Check("evaluation suites", "ok", f"{len(suites)} evaluation suites: "
                    + ", ".join(f"{s.name} {s.version}" for s in suites))]
    if required:
        _files, problems = approval_files(paths.policy_root)
        checks += [Check("approval file", "warning", f"ignored: {p}",
                         "Approval files must be owned by root and writable by nobody else.")
                   for p in problems]
    registry = ModelRegistry(paths)
    default_id = registry.active_model_id(policy) or default_entry().id
    for model in registry.installed():
        try:
            sha = registry.sha256(model)
        except OSError:
            continue  # check_models reports an unreadable file
        decision = check_approval(paths, policy, sha, model_id=model.id, drift=True)
        data = {"rule": decision.rule, "report": decision.report_id, "due": list(decision.due)}
        if not decision.allowed:
            status: Status = "error" if model.id == default_id else "warning"
            checks.append(Check(f"approval {model.id}", status, decision.reason, decision.hint,
                                data=data))
        elif decision.drift:
            checks.append(Check(f"approval {model.id}", "warning",
                                "Its behaviour drifted: " + " ".join(decision.drift),
                                f"Evaluate it again: `enclave models evaluate {model.id}`.",
                                data=data))
        elif required:
            checks.append(Check(f"approval {model.id}", "ok", decision.reason, data=data))
    return checks


def check_engine(paths: AppPaths) -> list[Check]:
    """The engine process: how it is contained, what fallbacks are remembered, threads."""
    return engine_checks(paths)


CheckFn = Callable[[AppPaths], list[Check]]
EXTRA_CHECKS: list[CheckFn] = [check_engine, check_policy, check_approvals, check_keyring,
                               check_history, check_audit]


def run_checks(paths: AppPaths) -> list[Check]:
    """Run every check; a failing check becomes an error line, never an exception."""
    checks: list[Check] = [check_versions(), check_gpu(paths), check_paths(paths)]
    checks += check_models(paths)
    for fn in EXTRA_CHECKS:
        try:
            checks += fn(paths)
        except Exception as exc:  # noqa: BLE001 - the report must always complete
            checks.append(Check(getattr(fn, "__name__", "check"), "error",
                                f"{type(exc).__name__}: {exc}"))
    return checks


def healthy(checks: list[Check]) -> bool:
    """True when nothing a user needs is broken."""
    return all(c.status != "error" for c in checks)


def python_executable() -> str:
    """The interpreter (or frozen binary) running Enclave."""
    return sys.executable
