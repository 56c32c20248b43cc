"""The main window's menus and the dialogs and one-off actions they open.

``WindowMenus`` owns the menu bar (and its shortcuts), the About, Settings, Policy and Usage
windows, link and message actions from the conversation, and exports. It holds the window it
serves and asks it for the rest (the view, notices, the history jobs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QTextDocument
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMenu,
    QMenuBar,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from app.ui.banners import ClassificationBanner, banner_spec
from app.ui.dialogs import PolicyDialog, SettingsDialog
from app.ui.export import FORMATS, export_allowed
from app.ui.theme import LOCK_TOOLTIP

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow
    from app.ui.usage_view import UsageView
    from app.ui.workers import Exported


class WindowMenus:
    """The window's menus and the actions behind them.

    Args:
        window: The main window; its widgets exist when this is built.
    """

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.app = window.app
        self.export_actions: list[QAction] = []
        self._usage: UsageView | None = None
        self._build()

    def about_text(self) -> str:
        """Version and where things are, for the About box (and support calls)."""
        from app import __version__

        info = self.window.engine_info
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

    def open_about(self) -> None:
        """Show the About box."""
        QMessageBox.about(self.window, "About Enclave", self.about_text())

    def open_usage(self) -> None:
        """Show usage charts and drift signals (computed off the GUI thread)."""
        from app.core.observe import usage_report
        from app.ui.usage_view import UsageView

        self._usage = UsageView(lambda: usage_report(self.app.paths), self.window)
        self._usage.setWindowFlag(Qt.WindowType.Window)
        self._usage.setWindowTitle("Enclave — Usage")
        self._usage.resize(900, 640)
        self._usage.show()

    def _build(self) -> None:
        w = self.window
        bar = QMenuBar(w)
        top = QWidget(w)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(0)
        spec = banner_spec(self.app.policy)
        if spec is not None:
            top_layout.addWidget(ClassificationBanner(spec, "top", top))
        top_layout.addWidget(bar)
        w.setMenuWidget(top)

        def action(menu: QMenu, text: str, slot: Any, shortcut: str | None = None) -> QAction:
            act: QAction = menu.addAction(text)
            act.triggered.connect(slot)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            w.addAction(act)  # shortcuts work even when the menu bar is hidden
            return act

        file_menu = bar.addMenu("&File")
        action(file_menu, "New chat", w.new_chat, "Ctrl+N")
        export = file_menu.addMenu("Export conversation")
        for fmt, label in FORMATS.items():
            act = action(export, label.split(" (")[0] + "…",
                         lambda _=False, f=fmt: self.export_current(f))
            self.export_actions.append(act)
        allowed = export_allowed(self.app.policy)
        export.setToolTipsVisible(True)
        for act in self.export_actions:
            act.setEnabled(allowed)
            act.setToolTip("" if allowed else LOCK_TOOLTIP)
        self.export_menu = export
        file_menu.addSeparator()
        action(file_menu, "Quit", w.close, "Ctrl+Q")
        edit = bar.addMenu("&Edit")
        self.copy_action = action(edit, "Copy last answer", w.copy_last_answer,
                                  "Ctrl+Shift+C")
        action(edit, "Regenerate last answer", w.regenerate_last, "Ctrl+R")
        action(edit, "Edit last message", w.edit_last, "Ctrl+E")
        action(edit, "Search history", w.sidebar.focus_search, "Ctrl+F")
        tools = bar.addMenu("&Tools")
        action(tools, "Settings…", self.open_settings, "Ctrl+,")
        action(tools, "View policy…", self.open_policy)
        action(tools, "Usage…", self.open_usage)
        self.documents_action = action(tools, "Documents…", w.documents.open)  # issue 9
        w.docs_bar.bind_action(self.documents_action)
        help_menu = bar.addMenu("&Help")
        action(help_menu, "About Enclave…", self.open_about)

    def open_settings(self) -> None:
        """Ctrl+, : the settings dialog; saved values apply to the next answer."""
        dialog = SettingsDialog(self.app, self.window)
        if dialog.exec():
            self.window.apply_settings()

    def open_policy(self) -> None:
        """Every policy key with its value, level and source."""
        PolicyDialog(self.app.policy, self.window).exec()

    def confirm_link(self, url: QUrl) -> None:
        """Open a link from an answer, only web or mail, after the user confirms."""
        if url.scheme() not in ("http", "https", "mailto"):
            self.window.show_error(
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

    def message_action(self, verb: str, index: int) -> None:
        """A message's own action (copy, copy code, regenerate, edit)."""
        if verb == "copy-code":
            if 0 <= index < len(self.window.view.code_blocks):
                QApplication.clipboard().setText(self.window.view.code_blocks[index])
                self.window.show_notice("Code copied.")
            return
        if not 0 <= index < len(self.window.view.messages):
            return
        if verb == "copy":
            QApplication.clipboard().setText(self.window.view.messages[index].text)
            self.window.show_notice("Answer copied.")
        elif verb == "regenerate":
            self.window.regenerate(index)
        elif verb == "edit":
            self.window.edit_message(index)

    def export_current(self, fmt: str) -> None:
        """Export the conversation on screen."""
        if self.window.conversation_id is None:
            self.window.show_notice("Open or start a conversation to export it.")
            return
        self.export_conversation(self.window.conversation_id, fmt)

    def export_conversation(self, conversation_id: int, fmt: str, path: str = "") -> None:
        """Ask where, then write the export in the background (md, json) or print it (pdf)."""
        if not export_allowed(self.app.policy):
            return
        if not path:
            suggested = str(Path.home() / f"conversation-{conversation_id}.{fmt}")
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Export conversation", suggested, FORMATS[fmt])
        if path:
            self.window.history_jobs.export(conversation_id, fmt, path, self.on_exported)

    def _print_pdf(self, conversation_id: int, path: str, markdown: str) -> None:
        doc = QTextDocument()
        doc.setMarkdown(markdown, QTextDocument.MarkdownFeature.MarkdownNoHTML)
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(path)
        doc.print_(printer)
        self.window.show_notice(f"Exported to {path}.")

    def choose_model_file(self) -> None:
        """Pick a GGUF file and load it for this session."""
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Use a model file", str(Path.home()), "GGUF models (*.gguf)")
        if path:
            self.window.load_model(path)

    def on_exported(self, exported: Exported) -> None:
        """An export finished: say where it went, or print the PDF there."""
        if exported.pdf_markdown is not None:
            self._print_pdf(exported.conversation_id, exported.path, exported.pdf_markdown)
        else:
            self.window.show_notice(f"Exported to {exported.path}.")
