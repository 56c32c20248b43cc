"""What an empty conversation says: a greeting, prompts to start from, and the facts that matter.

A new user's first questions are "what can I ask?" and "where do my words go?". The answers
come from the policy in force, never from a fixed text: which routes this user may pick (and
whether what leaves is redacted and confirmed), whether automatic routing may send a turn
away, where the policy comes from, restricted mode and why, and whether the history is kept.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Starter:
    """A prompt to begin with: its card's title and what it puts in the composer."""

    title: str
    prompt: str


STARTERS: tuple[Starter, ...] = (
    Starter("Summarise a document",
            "Summarise this in five short bullet points, then one sentence on what matters "
            "most:\n\n"),
    Starter("Draft an email", "Draft a short, friendly email that "),
    Starter("Explain this code", "Explain what this code does, step by step, and point out "
            "anything risky:\n\n"),
    Starter("Ask about your documents",
            "Using the documents I attached (Documents, beside Send), answer: "),
)


@dataclass(frozen=True)
class WelcomeFacts:
    """What the welcome page says, each part a sentence or two.

    Attributes:
        greeting: The page's heading.
        where: Where words go: this computer only, or which routes the policy allows too.
        remote_routes: The names of the routes that leave this computer (empty: none).
        policy: Where the rules come from (the organization's files, or defaults).
        restricted: Restricted mode and its reasons ("" when not restricted).
        saved: Whether conversations are kept, and how.
        starters: The prompts offered.
    """

    greeting: str
    where: str
    remote_routes: tuple[str, ...]
    policy: str
    restricted: str
    saved: str
    starters: tuple[Starter, ...] = STARTERS

    @property
    def local_only(self) -> bool:
        """Whether nothing can leave this computer."""
        return not self.remote_routes


def _route_phrase(route: Any) -> str:
    where = ("inside your organization" if route.classification == "internal"
             else "outside your organization")
    steps = [s for s, on in (("redacted first", route.redacted),
                             ("you confirm before it is sent", route.confirm)) if on]
    return f"{route.name} ({where}{'; ' if steps else ''}{', '.join(steps)})"


def _where(routes: Sequence[Any], auto_endpoint: str) -> str:
    remote = [r for r in routes if r.name != "local"]
    if not remote:
        return ("Everything you type stays on this computer: the model runs here, and "
                "nothing you write is sent anywhere.")
    names = "; ".join(_route_phrase(r) for r in remote)
    text = ("Answers are written on this computer unless you pick another route. Your "
            f"organization's policy also allows: {names}.")
    if auto_endpoint:
        text += (f" Automatic routing is on: a message with nothing sensitive in it may be "
                 f"sent to {auto_endpoint}; anything sensitive stays here.")
    return text


def _policy_source(policy: Any) -> str:
    sources = list(getattr(policy, "sources", []))
    managed = [str(s["source"]) for s in sources if s.get("level") == "managed"]
    recommended = [str(s["source"]) for s in sources if s.get("level") == "recommended"]
    if managed:
        return (f"Your organization manages Enclave on this computer; its policy is in "
                f"{', '.join(managed)}.")
    if recommended:
        return (f"Your organization recommends settings ({', '.join(recommended)}); you may "
                "change them in Settings.")
    return "No organization policy: Enclave's defaults apply."


def _restricted(policy: Any) -> str:
    if not getattr(policy, "restricted", False):
        return ""
    reasons = "; ".join(getattr(policy, "restricted_reasons", [])) or "unknown"
    return ("Restricted mode: your organization's policy could not be used "
            f"({reasons}). Until it is fixed, nothing leaves this computer and exporting "
            "is off.")


def welcome_facts(
    policy: Any, routes: Sequence[Any], *, saved: bool, auto_endpoint: str = "",
) -> WelcomeFacts:
    """The welcome page's facts.

    Args:
        policy: The effective policy (its sources, restricted mode).
        routes: The routes this user may pick (``app.core.routing.available_routes``).
        saved: Whether conversations are saved (an unsaved session forgets them).
        auto_endpoint: The endpoint automatic routing may use for this user ("" for none).
    """
    remote = tuple(r.name for r in routes if r.name != "local")
    return WelcomeFacts(
        greeting="What can I help you with?",
        where=_where(routes, auto_endpoint if remote else ""),
        remote_routes=remote,
        policy=_policy_source(policy),
        restricted=_restricted(policy),
        saved=("Conversations are saved on this computer, encrypted." if saved else
               "This session is not saved: closing Enclave forgets it."),
    )


def welcome_facts_for(policy: Any, *, saved: bool) -> WelcomeFacts:
    """The facts for the user running Enclave: their routes and routing mode, from policy."""
    from app.core.auto_route import auto_mode
    from app.core.policy import current_os_user
    from app.core.routing import LOCAL, RouteInfo, available_routes

    try:
        user, groups = current_os_user()
    except Exception:  # noqa: BLE001 - no group database: the user alone, as routing does
        user, groups = getpass.getuser(), []
    try:
        routes = available_routes(policy, user, groups)
        auto = str(policy.get("routing.auto_endpoint") or "") if auto_mode(policy, groups) else ""
    except Exception:  # noqa: BLE001 - a broken route entry must not hide the page
        log.warning("routes could not be read for the welcome page", exc_info=True)
        routes, auto = [RouteInfo(LOCAL, LOCAL, LOCAL)], ""
    return welcome_facts(policy, routes, saved=saved, auto_endpoint=auto)
