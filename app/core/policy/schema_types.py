"""The value types policy keys are made of, checked when a file is read (see ``schema``)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Sha256Hex = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")
]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
SuiteName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Score = Annotated[float, Field(ge=0.0, le=1.0)]


def _check_regex(pattern: str) -> str:
    # Anything re.compile can throw (re.error, OverflowError, RecursionError) becomes a
    # validation error: a bad pattern from a file must never escape as a crash.
    try:
        re.compile(pattern)
    except Exception as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


def _check_http_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("must be an http:// or https:// URL with a host")
    return url


def _check_syslog_target(target: str) -> str:
    try:
        parts = urlsplit(target)
        ok = parts.scheme in ("tcp", "udp", "tls") and bool(parts.hostname) and bool(parts.port)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError('must look like "tcp://host:514" (scheme tcp, udp or tls, with a port)')
    return target


RegexPattern = Annotated[str, AfterValidator(_check_regex)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
SyslogTarget = Annotated[str, AfterValidator(_check_syslog_target)]


class _Strict(BaseModel):
    # strict: a JSON "true" string is not a boolean; extra="forbid": a misspelt key in a
    # managed file is an error, never a silently ignored restriction.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
