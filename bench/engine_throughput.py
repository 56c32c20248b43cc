"""Engine throughput: llama-cpp-python's high-level API vs Enclave's engine vs `enclave ask`.

Runs in one process, alternating the three paths round by round on the same prompt, seed,
thread count and token budget, after a warm-up:

  (a) llama-cpp-python's ``Llama.create_completion(stream=True)`` — the usual way to stream;
  (b) Enclave's ``LocalEngine.stream`` — the C API with llama.cpp's own sampler chain;
  (c) Enclave's full ``enclave ask`` path — ``ChatService.send`` with the encrypted history
      (answer persisted as it grows) and the hash-chained audit log, through the engine
      process;
  (e) the engine process alone (``SupervisedEngine.stream``): the process hop's cost is
      (e) against (b), in tokens/s and in time to first token (issue 13: < 3%, < 20 ms).

Then model load time in-process, through a new engine process, and through the spare engine
process the app starts ahead of need (issue 13: within 10% of in-process), and, with
``--threads``, the thread controller (issue 19): every fixed thread count and the adaptive
engine, idle and under a synthetic background load of 50% and 100% of one core.

Tokens/s is measured the same way for all three: tokens after the first, divided by the time
from the first token to the last (decode speed); time to first token is reported apart.
Goals: (b)/(a) ≥ 1.5 and (c) within 5% of (b).

Usage: python bench/engine_throughput.py [--rounds 5] [--tokens 128] [--loads 5] [--threads]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machine import Meter  # bench/ is the script's directory

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."



def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="0 = greedy; the app's default samples (top-k, top-p, temperature)")
    parser.add_argument("--loads", type=int, default=5, help="model loads per way of loading")
    parser.add_argument("--threads", action="store_true",
                        help="also measure thread counts under a background load (issue 19)")
    parser.add_argument("--thread-rounds", type=int, default=6)
    parser.add_argument("--threads-only", action="store_true")
    args = parser.parse_args()
    print(machine_line())
    if args.threads_only:
        from app.core.models.registry import ModelRegistry
        from app.core.paths import default_paths

        thread_counts(ModelRegistry(default_paths()).resolve(), 2048, args.tokens,
                      args.thread_rounds)
        return 0

    home = tempfile.mkdtemp(prefix="enclave-bench-")
    os.environ["ENCLAVE_HOME"] = home
    from llama_cpp import Llama

    from app.core.context import open_app
    from app.core.engines.base import ChatMessage, GenerationParams
    from app.core.engines.cpu_kernels import stock_llama_follows_cpu
    from app.core.engines.local import EngineOptions, LocalEngine
    from app.core.engines.threads import physical_cores
    from app.core.logs import route_llama_log
    from app.core.models.registry import ModelRegistry
    from app.core.paths import default_paths

    route_llama_log()
    real = dict(os.environ)
    real.pop("ENCLAVE_HOME")
    os.environ.pop("ENCLAVE_HOME")
    model = ModelRegistry(default_paths()).resolve()
    os.environ["ENCLAVE_HOME"] = home
    os.environ["ENCLAVE_SITE_MODELS_DIR"] = str(model.model.path.parent)
    threads = physical_cores()
    n_ctx = 2048
    params = GenerationParams(temperature=args.temperature, max_tokens=args.tokens, seed=1234)
    messages = [ChatMessage("user", PROMPT)]

    engine = LocalEngine(model.model.path, model.gguf, model_id=model.model.id,
                         sha256=model.sha256,
                         options=EngineOptions(context_length=n_ctx, threads=threads))
    prompt_text = "".join(s.text for s in engine._template.render(messages))
    # On an AMX CPU the stock class crashes (llama.cpp#20824): the baseline then runs
    # without the extra buffer types, as the app does.
    if stock_llama_follows_cpu():
        print("raw engine: llama.cpp's extra buffer types off (AMX CPU), as in the app")
    llama = Llama(str(model.model.path), n_ctx=n_ctx, n_threads=threads,
                  n_threads_batch=threads, seed=1234, verbose=False)
    # For context only: what an application gets with llama-cpp-python's own defaults
    # (n_threads = cpu_count // 2: one thread on a 2-vCPU machine).
    llama_defaults = Llama(str(model.model.path), n_ctx=n_ctx, seed=1234, verbose=False)

    app = open_app(save=True, passphrase="bench-passphrase")
    app.chat.local.options = EngineOptions(context_length=n_ctx, threads=threads)
    app.chat.load_model()
    from app.core.engines.fallback import FallbackMemory
    from app.core.engines.supervisor import SupervisedEngine

    memory = FallbackMemory(Path(home) / "fallbacks.json")
    supervised = SupervisedEngine(model.model.path, model.gguf, model_id=model.model.id,
                                  sha256=model.sha256, memory=memory,
                                  options=EngineOptions(context_length=n_ctx, threads=threads))

    def run_a() -> tuple[float, int, float]:
        m = Meter()
        n = 0
        for chunk in llama.create_completion(
            prompt_text, max_tokens=args.tokens, temperature=args.temperature, top_k=40,
            top_p=0.95,
            repeat_penalty=params.repeat_penalty, seed=1234, stream=True,
        ):
            piece: Any = chunk
            if piece["choices"][0]["text"]:  # the closing chunk carries no token
                m.tick()
                n += 1
        return m.rate(n), n, m.first - m.start

    def run_d() -> tuple[float, int, float]:
        m = Meter()
        n = 0
        for chunk in llama_defaults.create_completion(
            prompt_text, max_tokens=args.tokens, temperature=args.temperature, top_k=40,
            top_p=0.95, repeat_penalty=params.repeat_penalty, seed=1234, stream=True,
        ):
            piece: Any = chunk
            if piece["choices"][0]["text"]:
                m.tick()
                n += 1
        return m.rate(n), n, m.first - m.start

    def run_b() -> tuple[float, int, float]:
        m = Meter()
        c = engine.stream(messages, params, m.tick)
        return m.rate(c.completion_tokens), c.completion_tokens, m.first - m.start

    def run_e() -> tuple[float, int, float]:
        m = Meter()
        c = supervised.stream(messages, params, m.tick)
        return m.rate(c.completion_tokens), c.completion_tokens, m.first - m.start

    def run_c() -> tuple[float, int, float]:
        m = Meter()
        r = app.chat.send(PROMPT, on_token=m.tick, params=params)
        return m.rate(r.completion.completion_tokens), r.completion.completion_tokens, (
            m.first - m.start)

    paths: dict[str, Callable[[], tuple[float, int, float]]] = {
        "a": run_a, "b": run_b, "e": run_e, "c": run_c, "d": run_d}
    for fn in paths.values():  # warm-up
        fn()
    results: dict[str, list[tuple[float, int, float]]] = {k: [] for k in paths}
    for _ in range(args.rounds):
        for key, fn in paths.items():
            results[key].append(fn())

    names = {"a": "llama-cpp-python create_completion(stream=True)",
             "b": "Enclave LocalEngine.stream",
             "c": "Enclave ask path (history + audit, engine process)",
             "e": "Enclave engine process (SupervisedEngine.stream)",
             "d": "(context) llama-cpp-python with its default threads"}
    med = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python {platform.python_version()}"
          f", threads={threads}, model={model.model.id}, rounds={args.rounds}, "
          f"temperature={args.temperature}, max_tokens={args.tokens}")
    ttfts: dict[str, float] = {}
    for key in paths:
        rates = [r[0] for r in results[key]]
        toks = [r[1] for r in results[key]]
        ttft = ttfts[key] = statistics.median(r[2] for r in results[key]) * 1000
        print(f"({key}) {names[key]:<50} {med[key]:7.1f} tok/s  "
              f"(min {min(rates):.1f}, max {max(rates):.1f}; tokens {min(toks)}-{max(toks)}; "
              f"TTFT {ttft:.0f} ms)")
    print(f"ratio (b)/(a) = {med['b'] / med['a']:.2f}   goal >= 1.5")
    print(f"engine process hop: (e)/(b) = {med['e'] / med['b']:.3f} tok/s (goal >= 0.97), "
          f"TTFT {ttfts['e'] - ttfts['b']:+.1f} ms (goal < +20 ms)")
    print(f"ratio (c)/(b) = {med['c'] / med['b']:.3f}  goal >= 0.95")
    print(f"ratio (b)/(d) = {med['b'] / med['d']:.2f}   (Enclave vs llama-cpp-python as "
          f"configured by default, n_threads={llama_defaults.context_params.n_threads})")
    app.close()
    engine.close()
    supervised.close()
    load_times(model, n_ctx, args.loads, memory)
    if args.threads:
        thread_counts(model, n_ctx, args.tokens, args.thread_rounds)
    return 0


def machine_line() -> str:
    """The CPU (model and the flags llama.cpp cares about) and GPU behind every figure."""
    cpu, flags = platform.processor() or platform.machine(), set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    shown = [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
                         "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8",
                         "amx_bf16") if f in flags]
    gpu = "none"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=5)
        gpu = out.stdout.strip() or gpu
    return (f"CPU: {cpu}, {os.cpu_count()} logical CPUs; flags: {' '.join(shown)}"
            f"{'' if 'amx_int8' in flags else ' (no AMX)'}; GPU: {gpu}; "
            f"python {platform.python_version()}")


def load_times(model: Any, n_ctx: int, rounds: int, memory: Any) -> None:
    """Model load in-process vs through an engine process, cold and with the spare."""
    from app.core.engines.local import EngineOptions, LocalEngine
    from app.core.engines.supervisor import SupervisedEngine, prestart, stop_spare

    options = EngineOptions(context_length=n_ctx)

    def in_process() -> float:
        t = time.perf_counter()
        engine = LocalEngine(model.model.path, model.gguf, model_id=model.model.id,
                             sha256=model.sha256, options=options)
        took = time.perf_counter() - t
        engine.close()
        return took

    def supervised() -> float:
        t = time.perf_counter()
        engine = SupervisedEngine(model.model.path, model.gguf, model_id=model.model.id,
                                  sha256=model.sha256, options=options, memory=memory)
        took = time.perf_counter() - t
        engine.close()
        return took

    def with_spare() -> float:
        import app.core.engines.supervisor as sup

        prestart(None)
        deadline = time.monotonic() + 30
        while (sup._spare is None or not sup._spare.alive) and time.monotonic() < deadline:
            time.sleep(0.05)
        return supervised()

    results: dict[str, list[float]] = {"in-process": [], "new process": [], "spare": []}
    for _ in range(rounds):
        results["in-process"].append(in_process())
        results["new process"].append(supervised())
        results["spare"].append(with_spare())
    stop_spare()
    base = statistics.median(results["in-process"])
    for name, values in results.items():
        med = statistics.median(values)
        print(f"model load, {name:<12} median {med * 1000:6.0f} ms  ({med / base:.2f}x "
              f"in-process; min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})")
    print("goal: the app's way (spare engine process started with the app) within 1.10x")


def thread_counts(model: Any, n_ctx: int, tokens: int, rounds: int) -> None:
    """Fixed thread counts vs the adaptive controller, idle and under background load."""
    from busy import BackgroundLoad

    from app.core.engines.base import ChatMessage, GenerationParams
    from app.core.engines.local import EngineOptions, LocalEngine
    from app.core.engines.threads import physical_cores

    cores = physical_cores()
    params = GenerationParams(temperature=0.8, max_tokens=tokens, seed=1234)
    messages = [ChatMessage("user", PROMPT)]
    engines = {f"fixed {n}": LocalEngine(
        model.model.path, model.gguf, model_id="m", sha256=model.sha256,
        options=EngineOptions(context_length=n_ctx, threads=n)) for n in range(1, cores + 1)}
    engines["adaptive"] = LocalEngine(model.model.path, model.gguf, model_id="m",
                                      sha256=model.sha256,
                                      options=EngineOptions(context_length=n_ctx))
    today = f"fixed {cores}"
    for share in (0.0, 0.5, 1.0):
        rates: dict[str, list[float]] = {k: [] for k in engines}
        states: list[str] = []
        with BackgroundLoad(share):
            names = list(engines)
            for round_ in range(rounds + 1):
                # Rotate the order each round: no configuration always runs right after
                # the same other one (a thread pool spinning down, a cache warmed).
                order = names[round_ % len(names):] + names[:round_ % len(names)]
                for name in order:
                    engine = engines[name]
                    m = Meter()
                    c = engine.stream(messages, params, m.tick)
                    if round_:  # the first round warms up (and lets the controller adapt)
                        rates[name].append(m.rate(c.completion_tokens))
                    if name == "adaptive":
                        states.append(c.engine_state)
        med = {k: statistics.median(v) for k, v in rates.items()}
        best = max((k for k in med if k.startswith("fixed")), key=med.__getitem__)
        print(f"background load {share * 100:.0f}% of one core: " + ", ".join(
            f"{k} {v:.1f}" for k, v in med.items()) + " tok/s")
        print(f"  adaptive / best fixed ({best}) = {med['adaptive'] / med[best]:.3f} "
              f"(goal >= {0.98 if share == 0 else 0.95}); adaptive / today's {today} = "
              f"{med['adaptive'] / med[today]:.2f}"
              f"{'' if share == 0 else ' (goal >= 1.3)'}; controller said: {states[-1]!r}")
    for engine in engines.values():
        engine.close()


if __name__ == "__main__":
    sys.exit(main())
