"""Typed failures of remote endpoints, and the translation from SDK and HTTP exceptions.

Messages name the endpoint and the host, never the prompt, the answer or the API key: an SDK's
own error text can echo the request (a 400 body quoting the input), so it is never shown.
"""

from __future__ import annotations

import email.utils
import socket
import ssl
import time
from collections.abc import Iterator, Mapping

from app.core.engines.base import EngineError
from app.core.errors import ExitCode


class RemoteError(EngineError):
    """A remote endpoint could not answer."""


class RemoteConfigError(RemoteError):
    """The endpoint's policy entry or its key cannot be used as it is."""

    exit_code = ExitCode.CONFIGURATION


class RemoteBlocked(RemoteError):
    """The egress guard refused the connection (the policy does not allow this host)."""


class RemoteUnreachable(RemoteError):
    """The server refused the connection or could not be reached."""


class RemoteDNSError(RemoteUnreachable):
    """The server's host name could not be resolved."""


class RemoteTLSError(RemoteError):
    """The server's certificate could not be verified."""


class RemoteTimeout(RemoteError):
    """The server did not answer in time."""


class RemoteAuthError(RemoteError):
    """The server refused the API key (HTTP 401 or 403)."""


class RemoteRateLimited(RemoteError):
    """The server asked to slow down (HTTP 429).

    Attributes:
        retry_after_s: Seconds the server asked to wait, when it said.
    """

    def __init__(self, message: str, hint: str = "", retry_after_s: float | None = None) -> None:
        super().__init__(message, hint)
        self.retry_after_s = retry_after_s


class RemoteServerError(RemoteError):
    """The server failed (HTTP 5xx)."""


class RemoteRequestRejected(RemoteError):
    """The server refused the request (another HTTP 4xx)."""


class RemoteStreamCut(RemoteError):
    """The connection closed before the answer was complete."""


class RemoteProtocolError(RemoteError):
    """The server's reply was not valid for the protocol (malformed event stream)."""


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``."""
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _wait_words(seconds: float) -> str:
    if seconds < 90:
        n = max(1, round(seconds))
        return f"{n} second{'s' if n != 1 else ''}"
    minutes = round(seconds / 60)
    return f"{minutes} minutes"


def _status_error(status: int, where: str, headers: Mapping[str, str] | None) -> RemoteError:
    if status in (401, 403):
        return RemoteAuthError(
            f"{where} refused the request (HTTP {status}): the API key was refused; "
            "ask your administrator.",
            "Ask your administrator for a valid key, then run `enclave connector set-key`.",
        )
    if status == 429:
        wait = parse_retry_after(headers)
        when = f"try again in {_wait_words(wait)}" if wait is not None else "try again later"
        return RemoteRateLimited(
            f"{where} is limiting requests (HTTP 429); {when}.",
            "Wait, then send the message again, or answer it locally.",
            wait,
        )
    if status >= 500:
        return RemoteServerError(
            f"{where} failed with a server error (HTTP {status}).",
            "Try again later, or answer locally; tell IT if it persists.",
        )
    return RemoteRequestRejected(
        f"{where} rejected the request (HTTP {status}).",
        "Check the endpoint's model name in the policy, or try a shorter conversation.",
    )


def classify(exc: BaseException, endpoint: str, host: str, *, streaming: bool) -> RemoteError:
    """Translate any failure while talking to an endpoint into a typed ``RemoteError``.

    Args:
        exc: What the SDK or the HTTP client raised.
        endpoint: The endpoint's policy name.
        host: The host it lives on.
        streaming: Whether the answer had started (headers received) when it failed.
    """
    if isinstance(exc, RemoteError):
        return exc
    from app.core.guard.egress import EgressBlocked

    where = f"The remote endpoint {endpoint} ({host})"
    for cause in _causes(exc):
        if isinstance(cause, EgressBlocked):
            return RemoteBlocked(
                f"Enclave's egress guard blocked the connection to {endpoint} ({host}).",
                "The policy does not allow this host for you; ask your administrator.",
            )
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        return _status_error(status, where, headers)
    return _transport_error(exc, where, streaming=streaming)


def _transport_error(exc: BaseException, where: str, *, streaming: bool) -> RemoteError:
    """The error for a failure without an HTTP status: TLS, DNS, timeout, connection, stream.

    The checks run in this order; the first that matches an exception anywhere in the cause
    chain wins.
    """
    causes = list(_causes(exc))
    names = {type(c).__name__ for c in causes}
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes) or any(
        isinstance(c, ssl.SSLError) for c in causes
    ):
        return RemoteTLSError(
            f"{where} presented a certificate that could not be verified.",
            "Ask your administrator to set the endpoint's ca_bundle to the site's CA.",
        )
    if any(isinstance(c, socket.gaierror) for c in causes):
        return RemoteDNSError(
            f"{where} could not be found: its host name does not resolve.",
            "Check the network connection, or ask IT whether the server was renamed.",
        )
    if names & {"TimeoutException", "ReadTimeout", "ConnectTimeout", "WriteTimeout",
                "PoolTimeout", "APITimeoutError", "TimeoutError"}:
        phase = "stopped sending the answer" if streaming else "did not answer"
        return RemoteTimeout(
            f"{where} {phase} within the time limit.",
            "Try again later, or answer locally.",
        )
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or "ConnectError" in names:
        return RemoteUnreachable(
            f"{where} refused the connection: the server is down or the address is wrong.",
            "Try again later, or answer locally; tell IT if it persists.",
        )
    if any(isinstance(c, ValueError) for c in causes) or "APIResponseValidationError" in names:
        return RemoteProtocolError(
            f"{where} sent a reply Enclave could not read (malformed event stream).",
            "Tell IT: the server does not speak the protocol the policy names.",
        )
    if names & {"RemoteProtocolError", "ReadError", "APIConnectionError", "StreamError"}:
        if streaming:
            return RemoteStreamCut(
                f"{where} closed the connection before the answer was complete.",
                "The partial answer is kept; send the message again to retry.",
            )
        return RemoteUnreachable(
            f"{where} closed the connection without answering.",
            "Try again later, or answer locally.",
        )
    if "APIError" in names:
        return RemoteProtocolError(
            f"{where} reported an error inside the answer stream.",
            "Try again; tell IT if it persists.",
        )
    return RemoteError(
        f"{where} failed ({type(exc).__name__}).",
        "Try again later, or answer locally.",
    )
