"""The numbers do not depend on the machine: thread counts, CPU paths, and the committed results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import helpers
import numerics

REPO = Path(__file__).resolve().parents[1]
AVX2_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def run_python(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run Python in a fresh process from the repository root with this environment; it must succeed."""
    command, env = [sys.executable, *arguments], {**env, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


@pytest.mark.usefixtures("cifar_root", "pinned_numerics")
def test_training_is_bitwise_the_same_for_any_thread_count_and_cpu_path():
    # tests/train_worker.py asks for the threads before helpers is imported; helpers caps them at PINNED_MAX_THREADS.
    settings = {
        "1 thread": (1, {}),
        "the default thread count": (torch.get_num_threads(), {}),
        "4 threads requested": (4, {}),
        "emulated AVX2 CPU, 1 thread": (1, AVX2_CPU),
        "emulated AVX2 CPU, 3 threads requested": (3, AVX2_CPU),
    }
    runs = {}
    for name, (threads, env) in settings.items():
        printed = run_python("-m", "tests.train_worker", str(threads), env={**os.environ, **env}).stdout
        runs[name] = json.loads(printed.splitlines()[-1])
    reference = runs["1 thread"]
    for name, run in runs.items():
        assert run["mode"] == numerics.PINNED_MKL_MODE, f"{name}: MKL runs {run['mode']}, not the pinned mode"
        assert run["problem"] is None, f"{name}: {run['problem']}"
        assert run["threads"] == min(settings[name][0], helpers.PINNED_MAX_THREADS), name
        assert run["parameters"] == reference["parameters"], f"{name}: parameters differ from 1 thread's"
        assert run["losses"] == reference["losses"], f"{name}: losses differ from 1 thread's"


@pytest.mark.usefixtures("pinned_numerics")
def test_the_committed_selected_model_reproduces(cifar_root):
    committed = json.loads((REPO / "figures" / "results.json").read_text())
    assert committed["numerics"]["mkl_mode"] == numerics.PINNED_MKL_MODE, "results.json was made in another mode"
    assert committed["numerics"]["mkl"] == numerics.MKL_VERSION, "results.json was made with another MKL"
    selected, settings = committed["selected"], committed["settings"]
    record = next(model for model in committed["models"] if model["name"] == selected["name"])
    data = helpers.load_cifar2(cifar_root)
    run, model = helpers.train_config(record, data, "sgd", settings["epochs"], settings["batch_size"], settings["seed"])
    assert run["train_loss"] == record["sgd"]["train_loss"]
    assert run["val_acc_per_epoch"] == record["sgd"]["val_acc_per_epoch"]
    assert (run["train_acc"], run["val_acc"]) == (selected["train_acc"], selected["val_acc"])
    test_loader = helpers.make_loader(data.test, batch_size=len(data.test), shuffle=False)
    assert helpers.confusion_matrix(model, test_loader).tolist() == selected["confusion_matrix"]


def test_numerics_mode_is_read_back():
    mode = numerics.mkl_numerics_mode()
    assert mode == helpers.NUMERICS_MODE
    if torch.backends.mkl.is_available() and mode != "unknown":
        assert mode.split(",")[0] in numerics.MKL_BRANCHES.values()
        assert os.environ["MKL_CBWR"], "helpers did not set MKL_CBWR"


@pytest.mark.parametrize(
    ("before_import", "env", "says"),
    [
        ("torch.ones(2, 2) @ torch.ones(2, 2)", {}, "a matrix product ran before `import helpers`; restart"),
        ("", {"MKL_CBWR": "AUTO"}, "MKL_CBWR=AUTO"),
        ("", {"ATEN_CPU_CAPABILITY": "default"}, "no AVX2"),
    ],
    ids=["matrix product before import", "fast mode", "no AVX2"],
)
def test_an_unpinned_process_says_so_in_one_line(before_import, env, says):
    if not torch.backends.mkl.is_available():
        pytest.skip("this torch has no MKL: nothing is pinned, helpers says so at import")
    inherited = {key: value for key, value in os.environ.items() if key != "MKL_CBWR"}  # the value helpers set here
    stderr = run_python("-c", f"import torch\n{before_import}\nimport helpers\n", env={**inherited, **env}).stderr
    warnings = [line for line in stderr.splitlines() if "numerics not pinned" in line]
    assert len(warnings) == 1 and says in warnings[0], warnings


def test_threads_raised_after_import_are_reported():
    torch_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(helpers.PINNED_MAX_THREADS + 1)
        assert "threads" in (helpers.numerics_problem() or "")
    finally:
        torch.set_num_threads(torch_threads)
    assert helpers.numerics_problem() == helpers.NUMERICS_PROBLEM
