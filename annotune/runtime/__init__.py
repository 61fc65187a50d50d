"""Runtime: how a process shares the machine: its CPU threads (``threads``) and its rank among the processes
of a ``torchrun`` / ``accelerate launch`` run (``processes``)."""
