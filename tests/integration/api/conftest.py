"""A real local API: open_app on private directories (real keyring, SQLCipher, audit log),
real policy files, the real chat and embedding models, uvicorn on 127.0.0.1, the official
``openai`` client. Each test gets its own server, stopped (every thread ended) afterwards."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest

from app.core.api import ApiServer, Binding, Limits, create_token, plan_binding
from app.core.context import AppContext, open_app
from app.core.docs.embed import EmbeddingFiles
from app.core.paths import AppPaths
from tests.policies import policy_root

MODEL = "smollm2-135m-instruct-q4_1"
EMBEDDING_MODEL = "all-minilm-l6-v2-int8"
API_ON = {"api": {"enabled": True}}
# Short waits, so the tests about them take seconds, not minutes.
TEST_LIMITS = Limits(request_timeout_s=1.5, body_timeout_s=1.5, send_timeout_s=5.0,
                     keep_alive_s=2, max_waiting=8)


@dataclass
class RunningApi:
    """A started server, its session, and the tokens made for the test."""

    server: ApiServer
    ctx: AppContext
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.server.address

    @property
    def port(self) -> int:
        return self.server.port

    def token(self, name: str, **how: Any) -> str:
        """Make a token (``scopes=``, ``route=``, ``expires=``) and return it."""
        made = create_token(self.ctx.history, self.ctx.policy, name, audit=self.ctx.audit,
                            user=self.ctx.chat.user, groups=self.ctx.chat.groups, **how)
        self.tokens[name] = made.secret
        return made.secret

    def client(self, token: str | None = None, **options: Any) -> openai.OpenAI:
        """The official client, no retries, bounded in time."""
        return openai.OpenAI(base_url=self.base_url, api_key=token or self.tokens["main"],
                             max_retries=0, timeout=options.pop("timeout", 60), **options)

    def audit_records(self, event: str | None = None) -> list[dict[str, Any]]:
        path = self.ctx.paths.data_dir / "audit" / "audit.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [r for r in records if event is None or r["event"] == event]


@pytest.fixture
def api_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_model_file: Path,
    embedding_files: EmbeddingFiles,
) -> Callable[..., AppPaths]:
    """Private directories with both models; the policy given becomes the managed file."""

    def make(managed: dict[str, Any] | None = None) -> AppPaths:
        site = tmp_path / "site-models"
        if not site.exists():
            site.mkdir()
            for f in (default_model_file, embedding_files.model, embedding_files.tokenizer):
                (site / f.name).symlink_to(f)
        monkeypatch.setenv("ENCLAVE_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("ENCLAVE_SITE_MODELS_DIR", str(site))
        root = policy_root(tmp_path, managed if managed is not None else API_ON)
        return AppPaths.under(tmp_path / "home", site_models_dir=site,
                              policy_root=root).ensure()

    return make


@pytest.fixture
def start_api(api_paths: Callable[..., AppPaths]) -> Iterator[Callable[..., RunningApi]]:
    """Start the API: ``start_api(managed=…, limits=…, binding=…)``; a ``main`` token exists
    (scopes chat and embeddings). Everything is stopped after the test."""
    started: list[RunningApi] = []

    def start(managed: dict[str, Any] | None = None, limits: Limits = TEST_LIMITS,
              binding: Binding | None = None, scopes: str = "chat,embeddings") -> RunningApi:
        ctx = open_app(api_paths(managed))
        try:
            server = ApiServer(ctx, binding or plan_binding(ctx.policy, port=0), limits)
        except BaseException:
            ctx.close()
            raise
        running = RunningApi(server, ctx)
        started.append(running)
        running.token("main", scopes=scopes)
        server.start()
        return running

    yield start
    for running in started:
        running.server.stop()
        running.ctx.close()
