"""`python -m tests.train_worker THREADS`: trains Model 5 briefly on THREADS threads and prints the bits as JSON."""

import hashlib
import json
import sys

import torch


def main(threads: int) -> None:
    torch.set_num_threads(threads)
    import helpers  # only now: helpers pins the numerics at import, reading the threads asked for above

    # 4 epochs: tests/test_reproducibility.py compares bits between processes, not a finished training.
    run, model = helpers.train_config(helpers.CONFIGS[4], helpers.load_cifar2(), "sgd", 4, helpers.BATCH_SIZE)
    parameters = hashlib.sha256(b"".join(parameter.detach().numpy().tobytes() for parameter in model.parameters()))
    report = {"mode": helpers.NUMERICS_MODE, "problem": helpers.NUMERICS_PROBLEM, "threads": torch.get_num_threads()}
    report |= {"parameters": parameters.hexdigest(), "losses": [loss.hex() for loss in run["train_loss"]]}
    print(json.dumps(report))


if __name__ == "__main__":
    main(int(sys.argv[1]))
