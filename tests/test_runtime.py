"""The runtime's one home for CPU threads and the launcher's variables (annotune/runtime)."""

import pytest

from annotune.errors import ParamsError
from annotune.runtime.processes import is_main_process, local_rank, share_size, world_size
from annotune.runtime.threads import cpu_threads, share_environment


def test_cpu_threads_split_the_cores_between_processes():
    cores = cpu_threads({})[0]
    assert cpu_threads({"ANNOTUNE_THREADS": "3"}) == (3, "ANNOTUNE_THREADS")
    assert cpu_threads({"LOCAL_WORLD_SIZE": str(cores)})[0] == 1
    assert cpu_threads({"LOCAL_WORLD_SIZE": str(cores * 4)})[0] == 1  # never zero
    with pytest.raises(ParamsError, match="ANNOTUNE_THREADS='two'"):
        cpu_threads({"ANNOTUNE_THREADS": "two"})


def test_workers_get_their_share_of_the_cores_for_openmp_too():
    """The launching process has set OMP_NUM_THREADS to every core (trial 0 ran there): no worker inherits it."""
    inherited = {"ANNOTUNE_THREADS": "2", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "PATH": "/bin"}
    environment = share_environment(2, inherited)
    assert environment["PATH"] == "/bin"
    for name in ("ANNOTUNE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        assert environment[name] == "1", name


def test_launcher_variables_read_in_one_place():
    launched = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert (world_size(launched), local_rank(launched), is_main_process(launched)) == (4, 1, False)
    assert (world_size({}), local_rank({}), is_main_process({})) == (1, 0, True)
    assert cpu_threads({**launched, "ANNOTUNE_THREADS": ""})[1].endswith("/ 2 process(es)")
    assert sum(share_size(1000, 64, rank, 4) for rank in range(4)) == 1000
