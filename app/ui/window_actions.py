"""The main window's menus and the dialogs and one-off actions they open.

``WindowMenus`` owns the menu bar (and its shortcuts), the About, Settings, Policy, Usage,
Models, Evaluate and Compare windows, links from the conversation, and exports. It acts on a
``MenuHost`` (what the window offers: new chat, regenerate, notices…) and on the history jobs,
never on the window's insides.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QTextDocument
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMenu,
    QMenuBar,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from app.ui.api_switch import ApiSwitch
from app.ui.banners import ClassificationBanner, banner_spec, close_with_keys
from app.ui.dialogs import PolicyDialog, SettingsDialog, start_folder
from app.ui.export import FORMATS, export_allowed
from app.ui.prompt_actions import PromptActions
from app.ui.theme import LOCK_TOOLTIP

if TYPE_CHECKING:
    from app.core.context import AppContext
    from app.core.engines.base import EngineInfo
    from app.core.errors import EnclaveError
    from app.ui.background import BackgroundLane
    from app.ui.compare_view import CompareView
    from app.ui.evaluate_view import EvaluateView
    from app.ui.models_page import ModelsPage
    from app.ui.usage_view import UsageView
    from app.ui.workers import Exported, HistoryJobs


class MenuHost(Protocol):
    """What the menus ask of the window they serve."""

    @property
    def engine_info(self) -> EngineInfo | None:
        """The loaded model, if any."""

    @property
    def conversation_id(self) -> int | None:
        """The conversation on screen, if it was saved."""

    @property
    def busy(self) -> bool:
        """Whether a model loads or an answer streams."""

    def new_chat(self) -> None:
        """Start a fresh conversation."""

    def copy_last_answer(self) -> None:
        """Copy the last answer to the clipboard."""

    def regenerate_last(self) -> None:
        """Answer the last question again."""

    def edit_last(self) -> None:
        """Edit the last question."""

    def insert_prompt(self, text: str) -> None:
        """Put a library prompt's text into the composer."""

    def focus_search(self) -> None:
        """Put the cursor in the history search box."""

    def open_documents(self) -> None:
        """Show the Documents panel."""

    def load_model(self, model_id: Any) -> None:
        """Load a model (an id or a file path)."""

    def apply_settings(self) -> None:
        """Apply saved settings to the next answer and the theme."""

    def show_error(self, message: str, hint: str = "") -> None:
        """Show an error and what to do next."""

    def show_notice(self, text: str) -> None:
        """Show a short, non-alarming message."""

    def show_failure(self, error: EnclaveError) -> None:
        """Show a failed job's error."""


class WindowMenus:
    """The window's menus and the actions behind them.

    Args:
        window: The window that shows the menu bar and owns the shortcuts and dialogs.
        host: What the menus act on (the same window, seen through ``MenuHost``).
        app: The application context (policy, paths, settings).
        history: The history jobs that write exports.
    """

    def __init__(self, window: QMainWindow, host: MenuHost, app: AppContext,
                 history: HistoryJobs) -> None:
        self.window = window
        self.host = host
        self.app = app
        self.history = history
        self.export_actions: list[QAction] = []
        self.usage: UsageView | None = None  # the Usage window, once opened
        self.evaluation: EvaluateView | None = None  # the Evaluate window, once opened
        self.comparison: CompareView | None = None  # the Compare window, once opened
        self.models: ModelsPage | None = None  # the Models window, once opened
        # Called when the Models window imports, removes or chooses a model (the window
        # refills its model picker).
        self.on_models_changed: Callable[[], None] | None = None
        self.prompts = PromptActions(window, app, lambda: host.conversation_id,
                                     host.insert_prompt, host.show_notice)
        self._build()

    def about_text(self) -> str:
        """Version and where things are, for the About box (and support calls)."""
        from app import __version__

        info = self.host.engine_info
        model = f"{info.model_id} on {info.device}" if info else "no model loaded"
        policy = self.app.policy
        mode = "restricted mode" if policy.restricted else "policy in force"
        return (
            f"<h3>Enclave {__version__}</h3>"
            "<p>A private assistant: your words stay on this machine unless your "
            "organization's policy allows a route and you choose it.</p>"
            f"<p>Model: {model}<br>Data: {self.app.paths.data_dir}<br>"
            f"Policy: {mode} (sha256 {policy.sha256[:16]}…)</p>"
        )

    def about_box(self) -> QMessageBox:
        """The About box: version and where things are; Close, Esc or Ctrl+W close it."""
        box = QMessageBox(QMessageBox.Icon.Information, "About Enclave", self.about_text(),
                          QMessageBox.StandardButton.Close, self.window)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setAccessibleName("About Enclave")
        box.button(QMessageBox.StandardButton.Close).setAccessibleName("Close")
        close_with_keys(box, box.reject)
        return box

    def open_about(self) -> None:
        """Show the About box."""
        self.about_box().exec()

    def open_usage(self) -> None:
        """Show usage charts and drift signals (computed off the GUI thread)."""
        from app.core.observe import usage_report
        from app.ui.usage_view import UsageView

        if self.usage is not None and self.usage.isVisible():
            self.usage.activateWindow()  # one Usage window at a time
            return
        if self.usage is not None:
            self.usage.deleteLater()  # closed: its lane has stopped, so it is not reused
        self.usage = UsageView(lambda: usage_report(self.app.paths), self.window)
        self.usage.setWindowFlag(Qt.WindowType.Window)
        self.usage.setWindowTitle("Enclave — Usage")
        self.usage.resize(900, 640)
        self.usage.show()

    def open_evaluate(self, model_id: str | None = None) -> None:
        """Evaluate a model (default: the loaded one, else the default) in its own window."""
        from app.ui.evaluate_view import EvaluateView

        if self.evaluation is not None and self.evaluation.isVisible():
            if model_id is None or self.evaluation.model_id == model_id:
                self.evaluation.activateWindow()
                return
            if self.evaluation.running:  # one evaluation at a time: the running one stays
                self.evaluation.activateWindow()
                self.host.show_notice("An evaluation is running; cancel it to evaluate "
                                      f"{model_id}.")
                return
            self.evaluation.close()
        if self.evaluation is not None:
            self.evaluation.deleteLater()  # closed: its lane has stopped
        info = self.host.engine_info
        if model_id is None:
            model_id = info.model_id if info else None
        self.evaluation = EvaluateView(self.app, model_id, self.window)
        self.evaluation.setWindowFlag(Qt.WindowType.Window)
        self.evaluation.setWindowTitle("Enclave — Evaluate model")
        self.evaluation.resize(800, 640)
        self.evaluation.show()

    def open_compare(self) -> None:
        """Compare two models on the same suites, in a window of its own."""
        from app.ui.compare_view import CompareView

        if self.comparison is not None and self.comparison.isVisible():
            self.comparison.activateWindow()
            return
        if self.comparison is not None:
            self.comparison.deleteLater()  # closed: its lane has stopped
        self.comparison = CompareView(self.app, self.window)
        self.comparison.setWindowFlag(Qt.WindowType.Window)
        self.comparison.setWindowTitle("Enclave — Compare models")
        self.comparison.resize(900, 680)
        self.comparison.show()

    def open_models_page(self) -> None:
        """The Models window: installed models, their status, import, remove, default."""
        from app.ui.models_page import ModelsPage

        if self.models is not None and self.models.isVisible():
            self.models.activateWindow()
            return
        if self.models is not None:
            self.models.deleteLater()  # closed: its lane has stopped
        page = self.models = ModelsPage(self.app, self.window)
        page.setWindowFlag(Qt.WindowType.Window)
        page.setWindowTitle("Enclave — Models")
        page.resize(1000, 600)
        # As the model picker does: the window loads it, its status bar shows the progress.
        page.load_requested.connect(self._load_from_page)
        page.evaluate_requested.connect(self.open_evaluate)
        page.compare_requested.connect(self.open_compare)
        page.models_changed.connect(self._models_changed)
        page.show()

    def _load_from_page(self, model_id: str) -> None:
        if self.host.busy:  # as the model picker: never swap the model under an answer
            self.host.show_notice("Wait for the answer to finish (or press Esc), then load "
                                  f"{model_id}.")
            return
        self.host.load_model(model_id)

    def _models_changed(self) -> None:
        if self.on_models_changed is not None:
            self.on_models_changed()

    def shutdown(self) -> None:
        """Window closing: cancel an evaluation, comparison or import; stop the local API."""
        for view in (self.evaluation, self.comparison, self.models):
            if view is not None:
                view.shutdown()
        self.prompts.shutdown()
        self.api.shutdown()

    def lanes(self) -> list[BackgroundLane]:
        """The lanes the menus' windows and switches own."""
        extra = [v.lane for v in (self.evaluation, self.comparison, self.models)
                 if v is not None]
        return [self.api.lane, *extra, *self.prompts.lanes()]

    def _build(self) -> None:
        bar = QMenuBar(self.window)
        top = QWidget(self.window)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(0)
        spec = banner_spec(self.app.policy)
        if spec is not None:
            top_layout.addWidget(ClassificationBanner(spec, "top", top))
        top_layout.addWidget(bar)
        self.window.setMenuWidget(top)
        self._file_menu(bar.addMenu("&File"))
        h = self.host
        edit = bar.addMenu("&Edit")
        self.copy_action = self._action(edit, "Copy last answer", h.copy_last_answer,
                                        "Ctrl+Shift+C")
        self._action(edit, "Regenerate last answer", h.regenerate_last, "Ctrl+R")
        self._action(edit, "Edit last message", h.edit_last, "Ctrl+E")
        self._action(edit, "Search history", h.focus_search, "Ctrl+F")
        edit.addSeparator()
        self._action(edit, "Prompt library…", self.prompts.open_library, "Ctrl+Shift+L")
        self._action(edit, "System prompt…", self.prompts.open_system_prompt)
        tools = bar.addMenu("&Tools")
        self._action(tools, "Settings…", self.open_settings, "Ctrl+,")
        self._action(tools, "View policy…", self.open_policy)
        self._action(tools, "Usage…", self.open_usage)
        self.documents_action = self._action(tools, "Documents…", h.open_documents)
        self.models_action = self._action(tools, "Models…", self.open_models_page,
                                          "Ctrl+Shift+M")
        self._action(tools, "Evaluate model…", lambda: self.open_evaluate())
        self._action(tools, "Compare models…", self.open_compare)
        tools.addSeparator()
        self.api = ApiSwitch(self.app, self.window, tools, h.show_notice, h.show_failure)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "About Enclave…", self.open_about)

    def _file_menu(self, file_menu: QMenu) -> None:
        self._action(file_menu, "New chat", self.host.new_chat, "Ctrl+N")
        export = file_menu.addMenu("Export conversation")
        for fmt, label in FORMATS.items():
            act = self._action(export, label.split(" (")[0] + "…",
                               lambda _=False, f=fmt: self.export_current(f))
            self.export_actions.append(act)
        allowed = export_allowed(self.app.policy)
        export.setToolTipsVisible(True)
        for act in self.export_actions:
            act.setEnabled(allowed)
            act.setToolTip("" if allowed else LOCK_TOOLTIP)
        self.export_menu = export
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.window.close, "Ctrl+Q")

    def _action(self, menu: QMenu, text: str, slot: Any, shortcut: str | None = None
                ) -> QAction:
        act: QAction = menu.addAction(text)
        act.triggered.connect(slot)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.window.addAction(act)  # shortcuts work even when the menu bar is hidden
        return act

    def open_settings(self) -> None:
        """Ctrl+, : the settings dialog; saved values apply to the next answer."""
        dialog = SettingsDialog(self.app, self.window)
        if dialog.exec():
            self.host.apply_settings()

    def open_policy(self) -> None:
        """Every policy key with its value, level and source."""
        PolicyDialog(self.app.policy, self.window).exec()

    def confirm_link(self, url: QUrl) -> None:
        """Open a link from an answer, only web or mail, after the user confirms."""
        if url.scheme() not in ("http", "https", "mailto"):
            self.host.show_error(
                f"This link was not opened: {url.toString()}",
                "Only web and mail links can be opened from an answer.")
            return
        answer = QMessageBox.question(
            self.window,
            "Open link?",
            f"Open this link in your browser?\n\n{url.toString()}\n\n"
            "It came from a model's answer; check it before opening.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            QDesktopServices.openUrl(url)

    def export_current(self, fmt: str) -> None:
        """Export the conversation on screen."""
        conversation_id = self.host.conversation_id
        if conversation_id is None:
            self.host.show_notice("Open or start a conversation to export it.")
            return
        self.export_conversation(conversation_id, fmt)

    def export_conversation(self, conversation_id: int, fmt: str, path: str = "") -> None:
        """Ask where, then write the export in the background (md, json) or print it (pdf)."""
        if not export_allowed(self.app.policy):
            return
        if not path:
            suggested = str(Path(start_folder()) / f"conversation-{conversation_id}.{fmt}")
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Export conversation", suggested, FORMATS[fmt])
        if path:
            self.history.export(conversation_id, fmt, path, self.on_exported)

    def _print_pdf(self, conversation_id: int, path: str, markdown: str) -> None:
        doc = QTextDocument()
        doc.setMarkdown(markdown, QTextDocument.MarkdownFeature.MarkdownNoHTML)
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(path)
        doc.print_(printer)
        self.host.show_notice(f"Exported to {path}.")

    def choose_model_file(self) -> None:
        """Pick a GGUF file and load it for this session."""
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Use a model file", start_folder(), "GGUF models (*.gguf)")
        if path:
            self.host.load_model(path)

    def on_exported(self, exported: Exported) -> None:
        """An export finished: say where it went, or print the PDF there."""
        if exported.pdf_markdown is not None:
            self._print_pdf(exported.conversation_id, exported.path, exported.pdf_markdown)
        else:
            self.host.show_notice(f"Exported to {exported.path}.")
