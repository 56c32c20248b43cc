"""The main window's dialogs and one-off actions: settings, policy, links, export, copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument
from PySide6.QtPrintSupport import QPrinter
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from app.ui.dialogs import PolicyDialog, SettingsDialog
from app.ui.export import FORMATS, export_allowed


class WindowActions:
    """Mixed into ``MainWindow``; uses its widgets and signals."""

    app: Any
    view: Any
    request_export: Any
    conversation_id: int | None

    def open_settings(self) -> None:
        """Ctrl+, : the settings dialog; saved values apply to the next answer."""
        dialog = SettingsDialog(self.app, self)  # type: ignore[arg-type]
        if dialog.exec():
            self.apply_settings()  # type: ignore[attr-defined]

    def open_policy(self) -> None:
        """Every policy key with its value, level and source."""
        PolicyDialog(self.app.policy, self).exec()  # type: ignore[arg-type]

    def _confirm_link(self, url: QUrl) -> None:
        if url.scheme() not in ("http", "https", "mailto"):
            self.show_error(  # type: ignore[attr-defined]
                f"This link was not opened: {url.toString()}",
                "Only web and mail links can be opened from an answer.")
            return
        answer = QMessageBox.question(
            self,  # type: ignore[arg-type]
            "Open link?",
            f"Open this link in your browser?\n\n{url.toString()}\n\n"
            "It came from a model's answer; check it before opening.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            QDesktopServices.openUrl(url)

    def _message_action(self, verb: str, index: int) -> None:
        if verb == "copy-code":
            if 0 <= index < len(self.view.code_blocks):
                QApplication.clipboard().setText(self.view.code_blocks[index])
                self.show_notice("Code copied.")  # type: ignore[attr-defined]
            return
        if not 0 <= index < len(self.view.messages):
            return
        if verb == "copy":
            QApplication.clipboard().setText(self.view.messages[index].text)
            self.show_notice("Answer copied.")  # type: ignore[attr-defined]
        elif verb == "regenerate":
            self.regenerate(index)  # type: ignore[attr-defined]
        elif verb == "edit":
            self.edit_message(index)  # type: ignore[attr-defined]

    def _export_current(self, fmt: str) -> None:
        if self.conversation_id is None:
            self.show_notice("Open or start a conversation to export it.")  # type: ignore[attr-defined]
            return
        self.export_conversation(self.conversation_id, fmt)

    def export_conversation(self, conversation_id: int, fmt: str, path: str = "") -> None:
        """Ask where, then write the export in the background (md, json) or print it (pdf)."""
        if not export_allowed(self.app.policy):
            return
        if not path:
            suggested = str(Path.home() / f"conversation-{conversation_id}.{fmt}")
            path, _ = QFileDialog.getSaveFileName(
                self, "Export conversation", suggested, FORMATS[fmt])  # type: ignore[arg-type]
        if path:
            self.request_export.emit(conversation_id, fmt, path)

    def _print_pdf(self, conversation_id: int, path: str, markdown: str) -> None:
        doc = QTextDocument()
        doc.setMarkdown(markdown, QTextDocument.MarkdownFeature.MarkdownNoHTML)
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
        printer.setOutputFileName(path)
        doc.print_(printer)
        self.show_notice(f"Exported to {path}.")  # type: ignore[attr-defined]

    def _choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Use a model file", str(Path.home()), "GGUF models (*.gguf)")  # type: ignore[arg-type]
        if path:
            self.load_model(path)  # type: ignore[attr-defined]
