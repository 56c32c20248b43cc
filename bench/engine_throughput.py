"""Engine throughput: llama-cpp-python's high-level API vs Enclave's engine vs `enclave ask`.

Runs in one process, alternating the three paths round by round on the same prompt, seed,
thread count and token budget, after a warm-up:

  (a) llama-cpp-python's ``Llama.create_completion(stream=True)`` — the usual way to stream;
  (b) Enclave's ``LocalEngine.stream`` — the C API with llama.cpp's own sampler chain;
  (c) Enclave's full ``enclave ask`` path — ``ChatService.send`` with the encrypted history
      (answer persisted as it grows) and the hash-chained audit log.

Tokens/s is measured the same way for all three: tokens after the first, divided by the time
from the first token to the last (decode speed); time to first token is reported apart.
Goals: (b)/(a) ≥ 1.5 and (c) within 5% of (b).

Usage: python bench/engine_throughput.py [--rounds 5] [--tokens 128]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."


class Meter:
    """Timestamps of streamed pieces."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first = 0.0
        self.last = 0.0
        self.count = 0

    def tick(self, *_: object) -> None:
        now = time.perf_counter()
        if self.count == 0:
            self.first = now
        self.last = now
        self.count += 1

    def rate(self, tokens: int) -> float:
        span = self.last - self.first
        return (tokens - 1) / span if tokens > 1 and span > 0 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="0 = greedy; the app's default samples (top-k, top-p, temperature)")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="enclave-bench-")
    os.environ["ENCLAVE_HOME"] = home
    from llama_cpp import Llama

    from app.core.context import open_app
    from app.core.engines.base import ChatMessage, GenerationParams
    from app.core.engines.local import EngineOptions, LocalEngine, physical_cores
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
    llama = Llama(str(model.model.path), n_ctx=n_ctx, n_threads=threads,
                  n_threads_batch=threads, seed=1234, verbose=False)
    # For context only: what an application gets with llama-cpp-python's own defaults
    # (n_threads = cpu_count // 2: one thread on a 2-vCPU machine).
    llama_defaults = Llama(str(model.model.path), n_ctx=n_ctx, seed=1234, verbose=False)

    app = open_app(save=True, passphrase="bench-passphrase")
    app.chat.options = EngineOptions(context_length=n_ctx, threads=threads)
    app.chat.load_model()

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

    def run_c() -> tuple[float, int, float]:
        m = Meter()
        r = app.chat.send(PROMPT, on_token=m.tick, params=params)
        return m.rate(r.completion.completion_tokens), r.completion.completion_tokens, (
            m.first - m.start)

    paths: dict[str, Callable[[], tuple[float, int, float]]] = {
        "a": run_a, "b": run_b, "c": run_c, "d": run_d}
    for fn in paths.values():  # warm-up
        fn()
    results: dict[str, list[tuple[float, int, float]]] = {k: [] for k in paths}
    for _ in range(args.rounds):
        for key, fn in paths.items():
            results[key].append(fn())

    names = {"a": "llama-cpp-python create_completion(stream=True)",
             "b": "Enclave LocalEngine.stream",
             "c": "Enclave ask path (history + audit)",
             "d": "(context) llama-cpp-python with its default threads"}
    med = {k: statistics.median(r[0] for r in v) for k, v in results.items()}
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python {platform.python_version()}"
          f", threads={threads}, model={model.model.id}, rounds={args.rounds}, "
          f"temperature={args.temperature}, max_tokens={args.tokens}")
    for key in paths:
        rates = [r[0] for r in results[key]]
        toks = [r[1] for r in results[key]]
        ttft = statistics.median(r[2] for r in results[key]) * 1000
        print(f"({key}) {names[key]:<50} {med[key]:7.1f} tok/s  "
              f"(min {min(rates):.1f}, max {max(rates):.1f}; tokens {min(toks)}-{max(toks)}; "
              f"TTFT {ttft:.0f} ms)")
    print(f"ratio (b)/(a) = {med['b'] / med['a']:.2f}   goal >= 1.5")
    print(f"ratio (c)/(b) = {med['c'] / med['b']:.3f}  goal >= 0.95")
    print(f"ratio (b)/(d) = {med['b'] / med['d']:.2f}   (Enclave vs llama-cpp-python as "
          f"configured by default, n_threads={llama_defaults.context_params.n_threads})")
    app.close()
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
