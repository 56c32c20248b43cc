"""Errors of the local API, in the shape OpenAI's clients read.

Every refusal a client can meet is an :class:`ApiError`: an HTTP status, OpenAI's ``type``
and ``code``, the offending ``param``, and a message that says what to do. Errors the rest
of the core raises (a policy refusal, a model that may not load, a full audit disk) become
one here through :func:`from_enclave_error`, so a client reads the same sentence the CLI
prints. No traceback, prompt text or path under the user's home goes into a response.
"""

from __future__ import annotations

import json
from typing import Any

from app.core.errors import EnclaveError, ExitCode


class ApiError(EnclaveError):
    """A request the API refuses or cannot answer.

    Args:
        status: The HTTP status.
        message: What happened and what to do, for the client's user.
        kind: OpenAI's error ``type`` (``invalid_request_error``, ``authentication_error``…).
        code: OpenAI's error ``code`` (``invalid_api_key``, ``model_not_found``…), or None.
        param: The request field at fault, or None.
        headers: Extra response headers (``Retry-After``).
    """

    exit_code = ExitCode.REFUSED

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}

    def encoded(self) -> bytes:
        """The body as bytes."""
        return json.dumps(self.body(), ensure_ascii=False).encode()


class ApiRefused(EnclaveError):
    """The API may not start as asked: policy keeps it off or forbids the address."""

    exit_code = ExitCode.REFUSED


class ApiConfigError(EnclaveError):
    """The API cannot start: the address is in use, a certificate cannot be read."""

    exit_code = ExitCode.CONFIGURATION


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, message, param=param, code=code)


def unauthorized(message: str) -> ApiError:
    """A 401 ``authentication_error`` with ``invalid_api_key``, as OpenAI sends it."""
    return ApiError(401, message, kind="authentication_error", code="invalid_api_key",
                    headers={"WWW-Authenticate": 'Bearer realm="enclave"'})


def forbidden(message: str, code: str | None = None, param: str | None = None) -> ApiError:
    """A 403 ``permission_error``."""
    return ApiError(403, message, kind="permission_error", code=code, param=param)


def _model_error(exc: EnclaveError) -> ApiError:
    from app.core.models.errors import ModelBlocked, ModelNotFound

    if isinstance(exc, ModelNotFound):
        return ApiError(404, exc.message, kind="not_found_error", code="model_not_found",
                        param="model")
    if isinstance(exc, ModelBlocked):
        return forbidden(exc.message, "model_not_allowed", "model")
    return ApiError(503, f"{exc.message} Ask IT to check the model.", kind="server_error",
                    code="model_unavailable")


def from_enclave_error(exc: EnclaveError) -> ApiError:
    """The API's answer to an error the core raised while taking a request.

    Policy refusals are 403, bad input 400, a model that cannot be used 404/403/503, the
    engine failing 500, an audit log that cannot be written 503.
    """
    # Here, not at the top: these pull in the engine and routing modules.
    from app.core.audit.errors import AuditUnavailable
    from app.core.engines.base import ContextOverflow, EngineError
    from app.core.inputs import InvalidInput
    from app.core.models.errors import ModelError
    from app.core.outbound import RouteRefused, SendDeclined
    from app.core.settings_schema import InvalidSettingValue

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RouteRefused | SendDeclined):
        return forbidden(exc.message, "route_refused")
    if isinstance(exc, InvalidInput | InvalidSettingValue):
        return bad_request(exc.message)
    if isinstance(exc, ContextOverflow):
        return bad_request(exc.message, "messages", "context_length_exceeded")
    if isinstance(exc, ModelError):
        return _model_error(exc)
    if isinstance(exc, AuditUnavailable):
        return ApiError(503, f"{exc.message} Nothing was answered.", kind="server_error",
                        code="audit_unavailable")
    if isinstance(exc, EngineError):
        return ApiError(500, exc.message, kind="server_error", code="engine_error")
    return ApiError(500, exc.message, kind="server_error")


def internal_error() -> ApiError:
    """The answer to a bug: details go to the log, never to the client."""
    return ApiError(500, "The server failed unexpectedly; details are in Enclave's log.",
                    kind="server_error")
