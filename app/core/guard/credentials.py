"""Secrets: private keys (with or without their header lines), cloud keys, tokens, passwords.

Why not ``detect-secrets``: it was measured here (1.5.0) and left out. Importing its scanner
imports ``requests`` and ``urllib3`` (its plugins can verify a key against the provider's
API, which an offline redactor must never do); it reports values per line, not spans; its
entropy plugins, used line by line without its file-level filters, flag ordinary words
("my", "key", "and"); and it scanned 1 MB of prose in about 15 s. What it knows that matters
here — the cloud-key formats and an entropy test — fits in this module: the known formats are
regular expressions, and a high-entropy token is judged by :func:`validators.looks_random`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from app.core.guard.finders import Recognizer
from app.core.guard.normalize import Folded
from app.core.guard.validators import (
    looks_random,
    looks_random_hex,
    random_threshold,
    shannon_entropy,
)


def _c(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# The base64 openings of private-key bodies (DER), case-sensitive: OpenSSH ("openssh-key-v1"),
# PKCS#1 RSA (version 0, then the modulus), PKCS#8 RSA (rsaEncryption), SEC1 EC P-256/384/521,
# PKCS#8 EC (id-ecPublicKey), PKCS#8 Ed25519.
_KEY_BODY_OPENINGS = (
    r"b3BlbnNzaC1rZXktdjE|MII[A-Za-z0-9+/]{3}IBAAK[BC]"
    r"|MII[A-Za-z0-9+/]{3}IBADANBgkqhkiG9w0BAQEFAASC|MHcCAQEE|MIGkAgEBBD|MIHcAgEBBE"
    r"|MI[A-Za-z0-9+/]{2}AgEAMB[A-Za-z0-9+/]{2}ByqGSM49AgE|MC4CAQAwBQYDK2VwBCIE"
)
_KEY_BODY_EXACT = re.compile(_KEY_BODY_OPENINGS)


def key_body_ok(candidate: str) -> bool:
    """Whether a base64 block opens like a private key's DER (exact case) and is long enough."""
    return len(candidate) >= 40 and _KEY_BODY_EXACT.match(candidate) is not None


_SECRET_NAMES = (
    r"api[ _-]?key|apikey|api[ _-]?token|access[ _-]?key(?:[ _-]?id)?"
    r"|secret[ _-]?access[ _-]?key|secret[ _-]?key|client[ _-]?secret|auth[ _-]?token"
    r"|access[ _-]?token|private[ _-]?key|secret|token|password|passwd|pwd"
)

RECOGNIZERS: tuple[Recognizer, ...] = (
    # A key body pasted without its BEGIN/END lines: its DER opening gives it away.
    Recognizer(
        "PRIVATE_KEY",
        _c(r"(?<![a-z0-9+/])(?:b3blbnnzac1rzxktdje|mi[a-z0-9+/]{2,4}(?:ibaak|ibadan|ageamb)"
           r"|mhccaqee|migkagebbd|mihcagebbe|mc4caqawbqydk2vwbcie)"
           r"[a-z0-9+/=]*(?:\r?\n[a-z0-9+/=]+)*"),
        key_body_ok,
        priority=1,
    ),
    Recognizer(
        "URL_CREDENTIALS",
        _c(r"\b[a-z][a-z0-9+.-]{1,15}://[^\s/:@]+:[^\s/@]+@[^\s/?#]+[^\s]*"),
        priority=2,
    ),
    # AWS access key ids (in any case), GitHub tokens, JWTs, Slack tokens, OpenAI/Anthropic keys:
    # one pattern of literal openings, each followed by a look back for a word boundary. A
    # leading \b would make ``re`` try every position instead of searching for the literals
    # (12 ms instead of about 40 ms for 1 MB here).
    Recognizer(
        "SECRET",
        _c(r"(?:akia|asia|abia|acca)(?<![a-z0-9_]....)[0-9a-z]{16}\b"
           r"|gh[pousr]_(?<![a-z0-9_]....)[a-z0-9]{36,255}\b"
           r"|github_pat_(?<![a-z0-9_]github_pat_)[a-z0-9_]{22,255}\b"
           r"|eyj(?<![a-z0-9_]eyj)[a-z0-9_-]{5,}\.eyj[a-z0-9_-]{5,}\.[a-z0-9_-]{10,}"
           r"|xox(?<![a-z0-9_]xox)[abposr]-[a-z0-9-]{10,}"
           r"|sk-(?<![a-z0-9_]sk-)(?:proj-|ant-[a-z0-9]+-)?[a-z0-9_-]{20,}"),
        priority=3,
    ),
    # name = value / name: "value": the value goes, the name stays so the text still reads.
    Recognizer(
        "SECRET",
        _c(rf"\b(?:{_SECRET_NAMES})\b[\"']?\s*[:=]\s*[\"']?([^\s\"',;]{{6,}})"),
        group=1,
        priority=4,
    ),
)

_PEM_BEGIN = _c(r"-----begin (?:[a-z0-9]+ )*private key(?: block)?-----")
_PEM_END = _c(r"-----end (?:[a-z0-9]+ )*private key(?: block)?-----")
_PEM_INSIDE = _c(r"[a-z0-9+/=\s:,.-]*")  # what a body and its headers are made of
# Without an END line: header lines (Proc-Type: ...), then base64 words (lines, or lines
# pasted with spaces between them), then one last short word.
_PEM_OPEN_BODY = _c(r"(?:\s*[a-z0-9-]+: [^\n]*)*+(?:\s*[a-z0-9+/=]{16,})*+(?:\s*[a-z0-9+/=]+)?+")


@dataclass(frozen=True)
class PemKeyFinder:
    """A PEM private key: its BEGIN line, body and END line, or as much as is there.

    Linear on hostile text: the END line is searched for once per stretch of text, not once
    per BEGIN line, and the body check stops at the first character a body cannot hold.
    """

    kind: str = "PRIVATE_KEY"
    priority: int = 1

    def find(self, text: Folded) -> Iterator[tuple[int, int]]:
        """Spans of PEM private keys."""
        folded = text.folded
        covered = 0
        end: re.Match[str] | None = None
        no_end_after = len(folded) + 1  # no END line at or after this position
        inside_from, inside_stop = -1, -1  # body characters run from the one to the other
        for begin in _PEM_BEGIN.finditer(folded):
            if begin.start() < covered:
                continue
            if begin.end() < no_end_after and (end is None or end.start() < begin.end()):
                end = _PEM_END.search(folded, begin.end())
                if end is None:
                    no_end_after = begin.end()
            end_at = end.start() if end is not None and end.start() >= begin.end() else -1
            if end_at >= 0 and not inside_from <= begin.end() <= inside_stop:
                inside = _PEM_INSIDE.match(folded, begin.end(), end_at)
                inside_from, inside_stop = begin.end(), inside.end() if inside else -1
            if end is not None and end_at >= 0 and inside_stop >= end_at:
                covered = end.end()
            else:
                body = _PEM_OPEN_BODY.match(folded, begin.end())
                covered = body.end() if body is not None else begin.end()
            yield begin.start(), covered


_TOKEN = _c(r"(?<![a-z0-9+/=_-])[a-z0-9+/_-]{16,}={0,2}(?![a-z0-9+/=_-])")
_HEX = re.compile(r"[0-9a-fA-F]+")
_AWS_KEY_ID = _c(r"\b(?:akia|asia)[0-9a-z]{16}\b")
_SECRET_WORD = _c(r"secret|token|key|passw|pwd|credential|bearer|auth")
_CONTEXT = 40  # characters before a token that may name it a secret


@dataclass(frozen=True)
class HighEntropyFinder:
    """Random-looking tokens: a secret nobody wrote a pattern for.

    Without context a token must be at least 24 characters (32 for hex) and look random
    (:func:`validators.looks_random`). After a word such as "secret", "token" or "key", or when the
    text holds an AWS access key id and the token has an AWS secret key's 40 characters, a
    token of 16 characters or more needs only letters, digits and nearly random entropy.
    """

    kind: str = "SECRET"
    priority: int = 5

    def find(self, text: Folded) -> Iterator[tuple[int, int]]:
        """Spans of random-looking tokens."""
        folded = text.folded
        aws = None  # computed once, and only when a 40-character token shows up
        for m in _TOKEN.finditer(folded):
            start, end = m.span()
            token = text.display(start, end)
            if _HEX.fullmatch(token):
                if len(token) >= 32 and looks_random_hex(token):
                    yield start, end
                continue
            if len(token) >= 24 and looks_random(token):
                yield start, end
                continue
            named = _SECRET_WORD.search(folded, max(0, start - _CONTEXT), start) is not None
            if not named and len(token) == 40:
                if aws is None:
                    aws = _AWS_KEY_ID.search(folded) is not None
                named = aws
            if named and _nearly_random(token):
                yield start, end


def _nearly_random(token: str) -> bool:
    """Whether a token that its context names a secret reads as random.

    It needs letters, nearly random entropy, and digits or else a random string's mixed case
    and few vowels (at most 30% of its letters, against 35-45% in words run together such as
    ``getElementsByTagName``): never a plain word.
    """
    body = token.rstrip("=")
    letters = [c for c in body if c.isalpha()]
    if not letters or shannon_entropy(body) < random_threshold(len(body)) - 0.3:
        return False
    if any(c.isdigit() for c in body):
        return True
    vowels = sum(c in "aeiouAEIOU" for c in letters) / len(letters)
    return any(c.isupper() for c in body) and any(c.islower() for c in body) and vowels <= 0.3


FINDERS = (PemKeyFinder(), HighEntropyFinder())
