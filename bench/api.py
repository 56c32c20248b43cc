"""The local API against `enclave ask`, and the API under load.

One process, one session (``open_app`` on a temporary home, passphrase mode, a temporary
policy that turns the API on), the real default model:

  (c) the `enclave ask` path — ``ChatService.send`` on the session's own service (history
      written as it grows, audit record), tokens counted as they reach the callback;
  (api) the same prompt, seed and token budget streamed through the API with the official
      ``openai`` client over 127.0.0.1 (auth, queue, the API's own ChatService, SSE), tokens
      counted as chunks reach the client.

The two alternate round by round after a warm-up. Tokens/s is decode speed (tokens after the
first over the time from the first to the last), time to first token is from the call to
the first piece of text. Goals: (api)/(c) tok/s ≥ 0.95, TTFT added < 10 ms.

Then load: ``--clients`` streaming clients, each started once the one before it reached the
server's queue (all must finish, and get their first token in the order they came), while
another client asks ``GET /v1/models`` in a loop: its median and p99 latency under that
load (and idle, for comparison).

Usage: python bench/api.py [--rounds 5] [--tokens 128] [--clients 8] [--load-tokens 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from engine_throughput import machine_line
from machine import Meter as StreamMeter  # bench/ is the script's directory

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."
PASSPHRASE = "bench passphrase, not a secret"


class Meter(StreamMeter):
    """Timestamps of streamed pieces, and the time to the first."""

    @property
    def ttft(self) -> float:
        return self.first - self.start


def session(home: Path) -> Any:
    """open_app on a private home with the provisioned models and the API turned on."""
    from app.core.context import open_app
    from app.core.paths import AppPaths, default_paths

    real = default_paths()
    site = home / "site"
    site.mkdir(parents=True)
    for directory in (real.user_models_dir, real.site_models_dir):
        for f in directory.glob("*") if directory.is_dir() else []:
            if not (site / f.name).exists():
                (site / f.name).symlink_to(f)
    policies = home / "policies"
    (policies / "managed").mkdir(parents=True)
    (policies / "recommended").mkdir()
    for d in (policies, policies / "managed", policies / "recommended"):
        os.chmod(d, 0o755)
    (policies / "managed" / "10-api.json").write_text(
        '{"schema_version": 1, "api": {"enabled": true}}')
    os.environ["ENCLAVE_HOME"] = str(home / "home")
    paths = AppPaths.under(home / "home", site_models_dir=site, policy_root=policies)
    return open_app(paths, passphrase=PASSPHRASE)


def ask_round(ctx: Any, params: Any) -> tuple[float, float]:
    meter = Meter()
    result = ctx.chat.send(PROMPT, on_token=meter.tick, params=params)
    return meter.rate(result.completion.completion_tokens), meter.ttft


def api_round(client: Any, model: str, tokens: int, seed: int, temperature: float
              ) -> tuple[float, float]:
    meter = Meter()
    used = 0
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=tokens,
        seed=seed, temperature=temperature, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            meter.tick()
        if chunk.usage:
            used = chunk.usage.completion_tokens
    return meter.rate(used), meter.ttft


def compare(ctx: Any, client: Any, model: str, args: argparse.Namespace) -> None:
    from dataclasses import replace

    params = replace(ctx.chat.params, max_tokens=args.tokens, temperature=args.temperature)
    ask_round(ctx, replace(params, seed=1))  # warm-up, both paths
    api_round(client, model, args.tokens, 1, args.temperature)
    ask: list[tuple[float, float]] = []
    api: list[tuple[float, float]] = []
    for r in range(args.rounds):
        seed = 100 + r
        for path in ("ask", "api") if r % 2 == 0 else ("api", "ask"):
            if path == "ask":
                ask.append(ask_round(ctx, replace(params, seed=seed)))
            else:
                api.append(api_round(client, model, args.tokens, seed, args.temperature))
    c_rate = statistics.median(x[0] for x in ask)
    a_rate = statistics.median(x[0] for x in api)
    c_ttft = statistics.median(x[1] for x in ask) * 1000
    a_ttft = statistics.median(x[1] for x in api) * 1000
    print(f"(c) enclave ask path     {c_rate:7.1f} tok/s   TTFT {c_ttft:7.1f} ms")
    print(f"(api) streamed via API   {a_rate:7.1f} tok/s   TTFT {a_ttft:7.1f} ms")
    print(f"(api)/(c) tok/s {a_rate / c_rate:.3f} (goal >= 0.95); "
          f"TTFT added {a_ttft - c_ttft:+.1f} ms (goal < 10)")
    print("  per round (c):", ", ".join(f"{r:.1f}/{t * 1000:.0f}ms" for r, t in ask))
    print("  per round (api):", ", ".join(f"{r:.1f}/{t * 1000:.0f}ms" for r, t in api))


def models_latency(client: Any, stop: threading.Event, out: list[float]) -> None:
    # Paced (50 a second), so the probe measures the server rather than loading the machine.
    while not stop.wait(0.02):
        t = time.perf_counter()
        client.models.list()
        out.append(time.perf_counter() - t)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load(client_for: Any, model: str, args: argparse.Namespace, queue: Any) -> None:
    idle: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=models_latency, args=(client_for(), stop, idle))
    probe.start()
    time.sleep(2)
    stop.set()
    probe.join()
    firsts: dict[int, float] = {}
    done: dict[int, float] = {}
    errors: list[str] = []

    def stream(i: int) -> None:
        try:
            chunks = client_for().chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"Tell me about {i}."}],
                max_tokens=args.load_tokens, stream=True)
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    firsts.setdefault(i, time.perf_counter())
            done[i] = time.perf_counter()
        except Exception as exc:  # noqa: BLE001 - counted and printed
            errors.append(f"{i}: {exc!r}")

    busy: list[float] = []
    before = queue.accepted
    stop = threading.Event()
    probe = threading.Thread(target=models_latency, args=(client_for(), stop, busy))
    probe.start()
    started = time.perf_counter()
    threads = []
    for i in range(args.clients):
        t = threading.Thread(target=stream, args=(i,))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 30
        while queue.accepted < before + i + 1 and time.monotonic() < deadline:
            time.sleep(0.002)  # it arrived: the next one comes after it
    for t in threads:
        t.join(600)
    stop.set()
    probe.join()
    order = sorted(firsts, key=firsts.__getitem__)
    print(f"{args.clients} concurrent streaming clients ({args.load_tokens} tokens each): "
          f"{len(done)} completed, {len(errors)} failed in {time.perf_counter() - started:.1f} s;"
          f" first-token order {order} -> {'kept' if order == sorted(order) else 'NOT kept'}")
    for e in errors:
        print("  failed:", e)
    print(f"GET /v1/models idle: n={len(idle)} median {statistics.median(idle) * 1000:.2f} ms "
          f"p99 {percentile(idle, 99) * 1000:.2f} ms")
    print(f"GET /v1/models under that load: n={len(busy)} median "
          f"{statistics.median(busy) * 1000:.2f} ms p99 {percentile(busy, 99) * 1000:.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--load-tokens", type=int, default=32)
    args = parser.parse_args()
    print(machine_line())
    import openai

    from app.core.api import ApiServer, Limits, create_token, plan_binding

    with tempfile.TemporaryDirectory(prefix="enclave-bench-api-") as tmp:
        ctx = session(Path(tmp))
        server = ApiServer(ctx, plan_binding(ctx.policy, port=0),
                           Limits(max_waiting=max(16, args.clients * 2)))
        try:
            token = create_token(ctx.history, ctx.policy, "bench").secret
            model = ctx.chat.load_model().model_id
            server.turns.chat.load_model(model)
            address = server.start()

            def client_for() -> Any:
                return openai.OpenAI(base_url=address, api_key=token, max_retries=0,
                                     timeout=600)

            compare(ctx, client_for(), model, args)
            load(client_for, model, args, server.chat_lane.queue)
        finally:
            server.stop()
            ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
