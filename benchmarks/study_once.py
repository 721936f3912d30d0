"""Run the whole study (helpers.study_trainings) once in this fresh process and print its wall time as JSON.

Run from the repository root:  python -m benchmarks.study_once [--workers N] [--cpus LIST] [--epochs N]

--workers 0, the default, lets helpers.run_trainings choose (one worker per usable core, in this process when there is
one core); 1 runs every training here, with this process's threads. --cpus 0 or --cpus 0,1 restricts this process, and
so the workers it starts, to those cores. The last line printed is JSON: the study's wall time (run_trainings alone:
loading the data is not timed, starting the pool is), the usable cores, MKL's mode and this process's torch threads,
and two peaks of resident memory from getrusage, in KiB: this process's own, and the largest of its finished children
(the pool's workers, which the pool has joined by then).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time


def core_set(text: str) -> set[int]:
    """Core numbers written as a comma-separated list ('0' or '0,1') as a set."""
    try:
        cores = {int(core) for core in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"give core numbers separated by commas, e.g. 0,1; got {text!r}") from None
    return cores


def main() -> None:
    """Parse the options, restrict the cores, run the study once and print its time, numerics and memory as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=0, help="worker processes (default 0: one per usable core)")
    parser.add_argument("--cpus", type=core_set, help="run on these cores only, e.g. 0 or 0,1 (Linux)")
    parser.add_argument("--epochs", type=int, help="epochs per training (default helpers.EPOCHS)")
    options = parser.parse_args()
    if options.cpus is not None:
        os.sched_setaffinity(0, options.cpus)
    # Imported only now: torch sizes its thread pool from the cores the process may use when it loads, and keeps it.
    import torch

    import helpers as h

    trainings = h.study_trainings(n_epochs=options.epochs or h.EPOCHS)
    data = h.load_cifar2()
    start = time.perf_counter()
    h.run_trainings(trainings, data, workers=options.workers or None)
    seconds = time.perf_counter() - start
    # ru_maxrss is in KiB on Linux. RUSAGE_CHILDREN gives the largest peak among the finished children, not their sum.
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    largest_child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    measured = {
        "seconds": seconds,
        "trainings": len(trainings),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numerics_mode": h.NUMERICS_MODE,
        "threads": torch.get_num_threads(),
        "peak_rss_kib": own_peak,
        "largest_child_peak_rss_kib": largest_child_peak,
    }
    print(json.dumps(measured))


# The guard matters: the pool's workers are spawned, and each imports this module again before it takes work.
if __name__ == "__main__":
    main()
