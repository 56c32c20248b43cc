"""The bar above the conversation: where words go (the route) and which model answers."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from app.core.models.choices import ModelChoice
from app.core.units import human_size
from app.ui.banners import available_routes, route_text


class ModelBar(QWidget):
    """The route indicator and picker, the model picker, and the model's loading state.

    The routes offered are the ones the policy allows; the models are ``ModelChoice``s the
    core worked out. Picking emits a signal; the window decides what happens.

    Args:
        policy: The effective policy (which routes are offered).
        parent: The owning widget.
    """

    model_requested = Signal(str)  # the id of a model other than the one loaded
    route_chosen = Signal(object)  # the picked route's name ("local" or an endpoint's)

    def __init__(self, policy: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.policy = policy
        self.loaded_model: str | None = None
        self.models: list[ModelChoice] = []
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.route_label = QLabel(self)
        self.route_label.setObjectName("route")
        self.route_label.setAccessibleName("Route")
        self.show_route("local", "local")
        self.route_picker = self._route_picker()
        self.model_picker = QComboBox(self)
        self.model_picker.setAccessibleName("Model")
        self.model_picker.setToolTip("Models your organization allows on this computer")
        self.model_picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_picker.setMinimumContentsLength(24)
        self.model_picker.activated.connect(self._model_picked)
        self.model_label = QLabel("Loading model…", self)
        self.model_label.setAccessibleName("Model status")
        row.addWidget(self.route_label)
        row.addWidget(self.route_picker)
        row.addWidget(self.model_picker, 1)
        row.addWidget(self.model_label)

    def _route_picker(self) -> QComboBox:
        picker = QComboBox(self)
        picker.setAccessibleName("Where to send")
        picker.setToolTip("Where your next message goes; policy decides what is offered")
        self._routes = {r.name: r for r in available_routes(self.policy)}
        picker.addItem("LOCAL · this machine", "local")
        for r in self._routes.values():
            if r.name != "local":
                picker.addItem(f"{r.name} · {r.classification}", r.name)
        picker.setVisible(picker.count() > 1)
        picker.activated.connect(self._route_picked)
        return picker

    # --- routes ---------------------------------------------------------------------------

    def show_route(self, route: str, classification: str) -> None:
        """Say where the next message goes, in the route's colour."""
        text, tip, colour = route_text(route, classification)
        others = [r for r in available_routes(self.policy) if r.name != "local"]
        if others:
            tip += " Your organization also allows: " + ", ".join(
                f"{r.name} ({r.classification})" for r in others) + "."
        self.route_label.setText(text)
        self.route_label.setToolTip(tip)
        self.route_label.setAccessibleDescription(tip)
        self.route_label.setStyleSheet(f"QLabel {{ background-color: {colour}; }}")

    def show_documents_route(self, local_only: bool) -> None:
        """Documents were attached: local-only ones keep the turn here, and the label says so."""
        if local_only:
            self.show_route("local", "local")
        else:
            self._draw_pick(self.route_picker.currentIndex())

    def _draw_pick(self, index: int) -> str:
        name = str(self.route_picker.itemData(index))
        info = self._routes.get(name)
        self.show_route(name, info.classification if info else "local")
        return name

    def _route_picked(self, index: int) -> None:
        # Sent as picked: "local" chosen by the user forces this machine even where policy
        # routes turns automatically (until then the route is None: policy decides).
        self.route_chosen.emit(self._draw_pick(index))

    # --- models ---------------------------------------------------------------------------

    def show_models(self, models: list[ModelChoice]) -> None:
        """The models the policy allows, each with its size, quantization and verification."""
        self.models = models
        self.model_picker.clear()
        for m in models:
            mark = "✓ verified" if m.verified else "not verified"
            self.model_picker.addItem(
                f"{m.name} · {human_size(m.size)} · {m.quantization} · {mark}", m.id)
        if not models:
            self.model_picker.addItem("No allowed model installed", None)
        if self.loaded_model is not None:
            self.select_model(self.loaded_model)

    def select_model(self, model_id: str) -> None:
        """Show ``model_id`` as the picked one (it was loaded)."""
        self.loaded_model = model_id
        index = self.model_picker.findData(model_id)
        if index >= 0:
            self.model_picker.setCurrentIndex(index)

    def _model_picked(self, index: int) -> None:
        model_id = self.model_picker.itemData(index)
        if model_id is not None and model_id != self.loaded_model:
            self.model_requested.emit(str(model_id))
