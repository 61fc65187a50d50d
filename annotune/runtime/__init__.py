"""Runtime: how a process runs: what every stage and command does around its ``main`` (``cli``: one-line errors,
the CPU threads), its CPU threads (``threads``) and its rank among the processes of a ``torchrun`` /
``accelerate launch`` run (``processes``)."""
