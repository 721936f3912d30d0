"""A short training on the real data in a fresh process, for tests/test_reproducibility.py.

Run from the repository root as `python -m tests.train_worker THREADS`: it asks torch for THREADS threads before
helpers is imported (helpers caps them at PINNED_MAX_THREADS), trains Model 5 with torch.optim.SGD for a few epochs,
and prints one JSON line: the numerics mode, the thread count, a hash of the parameter bytes and the losses in hex.
"""

import hashlib
import json
import sys

import torch

SHORT_EPOCHS = 4  # deliberately short: the test compares bits between processes, not a finished training


def main(threads: int) -> None:
    torch.set_num_threads(threads)
    import helpers  # only now: helpers pins the numerics at import, reading the threads asked for above

    data = helpers.load_cifar2()
    run, model = helpers.train_config(helpers.CONFIGS[4], data, "sgd", SHORT_EPOCHS, helpers.BATCH_SIZE)
    parameters = b"".join(parameter.detach().numpy().tobytes() for parameter in model.parameters())
    report = {
        "mode": helpers.NUMERICS_MODE,
        "problem": helpers.NUMERICS_PROBLEM,
        "threads": torch.get_num_threads(),
        "parameters": hashlib.sha256(parameters).hexdigest(),
        "losses": [loss.hex() for loss in run["train_loss"]],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(int(sys.argv[1]))
