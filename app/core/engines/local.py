"""The local engine: llama.cpp through llama-cpp-python's C API.

llama-cpp-python's high-level ``create_completion(stream=True)`` samples in Python and loses
about half of llama.cpp's speed on small models. This engine drives the C API directly:
decode one token, let llama.cpp's own sampler chain pick the next, turn it into bytes, repeat.
Per token that is four short ctypes calls and no Python-side arithmetic over the vocabulary.

One ``LocalEngine`` owns one model and one context. llama.cpp runs one generation per context
at a time, so ``stream`` holds a lock: a second caller waits for the first to finish.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import llama_cpp as C

from app.core.engines.backend import init_backend
from app.core.engines.base import (
    ChatMessage,
    Completion,
    ContextOverflow,
    EngineError,
    EngineInfo,
    FinishReason,
    GenerationParams,
    TokenCallback,
)
from app.core.engines.base import EngineOptions as EngineOptions  # re-exported
from app.core.engines.chat_template import Segment
from app.core.engines.llama_load import LoadProgress as LoadProgress  # re-exported
from app.core.engines.llama_load import (
    context_size,
    create_context,
    gpu_label,
    gpu_layer_count,
    load_model,
    model_chat_template,
    warm_up,
)
from app.core.engines.llama_tokens import find_stop, make_sampler, tokenize
from app.core.engines.threads import ThreadController, physical_cores
from app.core.models.errors import ModelLoadFailed
from app.core.models.inspect import GGUFInfo

log = logging.getLogger(__name__)


class LocalEngine:
    """A loaded GGUF model answering chat turns."""

    def __init__(
        self,
        path: Path,
        gguf: GGUFInfo,
        *,
        model_id: str,
        sha256: str,
        options: EngineOptions | None = None,
        on_progress: LoadProgress | None = None,
        first_use: bool = False,
    ) -> None:
        """Load a model that has already passed inspection and digest checks.

        Args:
            path: The GGUF file.
            gguf: Its inspected metadata.
            model_id: The id shown to people.
            sha256: The file's digest.
            options: How to load it.
            on_progress: Called with the load fraction; returning False stops the load.
            first_use: Decode a real prompt and a few answer tokens while loading, not just
                one token: the check for a model, build and machine not seen together
                before (a kernel that crashes on this CPU crashes here, in the engine process).

        Raises:
            ModelLoadFailed: llama.cpp refused the file or ran out of memory.
        """
        init_backend()
        opts = options or EngineOptions()
        self._lock = threading.Lock()
        self._closed = False
        n_ctx = context_size(gguf.context_length, opts.context_length)
        gpu_layers = gpu_layer_count(opts.gpu_layers)
        cores = physical_cores()
        # Threads adapt to a busy machine between decodes; a setting > 0 pins them.
        self._gen_threads = ThreadController(cores, pinned=opts.threads)
        self._batch_threads = ThreadController(cores, pinned=opts.threads)
        threads = self._gen_threads.threads

        # The engine keeps the progress callback: llama.cpp holds a raw pointer to it.
        self._model, self._progress_cb = load_model(
            path, gpu_layers=gpu_layers, extra_bufts=opts.extra_bufts, on_progress=on_progress
        )
        self._ctx = create_context(
            self._model, path, n_ctx=n_ctx, batch_size=opts.batch_size, threads=threads
        )
        self._vocab = C.llama_model_get_vocab(self._model)
        self._mem = C.llama_get_memory(self._ctx)
        self._n_ctx = int(C.llama_n_ctx(self._ctx))
        self._cached: list[int] = []  # tokens whose KV entries are in the context
        self._piece_buf = ctypes.create_string_buffer(256)
        self._add_bos = bool(C.llama_vocab_get_add_bos(self._vocab))
        self._template = model_chat_template(self._model, self._vocab, self._piece_buf)
        self._info = self._describe(model_id, sha256, threads, gpu_layers, opts.extra_bufts)
        if first_use:
            self._first_use_check()
        else:
            warm_up(self._ctx, self._vocab, self._mem)
        log.info("loaded %s: n_ctx=%d threads=%d gpu_layers=%d extra_bufts=%s", model_id,
                 self._n_ctx, threads, gpu_layers, opts.extra_bufts)

    def _describe(
        self, model_id: str, sha256: str, threads: int, gpu_layers: int, extra_bufts: bool
    ) -> EngineInfo:
        """What ``info`` reports: the model, where its layers run and how it was loaded."""
        return EngineInfo(
            model_id=model_id, model_sha256=sha256, route="local",
            device=gpu_label() if gpu_layers > 0 else "CPU", context_length=self._n_ctx,
            extra={"threads": str(threads), "gpu_layers": str(gpu_layers),
                   "extra_bufts": "on" if extra_bufts else "off"},
        )

    def _first_use_check(self) -> None:
        """Decode a real prompt of a few dozen tokens and four answer tokens, then forget them.

        A one-token warm-up does not reach the batched kernels (AMX, repacked Q4/Q8) that
        crash on some CPUs; a real prompt does.

        Raises:
            ModelLoadFailed: llama.cpp returned an error instead of an answer.
        """
        messages = [ChatMessage("system", "You are a concise assistant."),
                    ChatMessage("user", FIRST_USE_PROMPT)]
        try:
            prompt = self.prompt_tokens(messages)
            params = GenerationParams(temperature=0.0, max_tokens=4)
            done = self._generate(prompt, params, lambda _piece: None, None, time.perf_counter())
        except EngineError as exc:
            raise ModelLoadFailed(f"llama.cpp could not run the model: {exc.message}") from exc
        finally:
            self._reset_cache()
        if done.finish_reason == "error":
            raise ModelLoadFailed(f"llama.cpp could not run the model: {done.error}")

    @property
    def info(self) -> EngineInfo:
        """Who is answering."""
        return self._info

    # --- tokens -------------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool, add_bos: bool = False) -> list[int]:
        """Tokenize text; ``special`` lets control-token strings become control tokens.

        Raises:
            EngineError: llama.cpp could not tokenize the text.
        """
        return tokenize(self._vocab, text, special=special, add_bos=add_bos)

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """Render the chat template and tokenize it, user text as plain text."""
        segments: list[Segment] = self._template.render(messages)
        tokens: list[int] = []
        for i, seg in enumerate(segments):
            tokens += self.tokenize(seg.text, special=seg.trusted, add_bos=i == 0 and self._add_bos)
        return tokens

    # --- generation ---------------------------------------------------------------------

    def _set_threads(self) -> None:
        C.llama_set_n_threads(self._ctx, self._gen_threads.threads, self._batch_threads.threads)

    @property
    def threads_state(self) -> str:
        """What the thread controller is doing, in words (``1 of 2 threads (machine busy)``)."""
        return self._gen_threads.describe()

    def _decode(self, tokens: list[int]) -> None:
        """Feed tokens to the context in batches."""
        step = 512
        for start in range(0, len(tokens), step):
            chunk = tokens[start : start + step]
            arr = (C.llama_token * len(chunk))(*chunk)
            began = time.perf_counter()
            rc = C.llama_decode(self._ctx, C.llama_batch_get_one(arr, len(chunk)))
            if rc == 0 and len(chunk) >= MIN_TIMED_BATCH:
                # Prompt processing has its own best thread count (it is compute-bound).
                before = self._batch_threads.threads
                if self._batch_threads.observe(
                        (time.perf_counter() - began) / len(chunk)) != before:
                    self._set_threads()
            if rc != 0:
                self._reset_cache()
                raise EngineError(
                    f"llama.cpp failed to process the prompt (code {rc}).",
                    "Start a new conversation or lower the context length.",
                )
            self._cached.extend(chunk)

    def _reset_cache(self) -> None:
        C.llama_memory_clear(self._mem, True)
        self._cached = []

    def _reuse_prefix(self, prompt: list[int]) -> list[int]:
        """Keep the KV entries shared with the last call; return the tokens still to decode.

        A chat resends the whole conversation each turn: only the new tail needs decoding.
        """
        common = 0
        for a, b in zip(self._cached, prompt, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(prompt) - 1)  # always decode at least one token for logits
        if common <= 0:
            self._reset_cache()
            return prompt
        if not C.llama_memory_seq_rm(self._mem, 0, common, -1):
            self._reset_cache()
            return prompt
        del self._cached[common:]
        return prompt[common:]

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_token: TokenCallback,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """Generate an answer; see ``ChatEngine.stream``.

        Raises:
            ContextOverflow: the prompt alone does not fit the context.
            ChatTemplateError: the template failed.
            EngineError: the engine is closed or llama.cpp failed.
        """
        started = time.perf_counter()
        with self._lock:
            if self._closed:
                raise EngineError("The model has been unloaded.", "Load the model again.")
            prompt = self.prompt_tokens(messages)
            return self._generate(prompt, params, on_token, cancel, started)

    def complete_tokens(
        self,
        prompt: list[int],
        params: GenerationParams,
        on_token: TokenCallback,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """Generate from already-tokenized input (benchmarks and tests)."""
        started = time.perf_counter()
        with self._lock:
            return self._generate(prompt, params, on_token, cancel, started)

    def _generate(
        self,
        prompt: list[int],
        params: GenerationParams,
        on_token: TokenCallback,
        cancel: threading.Event | None,
        started: float,
    ) -> Completion:
        # Stays long: the token loop keeps its state in locals, and a helper call per token
        # would cost throughput (bench/engine_throughput.py measures it).
        budget = self._token_budget(prompt, params)
        sampler = make_sampler(self._vocab, params)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pieces: list[str] = []
        held = ""  # text withheld while it might be the start of a stop string
        max_stop = max((len(s) for s in params.stop), default=0)
        finish: FinishReason = "length"
        n_out = 0
        first_at = 0.0
        error: str | None = None
        vocab, ctx, buf = self._vocab, self._ctx, self._piece_buf
        token_arr = (C.llama_token * 1)()
        threads = self._gen_threads
        current = threads.threads
        clock = time.perf_counter
        last_step = 0.0  # when the previous token's decode ended
        try:
            self._decode(self._reuse_prefix(prompt))
            while n_out < budget:
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                token = C.llama_sampler_sample(sampler, ctx, -1)
                if C.llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                n_out += 1
                if n_out == 1:
                    first_at = time.perf_counter()
                n = C.llama_token_to_piece(vocab, token, buf, 256, 0, False)
                text = decoder.decode(buf.raw[: max(0, n)])
                if text:
                    if max_stop:
                        held += text
                        hit = find_stop(held, params.stop)
                        if hit >= 0:
                            pieces.append(held[:hit])
                            if held[:hit]:
                                on_token(held[:hit])
                            held = ""
                            finish = "stop"
                            break
                        cut = len(held) - (max_stop - 1)
                        if cut > 0:
                            emit, held = held[:cut], held[cut:]
                            pieces.append(emit)
                            on_token(emit)
                    else:
                        pieces.append(text)
                        on_token(text)
                token_arr[0] = token
                rc = C.llama_decode(ctx, C.llama_batch_get_one(token_arr, 1))
                # The controller moves the thread count to whatever is fastest right now
                # (fewer threads when another process holds a core); it takes effect on
                # the next decode. It is fed the whole token's time, sampling included:
                # llama.cpp's idle workers spin after a decode and slow what follows it.
                now = clock()
                if last_step and threads.observe(now - last_step) != current:
                    current = threads.threads
                    self._set_threads()
                    now = clock()
                last_step = now
                if rc != 0:
                    self._reset_cache()
                    finish, error = "error", f"llama.cpp failed while generating (code {rc})"
                    break
                self._cached.append(token)
        except BaseException:
            # An exception from on_token or a KeyboardInterrupt leaves the KV cache in an
            # unknown state relative to self._cached.
            self._reset_cache()
            raise
        finally:
            C.llama_sampler_free(sampler)
        tail = held + decoder.decode(b"", final=True)
        if tail and finish != "stop":
            pieces.append(tail)
            on_token(tail)
        ended = time.perf_counter()
        rate = (n_out - 1) / (ended - first_at) if n_out > 1 and ended > first_at else 0.0
        return Completion(
            text="".join(pieces), finish_reason=finish, prompt_tokens=len(prompt),
            completion_tokens=n_out, ttft_s=(first_at - started) if n_out else 0.0,
            total_s=ended - started, tokens_per_s=rate, error=error,
            engine_state=threads.describe(),
        )

    def _token_budget(self, prompt: list[int], params: GenerationParams) -> int:
        """How many tokens the answer may have: ``max_tokens``, capped by the room left.

        Raises:
            ContextOverflow: the prompt alone fills the context.
        """
        if len(prompt) >= self._n_ctx:
            raise ContextOverflow(
                f"The conversation needs {len(prompt)} tokens but the model's context holds "
                f"{self._n_ctx}.",
                "Start a new conversation, or raise the context length in settings.",
            )
        return min(params.max_tokens, self._n_ctx - len(prompt))

    def close(self) -> None:
        """Free the context and the model; later calls raise ``EngineError``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            C.llama_free(self._ctx)
            C.llama_model_free(self._model)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()


MIN_TIMED_BATCH = 16  # shorter prompt tails are dominated by fixed costs, not threads
FIRST_USE_PROMPT = (
    "In two short sentences, explain why a lighthouse keeper records the weather every "
    "evening, and name one instrument the keeper would use to do it."
)

