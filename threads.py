"""How many threads the trainer and its loader workers get on this machine.

On a small CPU box torch's default (one thread per core) in the trainer, plus loader workers that
each want a core, oversubscribe the cores: measured on a 2-core VM under load, training ran 20x
slower with torch's two threads than with one. The plan gives each worker one core and the
trainer what is left (at least one thread).
"""

import os


def available_cores():
    """Cores this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_cpu_threads(workers=None, cores=None):
    """(loader workers, trainer threads) for CPU training: ``workers`` None takes all cores but one."""
    cores = cores or available_cores()
    workers = max(cores - 1, 0) if workers is None else workers
    return workers, max(cores - workers, 1)
