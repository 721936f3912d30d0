"""The numbers do not depend on the machine: thread counts, CPU paths, and the committed results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import helpers

REPO = Path(__file__).resolve().parents[1]
AVX2_CPU = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}

# A short training on the real data in a fresh process; it prints the mode, the parameter bytes and the losses.
WORKER = """
import hashlib, json, sys
import torch
torch.set_num_threads(int(sys.argv[1]))
import helpers
data = helpers.load_cifar2()
run, model = helpers.train_config(helpers.CONFIGS[4], data, "sgd", n_epochs=4)
parameters = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
losses = [loss.hex() for loss in run["train_loss"]]
print(json.dumps({"mode": helpers.NUMERICS_MODE, "threads": torch.get_num_threads(),
                  "parameters": hashlib.sha256(parameters).hexdigest(), "losses": losses}))
"""


def needs_mkl() -> None:
    """Skip where torch has no MKL or its mode cannot be read: nothing can be pinned there."""
    if helpers.NUMERICS_MODE in ("no MKL", "unknown"):
        pytest.skip(f"numerics cannot be pinned here (MKL mode: {helpers.NUMERICS_MODE}); results are per machine")


def train_in_subprocess(threads: int, extra_env: dict[str, str]) -> dict:
    """Run the worker with `threads` threads and the extra environment; return what it printed."""
    env = {**os.environ, **extra_env, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", WORKER, str(threads)], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.usefixtures("cifar_root")
def test_training_is_bitwise_the_same_for_any_thread_count_and_cpu_path():
    needs_mkl()
    settings = {
        "1 thread": (1, {}),
        "2 threads": (2, {}),
        "4 threads": (4, {}),
        "emulated AVX2 CPU, 1 thread": (1, AVX2_CPU),
        "emulated AVX2 CPU, 3 threads": (3, AVX2_CPU),
    }
    runs = {name: train_in_subprocess(threads, env) for name, (threads, env) in settings.items()}
    assert [run["threads"] for run in runs.values()] == [threads for threads, _ in settings.values()]
    reference = runs["1 thread"]
    assert helpers.numerics_pinned(reference["mode"]), f"MKL mode {reference['mode']} is not pinned"
    for name, run in runs.items():
        assert run["mode"] == reference["mode"], name
        assert run["parameters"] == reference["parameters"], f"{name}: parameters differ from 1 thread's"
        assert run["losses"] == reference["losses"], f"{name}: losses differ from 1 thread's"


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads((REPO / "figures" / "results.json").read_text())


def test_the_committed_selected_model_reproduces(cifar_root, committed):
    needs_mkl()
    made_under = committed["numerics"]["mkl_mode"]
    if made_under != helpers.NUMERICS_MODE:
        pytest.skip(
            f"figures/results.json was made with MKL in mode {made_under}; this machine runs {helpers.NUMERICS_MODE} "
            "(MKL takes the AVX2 branch on Intel CPUs only), whose last bits differ: see README, Reproducibility"
        )
    selected = committed["selected"]
    record = next(model for model in committed["models"] if model["name"] == selected["name"])
    settings = committed["settings"]
    data = helpers.load_cifar2(cifar_root)
    run, model = helpers.train_config(record, data, "sgd", settings["epochs"], settings["batch_size"], settings["seed"])
    assert run["train_loss"] == record["sgd"]["train_loss"]
    assert run["val_acc_per_epoch"] == record["sgd"]["val_acc_per_epoch"]
    assert (run["train_acc"], run["val_acc"]) == (selected["train_acc"], selected["val_acc"])
    test_loader = helpers.make_loader(data.test, batch_size=len(data.test), shuffle=False)
    assert helpers.confusion_matrix(model, test_loader).tolist() == selected["confusion_matrix"]


def test_numerics_mode_is_read_back():
    mode = helpers.mkl_numerics_mode()
    assert mode == helpers.NUMERICS_MODE
    if torch.backends.mkl.is_available() and mode != "unknown":
        assert mode.split(",")[0] in helpers.MKL_BRANCHES.values()
        assert os.environ["MKL_CBWR"], "helpers did not set MKL_CBWR"


def test_an_unpinned_process_says_so_in_one_line():
    script = "import torch\ntorch.ones(2, 2) @ torch.ones(2, 2)\nimport helpers\n"
    env = {key: value for key, value in os.environ.items() if key != "MKL_CBWR"}
    env["PYTHONPATH"] = str(REPO)
    completed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    if not torch.backends.mkl.is_available():
        assert "no MKL" in completed.stderr
        return
    warnings = [line for line in completed.stderr.splitlines() if "NumericsWarning" in line]
    assert len(warnings) == 1, completed.stderr
    assert "not pinned" in warnings[0] and "Restart the kernel" in warnings[0]
