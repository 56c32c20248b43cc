"""Render a model's chat template once, in the sandbox, before the model is accepted.

A chat template is code that came inside a model file. The engine renders it in Jinja2's
immutable sandbox at every turn; checking it once when a file is imported (or first probed)
means a template that reaches for Python internals, or one that cannot render a plain
conversation, is refused with a clear reason instead of failing in the middle of a chat.
Runs inside the load-probe child, so a template that loops for minutes is stopped by its time
limit rather than freezing the app.
"""

from __future__ import annotations

from app.core.engines.base import ChatMessage
from app.core.engines.chat_template import ChatTemplate, ChatTemplateError

# Some templates refuse a system message, some insist conversations start with a user:
# one of these plain conversations must render.
_CONVERSATIONS: tuple[tuple[ChatMessage, ...], ...] = (
    (ChatMessage("system", "You are helpful."), ChatMessage("user", "Hello."),
     ChatMessage("assistant", "Hi."), ChatMessage("user", "Thanks.")),
    (ChatMessage("user", "Hello."), ChatMessage("assistant", "Hi."), ChatMessage("user", "Ok.")),
    (ChatMessage("user", "Hello."),),
)


def template_problem(source: str | None) -> str | None:
    """Why this chat template is unusable, or ``None`` when it renders a plain conversation.

    A template that breaks the sandbox's rules is reported at once: trying other
    conversations cannot make it safe.
    """
    if source is None:
        return None  # the engine falls back to ChatML
    try:
        template = ChatTemplate(source, bos_token="<s>", eos_token="</s>")
    except ChatTemplateError as exc:
        return exc.message
    last = ""
    for conversation in _CONVERSATIONS:
        try:
            template.render(conversation)
        except ChatTemplateError as exc:
            if "Python internals" in exc.message:
                return exc.message
            last = exc.message
        else:
            return None
    return last
