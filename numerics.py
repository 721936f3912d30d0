"""Reproducible numerics: the same bits on every x86-64 CPU with AVX2, Intel or AMD. Imported by helpers.py before
any matrix product runs; the README's "Reproducibility" says why and what it costs."""

from __future__ import annotations

import ctypes
import os
import re
import warnings
from pathlib import Path

import torch

# MKL's vendor-neutral COMPATIBLE branch gives the same bits on Intel and AMD for 1 or 2 threads (the README's
# "Reproducible numbers" says why and what it costs). MKL reads MKL_CBWR at its first matrix product, hence at import;
# a value the user set wins (MKL_CBWR=AUTO is the fast mode, whose numbers are the machine's own).
PINNED_MKL_MODE = "COMPATIBLE"
PINNED_MAX_THREADS = 2
os.environ.setdefault("MKL_CBWR", PINNED_MKL_MODE)

MKL_BRANCHES = {1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 8: "SSE4_2", 9: "AVX", 10: "AVX2", 12: "AVX512"}
MKL_STRICT_FLAG = 0x10000


def mkl_numerics_mode() -> str:
    """The reproducibility mode MKL runs in, as it reports it (e.g. 'COMPATIBLE'), 'no MKL' or 'unknown'."""
    if not torch.backends.mkl.is_available():
        return "no MKL"
    try:  # MKL's service function that reads the mode back, exported by libtorch_cpu: undocumented, hence the guard
        read_mode = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so")).mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return "unknown"
    read_mode.restype, read_mode.argtypes = ctypes.c_int, [ctypes.c_int]
    mode = read_mode(-1)
    branch = mode & ~MKL_STRICT_FLAG
    return MKL_BRANCHES.get(branch, f"branch {branch}") + (",STRICT" if mode & MKL_STRICT_FLAG else "")


def mkl_version() -> str:
    """The version of the MKL inside this PyTorch build, as its build configuration names it (e.g. '2024.2')."""
    found = re.search(r"Math Kernel Library Version (\d+\.\d+)", torch.__config__.show())
    return found.group(1) if found else "no MKL"


def numerics_problem() -> str | None:
    """Why this process's numbers may differ from the committed ones, or None when they are pinned."""
    mode, requested = mkl_numerics_mode(), os.environ.get("MKL_CBWR")
    if mode in ("no MKL", "unknown"):
        return f"MKL's mode is {mode} here (no MKL on ARM CPUs, say): the numbers may differ from the committed ones"
    if mode.split(",")[0] != PINNED_MKL_MODE:
        if requested == PINNED_MKL_MODE:
            return f"MKL runs in {mode}: a matrix product ran before `import helpers`; restart and import it first"
        return f"MKL_CBWR={requested} (MKL reads back {mode}): the numbers are this machine's own"
    if torch.get_num_threads() > PINNED_MAX_THREADS:
        return f"torch runs {torch.get_num_threads()} threads; the pinned numbers need at most {PINNED_MAX_THREADS}"
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return "this CPU (or ATEN_CPU_CAPABILITY) has no AVX2: the numbers are this machine's own"
    return None


NUMERICS_MODE = mkl_numerics_mode()
MKL_VERSION = mkl_version()
if NUMERICS_MODE.split(",")[0] == PINNED_MKL_MODE:
    torch.set_num_threads(min(PINNED_MAX_THREADS, torch.get_num_threads()))
NUMERICS_PROBLEM = numerics_problem()
if NUMERICS_PROBLEM:
    warnings.warn(f"numerics not pinned: {NUMERICS_PROBLEM}", RuntimeWarning, stacklevel=2)
