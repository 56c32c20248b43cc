"""Approving a model before anyone uses it: evaluation suites, signed reports and the gate.

Below the models (a model's status and the local model ask the gate): ``suites`` (versioned
data files), ``scorers`` (deterministic scoring), ``signing`` (the report's seal),
``reports`` (where reports are kept), ``render`` (their Markdown and HTML views),
``machine`` (this machine and its llama.cpp build), ``perf`` (the performance figures) and
``gate`` (may this digest load under ``models.require_approval``).

Beside the application context (they run turns through ``ChatService.send``): ``runner``
(evaluate one model), ``probes`` (one item as a turn) and ``compare`` (two models side by
side). Nothing is imported here, so asking the gate never loads the runner.
"""
