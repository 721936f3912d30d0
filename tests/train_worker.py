"""`python -m tests.train_worker THREADS` (tests/test_reproducibility.py): asks for THREADS threads, then imports
helpers, trains Model 5 with torch.optim.SGD briefly and prints the mode, threads, parameters' hash and hex losses."""

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
    parameters = hashlib.sha256(b"".join(parameter.detach().numpy().tobytes() for parameter in model.parameters()))
    report = {"mode": helpers.NUMERICS_MODE, "problem": helpers.NUMERICS_PROBLEM, "threads": torch.get_num_threads()}
    report |= {"parameters": parameters.hexdigest(), "losses": [loss.hex() for loss in run["train_loss"]]}
    print(json.dumps(report))


if __name__ == "__main__":
    main(int(sys.argv[1]))
