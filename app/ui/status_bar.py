"""The line at the bottom of the window: the loaded model, its device, loading, memory.

Small and muted (the style sheet's ``StatusBar`` rules): it informs, it does not compete with
the conversation.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from app.core.engines.base import EngineInfo
from app.ui.design import SPACE_M, SPACE_XS
from app.ui.footer import memory_text

MEMORY_INTERVAL_MS = 2000

FALLBACK_TIP = ("The local engine runs in its own process. After a crash in llama.cpp it "
                "restarts with safer settings and remembers them for this model. If this "
                "keeps happening, tell your IT team.")


class StatusBar(QWidget):
    """Loaded model, device and thread state, model loading progress, memory in use."""

    loading_changed = Signal(bool)  # a model started (True) or stopped (False) loading

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)  # QSS paints it
        row = QHBoxLayout(self)
        row.setContentsMargins(SPACE_M, SPACE_XS, SPACE_M, SPACE_XS)
        self.model = QLabel("No model loaded", self)
        self.model.setAccessibleName("Loaded model")
        self.device = QLabel("", self)
        self.device.setAccessibleName("Device")
        self.memory = QLabel(memory_text(), self)
        self.memory.setAccessibleName("Memory in use")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Model loading progress")
        self.progress.hide()
        row.addWidget(self.model)
        row.addWidget(self.device)
        row.addStretch(1)
        row.addWidget(self.progress)
        row.addWidget(self.memory)
        self.memory_timer = QTimer(self)
        self.memory_timer.setInterval(MEMORY_INTERVAL_MS)
        self.memory_timer.timeout.connect(lambda: self.memory.setText(memory_text()))
        self.memory_timer.start()

    def loading_started(self) -> None:
        """A model starts loading: progress from zero."""
        self.progress.setValue(0)
        self.progress.show()
        self.loading_changed.emit(True)

    def loading_ended(self) -> None:
        """The load finished or failed."""
        self.progress.hide()
        self.loading_changed.emit(False)

    def show_model(self, info: EngineInfo, threads: str) -> None:
        """The model that answers, where it runs, and any safe fallback after a crash."""
        self.model.setText(f"Model: {info.model_id}")
        self.show_engine(info, threads)

    def show_engine(self, info: EngineInfo, threads: str) -> None:
        """Device, what the thread controller does, and any safe fallback after a crash."""
        parts = [f"Device: {info.device}"]
        if threads:
            parts.append(threads)
        if info.extra.get("fallback"):
            parts.append(f"{info.extra['fallback']} after a crash")
        self.device.setText("  ·  " + "  ·  ".join(parts))
        self.device.setToolTip(FALLBACK_TIP if info.extra.get("fallback") else "")

    def stop(self) -> None:
        """Stop updating (the window is closing)."""
        self.memory_timer.stop()
