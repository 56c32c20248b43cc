"""Route preview: under auto routing, say where the draft would go, and why, before sending.

``app.core.turn_routing.preview_route`` decides (nothing is stored, sent or audited); this
module asks it 300 ms after the user stops typing, on its own ``BackgroundLane`` (the first
call may load the embedder), and draws the reason beside the route label. A result that comes
back after the draft changed again is dropped: only the newest draft is described.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel

from app.core.errors import EnclaveError
from app.ui.background import BackgroundLane

if TYPE_CHECKING:
    from app.core.context import AppContext
    from app.core.routing import RouteDecision

DEBOUNCE_MS = 300


class RoutePreview(QObject):
    """Watches the composer and shows the preview in a label next to the route.

    Args:
        app: The application context (its chat service holds the router).
        composer: The message box (a ``QPlainTextEdit``).
        model_bar: The bar with the route label and picker; the preview label joins it.
        conversation_id: Returns the conversation on screen (``None``: a new one).
    """

    def __init__(self, app: AppContext, composer: Any, model_bar: Any,
                 conversation_id: Any) -> None:
        super().__init__(model_bar)
        self.app = app
        self.composer = composer
        self.model_bar = model_bar
        self.conversation_id = conversation_id
        self.lane = BackgroundLane("enclave-route-preview", self)
        self.label = QLabel(model_bar)
        self.label.setObjectName("route-preview")
        self.label.setAccessibleName("Route preview")
        self.label.setWordWrap(True)
        self.label.setVisible(False)
        model_bar.layout().insertWidget(2, self.label, 1)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(self.ask)
        self._asked = 0  # numbers each request, so that a stale answer is dropped
        self._picked: str | None = None  # until the user picks a route, policy decides
        self._local_only = False  # a local-only collection is in the conversation's scope
        # Nothing to preview unless this user's turns may be auto-routed at all.
        if app.chat.auto is not None:
            composer.textChanged.connect(self.timer.start)
            model_bar.route_chosen.connect(self._route_chosen)

    def _picked_route(self) -> str | None:
        return self._picked

    def documents_attached(self, _names: list[str], local_only: bool) -> None:
        """The conversation's collections changed: a local-only one keeps the draft here."""
        self._local_only = local_only
        self.timer.start()

    def _route_chosen(self, route: str | None) -> None:
        self._picked = route  # the user's own pick ("local" forces this machine)
        self.timer.start()

    def ask(self) -> None:
        """Ask the core where the current draft would go."""
        text = self.composer.toPlainText().strip()
        self._asked += 1
        if not text:
            self.label.setVisible(False)
            return
        asked, chat = self._asked, self.app.chat
        cid, route, local_only = self.conversation_id(), self._picked_route(), self._local_only

        def work() -> RouteDecision | None:
            from app.core.turn_routing import preview_route

            return preview_route(chat, text, conversation_id=cid, route=route,
                                 local_only_documents=local_only)

        self.lane.run(work, on_done=lambda d: self._show(asked, d),
                      on_error=lambda e: self._failed(asked, e), what="Previewing the route")

    def _show(self, asked: int, decision: RouteDecision | None) -> None:
        if asked != self._asked:
            return
        if decision is None:
            self.label.setVisible(False)  # not auto-routed: the route label says it all
            return
        self.label.setText(decision.reason)
        self.label.setToolTip(decision.reason)
        self.label.setAccessibleDescription(decision.reason)
        self.label.setVisible(True)

    def _failed(self, asked: int, error: EnclaveError) -> None:
        if asked == self._asked:
            self.label.setText(f"Route preview unavailable: {error.message}")
            self.label.setVisible(True)

    def shutdown(self) -> None:
        """Stop the debounce and wait for a preview under way (the window is closing)."""
        self.timer.stop()
        self.lane.shutdown()
