"""The Prompt library window, the prompt editor and a conversation's System prompt dialog.

The organization's prompts come first, locked, then the user's own. **Insert** hands a
prompt's text to the composer; **Use for this conversation** makes a system prompt the open
conversation's own. The core (``app.core.prompts``) checks every name and text; store work
runs on each window's own lane, waited for when it closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import EnclaveError
from app.core.prompts import LibraryPrompt, clean_body, clean_kind, clean_name
from app.ui.background import BackgroundLane
from app.ui.banners import BannerDialog, close_with_keys
from app.ui.prompt_worker import PromptJobs
from app.ui.theme import LOCK_TOOLTIP, lock_icon

KIND_LABELS = {"prompt": "Prompt (insert into a message)", "system": "System prompt"}


W = TypeVar("W", bound=QWidget)


def _named(widget: W, accessible: str) -> W:
    widget.setAccessibleName(accessible)
    if isinstance(widget, QLabel):
        widget.setWordWrap(True)  # a problem said in a sentence or two
    return widget


def _save_cancel(dialog: QDialog, on_save: Any) -> QDialogButtonBox:
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, dialog)
    buttons.accepted.connect(on_save)
    buttons.rejected.connect(dialog.reject)
    return buttons


class PromptEditor(BannerDialog):
    """New or Edit: name, kind and text; the core checks them before the dialog closes.

    Args:
        policy: For the classification banner.
        prompt: The prompt to edit; ``None`` for a new one.
        parent: The owning widget.
    """

    def __init__(self, policy: Any, prompt: LibraryPrompt | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(policy, "Edit prompt" if prompt else "New prompt", parent)
        self.prompt = prompt
        self.values: tuple[str, str, str] | None = None  # (name, body, kind) once accepted
        form = QFormLayout()
        self.name_edit = _named(QLineEdit(prompt.name if prompt else "", self), "Prompt name")
        self.kind_box = _named(QComboBox(self), "Kind of prompt")
        for kind, label in KIND_LABELS.items():
            self.kind_box.addItem(label, kind)
        self.kind_box.setCurrentIndex(max(0, self.kind_box.findData(prompt and prompt.kind)))
        self.body_edit = _named(QPlainTextEdit(prompt.body if prompt else "", self), "Prompt text")
        self.body_edit.setMinimumSize(420, 200)
        for label, widget in (("Name", self.name_edit), ("Kind", self.kind_box),
                              ("Text", self.body_edit)):
            form.addRow(label, widget)
        self.body.addLayout(form)
        self.error_label = _named(QLabel("", self), "Prompt problem")
        self.body.addWidget(self.error_label)
        self.body.addWidget(_save_cancel(self, self.accept))

    def accept(self) -> None:
        """Close only with a name and text the core accepts; otherwise say what is wrong."""
        try:
            self.values = (clean_name(self.name_edit.text()),
                           clean_body(self.body_edit.toPlainText()),
                           clean_kind(str(self.kind_box.currentData())))
        except EnclaveError as exc:
            self.error_label.setText(str(exc))
            return
        super().accept()


class PromptLibraryWindow(QWidget):
    """The library: search, the organization's prompts (locked) and one's own.

    Args:
        store: The history (``None`` in a session that is not saved).
        policy: The effective policy: the organization's prompts, the banner.
        conversation: The conversation on screen (``None``: not saved yet), or a function
            asked each time, so the window follows the main window's conversation.
        parent: The owning widget.
    """

    insert_requested = Signal(str)  # a prompt's text, for the composer
    system_prompt_set = Signal(int)  # the conversation whose system prompt changed
    listed = Signal(object)  # the prompts shown, after each refresh (GUI thread)

    def __init__(self, store: Any, policy: Any,
                 conversation: int | None | Callable[[], int | None] = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Prompt library")
        self.setAccessibleName("Prompt library")
        self.policy = policy
        self.conversation = conversation if callable(conversation) else lambda: conversation
        self.lane = BackgroundLane("enclave-prompts", self)
        self.jobs = PromptJobs(store, policy, self.lane, self._failed)
        self.prompts: list[LibraryPrompt] = []
        self.editor: PromptEditor | None = None  # the last editor opened
        self._build()
        self.refresh()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.search_edit = _named(QLineEdit(self), "Search prompts")
        self.search_edit.setPlaceholderText("Search prompts")
        self.search_edit.textChanged.connect(self._fill)
        layout.addWidget(self.search_edit)
        middle = QHBoxLayout()
        self.list = _named(QListWidget(self), "Prompts")
        self.list.currentItemChanged.connect(self._selected)
        self.list.itemDoubleClicked.connect(lambda _item: self.insert_selected())
        self.preview = _named(QPlainTextEdit(self), "Prompt text")
        self.preview.setReadOnly(True)
        middle.addWidget(self.list, 1)
        middle.addWidget(self.preview, 2)
        layout.addLayout(middle, 1)
        self.status_label = _named(QLabel("", self), "Prompt library status")
        layout.addWidget(self.status_label)
        buttons = QHBoxLayout()
        button = self._button
        self.new_button = button("New…", "New prompt", self.new_prompt, buttons)
        self.edit_button = button("Edit…", "Edit prompt", self.edit_selected, buttons)
        self.delete_button = button("Delete", "Delete prompt", self.delete_selected, buttons)
        buttons.addStretch(1)
        self.insert_button = button("Insert", "Insert into message", self.insert_selected,
                                    buttons)
        self.use_button = button("Use for this conversation",
                                 "Use as this conversation's system prompt", self.use_selected,
                                 buttons)
        self.close_button = button("Close", "Close", self.close, buttons)
        self.close_button.setToolTip("Close the prompt library (Esc)")
        close_with_keys(self, self.close)
        layout.addLayout(buttons)
        self.new_button.setEnabled(self.jobs.saved)
        if not self.jobs.saved:
            self.status_label.setText("This session is not saved: only your organization's "
                                      "prompts are available.")
        self._selected(None, None)

    def _button(self, text: str, accessible: str, slot: Any, row: QHBoxLayout) -> QPushButton:
        button = _named(QPushButton(text, self), accessible)
        button.clicked.connect(slot)
        row.addWidget(button)
        return button

    def refresh(self) -> None:
        """Read the library again (off the GUI thread)."""
        self.jobs.list_prompts(self._show)

    def _show(self, prompts: list[LibraryPrompt]) -> None:
        self.prompts = prompts
        self._fill()
        self.listed.emit(prompts)

    def _fill(self, *_: object) -> None:
        wanted = self.search_edit.text().strip().casefold()
        current = self.selected()
        self.list.clear()
        for prompt in self.prompts:
            if wanted not in f"{prompt.name}\n{prompt.body}".casefold():
                continue
            label = prompt.name + (" (system prompt)" if prompt.kind == "system" else "")
            item = QListWidgetItem(label, self.list)
            item.setData(Qt.ItemDataRole.UserRole, prompt)
            if prompt.managed:
                item.setIcon(lock_icon())
                item.setToolTip(LOCK_TOOLTIP)
                item.setData(Qt.ItemDataRole.AccessibleDescriptionRole, LOCK_TOOLTIP)
            if prompt == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._selected(self.list.currentItem(), None)

    def selected(self) -> LibraryPrompt | None:
        """The prompt chosen in the list, if any."""
        item = self.list.currentItem()
        prompt: LibraryPrompt | None = None if item is None else item.data(
            Qt.ItemDataRole.UserRole)
        return prompt

    def select(self, name: str) -> bool:
        """Choose the prompt of that name in the list; False when it is not shown."""
        for row in range(self.list.count()):
            prompt = self.list.item(row).data(Qt.ItemDataRole.UserRole)
            if prompt.name == name:
                self.list.setCurrentRow(row)
                return True
        return False

    def _selected(self, item: QListWidgetItem | None, _previous: object) -> None:
        prompt = None if item is None else item.data(Qt.ItemDataRole.UserRole)
        self.preview.setPlainText("" if prompt is None else prompt.body)
        own = prompt is not None and not prompt.managed and self.jobs.saved
        for changes in (self.edit_button, self.delete_button):
            changes.setEnabled(own)
            changes.setToolTip(LOCK_TOOLTIP if prompt is not None and prompt.managed else "")
        self.insert_button.setEnabled(prompt is not None)
        saved = self.conversation() is not None
        self.use_button.setEnabled(prompt is not None and prompt.kind == "system"
                                   and self.jobs.saved and saved)
        self.use_button.setToolTip("" if saved else "Send a first message: the conversation "
                                   "is saved then.")

    def _failed(self, error: EnclaveError) -> None:
        self.status_label.setText(str(error))

    # --- actions --------------------------------------------------------------------------

    def new_prompt(self) -> PromptEditor:
        """Open the editor for a new prompt; saving adds it to the library."""
        return self._open_editor(None)

    def edit_selected(self) -> PromptEditor | None:
        """Open the editor on the chosen prompt (one's own only)."""
        prompt = self.selected()
        if prompt is None or prompt.managed:
            return None
        return self._open_editor(prompt)

    def _open_editor(self, prompt: LibraryPrompt | None) -> PromptEditor:
        editor = self.editor = PromptEditor(self.policy, prompt, self)
        editor.accepted.connect(lambda: self._save(editor))
        editor.open()
        return editor

    def _save(self, editor: PromptEditor) -> None:
        assert editor.values is not None  # set by accept()
        name, body, kind = editor.values

        def failed(error: EnclaveError) -> None:  # e.g. the name is taken: nothing typed is lost
            again = self._open_editor(editor.prompt)
            again.name_edit.setText(name)
            again.body_edit.setPlainText(body)
            again.kind_box.setCurrentIndex(again.kind_box.findData(kind))
            again.error_label.setText(str(error))

        if editor.prompt is None:
            self.jobs.add(name, body, kind, self._saved(name), failed)
        else:
            self.jobs.edit(editor.prompt.ref, name, body, kind, self._saved(name), failed)

    def _saved(self, name: str, what: str = "Saved") -> Any:
        def done(prompts: list[LibraryPrompt]) -> None:
            self._show(prompts)
            self.select(name)
            self.status_label.setText(f"{what} {name!r}.")

        return done

    def delete_selected(self) -> QMessageBox | None:
        """Ask, then delete the chosen prompt (one's own only; managed ones are locked)."""
        prompt = self.selected()
        if prompt is None or prompt.managed or not self.jobs.saved:
            return None
        box = QMessageBox(
            QMessageBox.Icon.Question, "Delete prompt", f"Delete the prompt {prompt.name!r}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setAccessibleName("Delete prompt")
        box.accepted.connect(lambda: self.jobs.remove(prompt.ref,
                                                      self._saved(prompt.name, "Deleted")))
        close_with_keys(box, box.reject)
        box.open()
        return box

    def insert_selected(self) -> None:
        """Hand the chosen prompt's text to the composer."""
        prompt = self.selected()
        if prompt is not None:
            self.insert_requested.emit(prompt.body)

    def use_selected(self) -> None:
        """Make the chosen system prompt the open conversation's own."""
        prompt, cid = self.selected(), self.conversation()
        if prompt is None or prompt.kind != "system" or cid is None:
            return

        def done(_stored: str | None) -> None:
            self.status_label.setText(f"This conversation now uses {prompt.name!r}.")
            self.system_prompt_set.emit(cid)

        self.jobs.set_system_prompt(cid, prompt.body, done)

    def shutdown(self) -> None:
        """Drop queued store work and wait for the running job (the main window closing)."""
        self.lane.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Closing: wait for the library's store work (no job outlives the window)."""
        self.shutdown()
        super().closeEvent(event)


class SystemPromptDialog(BannerDialog):
    """A conversation's system prompt: the site's above (locked), the conversation's below.

    Args:
        store: The history (``None`` in a session that is not saved).
        policy: The effective policy (the site's system prompt, the banner).
        conversation_id: The conversation whose system prompt this edits.
        parent: The owning widget.
    """

    saved = Signal(object)  # the conversation's own system prompt as stored (None: removed)
    loaded = Signal()  # both prompts are shown (GUI thread)

    def __init__(self, store: Any, policy: Any, conversation_id: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(policy, "System prompt", parent)
        self.conversation_id = conversation_id
        self.lane = BackgroundLane("enclave-system-prompt", self)
        self.jobs = PromptJobs(store, policy, self.lane, self._failed)
        self.site_box = QGroupBox("Site system prompt, managed by your organization: always "
                                  "given first", self)
        self.site_box.setToolTip(LOCK_TOOLTIP)
        self.site_view = _named(QPlainTextEdit(self.site_box), "Site system prompt")
        self.site_view.setReadOnly(True)
        QVBoxLayout(self.site_box).addWidget(self.site_view)
        self.own_edit = _named(QPlainTextEdit(self), "This conversation's system prompt")
        self.own_edit.setPlaceholderText("How the model should answer in this conversation")
        self.body.addWidget(self.site_box)
        self.body.addWidget(QLabel("This conversation's system prompt (added after it)", self))
        self.body.addWidget(self.own_edit)
        self.error_label = _named(QLabel("", self), "System prompt problem")
        self.body.addWidget(self.error_label)
        buttons = _save_cancel(self, self.save)
        clear = buttons.addButton("Clear", QDialogButtonBox.ButtonRole.ResetRole)
        self.clear_button = _named(clear, "Clear this conversation's system prompt")
        self.clear_button.clicked.connect(self.own_edit.clear)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.body.addWidget(buttons)
        self.save_button.setEnabled(False)  # until the stored prompts are shown
        self.jobs.system_prompts(conversation_id, self._show)

    def _show(self, prompts: tuple[str | None, str | None]) -> None:
        site, own = prompts
        self.site_box.setVisible(bool(site))
        self.site_view.setPlainText(site or "")
        self.own_edit.setPlainText(own or "")
        self.save_button.setEnabled(self.jobs.saved)
        if not self.jobs.saved:
            self.error_label.setText("Not saved: this session keeps no history.")
        self.loaded.emit()

    def save(self) -> None:
        """Store the conversation's system prompt (blank removes it), then close."""
        text = self.own_edit.toPlainText()
        try:
            body = clean_body(text) if text.strip() else None
        except EnclaveError as exc:
            self.error_label.setText(str(exc))
            return

        def done(stored: str | None) -> None:
            self.saved.emit(stored)
            self.accept()

        self.save_button.setEnabled(False)
        self.jobs.set_system_prompt(self.conversation_id, body, done)

    def _failed(self, error: EnclaveError) -> None:
        self.error_label.setText(str(error))
        self.save_button.setEnabled(self.jobs.saved)

    def done(self, result: int) -> None:
        """Closing (Save, Cancel, Esc): wait for the store work first."""
        self.lane.shutdown()
        super().done(result)
