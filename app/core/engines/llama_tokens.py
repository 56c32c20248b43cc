"""Token-level llama.cpp C-API helpers of the local engine.

Turning text into tokens and a token back into text, building llama.cpp's own sampler chain
for a request's parameters, and finding a stop string in generated text. None of them runs
per generated token except ``find_stop`` (only when the request has stop strings): the token
loop itself stays in ``LocalEngine._generate``, where its speed is measured.
"""

from __future__ import annotations

import ctypes
import random
from typing import Any

import llama_cpp as C

from app.core.engines.base import EngineError, GenerationParams


def token_text(vocab: Any, buf: ctypes.Array[ctypes.c_char], token: int) -> str:
    """A special token's text (``<s>``, ``<|im_end|>``), or "" for no token (-1).

    Args:
        vocab: The model's ``llama_vocab``.
        buf: A 256-byte scratch buffer for the piece.
        token: The token id.
    """
    if token < 0:
        return ""
    n = C.llama_token_to_piece(vocab, token, buf, 256, 0, True)
    return buf.raw[: max(0, n)].decode("utf-8", "replace")


def tokenize(vocab: Any, text: str, *, special: bool, add_bos: bool) -> list[int]:
    """Tokenize text; ``special`` lets control-token strings become control tokens.

    Raises:
        EngineError: llama.cpp could not tokenize the text.
    """
    data = text.encode("utf-8")
    cap = len(data) + 8
    buf = (C.llama_token * cap)()
    n = C.llama_tokenize(vocab, data, len(data), buf, cap, add_bos, special)
    if n < 0:  # the buffer was too small; -n is the size needed
        cap = -n
        buf = (C.llama_token * cap)()
        n = C.llama_tokenize(vocab, data, len(data), buf, cap, add_bos, special)
    if n < 0:
        # llama-cpp-python's own error here embeds the whole text; ours never does.
        raise EngineError("The text could not be tokenized.", "Try rephrasing the message.")
    return list(buf[:n])


def make_sampler(vocab: Any, params: GenerationParams) -> Any:
    """llama.cpp's sampler chain for these parameters; the caller frees it.

    Penalties first, then greedy (temperature 0) or top-k, top-p, temperature and a seeded
    draw (a random seed when ``params.seed`` is negative).
    """
    chain = C.llama_sampler_chain_init(C.llama_sampler_chain_default_params())
    if params.repeat_penalty != 1.0:
        C.llama_sampler_chain_add(
            chain,
            C.llama_sampler_init_penalties(
                C.llama_vocab_n_tokens(vocab), params.repeat_last_n,
                params.repeat_penalty, 0.0, 0.0,
            ),
        )
    if params.temperature <= 0:
        C.llama_sampler_chain_add(chain, C.llama_sampler_init_greedy())
        return chain
    seed = params.seed if params.seed >= 0 else random.SystemRandom().randrange(2**31)
    if params.top_k > 0:
        C.llama_sampler_chain_add(chain, C.llama_sampler_init_top_k(params.top_k))
    if 0 < params.top_p < 1:
        C.llama_sampler_chain_add(chain, C.llama_sampler_init_top_p(params.top_p, 1))
    C.llama_sampler_chain_add(chain, C.llama_sampler_init_temp(params.temperature))
    C.llama_sampler_chain_add(chain, C.llama_sampler_init_dist(seed))
    return chain


def find_stop(text: str, stops: tuple[str, ...]) -> int:
    """Where the earliest stop string begins in ``text``, or -1."""
    positions = [text.find(s) for s in stops if s]
    found = [p for p in positions if p >= 0]
    return min(found) if found else -1
