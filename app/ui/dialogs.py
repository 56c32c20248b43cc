"""Settings, the policy view, the passphrase prompt, and where file pickers start.

The settings dialog only draws ``Settings.state``: a key the policy locks is disabled with a
lock and the tooltip "Managed by your organization"; ``Settings.set`` decides what may change.
Every dialog closes with its Close (or Cancel) button, Esc and Ctrl+W (``BannerDialog``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.core.errors import EnclaveError
from app.ui.banners import BannerDialog
from app.ui.notices import analyst_hint
from app.ui.theme import LOCK_TOOLTIP, lock_icon

# (key, label, kind, minimum, maximum, step): what the dialog offers, in this order.
SETTINGS_FIELDS: list[tuple[str, str, str, float, float, float]] = [
    ("generation.temperature", "Temperature", "float", 0.0, 2.0, 0.05),
    ("generation.top_p", "Top-p", "float", 0.01, 1.0, 0.01),
    ("generation.top_k", "Top-k", "int", 0, 1000, 1),
    ("generation.max_tokens", "Longest answer (tokens)", "int", 1, 32768, 64),
    ("generation.seed", "Seed (-1: random)", "int", -1, 2**31 - 1, 1),
    ("engine.context_length", "Context size (tokens)", "int", 256, 262144, 256),
    ("engine.gpu_layers", "GPU layers (-1: auto)", "int", -1, 999, 1),
    ("engine.threads", "CPU threads (0: auto)", "int", 0, 256, 1),
    ("engine.cpu_repacking", "Repacked CPU kernels", "choice", 0, 0, 0),
    ("ui.theme", "Theme", "choice", 0, 0, 0),
    ("ui.font_size", "Font size (pt)", "int", 6, 48, 1),
    ("history.retention_days", "Keep history (days, 0: forever)", "int", 0, 36500, 1),
]
GROUPS = {"generation": "Answers", "engine": "Engine", "ui": "Appearance",
          "history": "History"}
# What each "choice" setting offers, in the order shown.
CHOICES: dict[str, tuple[str, ...]] = {"ui.theme": ("system", "light", "dark"),
                                       "engine.cpu_repacking": ("auto", "on", "off")}


def start_folder() -> str:
    """Where a file picker opens: the user's documents folder, else home (never the program's)."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return docs if docs and Path(docs).is_dir() else str(Path.home())


class SettingsDialog(BannerDialog):
    """Edit the user's settings; locked ones are shown but cannot change."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(ctx.policy, "Settings", parent)
        self.ctx = ctx
        self.setMinimumWidth(440)
        self.editors: dict[str, QWidget] = {}
        self.locks: dict[str, QLabel] = {}
        forms: dict[str, QFormLayout] = {}
        for key, label, kind, low, high, step in SETTINGS_FIELDS:
            section = key.split(".", 1)[0]
            if section not in forms:
                box = QGroupBox(GROUPS[section], self)
                forms[section] = QFormLayout(box)
                self.body.addWidget(box)
            state = ctx.settings.state(key)
            editor = self._editor(key, kind, (low, high, step), state.value)
            editor.setAccessibleName(label)
            editor.setObjectName(key)
            row = QHBoxLayout()
            row.addWidget(editor, 1)
            lock = QLabel(self)
            lock.setPixmap(lock_icon(16).pixmap(16, 16))
            lock.setAccessibleName(f"{label}: {LOCK_TOOLTIP}")
            lock.setToolTip(LOCK_TOOLTIP)
            lock.setVisible(state.locked)
            row.addWidget(lock)
            if state.locked:
                editor.setEnabled(False)
                editor.setToolTip(f"{LOCK_TOOLTIP} (set in {state.source})")
            else:
                editor.setToolTip(_description(key))
            self.editors[key], self.locks[key] = editor, lock
            forms[section].addRow(label, row)
        note = QLabel("Context size, GPU layers, threads and repacked CPU kernels apply when "
                      "a model is next loaded.")
        note.setWordWrap(True)
        self.body.addWidget(note)
        self.error = QLabel(self)
        self.error.setObjectName("error-banner")
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Error")
        self.error.hide()
        self.body.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Close, self)
        buttons.button(QDialogButtonBox.StandardButton.Save).setAccessibleName("Save settings")
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setAccessibleName("Close")
        close.setToolTip("Close without saving (Esc)")
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.body.addWidget(buttons)

    def _editor(self, key: str, kind: str, bounds: tuple[float, float, float],
                value: Any) -> QWidget:
        low, high, step = bounds
        if kind == "float":
            spin = QDoubleSpinBox(self)
            spin.setRange(low, high)
            spin.setSingleStep(step)
            spin.setDecimals(2)
            spin.setValue(float(value))
            return spin
        if kind == "int":
            box = QSpinBox(self)
            box.setRange(int(low), int(high))
            box.setSingleStep(int(step))
            box.setValue(int(value))
            return box
        combo = QComboBox(self)
        combo.addItems(list(CHOICES[key]))
        combo.setCurrentText(str(value))
        return combo

    def value_of(self, key: str) -> Any:
        """What the editor for ``key`` holds."""
        editor = self.editors[key]
        if isinstance(editor, QDoubleSpinBox):
            return round(editor.value(), 4)
        if isinstance(editor, QSpinBox):
            return editor.value()
        if isinstance(editor, QComboBox):
            return editor.currentText()
        raise TypeError(key)

    def save(self) -> None:
        """Store what changed; the core refuses what the policy locks."""
        try:
            for key in self.editors:
                state = self.ctx.settings.state(key)
                value = self.value_of(key)
                if state.locked or value == state.value:
                    continue
                self.ctx.settings.set(key, value)
        except EnclaveError as exc:
            self.error.setText(f"<b>{exc.message}</b><br>{analyst_hint(exc)}")
            self.error.show()
            return
        self.accept()


def _description(key: str) -> str:
    try:
        from app.core.settings import SETTING_KEYS

        return str(SETTING_KEYS[key].description)
    except Exception:  # noqa: BLE001
        return key


class PolicyDialog(BannerDialog):
    """Every policy key with its value, level and source; restricted mode first."""

    def __init__(self, policy: Any, parent: QWidget | None = None) -> None:
        super().__init__(policy, "Policy in effect", parent)
        self.resize(900, 560)
        report = policy.report()
        if report.get("restricted"):
            reasons = "<br>".join(f"• {r}" for r in report.get("restricted_reasons", []))
            self.restricted = QLabel(
                "<b>Restricted mode: Enclave runs local only, export is off.</b><br>"
                f"{reasons}", self)
            self.restricted.setObjectName("restricted")
            self.restricted.setWordWrap(True)
            self.restricted.setTextFormat(Qt.TextFormat.RichText)
            self.restricted.setAccessibleName("Restricted mode")
            self.body.addWidget(self.restricted)
        keys = report.get("keys", {})
        self.table = QTableWidget(len(keys), 4, self)
        self.table.setAccessibleName("Policy keys")
        self.table.setHorizontalHeaderLabels(["Key", "Value", "Level", "Source"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        for row, (key, entry) in enumerate(keys.items()):
            value = json.dumps(entry.get("value"), ensure_ascii=False)
            cells = [key, value, str(entry.get("level", "")), str(entry.get("source", ""))]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text if col != 0 else (entry.get("message") or text))
                self.table.setItem(row, col, item)
            first = self.table.item(row, 0)
            if entry.get("level") == "managed" and first is not None:
                first.setIcon(lock_icon(16))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(1, 220)
        self.body.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        buttons.rejected.connect(self.reject)
        self.body.addWidget(buttons)


class PassphraseDialog(BannerDialog):
    """Ask for the history passphrase; the first time, twice to confirm."""

    def __init__(self, policy: Any, first_run: bool, parent: QWidget | None = None) -> None:
        super().__init__(policy, "History passphrase", parent)
        self.first_run = first_run
        text = (
            "There is no system keyring here, so your history is protected by a passphrase.\n"
            "Choose one; you will need it every time Enclave starts. It cannot be recovered."
            if first_run else "Enter the passphrase that protects your conversation history."
        )
        intro = QLabel(text, self)
        intro.setWordWrap(True)
        self.body.addWidget(intro)
        form = QFormLayout()
        self.first = QLineEdit(self)
        self.first.setEchoMode(QLineEdit.EchoMode.Password)
        self.first.setAccessibleName("Passphrase")
        form.addRow("Passphrase", self.first)
        self.second = QLineEdit(self)
        self.second.setEchoMode(QLineEdit.EchoMode.Password)
        self.second.setAccessibleName("Passphrase again")
        if first_run:
            form.addRow("Again, to confirm", self.second)
        else:
            self.second.hide()
        self.body.addLayout(form)
        self.error = QLabel(self)
        self.error.setObjectName("error-banner")
        self.error.setAccessibleName("Error")
        self.error.hide()
        self.body.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setAccessibleName("Unlock")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        self.body.addWidget(buttons)

    def _check(self) -> None:
        if not self.first.text():
            self.error.setText("The passphrase cannot be empty.")
            self.error.show()
            return
        if self.first_run and self.first.text() != self.second.text():
            self.error.setText("The two passphrases differ; type them again.")
            self.error.show()
            self.second.clear()
            return
        self.accept()

    def passphrase(self) -> str:
        """What the user typed."""
        return self.first.text()
