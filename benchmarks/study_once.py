"""Run the whole study (study.study_trainings) once in this fresh process and print its wall time as JSON.

Run from the repository root:  python -m benchmarks.study_once [--workers N] [--cpus LIST] [--epochs N]

--workers 0, the default, lets study.run_trainings choose (one worker per usable core, in this process when there is
one core); 1 runs every training here, with this process's threads. --cpus 0 or --cpus 0,1 restricts this process, and
so the workers it starts, to those cores. The last line printed is JSON: the study's wall time (run_trainings alone:
loading the data is not timed, starting the pool is), the usable cores, MKL's mode and this process's torch threads,
and, on Linux, the peak resident memory in KiB of this process, of each pool worker and of every other child still
alive at the end (multiprocessing's resource tracker).

Each peak is the kernel's high-water mark of the process's own resident memory (VmHWM), which the process reads itself
when its Python work is done: this process after the study, each worker as it exits. getrusage's ru_maxrss is not used,
because Linux counts in a child's figure the memory its parent held when it started the child. Left out, by the same
choice of moment, are the pages of torch's library files that the interpreter's teardown reads in just before the
process ends (about 0.1 GB per process with torch 2.14), shared and not needed by the work.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import tempfile
import time
from pathlib import Path

# The folder where the pool's workers leave their peaks, named in the environment they inherit.
PEAKS_FOLDER_VARIABLE = "BENCHMARKS_STUDY_PEAKS"


def core_set(text: str) -> set[int]:
    """Core numbers written as a comma-separated list ('0' or '0,1') as a set."""
    try:
        cores = {int(core) for core in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"give core numbers separated by commas, e.g. 0,1; got {text!r}") from None
    return cores


def peak_rss_kib(pid: int | str = "self") -> int | None:
    """A live process's peak resident memory since it started its program (VmHWM), in KiB; None without /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:  # not Linux, or the process has ended
        pass
    return None


def live_children() -> list[int]:
    """The pids of this process's children that are alive now, found through each process's parent pid in /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name, in parentheses, may hold spaces: the fields after it are the state, then the parent.
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process ended while being read
            continue
        if parent == os.getpid():
            children.append(int(stat.parent.name))
    return children


def leave_peak() -> None:
    """Write this worker's peak resident memory, in KiB, into the study's folder, in a file named by its pid."""
    peak = peak_rss_kib()
    if peak is not None:
        (Path(os.environ[PEAKS_FOLDER_VARIABLE]) / f"{os.getpid()}.kib").write_text(str(peak))


# Spawn runs this module's top level again in every worker of the pool, under the name __mp_main__ (which is why main()
# is guarded): there, and only there, the worker arranges to leave its peak behind once its Python work is done.
if __name__ == "__mp_main__" and PEAKS_FOLDER_VARIABLE in os.environ:
    atexit.register(leave_peak)


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
    from study import run_trainings, study_trainings

    trainings = study_trainings(n_epochs=options.epochs or h.EPOCHS)
    data = h.load_cifar2()
    with tempfile.TemporaryDirectory() as peaks_folder:
        os.environ[PEAKS_FOLDER_VARIABLE] = peaks_folder  # before the pool starts, so that its workers inherit it
        start = time.perf_counter()
        run_trainings(trainings, data, workers=options.workers or None)
        seconds = time.perf_counter() - start
        # run_trainings has shut its pool down and joined the workers: every one has left its file by now.
        worker_peaks = sorted(int(path.read_text()) for path in Path(peaks_folder).glob("*.kib"))
    other_peaks = [peak for peak in map(peak_rss_kib, live_children()) if peak is not None]
    measured = {
        "seconds": seconds,
        "trainings": len(trainings),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numerics_mode": h.NUMERICS_MODE,
        "threads": torch.get_num_threads(),
        "main_peak_kib": peak_rss_kib(),
        "worker_peaks_kib": worker_peaks,
        "other_peaks_kib": other_peaks,
    }
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
