"""The Models page's background work: listing, importing, removing and choosing models.

Every job runs on the page's own ``BackgroundLane`` (one at a time, in order), calls the core
(``app.core.models.manage`` and the registry) and hands back plain Python objects: hashing a
few GB, probing a first load or copying an import never blocks the GUI thread. A change is
followed by a fresh listing on the same lane, so what the page shows is never older than it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

from app.ui.background import BackgroundLane, ErrorHandler

if TYPE_CHECKING:
    from app.core.context import AppContext
    from app.core.models.manage import ModelRow, Refusal


@dataclass(frozen=True)
class Listing:
    """What the page draws: every model, and whether rolling back is possible."""

    rows: list[ModelRow]
    roll_back: Refusal
    hardware: str


def hardware_text(hardware: Any) -> str:
    """One line about this machine: RAM and, where llama.cpp can offload, the GPU."""
    from app.core.units import human_size

    text = (f"This machine: {human_size(hardware.ram_available)} of "
            f"{human_size(hardware.ram_total)} memory available")
    if hardware.gpu_offload and hardware.gpu_name:
        free = f", {human_size(hardware.vram_free)} free" if hardware.vram_free else ""
        text += f"; GPU {hardware.gpu_name}{free}"
    elif not hardware.gpu_offload:
        text += "; no GPU offload (models run on the CPU)"
    return text + "."


class ModelsWorker(QObject):
    """Runs the page's jobs off the GUI thread.

    Args:
        app: The application context (registry, policy, settings, audit log).
        parent: The page that owns the lane.
    """

    def __init__(self, app: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.lane = BackgroundLane("enclave-models", self)
        self.cancel = threading.Event()

    def listing(self) -> Listing:
        """Every installed model with its status (runs on the lane)."""
        from app.core.models.manage import can_roll_back, model_rows

        app = self.app
        rows = model_rows(app.registry, app.policy, app.settings)
        return Listing(rows, can_roll_back(app.registry, app.settings),
                       hardware_text(app.registry.hardware))

    def refresh(self, on_done: Callable[[Listing], None], on_error: ErrorHandler) -> None:
        """List the models again."""
        self.lane.run(self.listing, on_done=on_done, on_error=on_error,
                      what="Listing the models")

    def import_file(self, path: Path, *, on_progress: Callable[[tuple[int, int]], None],
                    on_done: Callable[[Any], None], on_error: ErrorHandler) -> None:
        """Copy, check and install a GGUF file; ``cancel_import`` stops it."""
        from app.core.models.manage import import_file

        self.cancel = threading.Event()
        cancel, app = self.cancel, self.app
        audit = app.audit.record if app.audit is not None else None

        def work(report: Callable[[tuple[int, int]], None]) -> Any:
            return import_file(app.registry, path, app.policy, cancel=cancel, audit=audit,
                               progress=lambda done, total: report((done, total)))

        self.lane.run(work, on_progress=on_progress, on_done=on_done, on_error=on_error,
                      what="Importing the model")

    def cancel_import(self) -> None:
        """Stop the import under way; its partial copy is removed."""
        self.cancel.set()

    def remove(self, model_id: str, on_done: Callable[[Any], None],
               on_error: ErrorHandler) -> None:
        """Delete one of the user's own models."""
        from app.core.models.manage import remove_model

        app = self.app
        self.lane.run(lambda: remove_model(app.registry, model_id, app.policy, app.settings),
                      on_done=on_done, on_error=on_error, what="Removing the model")

    def set_default(self, model_id: str, on_done: Callable[[Any], None],
                    on_error: ErrorHandler) -> None:
        """Make a model the one new chats use."""
        app = self.app
        self.lane.run(lambda: app.registry.set_default(model_id, app.settings, app.policy),
                      on_done=on_done, on_error=on_error, what="Choosing the default model")

    def roll_back(self, on_done: Callable[[Any], None], on_error: ErrorHandler) -> None:
        """Go back to the model that was the default before the last change."""
        app = self.app
        self.lane.run(lambda: app.registry.restore_previous(app.settings, app.policy),
                      on_done=on_done, on_error=on_error, what="Going back to the previous model")

    def shutdown(self) -> None:
        """Cancel an import and wait for the lane (the page is closing)."""
        self.cancel.set()
        self.lane.shutdown()
