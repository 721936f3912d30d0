"""Run the whole study, or one training (--config), once in this fresh process and print its wall time as JSON.

Run from the repository root:  python -m benchmarks.once [--config INDEX] [--workers N] [--cpus LIST] [--epochs N]
The JSON's time leaves out loading the data; for the study it adds the cores and, on Linux, each process's peak, KiB."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

PEAKS_FOLDER_VARIABLE = "BENCHMARKS_STUDY_PEAKS"  # names the workers' peaks folder in the environment they inherit


def peak_rss_kib(pid: int | str = "self") -> int | None:
    """A live process's peak resident memory since it started its program (VmHWM), in KiB; None without /proc."""
    try:
        found = re.search(r"^VmHWM:\s*(\d+)", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    except OSError:  # not Linux, or the process has ended
        return None
    return int(found[1]) if found else None


def live_children() -> list[int]:
    """The pids of this process's children that are alive now, found through each process's parent pid in /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):  # the process ended while being read
            # The command name, in parentheses, may hold spaces: the fields after it are the state, then the parent.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                children.append(int(stat.parent.name))
    return children


def leave_peak() -> None:
    """Write this worker's peak resident memory, in KiB, into the study's folder, in a file named by its pid."""
    peak = peak_rss_kib()
    if peak is not None:
        (Path(os.environ[PEAKS_FOLDER_VARIABLE]) / f"{os.getpid()}.kib").write_text(str(peak))


# Spawn reruns this top level in each worker as __mp_main__: each leaves its peak as its Python work ends, because a
# child's ru_maxrss counts its parent's memory and teardown maps in about 0.1 GB of torch's shared library pages.
if __name__ == "__mp_main__" and PEAKS_FOLDER_VARIABLE in os.environ:
    atexit.register(leave_peak)


def main() -> None:
    """Parse the options, restrict the cores, run the work once and print its time, numerics and memory as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=int, help="train only helpers.CONFIGS[INDEX], with torch.optim.SGD")
    parser.add_argument("--workers", type=int, help="the study's worker processes (default: one per usable core)")
    parser.add_argument("--cpus", help="run on these cores only, e.g. 0 or 0,1 (Linux)")
    parser.add_argument("--epochs", type=int, help="epochs per training (default helpers.EPOCHS)")
    options = parser.parse_args()
    if options.cpus is not None:
        os.sched_setaffinity(0, {int(core) for core in options.cpus.split(",")})
    # Imported only now: torch sizes its thread pool from the cores the process may use when it loads, and keeps it.
    import torch

    import helpers as h
    from study import run_trainings, study_trainings, usable_cores

    epochs, data, measured = options.epochs or h.EPOCHS, h.load_cifar2(), {}
    if options.config is not None:
        start = time.perf_counter()
        h.train_config(h.CONFIGS[options.config], data, n_epochs=epochs)
        measured["seconds"] = time.perf_counter() - start
    else:
        with tempfile.TemporaryDirectory() as peaks_folder:
            os.environ[PEAKS_FOLDER_VARIABLE] = peaks_folder  # before the pool starts, so that its workers inherit it
            start = time.perf_counter()
            run_trainings(study_trainings(n_epochs=epochs), data, workers=options.workers)
            measured["seconds"] = time.perf_counter() - start
            # run_trainings has shut its pool down and joined the workers: every one has left its file by now.
            worker_peaks = sorted(int(path.read_text()) for path in Path(peaks_folder).glob("*.kib"))
        measured |= {
            "cores": len(usable_cores()),
            "main_peak_kib": peak_rss_kib(),
            "worker_peaks_kib": worker_peaks,
            "other_peaks_kib": [peak for peak in map(peak_rss_kib, live_children()) if peak is not None],
        }
    print(json.dumps({**measured, "numerics_mode": h.NUMERICS_MODE, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
