"""The bar above the conversation: where words go (the route) and which model answers.

One slim row: the route pill (green while words stay on this machine, amber when they leave
it), the model picker as a flat dropdown (name · size · quantization, with a badge saying
whether the file matches the approved catalog), and "Models" for the models page. Its look is
the style sheet's, by object name (``route``, ``model-picker``, ``model-badge``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from app.core.models.choices import ModelChoice
from app.core.units import human_size
from app.ui.banners import available_routes, route_text
from app.ui.design import SPACE_S, palette
from app.ui.theme import current_dark, icon, theme_events


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
    manage_models = Signal()  # "Models": the user wants the models page

    def __init__(self, policy: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.policy = policy
        self.loaded_model: str | None = None
        self.models: list[ModelChoice] = []
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(SPACE_S)
        self.route_label = QLabel(self)
        self.route_label.setObjectName("route")
        self.route_label.setAccessibleName("Route")
        self.show_route("local", "local")
        self.route_picker = self._route_picker()
        self.model_picker = QComboBox(self)
        self.model_picker.setObjectName("model-picker")
        self.model_picker.setAccessibleName("Model")
        self.model_picker.setToolTip("Models your organization allows on this computer")
        self.model_picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_picker.setIconSize(QSize(16, 16))
        self.model_picker.activated.connect(self._model_picked)
        self.model_picker.currentIndexChanged.connect(self._draw_badge)
        self.badge = QLabel(self)
        self.badge.setObjectName("model-badge")
        self.badge.setAccessibleName("Model verification")
        self.badge.hide()
        self.model_label = QLabel("Loading model…", self)
        self.model_label.setObjectName("model-status")
        self.model_label.setAccessibleName("Model status")
        self.models_button = QToolButton(self)
        self.models_button.setText("Models")
        self.models_button.setAccessibleName("Models")
        self.models_button.setToolTip("Installed and approved models")
        self.models_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.models_button.clicked.connect(self.manage_models)
        # Index 2 is where the route preview joins (app.ui.route_preview); the stretch
        # after it keeps the model on the right.
        row.addWidget(self.route_label)
        row.addWidget(self.route_picker)
        row.addStretch(1)
        controls: tuple[QWidget, ...] = (self.model_picker, self.badge, self.model_label,
                                         self.models_button)
        for widget in controls:
            row.addWidget(widget)
        theme_events().changed.connect(self._draw_icons)
        self._draw_icons()

    def _draw_icons(self, dark: bool | None = None) -> None:
        """Tint the icons for the theme (again when it changes)."""
        self.models_button.setIcon(icon("models", dark))
        success = palette(current_dark() if dark is None else dark).success
        verified = icon("shield-check", dark, success)
        for i, m in enumerate(self.models):
            self.model_picker.setItemIcon(i, verified if m.verified else icon("models", dark))

    def _route_picker(self) -> QComboBox:
        picker = QComboBox(self)
        picker.setObjectName("route-picker")
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
        text, tip, _colour = route_text(route, classification)  # QSS colours it by kind
        others = [r for r in available_routes(self.policy) if r.name != "local"]
        if others:
            tip += " Your organization also allows: " + ", ".join(
                f"{r.name} ({r.classification})" for r in others) + "."
        self.route_label.setText(text)
        self.route_label.setToolTip(tip)
        self.route_label.setAccessibleDescription(tip)
        kind = "local" if route in ("", "local") else (
            "internal" if classification == "internal" else "external")
        self.route_label.setProperty("kind", kind)
        self.route_label.style().unpolish(self.route_label)
        self.route_label.style().polish(self.route_label)

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
        for i, m in enumerate(models):
            parts = [m.name, human_size(m.size)]
            if m.quantization.lower() not in m.name.lower():  # names often carry it already
                parts.append(m.quantization)
            self.model_picker.addItem(" · ".join(parts), m.id)
            mark = "Verified against the approved catalog" if m.verified else "Not verified"
            self.model_picker.setItemData(i, mark, Qt.ItemDataRole.ToolTipRole)
        if not models:
            self.model_picker.addItem("No allowed model installed", None)
        self._draw_icons()
        if self.loaded_model is not None:
            self.select_model(self.loaded_model)
        self._draw_badge(self.model_picker.currentIndex())

    def _draw_badge(self, index: int) -> None:
        """The picked model's badge: verified against the catalog, or not."""
        model_id = self.model_picker.itemData(index) if index >= 0 else None
        model = next((m for m in self.models if m.id == model_id), None)
        self.badge.setVisible(model is not None)
        if model is None:
            return
        self.badge.setText("✓ Verified" if model.verified else "Not verified")
        self.badge.setToolTip("The file matches the approved catalog's checksum"
                              if model.verified else
                              "This file is not pinned in the approved catalog")
        self.badge.setProperty("verified", "true" if model.verified else "false")
        self.badge.style().unpolish(self.badge)
        self.badge.style().polish(self.badge)

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
