"""The PySide6 front end: widgets, the controllers that connect them, and background lanes.

It draws; the core decides. ``main_window`` assembles the parts; ``turns`` and
``conversations`` connect them to the core through jobs (``workers``) on ``background``
lanes. The application model the GUI shows (model choices, branches) lives in ``app.core``,
shared with the CLI; the core never imports this package.
"""
