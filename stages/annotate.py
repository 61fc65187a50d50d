"""annotate@<task> (opt-in: params annotate.tasks): label params' annotate.input with annotate.system.
The same command for users: ``annotune annotate`` (annotune/workflows/annotate.py, its ``--help``)."""

from annotune.runtime import cli
from annotune.workflows.annotate import main

if __name__ == "__main__":
    cli.run(main)
