"""Enclave: a desktop AI assistant whose data never leaves the building."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("enclave")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
