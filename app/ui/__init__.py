"""The PySide6 front end: widgets, view models and workers. It draws; the core decides."""
