"""annotune: can a fine-tuned LLM replace (or pre-fill) your manual annotation? The library behind the DVC pipeline
(``stages/``) and the ``annotune`` command, by concern (docs/architecture.md):

- ``config``: params.yaml and its validation;
- ``data``: readers, dataset adapters, tasks, the files stages exchange;
- ``systems``: every way annotune labels a task (the registry, one class per kind, the model code);
- ``evaluation``: metrics, the human reference, estimates, the report and the review page;
- ``workflows``: what a user does with trained systems (annotate, select, Label Studio, export, tune, ...);
- ``runtime``: how a process runs (errors as one line, CPU threads, ranks under a launcher).
"""
