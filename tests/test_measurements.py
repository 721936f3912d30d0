"""Epoch losses and accuracies recomputed per image: both trainers share the code, so comparing them cannot catch it."""

import copy
import itertools

import pytest
import torch
from conftest import TRAINERS, fit, same_tensors
from torch import Tensor, nn
from torch.utils.data import TensorDataset

import helpers
from helpers import make_loader

HYPER = helpers.sgd_settings(helpers.CONFIGS[4])  # momentum and weight decay on: the replay must follow every term


class FixedOutputs(nn.Module):
    """Returns its input; its one parameter gets the gradient 0, so no SGD step changes it or the predictions."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        return x + 0 * self.dummy


@pytest.mark.parametrize("trainer", TRAINERS)
def test_epoch_loss_is_the_mean_over_images_when_the_last_batch_is_short(trainer: str) -> None:
    """Batches of 8, 8, 4 with squared errors 1 (x16) and 9 (x4): exactly 52 / 20 = 2.6 in float32."""
    # Wrong weightings land far away: 4.4 (batches counted as 8 images), 3.67 (batches alike), 17.3 (divided by 3).
    predictions = torch.arange(20, dtype=torch.float32).view(20, 1)
    residuals = torch.tensor([1.0] * 16 + [3.0] * 4).view(20, 1)
    dataset = TensorDataset(predictions, predictions + residuals)
    model = FixedOutputs()
    losses = fit(trainer, 2, model, nn.MSELoss(), make_loader(dataset, batch_size=8, shuffle=False), **HYPER)
    assert losses == [2.6, 2.6]
    assert model.dummy.item() == 0.0, "the model changed during the epoch, so the expected loss no longer holds"


def images(n: int, generator: torch.Generator, shift: float = 0.2) -> tuple[Tensor, Tensor]:
    """Balanced 3x16x16 noise images whose class shifts the red channel up or down: learnable, but not at once."""
    labels = torch.arange(n) % 2
    x = torch.randn(n, 3, 16, 16, generator=generator)
    x[:, 0] += shift * (2 * labels - 1).view(n, 1, 1).float()
    return x, labels


FLOAT32_MEAN_OF_64 = 64 * 2**-24  # relative float32 rounding of a batch's mean of <= 64 losses (measured <= 5e-8)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_epoch_loss_of_a_real_run_is_the_mean_of_the_per_image_losses_it_saw(trainer: str) -> None:
    """MyMLP on 168 images in batches of 64, 64, 40 (like 9000 = 35 x 256 + 40), replayed image by image."""
    x, y = images(168, torch.Generator().manual_seed(0))
    dataset = TensorDataset(4 * x, y)  # scaled inputs spread the per-image losses, so the batch means differ clearly
    torch.manual_seed(helpers.SEED)
    model = helpers.MyMLP()
    replay = copy.deepcopy(model)
    losses = fit(trainer, 3, model, nn.CrossEntropyLoss(), make_loader(dataset, 64, seed=7), **HYPER)
    optimizer = torch.optim.SGD(replay.parameters(), **HYPER)
    loader = make_loader(dataset, 64, seed=7)
    for epoch in range(3):
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
        # The test's power: counting every batch alike moves these epoch losses by 1.8-8.4%, far beyond the tolerance.
        equal_batches = sum(batch.mean().item() for batch in per_batch) / len(per_batch)
        assert abs(equal_batches - expected) > 1000 * FLOAT32_MEAN_OF_64 * expected
    assert same_tensors(model.parameters(), replay.parameters()), "the replay did not follow the run"


def argmax_accuracy(model: nn.Module, dataset: TensorDataset) -> float:
    """Correct argmax predictions over the whole data set / its size: exactly what accuracy() must give, so ==."""
    x, y = dataset.tensors
    with torch.no_grad():
        return int((model(x).argmax(dim=1) == y).sum()) / len(y)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_reported_accuracies_are_argmax_counts_over_the_right_images_at_the_right_epoch(trainer: str) -> None:
    """train_acc counts all training images; val_acc_per_epoch[k-1] is the validation accuracy after k epochs."""
    # 200 training images, 16-31 being 0-15 relabelled: the first batch of 32 scores 0.5, the whole set more.
    generator = torch.Generator().manual_seed(0)
    x, y = images(184, generator)
    splits = {"train": TensorDataset(torch.cat([x[:16], x]), torch.cat([1 - y[:16], y]))}
    splits |= {split: TensorDataset(*images(n, generator)) for split, n in (("val", 150), ("test", 10))}
    data = helpers.Cifar2(**splits, mean=torch.zeros(3), std=torch.ones(3), classes=helpers.CLASSES, raw={})
    # Model 3, whose validation accuracy rises epoch by epoch; a k-epoch run is the 4-epoch run after k epochs.
    runs = [helpers.train_config(helpers.CONFIGS[2], data, trainer, n_epochs=k, batch_size=32) for k in range(1, 5)]
    run, model = runs[-1]
    for k, (run_k, _) in enumerate(runs, start=1):
        assert run_k["train_loss"] == run["train_loss"][:k], "a k-epoch run is not the start of the longer run"
    train_acc = argmax_accuracy(model, data.train)
    assert run["train_acc"] == train_acc
    assert argmax_accuracy(model, TensorDataset(*data.train[:32])) == 0.5 < train_acc - 0.1  # the test's power
    after_each_epoch = [argmax_accuracy(model_k, data.val) for _, model_k in runs]
    assert run["val_acc_per_epoch"] == after_each_epoch
    assert all(a != b for a, b in itertools.pairwise(after_each_epoch)), "an off-by-one epoch would not show"
