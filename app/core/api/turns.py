"""Every chat request is a turn of the API's own ``ChatService``, run on the engine's lane.

The API never answers by itself: each request goes through ``ChatService.send`` — the model
allowlist and approval, routing, redaction, the audit record — exactly as ``enclave ask``
does. Only three things differ, and they are set here before each turn (the lane runs one
turn at a time, so nothing else sees the service meanwhile):

- the audit records name the token (:class:`TokenAudit`);
- the conversation is the client's messages, fresh for every request: the earlier ones are
  the branch, the last is the turn's text; nothing of one request stays for the next;
- it is saved to the history only when the token has the ``history`` scope.

Nobody can confirm what an API client sends, so a route that requires confirmation is
refused before the turn (and ``confirm`` answers no, should policy change in between).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from app.core.api.queue import Job
from app.core.api.requests import ChatRequest
from app.core.api.tokens import Grant
from app.core.chat import ChatService
from app.core.conversations import Conversations
from app.core.engines.base import ChatMessage
from app.core.errors import EnclaveError
from app.core.routing import LOCAL, RouteDecision
from app.core.transcript import title_from

log = logging.getLogger(__name__)


class TokenAudit:
    """The audit log, with ``detail.api_token`` on every record an API turn leaves.

    Args:
        log: The audit log.
    """

    def __init__(self, log: Any) -> None:
        self.log = log
        self.required = bool(log.required)  # a record that fails refuses the call
        self.token = ""

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record, naming the token."""
        fields["detail"] = {**(fields.get("detail") or {}), "api_token": self.token}
        result: dict[str, Any] = self.log.record(event, **fields)
        return result


def api_chat_service(ctx: Any, audit: TokenAudit | None) -> ChatService:
    """A ``ChatService`` of the API's own, built like the session's (``ctx``).

    Its own, so a window's conversation and an API client's never share a turn; it loads its
    model on the first request (a second copy while the window has one loaded).
    """
    from app.core.context import engine_options, generation_params

    chat = ChatService(
        ctx.registry, history=None, audit=audit, policy=ctx.policy,
        options=engine_options(ctx.settings), params=generation_params(ctx.settings),
        user=ctx.chat.user, groups=ctx.chat.groups, ledger=ctx.chat.ledger,
    )
    chat.local.default_model_id = ctx.chat.local.default_model_id
    return chat


def _nobody_to_confirm(_outgoing: str, _decision: RouteDecision) -> bool:
    return False


class ApiTurns:
    """Runs chat requests as turns of one ``ChatService`` (on the lane's thread only).

    Args:
        chat: The API's own chat service (:func:`api_chat_service`).
        store: The history, for tokens with the ``history`` scope.
        audit: The token-naming audit log given to ``chat``.
    """

    def __init__(self, chat: ChatService, store: Any, audit: TokenAudit | None) -> None:
        self.chat = chat
        self.store = store
        self.audit = audit

    @property
    def context_length(self) -> int:
        """The local model's context window, in tokens."""
        return self.chat.local.options.context_length

    def run(self, job: Job, grant: Grant, request: ChatRequest, changes: dict[str, Any]) -> None:
        """One request's turn; its tokens, result or error go to ``job``."""
        self._begin(grant)
        try:
            local = grant.route == LOCAL
            if local:
                self._load(request.model)
            params = replace(self.chat.params, **changes, stop=request.stops())
            conversation = self._seed(grant, request)
            result = self.chat.send(
                request.messages[-1].text(), conversation_id=conversation,
                on_token=lambda piece: job.post("token", piece), cancel=job.cancel,
                # Named even when local: a token bound here never goes elsewhere, whatever
                # automatic routing would choose.
                params=params, route=grant.route,
                remote_model=None if local else request.model,
                confirm=_nobody_to_confirm,
            )
            job.post("done", result)
        except EnclaveError as exc:
            job.post("error", exc)
        finally:
            self._end()

    def _begin(self, grant: Grant) -> None:
        history = self.store if grant.keeps_history else None
        self.chat.history = history
        self.chat.conversations = Conversations(history)
        if self.audit is not None:
            self.audit.token = grant.name

    def _end(self) -> None:
        self.chat.history = None
        self.chat.conversations = Conversations(None)

    def _load(self, model: str) -> None:
        engine = self.chat.engine
        if engine is None or engine.info.model_id != model:
            self.chat.load_model(model)  # only ids from the allowed list reach here

    def _seed(self, grant: Grant, request: ChatRequest) -> int:
        """A conversation holding the client's earlier messages; returns its id."""
        conversations = self.chat.conversations
        title = f"API {grant.name}: {title_from(request.messages[-1].text())}"
        conversation = conversations.new(title)
        parent: int | None = None
        for message in request.messages[:-1]:
            role = "system" if message.role == "developer" else message.role
            if self.chat.history is None:
                conversations.remember(conversation, ChatMessage(role, message.text()))
            else:
                parent = self.chat.history.add_message(conversation, role, message.text(),
                                                       parent_id=parent)
        return conversation

    def close(self) -> None:
        """Unload the model."""
        self.chat.close()
