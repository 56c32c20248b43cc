"""``enclave doctor``'s lines about the engine process: containment, fallbacks, threads."""

from __future__ import annotations

from app.core.checks import Check, Status
from app.core.engines.base import EngineError
from app.core.engines.cpu_kernels import why_off
from app.core.engines.engine_process import EngineProcess, engine_process_supported
from app.core.engines.fallback import FallbackMemory
from app.core.engines.threads import physical_cores
from app.core.paths import AppPaths


def engine_checks(paths: AppPaths) -> list[Check]:
    """Start an engine process as the app would, and report what holds it."""
    checks: list[Check] = []
    if not engine_process_supported():
        return [Check(
            "engine process", "warning", "On this OS local models run inside the app's own "
            "process: a crash in llama.cpp closes the app.",
            "Save your work often; the supervised engine process runs on Linux and macOS.")]
    try:
        proc = EngineProcess(paths.log_file).start()
    except EngineError as exc:
        return [Check("engine process", "error", exc.message, exc.hint)]
    try:
        hello = proc.hello
    finally:
        proc.close()
    containment = hello.get("containment") or {}
    signature = proc.signature
    method = str(containment.get("network_method") or "none")
    network = str(containment.get("network") or "not reported")
    data = {"containment": containment, "signature": signature}
    checks.append(Check(
        "engine process", "ok" if method in ("seccomp", "netns") else "warning",
        f"Local models run in a separate, supervised engine process; {network}. Its address "
        "space is capped to what the model needs (not when layers go to a GPU: drivers "
        "reserve large ranges). It never receives the history key.",
        "" if method != "none" else "This system offers no way used here to keep the engine "
        "process off the network; the app's own egress guard still applies.",
        data=data,
    ))
    from app.core.settings import Settings

    try:
        settings = Settings.load(paths, None)
        pinned = int(settings.get("engine.threads"))
        repacking = str(settings.get("engine.cpu_repacking"))
    except Exception:  # noqa: BLE001 - a damaged settings file is reported elsewhere
        pinned, repacking = 0, "auto"
    if signature.get("amx") == "yes":
        off = why_off(repacking)
        checks.append(Check(
            "amx", "ok", f"This CPU has AMX. llama.cpp's repacked CPU kernels are {off}."
            if off else "This CPU has AMX and llama.cpp's repacked CPU kernels are on "
            "(engine.cpu_repacking = on); they crash on some builds (llama.cpp#20824): "
            "Enclave then turns them off per model and remembers it.",
            data={"cpu": signature.get("cpu", ""), "cpu_repacking": repacking,
                  "extra_bufts": not off}))
    cores = physical_cores()
    checks.append(Check(
        "threads", "ok",
        f"Threads pinned to {pinned} by settings." if pinned else
        f"Threads adapt while answering: up to {cores} (one per physical core), fewer while "
        "other programs keep the cores busy.", data={"pinned": pinned, "cores": cores}))
    for entry in FallbackMemory(paths.data_dir / "engine-fallbacks.json").report():
        status: Status = "error" if entry["broken"] else "warning"
        last = f" (last crash: the engine {entry['last_crash']})" if entry["last_crash"] else ""
        checks.append(Check(
            f"fallback {entry['model']}", status, f"{entry['model']}: {entry['words']}{last}.",
            "Updating Enclave or llama.cpp, or a new copy of the model, starts over with "
            "normal settings.", data=entry))
    return checks
