"""Workflows: what a user does with trained systems, each behind an ``annotune`` subcommand.

- ``annotate`` / ``annotate_input`` / ``annotate_output``: label new data at scale, resumable, in parallel;
- ``select``: which items humans should label next;
- ``labelstudio`` / ``labelstudio_import``: the round trip with Label Studio;
- ``estimate_cli``: ``annotune estimate`` over annotate's output;
- ``export``: an adapter merged into a plain model folder;
- ``budget`` / ``scaling`` / ``profiles`` / ``tune`` / ``tune_space``: experiments queued through DVC (label
  budget, model size, named parameter sets, hyperparameter search).
"""
