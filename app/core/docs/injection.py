r"""Heuristics for passages that read like instructions aimed at the model, or at the reader.

A document is data. Text inside one that tells "the assistant" to ignore its instructions,
take on a new role, or send something to an address is the signature of a prompt injection;
so are a chat template's control tokens (``<|im_start|>system``), a spreadsheet formula in a
cell (``=HYPERLINK(...)``, which runs when the data is opened in a spreadsheet again), and a
request for the reader's password. These patterns only flag: the passage is still shown to
the user (who may need to see it), and the grounded prompt already tells the model that
sources are not instructions.

Text is normalised first (NFKC, invisible characters removed) because an attacker writes
``<｜im_start｜>`` or ``pass\u200bword`` to slip past a pattern while a model reads them the
same. False positives matter too: ``tests/unit/core/docs/corpus/ordinary`` holds ordinary
documents that must come through unflagged, so each pattern is as narrow as its attacks.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable

# Unicode "tag" characters: invisible ASCII look-alikes.
_TAG_CHARS = re.compile("[\U000E0000-\U000E007F]")
_VARIATION_SELECTORS = (range(0xFE00, 0xFE10), range(0xE0100, 0xE01F0))
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'"})


def _invisible(ch: str) -> bool:
    code = ord(ch)
    if any(code in r for r in _VARIATION_SELECTORS):
        return True
    # Cf: zero-width space and joiners, soft hyphen, bidi controls, word joiner, BOM.
    return unicodedata.category(ch) == "Cf"


@functools.lru_cache(maxsize=8192)
def _fold(ch: str) -> str:
    """What one non-ASCII character becomes before NFKC: ASCII for a tag, '' if invisible."""
    code = ord(ch)
    if 0xE0020 <= code <= 0xE007E:
        return chr(code - 0xE0000)
    return "" if _invisible(ch) else ch


def _has_tags(text: str) -> bool:
    return not text.isascii() and _TAG_CHARS.search(text) is not None


def normalise(text: str) -> str:
    """The text as a model reads it: invisible characters out, compatibility forms folded.

    Unicode tag characters (U+E0020-U+E007E) spell ASCII that no reader sees but models
    read ("ASCII smuggling"): they are turned into that ASCII, not dropped.
    """
    # Every retrieved passage is checked, so this runs on each question's sources: a loop
    # over characters in Python cost ≈30 ms a question (bench/README.md). ASCII has nothing
    # invisible and is its own NFKC form; other text is folded through a table of its
    # distinct characters.
    if text.isascii():
        return text
    table = {ord(ch): _fold(ch) for ch in set(text) if not ch.isascii()}
    return unicodedata.normalize("NFKC", text.translate(table)).translate(_QUOTES)


def _search(pattern: str, flags: int = re.IGNORECASE) -> Callable[[str], bool]:
    compiled = re.compile(pattern, flags)
    return lambda text: compiled.search(text) is not None


# -- chat-template control tokens ----------------------------------------------------------

# ChatML, Llama 3, Phi, Zephyr and DeepSeek (after NFKC) all write special tokens <|name|>;
# Llama 2 and Mistral use [INST] and <<SYS>>; Gemma <start_of_turn>.
_control_tokens = _search(
    r"<\|[^|<>\s]{1,40}\|>"
    r"|\[/?INST\]|<</?SYS>>|</?(?:start|end)_of_turn>"
    r"|\[/?(?:SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS)\]",
    flags=0,
)

# -- spreadsheet formulas (CSV injection) --------------------------------------------------

# A cell starts a line, follows a separator (raw CSV, a Markdown table, or the
# "header: value; header: value" lines the CSV extractor writes), or a tab or CR, which
# spreadsheets skip before a formula; in raw CSV the cell may open with a quote. (A leading
# apostrophe is the spreadsheet's own escape: '=A1 is text, so it is not matched.)
_CELL = r'(?:^|[\t\r,;|]|[:;,|][ ]+)[ \t\r]*"?'
_RISKY_FUNCTIONS = (
    r"(?:HYPERLINK|IMPORT[A-Z]*|IMAGE|WEBSERVICE|FILTERXML|ENCODEURL|DDE|DDEAUTO|CALL|"
    r"REGISTER(?:\.ID)?|EXEC|RTD)"
)
_formula_patterns = [
    # "=" opens a formula in every spreadsheet: any function call counts.
    re.compile(_CELL + r"=\s*[A-Za-z_][\w.]*\s*\(", re.MULTILINE),
    # "+", "-" and "@" also open one, but start list items, numbers and decorators in
    # ordinary text: only a known risky function or an upper-case spreadsheet function.
    re.compile(_CELL + r"(?:[+-]|@\s*)(?:(?i:" + _RISKY_FUNCTIONS + r")|[A-Z][A-Z0-9.]*)\(",
               re.MULTILINE),
    # Dynamic Data Exchange runs a program: cmd|' /C calc'!A0, wherever it appears.
    re.compile(r"\b\w+\|\s*'[^'\n]{0,200}'\s*!"),
]


def _formula(text: str) -> bool:
    return any(p.search(text) for p in _formula_patterns)


# -- requests for credentials --------------------------------------------------------------

_SECRET = (
    r"(?:pass(?:word|phrase|code)s?|pass words?|(?-i:PINs?)|credentials?|"
    r"(?:login|log-in|sign-in|account|bank(?:ing)?)\s+(?:details|credentials|information)|"
    r"(?:one[- ]time|verification|security|authentication|MFA|2FA|OTP|SMS)\s+(?:pass)?"
    r"(?:codes?|pins?|tokens?)|OTPs?|(?:API|secret|private|access)\s+(?:keys?|tokens?)|"
    r"card\s+(?:numbers?|details)|CVV|social\s+security\s+numbers?)"
    # "password policy" is a topic, not a request.
    r"\b(?!\s+(?:polic(?:y|ies)|manager|vault|reset|rules?|requirements?|strength|expir\w*|"
    r"length|history|change))"
)
_WHOSE = r"(?:your|the\s+user'?s|users'|their)\s+(?:[\w-]+\s+){0,3}?"
_credential_patterns = [
    # Disclosure verbs: "send me your MFA code", "reply with your username and password".
    re.compile(
        r"\b(?:send|e-?mail|text|share|provide|give|tell|disclose|forward|submit|include|post"
        r"|dictate|(?:reply|respond|answer)(?:\s+to\s+(?:this|the|my|our)\s+\w+)?\s+with)"
        r"(?:\s+(?:me|us|them|him|her|back|it))?\s+" + _WHOSE + _SECRET,
        re.IGNORECASE,
    ),
    # "tell me the one-time code": "the" only with someone to tell, else it is prose.
    re.compile(r"\b(?:send|e-?mail|text|give|tell|show)\s+(?:me|us)\s+the\s+(?:[\w-]+\s+){0,3}?"
               + _SECRET, re.IGNORECASE),
    # Entering or confirming a secret is ordinary, unless it goes here, in a reply, or to a
    # link: "confirm your password at http://...", "paste your API key here".
    re.compile(
        r"\b(?:type|enter|write|paste|put|confirm|verify|validate|update|re-?enter)\s+(?:in\s+)?"
        + _WHOSE + _SECRET + r"[^.\n]{0,60}?(?:https?://|www\.|\bhere\b|\bbelow\b|"
        r"\bin\s+(?:the|this|your|a)\s+(?:reply|response|chat|message|answer|e-?mail)\b|"
        r"\bby\s+(?:reply(?:ing)?|e-?mail|clicking|following)\b|\bto\s+(?:me|us)\b)",
        re.IGNORECASE,
    ),
    re.compile(r"\bwhat(?:'s|\s+is|\s+are)\s+" + _WHOSE + _SECRET, re.IGNORECASE),
    # Aimed at the model: "ask the user for their password".
    re.compile(
        r"\b(?:ask|prompt|pressure|get)\s+(?:the\s+)?(?:user|reader|customer|them)s?\s+"
        r"(?:for|to\s+(?:send|give|share|provide|enter|type|confirm|tell))\s+"
        r"(?:their|his|her|the|a|your)\s+(?:[\w-]+\s+){0,3}?" + _SECRET
        + r"|\b(?:request|require|obtain|collect|harvest)\s+" + _WHOSE + _SECRET,
        re.IGNORECASE,
    ),
]
# "IT will never ask you to send your password": a request that is denied is advice.
_NEGATION = re.compile(
    r"\b(?:never|not|no\s+one|nobody|cannot)\b|n't\b", re.IGNORECASE
)
_NOT_NEGATING = re.compile(
    r"\b(?:do\s+not|don't|never)\s+(?:hesitate|forget|delay)\b", re.IGNORECASE
)


def _negated(text: str, start: int) -> bool:
    clause_start = max(text.rfind(c, 0, start) for c in ".!?;\n") + 1
    before = _NOT_NEGATING.sub("", text[max(clause_start, start - 100) : start])
    return _NEGATION.search(before) is not None


def _credentials(text: str) -> bool:
    for pattern in _credential_patterns:
        for match in pattern.finditer(text):
            if not _negated(text, match.start()):
                return True
    return False


# -- instructions, new roles, exfiltration -------------------------------------------------

_ignore_instructions = _search(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(previous|prior|above|"
    r"earlier|preceding|all|any|your|system)\b[^.\n]{0,30}\b(instructions?|prompts?|rules|"
    r"directions|guidelines|context)\b"
)
# "Act as" only as an order ("Dana will act as the point of contact" is a meeting note).
_new_role = _search(
    r"\byou are now\b|\bfrom now on,? you\b|(?:^|[.!?:]\s+)act as (?:an?|the)\b"
    r"|\bpretend (?:to be|you are)\b|\bnew (?:system )?instructions?\s*:",
    flags=re.IGNORECASE | re.MULTILINE,
)
# Talking about system prompts or jailbreaks is a topic (an acceptable-use policy does);
# asking to reveal one or to switch modes is not.
_addresses_ai = _search(
    r"\b(?:dear|attention|note to(?: the)?|hey)\s+(?:AI|assistant|language model|LLM|chatbot)"
    r"\b(?!\s+(?:manager|director|editor|to\b))"
    r"|\b(?:reveal|print|show|repeat|output|display|leak|dump|disclose)\s+(?:me\s+)?(?:your|"
    r"the)\s+(?:system\s+prompt|hidden\s+instructions|initial\s+instructions)"
    r"|\b(?:enable|enter|activate|switch\s+(?:on|to)|turn\s+on)\s+(?:the\s+)?developer\s+mode"
    r"|\bjailbr(?:eak|oken)\s+mode\b|\byou\s+(?:are|have\s+been)\s+jailbroken\b|\bDAN\s+mode\b"
)
_SEND_TO = re.compile(
    r"\b(send|post|upload|forward|e-?mail|transmit|exfiltrate|submit|leak|report)\b"
    # The gap stays in one sentence: "...by email or phone. Report it to x@y" is two.
    r"(?:[^\n.!?]|\.(?!\s)){0,80}?(https?://|www\.|[\w.+-]+@[\w-]+\.[\w.]+)", re.IGNORECASE
)
# Sending the minutes to finance@ is work; sending what the assistant holds is the attack.
_WHAT_THE_ASSISTANT_HOLDS = re.compile(
    r"\b(?:conversation|chat|history|transcript|prompts?|context|instructions|messages|"
    r"passwords?|credentials?|secrets?|api\s+keys?|tokens?|keys|everything|the\s+user'?s?"
    r"|all\s+(?:the\s+|of\s+the\s+)?(?:data|documents|files|text|information)|the\s+above"
    r"|this\s+(?:document|file|text)|contents?\s+of)\b",
    re.IGNORECASE,
)


def _exfiltration(text: str) -> bool:
    for match in _SEND_TO.finditer(text):
        sentence_start = max(text.rfind(c, 0, match.start()) for c in ".!?\n") + 1
        if _WHAT_THE_ASSISTANT_HOLDS.search(text, sentence_start, match.end()):
            return True
    return False


_IMAGE_QUERY = re.compile(r"!\[[^\]]*\]\(\s*https?://[^)\s?]*\?([^)\s]*)", re.IGNORECASE)
_CARRIER_PARAM = re.compile(
    r"^(?:d|q|p|data|payload|leak|info|content|msg|message|text|secret|conv\w*|chat|"
    r"history|prompt|summary)$", re.IGNORECASE
)
_CARRIER_VALUE = re.compile(
    r"[{}\[\]<>$]|%(?:7B|5B|3C|24)|secret|password|conversation|chat|history|prompt|summary",
    re.IGNORECASE,
)


def _image_carries_data(text: str) -> bool:
    # A Markdown image loads by itself when rendered; a query built from the conversation
    # leaks it. Badges (?branch=main&style=flat) carry nothing of the sort.
    for match in _IMAGE_QUERY.finditer(text):
        for pair in match.group(1).split("&"):
            name, _, value = pair.partition("=")
            if _CARRIER_PARAM.match(name) or _CARRIER_VALUE.search(pair):
                return True
    return False


_CHECKS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("contains chat-template control tokens", _control_tokens),
    ("asks to ignore previous instructions", _ignore_instructions),
    ("tries to give the model a new role", _new_role),
    ("addresses the AI directly", _addresses_ai),
    ("asks for a password or other credentials", _credentials),
    ("asks to send data to a URL or email address", _exfiltration),
    ("embeds a link carrying data", _image_carries_data),
    ("contains a spreadsheet formula (CSV injection)", _formula),
)


def injection_reason(text: str, *, hidden: bool = False) -> str | None:
    """Why a passage looks like injected instructions, or ``None`` when it does not.

    Args:
        text: the passage.
        hidden: the passage was hidden from a reader of the original document.
    """
    normalised = normalise(text)
    reasons = [label for label, check in _CHECKS if check(normalised)]
    if hidden or _has_tags(text):
        reasons.insert(0, "hidden text in the source document")
    return "; ".join(reasons) or None
