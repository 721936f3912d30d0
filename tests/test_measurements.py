"""The numbers the report quotes, each checked against a computation that shares no code with the one that made it.

The report, the README and results.json quote the mean training loss of every epoch, the accuracy on the whole
training set and the validation accuracy after every epoch. Comparing torch.optim.SGD with the manual update
cannot catch an error in these: both trainers share the epoch loop and the evaluation. Here each number is
recomputed from per-image quantities (per-image losses, argmax predictions) and compared with what the public entry
points (`train`, `train_manual_update`, `train_config`) return.

Already checked independently elsewhere, so not repeated here:
- `accuracy` itself (argmax against labels): test_training.py::test_accuracy_on_a_hand_made_case;
- the final validation accuracy `run["val_acc"]`, against a fresh `accuracy` call on the validation loader:
  test_training.py::test_train_both_records_an_exact_comparison_and_is_reproducible.
"""

import copy
import itertools

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

import helpers
from helpers import make_loader, train, train_manual_update

TRAINERS = ("sgd", "manual")
# Model 5's hyperparameters: momentum and weight decay are on, so the replay below must follow every update term.
HYPER = {key: helpers.CONFIGS[4][key] for key in ("lr", "momentum", "weight_decay")}


def run_trainer(trainer: str, n_epochs: int, model: nn.Module, loss_fn: nn.Module, loader) -> list[float]:
    """Train with torch.optim.SGD ('sgd') or by hand ('manual') through the public entry points only."""
    if trainer == "sgd":
        return train(n_epochs, torch.optim.SGD(model.parameters(), **HYPER), model, loss_fn, loader)
    return train_manual_update(n_epochs, model, loss_fn, loader, HYPER["lr"], HYPER["momentum"], HYPER["weight_decay"])


# ---------------------------------------------------------------------------
# The mean training loss of each epoch
# ---------------------------------------------------------------------------


class FixedOutputs(nn.Module):
    """Returns its input as the prediction; its only parameter gets a zero gradient, so no update can change it.

    The trainers need a parameter to step; `0 * dummy` gives it the gradient 0, and SGD with any lr, momentum and
    weight decay maps a zero parameter with a zero gradient to zero, so every batch sees the same model.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return x + 0 * self.dummy


@pytest.mark.parametrize("trainer", TRAINERS)
def test_epoch_loss_is_the_mean_over_images_when_the_last_batch_is_short(trainer: str) -> None:
    """20 images in batches of 8, 8 and 4: the epoch loss must be the mean of the 20 per-image losses, exactly."""
    # Predictions are the inputs; targets differ from them by 1 for the first 16 images and by 3 for the last 4,
    # so the per-image squared errors are 1 (x16) and 9 (x4). Every value is a small integer and the batch means
    # 8/8 = 1 and 36/4 = 9 are exact in float32, so the right answer is exactly 52 / 20 = 2.6 and no tolerance is
    # needed. Wrong weightings land far away: every batch counted as 8 images gives (8 + 8 + 72) / 20 = 4.4,
    # every batch counted equally (8 + 8 + 72) / 24 = 3.67, dividing by the 3 batches instead of the 20 images 17.3.
    predictions = torch.arange(20, dtype=torch.float32).view(20, 1)
    residuals = torch.tensor([1.0] * 16 + [3.0] * 4).view(20, 1)
    dataset = TensorDataset(predictions, predictions + residuals)
    expected = (residuals**2).sum().item() / len(residuals)
    assert expected == 2.6

    model = FixedOutputs()
    # Unshuffled, so the short last batch holds exactly the four large losses a wrong weighting would misweigh.
    losses = run_trainer(trainer, 2, model, nn.MSELoss(), make_loader(dataset, batch_size=8, shuffle=False))

    assert losses == [expected, expected]
    assert model.dummy.item() == 0.0, "the model changed during the epoch, so the expected loss no longer holds"


def images(n: int, generator: torch.Generator, shift: float = 0.2) -> tuple[Tensor, Tensor]:
    """Balanced 3x16x16 noise images whose class shifts the red channel up or down: learnable, but not at once."""
    labels = torch.arange(n) % 2
    x = torch.randn(n, 3, 16, 16, generator=generator)
    x[:, 0] += shift * (2 * labels - 1).view(n, 1, 1).float()
    return x, labels


# The upper bound on the float32 rounding of one batch's mean loss: CrossEntropyLoss sums at most 64 positive float32
# per-image losses (relative error at most 63 u, u = 2**-24) and divides once (u more). The replay sums the very same
# per-image float32 values in float64, which adds nothing at this scale. Measured differences are at most 5e-8.
FLOAT32_MEAN_OF_64 = 64 * 2**-24  # 3.8e-6, relative


@pytest.mark.parametrize("trainer", TRAINERS)
def test_epoch_loss_of_a_real_run_is_the_mean_of_the_per_image_losses_it_saw(trainer: str) -> None:
    """MyMLP learning on 168 images in batches of 64, 64 and 40: replay the run, average its per-image losses."""
    # The batch sizes mirror the study's 9000 = 35 x 256 + 40. The parameters change after every batch, so the
    # replay must see the same batches (a loader made alike) and make the same updates (torch.optim.SGD, which the
    # manual update equals bitwise, see test_training.py), then average the per-image losses over all 168 images.
    x, y = images(168, torch.Generator().manual_seed(0))
    # Inputs scaled by 4 spread the per-image losses, so the three batch means differ clearly (see the power below).
    dataset = TensorDataset(4 * x, y)
    torch.manual_seed(helpers.SEED)
    model = helpers.MyMLP()
    replay = copy.deepcopy(model)
    n_epochs = 3
    losses = run_trainer(trainer, n_epochs, model, nn.CrossEntropyLoss(), make_loader(dataset, 64, seed=7))

    optimizer = torch.optim.SGD(replay.parameters(), **HYPER)
    loader = make_loader(dataset, 64, seed=7)
    for epoch in range(n_epochs):
        per_batch = []
        for inputs, targets in loader:
            outputs = replay(inputs)
            per_batch.append(nn.functional.cross_entropy(outputs.detach(), targets, reduction="none").double())
            optimizer.zero_grad()
            nn.functional.cross_entropy(outputs, targets).backward()
            optimizer.step()
        assert [len(batch) for batch in per_batch] == [64, 64, 40]
        expected = torch.cat(per_batch).sum().item() / len(dataset)
        assert losses[epoch] == pytest.approx(expected, rel=FLOAT32_MEAN_OF_64, abs=0)
        # The test's power: counting every batch alike (the short one as a full one) moves this run's epoch losses
        # by 1.8%, 4.2% and 8.4%, 4600 to 22000 times the tolerance; dividing by the number of batches instead of
        # the number of images multiplies them by 56.
        equal_batches = sum(batch.mean().item() for batch in per_batch) / len(per_batch)
        assert abs(equal_batches - expected) > 1000 * FLOAT32_MEAN_OF_64 * expected
    pairs = zip(model.parameters(), replay.parameters(), strict=True)
    assert all(torch.equal(p, q) for p, q in pairs), "the replay did not follow the run"


# ---------------------------------------------------------------------------
# Train accuracy on the whole training set and validation accuracy after every epoch
# ---------------------------------------------------------------------------


def synthetic_cifar2() -> helpers.Cifar2:
    """200 training and 150 validation images; training images 16-31 repeat images 0-15 with the other label.

    Identical images get the same prediction, so each contradicting pair has exactly one image right: the first
    batch of 32 scores exactly 0.5 whatever the model, while the whole training set, learnable apart from these
    16 pairs, scores more. A train accuracy taken on that subset, or one dominated by it, shows.
    """
    generator = torch.Generator().manual_seed(0)
    x, y = images(184, generator)
    train_set = TensorDataset(torch.cat([x[:16], x]), torch.cat([1 - y[:16], y]))
    splits = {
        "train": train_set,
        "val": TensorDataset(*images(150, generator)),
        "test": TensorDataset(*images(10, generator)),
    }
    return helpers.Cifar2(**splits, mean=torch.zeros(3), std=torch.ones(3), classes=helpers.CLASSES, raw={})


def argmax_accuracy(model: nn.Module, dataset: TensorDataset) -> float:
    """Correct argmax predictions over every image of the data set, divided by its size."""
    # accuracy() returns (predicted == true).double().mean(): an exact integer sum divided once, which is exactly
    # the correctly rounded count / n computed here, so the comparisons below use ==.
    x, y = dataset.tensors
    with torch.no_grad():
        correct = int((model(x).argmax(dim=1) == y).sum())
    return correct / len(y)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_reported_accuracies_are_argmax_counts_over_the_right_images_at_the_right_epoch(trainer: str) -> None:
    """train_acc counts all training images; val_acc_per_epoch[k-1] is the validation accuracy after k epochs."""
    data = synthetic_cifar2()
    config = helpers.CONFIGS[2]  # Model 3 (lr 0.01, momentum 0.85): validation accuracy rises epoch by epoch
    n_epochs = 4
    # The run after k epochs is the k-epoch run: same seed, same initial weights, same batches. So the model that
    # train_config returns for n_epochs=k is the model the n-epoch run had after its k-th epoch.
    runs = [
        helpers.train_config(config, data, trainer, n_epochs=k, batch_size=32, seed=helpers.SEED)
        for k in range(1, n_epochs + 1)
    ]
    run, model = runs[-1]
    for k, (run_k, _) in enumerate(runs, start=1):
        assert run_k["train_loss"] == run["train_loss"][:k], "a k-epoch run is not the start of the longer run"

    train_acc = argmax_accuracy(model, data.train)
    assert run["train_acc"] == train_acc
    # The test's power: the first batch (the first 32 images) scores exactly 0.5, well below the whole set.
    assert argmax_accuracy(model, TensorDataset(*data.train[:32])) == 0.5 < train_acc - 0.1

    after_each_epoch = [argmax_accuracy(model_k, data.val) for _, model_k in runs]
    assert run["val_acc_per_epoch"] == after_each_epoch
    # The test's power: the accuracy changes every epoch, so a value recorded one epoch early or late shows.
    assert all(a != b for a, b in itertools.pairwise(after_each_epoch))
