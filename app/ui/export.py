"""File-dialog formats for exporting; the decision and the audit record live in the core."""

from __future__ import annotations

from app.core.history_actions import ExportNotAllowed, export_allowed

FORMATS = {"md": "Markdown (*.md)", "json": "JSON (*.json)", "pdf": "PDF (*.pdf)"}

__all__ = ["FORMATS", "ExportNotAllowed", "export_allowed"]
