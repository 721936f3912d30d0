"""Backpropagation and gradient descent by hand, on CIFAR-10 cars vs cats: the code that `backprop.ipynb` and
`project1.ipynb` call, in sections that read top to bottom."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import TensorDataset

# The analysis's records, which the plots of the selection and of the seed study draw.
from analysis import Interval, Model, Selection

# Before any matrix product: MKL's vendor-neutral numerics (numerics.py), re-exported for the notebooks.
from numerics import MKL_VERSION, NUMERICS_MODE, NUMERICS_PROBLEM, PINNED_MAX_THREADS, numerics_problem  # noqa: F401

# The study's settings (settings.py), re-exported for the notebooks.
from settings import (  # noqa: F401
    BATCH_SIZE,
    CLASSES,
    COMPARISONS,
    CONFIGS,
    CONTROLS,
    COURSE_EPOCHS,
    COURSE_SETUPS,
    EPOCHS,
    IMAGE_SIZE,
    MARK_EVERY,
    SECOND_SEED_CONFIG,
    SEED,
    SGD_SETTINGS,
    STUDY_SEEDS,
)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_PER_CLASS = 5000
TEST_PER_CLASS = 1000
CACHE_DIR = Path(__file__).resolve().parent / ".cache"
SavePath = str | os.PathLike | None  # where a plot is saved, or None not to save it


# --- Data ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cifar2:
    """The two-class data set: normalised splits, the statistics they were normalised with, and the raw pixels."""

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    mean: Tensor
    std: Tensor
    classes: tuple[str, ...]
    raw: dict[str, Tensor]


def load_cifar2(
    root: str | os.PathLike | None = None,
    *,
    classes: Sequence[str] = CLASSES,
    size: int = IMAGE_SIZE,
    n_val: int = 1000,
    seed: int = SEED,
    download: bool = True,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
) -> Cifar2:
    """Load two CIFAR-10 classes resized to `size`, split train/val/test and normalised."""
    classes = tuple(classes)
    if len(classes) != 2 or classes[0] == classes[1] or not set(classes) <= set(CIFAR10_CLASSES):
        raise ValueError(f"give two different class names out of {', '.join(CIFAR10_CLASSES)}; got {classes}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if n_val < 2 or n_val % 2 or n_val >= 2 * TRAIN_PER_CLASS:
        raise ValueError(f"n_val must be even and between 2 and {2 * TRAIN_PER_CLASS - 2}, got {n_val}")
    root = Path(root if root is not None else os.environ.get("CIFAR10_ROOT", "data"))
    # Without a PNG tree, torchvision reads (and, when allowed, downloads) the official release.
    png_tree = (root / "train").is_dir() and not (root / "cifar-10-batches-py").is_dir()
    key = hashlib.sha256(json.dumps([png_tree, str(root.resolve()), classes, size]).encode()).hexdigest()[:16]
    cache_path = Path(cache_dir) / f"cifar2-images-{size}px-{key}.pt" if cache_dir is not None else None
    images = _read_cache(cache_path, size) if cache_path is not None and cache_path.is_file() else None
    if images is None:
        images = {split: _read_split(root, png_tree, split, classes, size, download) for split in ("train", "test")}
        if cache_path is not None:  # written beside it, then renamed, so no reader sees half a file
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.tmp")
            torch.save(images, temporary)
            os.replace(temporary, cache_path)
    return _split_and_normalise(images, classes, n_val, seed)


def _read_cache(path: Path, size: int) -> dict[str, Tensor] | None:
    """The cached images, or None (with a warning) when the file does not hold what a fresh preparation would."""
    expected = {"train": (2 * TRAIN_PER_CLASS, 3, size, size), "test": (2 * TEST_PER_CLASS, 3, size, size)}
    try:
        cached = torch.load(path, weights_only=True)
        found = {split: (tuple(images.shape), images.dtype) for split, images in cached.items()}
        if found == {split: (shape, torch.uint8) for split, shape in expected.items()}:
            return cached
    except Exception:  # any unreadable or foreign content means the same thing: rebuild
        pass
    warnings.warn(f"the prepared-data cache {path.name} is damaged; rebuilding it from the images", stacklevel=3)
    return None


def _read_split(root: Path, png_tree: bool, split: str, classes: tuple[str, ...], size: int, download: bool) -> Tensor:
    """One split's images of both classes in canonical order, resized: an (N, 3, size, size) uint8 tensor."""
    per_class = TRAIN_PER_CLASS if split == "train" else TEST_PER_CLASS
    if png_tree:
        paths = []
        for name in classes:
            folder = root / split / name
            found = len(list(folder.glob("*.png"))) if folder.is_dir() else 0
            if found != per_class:
                raise ValueError(f"expected {per_class} {split} images of {name!r} in {folder}, found {found}")
            paths += [folder / f"{rank:05d}.png" for rank in range(per_class)]
        pixels = np.stack([_read_png(path) for path in paths])
    else:
        release = _open_official_release(root, split, download)
        targets = torch.tensor(release.targets)
        indices = [torch.nonzero(targets == CIFAR10_CLASSES.index(name)).flatten() for name in classes]
        pixels = release.data[torch.cat(indices).numpy()]
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2)
    if size != 32:  # one batched antialiased resize, the same pixels as torchvision's Resize
        images = nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    return images.contiguous()


def _read_png(path: Path) -> np.ndarray:
    """One 32×32 RGB image as an (32, 32, 3) uint8 array; errors name the file."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except OSError as error:
        raise ValueError(f"cannot read image {path}: {error}") from error
    if pixels.shape != (32, 32, 3):
        raise ValueError(f"image {path} is {pixels.shape[1]}×{pixels.shape[0]}, expected 32×32")
    return pixels


def _open_official_release(root: Path, split: str, download: bool) -> object:
    """torchvision's CIFAR10 for one split, downloading it when allowed; any failure gets the one clear message."""
    from torchvision.datasets import CIFAR10

    try:
        return CIFAR10(root, train=split == "train", download=download)
    except (OSError, RuntimeError) as error:
        raise FileNotFoundError(
            f"No CIFAR-10 data under {root} and no download was possible. Put there the official python release "
            "(cifar-10-batches-py/) or a PNG tree train/<class>/NNNNN.png, test/<class>/NNNNN.png; or point the root "
            "argument or the CIFAR10_ROOT environment variable at the folder that holds one."
        ) from error


def _split_and_normalise(images: dict[str, Tensor], classes: tuple[str, ...], n_val: int, seed: int) -> Cifar2:
    """Stratified seeded train/val split, per-channel statistics from train only, float32 normalisation."""
    labels = {split: torch.arange(2).repeat_interleave(len(images[split]) // 2) for split in images}
    generator = torch.Generator().manual_seed(seed)
    val_mask = torch.zeros(len(labels["train"]), dtype=torch.bool)
    for label in (0, 1):
        members = torch.nonzero(labels["train"] == label).flatten()
        val_mask[members[torch.randperm(len(members), generator=generator)[: n_val // 2]]] = True
    raw = {"train": images["train"][~val_mask], "val": images["train"][val_mask], "test": images["test"]}
    targets = {"train": labels["train"][~val_mask], "val": labels["train"][val_mask], "test": labels["test"]}
    # Summed in float64, so that rounding over 27 million pixels stays far below float32's resolution.
    pixels = raw["train"].double().div(255).transpose(0, 1).reshape(3, -1)
    mean, std = pixels.mean(dim=1).float(), pixels.std(dim=1).float()
    shift, scale = mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)
    splits = {
        name: TensorDataset(x.float().div_(255).sub_(shift).div_(scale), targets[name]) for name, x in raw.items()
    }
    return Cifar2(**splits, mean=mean, std=std, classes=classes, raw=raw)


class TensorLoader:
    """Batches sliced from in-memory tensors, reshuffled each epoch by a generator seeded when the loader is made."""

    def __init__(
        self, dataset: TensorDataset, batch_size: int = BATCH_SIZE, shuffle: bool = True, seed: int = SEED
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.inputs, self.targets = dataset.tensors
        self.batch_size, self.shuffle = batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.targets) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.targets)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        # Gathering one batch at a time keeps memory at one batch, not a shuffled copy of the data set.
        for start in range(0, n, self.batch_size):
            batch = order[start : start + self.batch_size]
            yield self.inputs[batch], self.targets[batch]


make_loader = TensorLoader  # the name the course uses for the loader every training and evaluation makes


# --- Networks --------------------------------------------------------------------------------------------------------


# Each activation f with its derivative f', which backpropagation multiplies into δ.
ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "tanh": (torch.tanh, lambda z: 1 - torch.tanh(z) ** 2),
    "relu": (torch.relu, lambda z: (z > 0).to(z.dtype)),
    "sigmoid": (torch.sigmoid, lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))),
    "identity": (lambda z: z, torch.ones_like),
}


class MyNet(nn.Module):
    """A fully connected net whose forward pass keeps z and a for backpropagation by hand."""

    def __init__(self, n_l: Sequence[int], activation: str | Sequence[str] = "tanh") -> None:
        super().__init__()
        self.n_l = list(n_l)
        self.L = len(self.n_l) - 1
        names = [activation] * self.L if isinstance(activation, str) else list(activation)
        if self.L < 1 or min(self.n_l) < 1 or len(names) != self.L or not set(names) <= set(ACTIVATIONS):
            raise ValueError(
                f"n_l needs at least two positive widths and one activation per layer out of {', '.join(ACTIVATIONS)};"
                f" got n_l={self.n_l}, activation={activation!r}"
            )
        self.fc = nn.ModuleDict({str(l): nn.Linear(self.n_l[l - 1], self.n_l[l]) for l in range(1, self.L + 1)})
        self.f = {l: ACTIVATIONS[names[l - 1]][0] for l in range(1, self.L + 1)}
        self.df = {l: ACTIVATIONS[names[l - 1]][1] for l in range(1, self.L + 1)}
        # Per layer l: pre-activations z[l], activations a[l] (a[0] the input), gradients dL_dw[l] and dL_db[l].
        self.z, self.a, self.dL_dw, self.dL_db = {}, {}, {}, {}

    def forward(self, x: Tensor) -> Tensor:
        """Flatten x to (batch, -1), run every layer and cache z[l] and a[l], detached: backprop needs only values."""
        a = torch.flatten(x, 1)
        self.a[0] = a.detach()
        for l in range(1, self.L + 1):
            z = self.fc[str(l)](a)
            a = self.f[l](z)
            self.z[l], self.a[l] = z.detach(), a.detach()
        return a


class MyMLP(MyNet):
    """The project's classifier: 768 → 128 → 32 → 2, ReLU after each hidden layer, logits out (no softmax)."""

    def __init__(self) -> None:
        super().__init__([3 * IMAGE_SIZE**2, 128, 32, 2], ["relu", "relu", "identity"])


# --- Backpropagation and gradient check ------------------------------------------------------------------------------


def backpropagation(model: nn.Module, y_true: Tensor, y_pred: Tensor) -> None:
    """Fill model.dL_dw and model.dL_db for L = Σ (y_true − y_pred)², without autograd.

    y_true may have any shape that broadcasts to y_pred's: the course's MNIST test passes targets of shape (1, 1)
    against outputs of shape (1, 10).

    With δ[l] = ∂L/∂z[l], a batch of B rows, and ⊙ the elementwise product:
        δ[L]     = 2 (y_pred − y_true) ⊙ f'_L(z[L])             (B, n_L)
        δ[l]     = (δ[l+1] W[l+1]) ⊙ f'_l(z[l])                 (B, n_l)
        ∂L/∂W[l] = δ[l]ᵀ a[l−1]                                 (n_l, n_{l−1})
        ∂L/∂b[l] = Σ over the batch of δ[l]                     (n_l,)
    """
    _check_backprop_inputs(model, y_true, y_pred)
    L = model.L
    with torch.no_grad():
        delta = 2 * (y_pred - y_true) * model.df[L](model.z[L])
        for l in range(L, 0, -1):
            model.dL_dw[l] = delta.T @ model.a[l - 1]
            model.dL_db[l] = delta.sum(dim=0)
            if l > 1:
                delta = (delta @ model.fc[str(l)].weight) * model.df[l - 1](model.z[l - 1])


def _check_backprop_inputs(model: nn.Module, y_true: Tensor, y_pred: Tensor) -> None:
    """Raise ValueError, naming the shapes, unless the forward ran and y_pred and y_true fit its output z[L]."""
    if model.L not in model.z:
        raise ValueError("run model(x) before backpropagation: the forward caches z and a are empty")
    expected = tuple(model.z[model.L].shape)
    if tuple(y_pred.shape) != expected:
        raise ValueError(f"y_pred has shape {tuple(y_pred.shape)}, expected {expected} (the output z[L])")
    try:
        fits = torch.broadcast_shapes(y_true.shape, y_pred.shape) == y_pred.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"y_true has shape {tuple(y_true.shape)}, expected {expected} or one that broadcasts to it")


# Central differences in float64 with this step, and the relative error per layer they must stay under.
GRADIENT_CHECK_EPS = 1e-6
GRADIENT_CHECK_TOLERANCE = 1e-6


def sum_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """The course's loss: Σ over the batch and the outputs of (y_true − y_pred)²."""
    return ((y_true - y_pred) ** 2).sum()


def relative_error(a: Tensor, b: Tensor) -> float:
    """‖a − b‖ / (‖a‖ + ‖b‖), and 0 when both are zero."""
    scale = (a.norm() + b.norm()).item()
    return (a - b).norm().item() / max(scale, torch.finfo(torch.float64).tiny)


def numerical_gradient(loss: Callable[[], float], parameter: Tensor, eps: float) -> Tensor:
    """Central differences (loss(θ+ε) − loss(θ−ε)) / 2ε, one entry of `parameter` at a time."""
    gradient = torch.zeros_like(parameter)
    flat_parameter, flat_gradient = parameter.view(-1), gradient.view(-1)
    for i in range(parameter.numel()):
        original = flat_parameter[i].item()
        flat_parameter[i] = original + eps
        loss_plus = loss()
        flat_parameter[i] = original - eps
        loss_minus = loss()
        flat_parameter[i] = original
        flat_gradient[i] = (loss_plus - loss_minus) / (2 * eps)
    return gradient


@dataclass(frozen=True)
class GradientCheck:
    """Per-layer relative errors between a reference gradient (finite differences or autograd) and backprop's."""

    errors: dict[int, dict[str, float]]
    tolerance: float

    @property
    def failing_layers(self) -> list[int]:
        """Layers whose weight or bias gradient is off by more than the tolerance."""
        return [l for l, errors in self.errors.items() if max(errors.values()) > self.tolerance]

    @property
    def worst(self) -> float:
        """The largest relative error over every layer's weights and biases."""
        return max(max(errors.values()) for errors in self.errors.values())

    @property
    def passed(self) -> bool:
        """True when every layer is within the tolerance."""
        return not self.failing_layers

    def __str__(self) -> str:
        if self.passed:
            return f"PASS: every layer within {self.tolerance:.0e}"
        return f"FAIL: layer(s) {', '.join(map(str, self.failing_layers))} above {self.tolerance:.0e}"


def gradient_check(
    model: nn.Module,
    x: Tensor,
    y_true: Tensor,
    backprop: Callable[[nn.Module, Tensor, Tensor], None] = backpropagation,
    eps: float = GRADIENT_CHECK_EPS,
    tolerance: float = GRADIENT_CHECK_TOLERANCE,
) -> GradientCheck:
    """Compare `backprop` with central finite differences in float64 on every weight and bias."""
    # The caches may hold autograd-tracked tensors, which deepcopy refuses: start the copy with empty ones.
    caches = {id(getattr(model, name)): {} for name in ("z", "a", "dL_dw", "dL_db") if hasattr(model, name)}
    model = copy.deepcopy(model, memo=caches).double()
    x, y_true = x.double(), y_true.double()
    with torch.no_grad():
        backprop(model, y_true, model(x))

        def loss() -> float:
            return sum_squared_error(y_true, model(x)).item()

        return _check_layers(model, lambda parameter: numerical_gradient(loss, parameter, eps), tolerance)


def compare_with_autograd(model: nn.Module, x: Tensor, y_true: Tensor, tolerance: float = 1e-5) -> GradientCheck:
    """Compare `backpropagation` with Tensor.backward() on the same batch (float32, hence the looser tolerance)."""
    model.zero_grad()
    y_pred = model(x)
    sum_squared_error(y_true, y_pred).backward()
    backpropagation(model, y_true, y_pred)
    return _check_layers(model, lambda parameter: parameter.grad, tolerance)


def _check_layers(model: nn.Module, reference: Callable[[Tensor], Tensor], tolerance: float) -> GradientCheck:
    """Relative errors per layer between the reference gradient of each weight and bias and backprop's."""
    errors = {
        l: {
            "weight": relative_error(reference(model.fc[str(l)].weight), model.dL_dw[l]),
            "bias": relative_error(reference(model.fc[str(l)].bias), model.dL_db[l]),
        }
        for l in range(1, model.L + 1)
    }
    return GradientCheck(errors, tolerance)


# --- Training --------------------------------------------------------------------------------------------------------


def check_hyperparameters(lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
    """Raise ValueError naming the value when lr ≤ 0, momentum ∉ [0, 1) or weight_decay < 0."""
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")


def train(
    n_epochs: int,
    optimizer: torch.optim.Optimizer,
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    train_loader: TensorLoader,
    *,
    after_epoch: Callable[[nn.Module], None] | None = None,
) -> list[float]:
    """Train with a torch optimizer; return each epoch's mean training loss. `after_epoch(model)` ends each epoch."""
    for group in optimizer.param_groups:
        check_hyperparameters(float(group["lr"]), group.get("momentum", 0.0), group.get("weight_decay", 0.0))

    def update(loss: Tensor) -> None:
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return _run_epochs(n_epochs, model, loss_fn, train_loader, update, after_epoch)


def train_manual_update(
    n_epochs: int,
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    train_loader: TensorLoader,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    *,
    after_epoch: Callable[[nn.Module], None] | None = None,
) -> list[float]:
    """Train with SGD written out by hand (`manual_sgd_step`); return the mean loss of each epoch."""
    check_hyperparameters(lr, momentum, weight_decay)
    parameters = list(model.parameters())
    momentum_buffers: list[Tensor | None] = [None] * len(parameters)

    def update(loss: Tensor) -> None:
        model.zero_grad()
        loss.backward()
        manual_sgd_step(parameters, momentum_buffers, lr, momentum, weight_decay)

    return _run_epochs(n_epochs, model, loss_fn, train_loader, update, after_epoch)


def manual_sgd_step(
    parameters: list[Tensor], momentum_buffers: list[Tensor | None], lr: float, momentum: float, weight_decay: float
) -> None:
    """One SGD step by hand, updating `parameters` and `momentum_buffers` in place.

    For each parameter θ with gradient g (torch.optim.SGD without dampening or Nesterov):
        g   ← g + weight_decay · θ                     when weight_decay ≠ 0
        v   ← g  at the first step,  else  v ← momentum · v + g,  then  g ← v      when momentum ≠ 0
        θ   ← θ − lr · g
    The operations and their order are torch's, so the results are bitwise equal.
    """
    with torch.no_grad():
        for i, parameter in enumerate(parameters):
            if parameter.grad is None:
                continue
            gradient = parameter.grad
            if weight_decay != 0:
                gradient = gradient.add(parameter, alpha=weight_decay)
            if momentum != 0:
                if momentum_buffers[i] is None:
                    # A copy, never p.grad itself: zeroing the gradient in place would wipe the buffer.
                    momentum_buffers[i] = gradient.detach().clone()
                else:
                    momentum_buffers[i].mul_(momentum).add_(gradient, alpha=1)
                gradient = momentum_buffers[i]
            parameter.add_(gradient, alpha=-lr)


def _run_epochs(
    n_epochs: int,
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    train_loader: TensorLoader,
    update: Callable[[Tensor], None],
    after_epoch: Callable[[nn.Module], None] | None,
) -> list[float]:
    """The epoch loop both trainers share; `update` turns one batch loss into a step."""
    if not (isinstance(n_epochs, int) and n_epochs >= 1):
        raise ValueError(f"n_epochs must be a whole number >= 1, got {n_epochs}")
    epoch_losses = []
    for epoch in range(1, n_epochs + 1):
        model.train()
        loss_sum, sample_count = 0.0, 0
        for batch, (inputs, targets) in enumerate(train_loader, start=1):
            loss = loss_fn(model(inputs), targets)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                message = f"loss is {loss_value} at epoch {epoch}, batch {batch}: training diverged (try a smaller lr)"
                raise FloatingPointError(message)
            update(loss)
            loss_sum += loss_value * len(targets)
            sample_count += len(targets)
        epoch_losses.append(loss_sum / sample_count)
        if after_epoch is not None:
            after_epoch(model)
    return epoch_losses


def sgd_settings(config: dict) -> dict:
    """The learning rate, momentum and weight decay of a configuration, as torch.optim.SGD takes them."""
    return {key: config[key] for key in SGD_SETTINGS}


def in_dtype(split: TensorDataset, dtype: torch.dtype) -> TensorDataset:
    """A split with its images in `dtype` (float64 for a course-setup run) and its labels as they are."""
    images, labels = split.tensors
    return TensorDataset(images.to(dtype), labels)


def train_config(
    config: dict,
    data: Cifar2,
    trainer: str = "sgd",
    n_epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    seed: int = SEED,
) -> tuple[dict, nn.Module]:
    """Train one configuration with torch.optim.SGD ('sgd') or by hand ('manual'); `seed` sets weights and batches.
    A configuration may set "dtype" (default "float32") and "shuffle" (default True), as settings.COURSE_SETUPS do."""
    if trainer not in ("sgd", "manual"):
        raise ValueError(f"trainer must be 'sgd' or 'manual', got {trainer!r}")
    dtype_name = config.get("dtype", "float32")
    if dtype_name not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype_name!r}")
    dtype = getattr(torch, dtype_name)
    train_set, val_set = (in_dtype(split, dtype) for split in (data.train, data.val))
    torch.manual_seed(seed)
    model = MyMLP().to(dtype)  # the float32 initial weights, so a float64 run starts where the others do
    train_loader = make_loader(train_set, batch_size, shuffle=config.get("shuffle", True), seed=seed)
    val_loader = make_loader(val_set, batch_size=len(val_set), shuffle=False)
    val_acc: list[float] = []

    def record(model: nn.Module) -> None:
        val_acc.append(accuracy(model, val_loader))

    settings, loss_fn = sgd_settings(config), nn.CrossEntropyLoss()
    if trainer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), **settings)
        losses = train(n_epochs, optimizer, model, loss_fn, train_loader, after_epoch=record)
    else:
        losses = train_manual_update(n_epochs, model, loss_fn, train_loader, **settings, after_epoch=record)
    train_acc = accuracy(model, make_loader(train_set, batch_size=len(train_set), shuffle=False))
    return {"train_loss": losses, "train_acc": train_acc, "val_acc": val_acc[-1], "val_acc_per_epoch": val_acc}, model


# --- Evaluation ----------------------------------------------


def predictions(model: nn.Module, loader: TensorLoader) -> tuple[Tensor, Tensor]:
    """Predicted and true labels over a whole loader."""
    model.eval()
    with torch.no_grad():
        predicted, true = zip(*[(model(inputs).argmax(dim=1), targets) for inputs, targets in loader], strict=True)
    return torch.cat(predicted), torch.cat(true)


def accuracy(model: nn.Module, loader: TensorLoader) -> float:
    """Fraction of correctly classified samples."""
    predicted, true = predictions(model, loader)
    return (predicted == true).double().mean().item()


def confusion_matrix(model: nn.Module, loader: TensorLoader, n_classes: int = 2) -> Tensor:
    """Counts with rows = true class and columns = predicted class."""
    predicted, true = predictions(model, loader)
    return torch.bincount(true * n_classes + predicted, minlength=n_classes**2).view(n_classes, n_classes)


# --- Plots: each returns its Figure and saves it when given a path ---------------------------------------------------

# Every figure reads in greyscale and for colour-blind readers. SGD is a wide grey line or grey bar, the manual update a
# thin black dashed line on top or a white hatched bar; the splits are greys; each model has an Okabe-Ito hue, a marker
# and a line style.
TRAINER_STYLE = {
    "sgd": ("torch.optim.SGD", {"color": "#999999", "lw": 5}, {"color": "#999999"}),
    "manual": ("manual update", {"color": "black", "lw": 1.3, "ls": "--"}, {"color": "white", "hatch": "///"}),
}
SPLIT_COLORS = {"train": "#404040", "val": "#8C8C8C", "test": "#CFCFCF"}
MODEL_STYLES = (
    {"color": "#E69F00", "marker": "o", "linestyle": "-"},
    {"color": "#D55E00", "marker": "s", "linestyle": "--"},
    {"color": "#000000", "marker": "^", "linestyle": ":"},
    {"color": "#56B4E9", "marker": "D", "linestyle": "-."},
    {"color": "#882255", "marker": "v", "linestyle": (0, (9, 2.5))},
)
# Printed 16 cm wide, a figure at most 7.5 inches wide keeps 10.5 pt text above 8 pt. Set once for the session: a
# per-figure rc_context would, on exit, switch off Jupyter's inline interactive mode and hide the next figures.
plt.rcParams.update({"font.size": 10.5, "axes.titlesize": "medium"})


def _finish(fig: Figure, path: SavePath) -> Figure:
    """Lay out the figure and save it as PNG when a path is given."""
    fig.tight_layout()
    fig.tight_layout()  # again, as a legend placed below its axes moves up when the first pass shrinks them
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=200, metadata={"Software": None})
    return fig


def plot_samples(data: Cifar2, n_per_class: int = 6, path: SavePath = None) -> Figure:
    """Training images of each class as stored and after normalisation, in one fixed window of ±2.5 std."""
    from torchvision.utils import make_grid

    chosen = torch.cat([torch.nonzero(data.train.tensors[1] == c).flatten()[:n_per_class] for c in (0, 1)])
    # A fixed window of ±2.5 standard deviations shows normalised pixels without per-image stretching.
    window = ((data.train.tensors[0][chosen] + 2.5) / 5).clamp(0, 1)
    mosaic = make_grid(torch.cat([data.raw["train"][chosen] / 255, window]), nrow=len(chosen), pad_value=1)
    fig, axis = plt.subplots(figsize=(7.5, 2))
    axis.imshow(mosaic.permute(1, 2, 0).numpy(), interpolation="nearest")
    cell = window.shape[-1] + 2  # make_grid pads each image by 2 pixels
    axis.set_xticks([cell * n_per_class * (c + 0.5) for c in (0, 1)], data.classes)
    axis.set_yticks([cell * (r + 0.5) for r in (0, 1)], ["as stored", "normalised,\n±2.5σ"])
    axis.xaxis.tick_top()
    axis.tick_params(length=0)
    axis.set_frame_on(False)
    return _finish(fig, path)


def plot_gradient_check(checks: dict[str, GradientCheck], path: SavePath = None) -> Figure:
    """Relative error per layer and parameter, on a log scale, one marker style per gradient check of one network."""
    fig, axis = plt.subplots(figsize=(7.5, 2.4))
    for offset, (label, check) in enumerate(checks.items()):
        names = [f"{'W' if kind == 'weight' else 'b'}{l}" for l, errors in check.errors.items() for kind in errors]
        values = [max(error, 1e-17) for errors in check.errors.values() for error in errors.values()]
        face = "black" if offset % 2 == 0 else "white"
        shift = 0.3 * (offset - (len(checks) - 1) / 2)  # side by side, so equal errors do not hide each other
        axis.plot(np.arange(len(names)) + shift, values, "osD^v"[offset % 5], ms=8, mfc=face, c="black", label=label)
    axis.set_xticks(range(len(names)), names)
    tolerance = next(iter(checks.values())).tolerance
    axis.axhline(tolerance, color="black", linestyle=":")
    label = f"tolerance $10^{{{math.log10(tolerance):.0f}}}$"
    axis.text(0.98, tolerance * 1.5, label, transform=axis.get_yaxis_transform(), ha="right", va="bottom", fontsize=9)
    axis.set_yscale("log")
    axis.margins(y=0.12)
    axis.set_ylim(top=2)  # the relative error cannot exceed 1
    axis.set(xlabel="weights W or biases b of layer 1, 2, …", ylabel="relative error vs\nfinite differences")
    axis.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=9.5)
    return _finish(fig, path)


def plot_accuracies(models: list[dict], path: SavePath = None) -> Figure:
    """Training (filled) and validation (open) accuracy of each model after the last epoch, joined per model;
    the manual update's values beside each SGD marker, × for training and + for validation."""
    fig, axis = plt.subplots(figsize=(3.9, 2.9))
    positions = np.arange(1, len(models) + 1)
    train, val = ([model["sgd"][f"{split}_acc"] for model in models] for split in ("train", "val"))
    axis.plot([positions - 0.3, positions + 0.1], [train, val], color="#666666", lw=1.2)
    axis.plot(positions - 0.3, train, "o", ms=7, color=SPLIT_COLORS["train"], zorder=3, label="SGD, training")
    axis.plot(positions + 0.1, val, "s", ms=7, mfc="white", color="black", zorder=3, label="SGD, validation")
    for split, name, x, marker in (
        ("train", "training", positions - 0.1, "x"),
        ("val", "validation", positions + 0.3, "+"),
    ):
        manual = [model["manual"][f"{split}_acc"] for model in models]
        axis.plot(x, manual, marker, ms=7, mew=1.5, color="black", label=f"manual, {name}")
    axis.set_xticks(positions, [model["name"].split()[-1] for model in models])
    axis.margins(y=0.08)
    axis.set_ylim(top=math.ceil((max(train) + 0.005) / 0.02) * 0.02)  # a labelled tick above the highest marker
    epochs = len(models[0]["sgd"]["train_loss"])
    axis.set(xlabel="model", ylabel=f"accuracy after epoch {epochs}", xlim=(0.4, len(models) + 0.6))
    axis.grid(axis="y", color="#EEEEEE")
    axis.legend(
        loc="upper center", bbox_to_anchor=(0.45, -0.25), ncol=2, fontsize=9, columnspacing=1.5, handlelength=1.6
    )
    return _finish(fig, path)


def plot_final_losses(models: list[dict], path: SavePath = None) -> Figure:
    """Training loss after the last epoch, SGD (grey bars) vs manual update (white hatched bars)."""
    fig, axis = plt.subplots(figsize=(7.5, 2.6))
    positions = np.arange(len(models))
    for offset, (trainer, (label, _, bar)) in enumerate(TRAINER_STYLE.items()):
        values = [model[trainer]["train_loss"][-1] for model in models]
        bars = axis.bar(positions + offset * 0.4, values, 0.4, label=label, edgecolor="black", **bar)
        axis.bar_label(bars, fmt="%.3f", padding=2)
    axis.set_xticks(positions + 0.2, [model["name"] for model in models])
    axis.margins(y=0.1)
    axis.set_ylabel("mean cross-entropy, last epoch")
    axis.legend()
    return _finish(fig, path)


def plot_loss_panels(models: list[dict], path: SavePath = None) -> Figure:
    """Training loss per epoch, one panel per model; the thin dashed manual curve is drawn over the wide SGD one."""
    n_rows = math.ceil((len(models) + 1) / 3)
    fig, axes = plt.subplots(n_rows, 3, figsize=(7.5, 2.1 * n_rows), sharey=True, squeeze=False)
    panels = axes.flatten()
    for axis, model in zip(panels, models, strict=False):
        for trainer, (label, line, _) in TRAINER_STYLE.items():
            losses = model[trainer]["train_loss"]
            axis.plot(range(1, len(losses) + 1), losses, label=label, **line)
        axis.set(title=model["name"], xlabel="epoch")
        axis.text(0.95, 0.88, f"max |Δ loss| = {model['max_loss_diff']}", transform=axis.transAxes, ha="right")
    for row in axes:
        row[0].set_ylabel("mean training loss")
    handles, labels = panels[0].get_legend_handles_labels()
    for spare in panels[len(models) :]:
        spare.axis("off")
    panels[-1].legend(handles, labels, loc="center", title="trainer")
    return _finish(fig, path)


def plot_loss_curves(models: list[dict], path: SavePath = None) -> Figure:
    """The training loss curves of all models together, on a log scale labelled in plain decimals; each model in its
    own style, with markers at staggered epochs, so that curves that run together stay apart in greyscale."""
    fig, axis = plt.subplots(figsize=(7.5, 3.3))
    for index, model in enumerate(models):
        values, style = model["sgd"]["train_loss"], MODEL_STYLES[index % len(MODEL_STYLES)]
        settings = f"η {model['lr']:g}, μ {model['momentum']:g}, λ {model['weight_decay']:g}"
        epochs = range(1, len(values) + 1)
        label = f"{model['name']} ({settings})"
        axis.plot(epochs, values, label=label, markevery=(index, MARK_EVERY), lw=1.5, ms=7, **style)
    axis.set(xlabel="epoch", ylabel="mean training loss,\ncross-entropy (log scale)", yscale="log")
    axis.yaxis.set_major_locator(plt.LogLocator(subs=(1, 2, 5)))
    axis.yaxis.set_major_formatter("{x:g}")
    axis.yaxis.set_minor_formatter(plt.NullFormatter())
    axis.legend(ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0), handlelength=4, frameon=False)
    return _finish(fig, path)


def plot_val_accuracy_curves(models: list[dict], selected_name: str, path: SavePath = None) -> Figure:
    """Validation accuracy after each epoch, one panel per model over the others in light grey, zoomed past the first
    epochs, three panels to a row, each model's best epochs ringed; a spare panel holds the key, and the selected
    model's panel says so."""
    curves = {model["name"]: model["sgd"]["val_acc_per_epoch"] for model in models}
    context_grey = "#C8C8C8"
    settled = [value for values in curves.values() for value in values[len(values) // 6 :]]
    low, high = min(settled), max(settled)
    n_rows = math.ceil(len(models) / 3)
    fig, axes = plt.subplots(n_rows, 3, figsize=(7.5, 1.95 * n_rows), sharex=True, sharey=True, squeeze=False)
    panels = axes.flatten()
    for axis, (name, values) in zip(panels, curves.items(), strict=False):
        epochs = range(1, len(values) + 1)
        for other in curves.values():
            axis.plot(epochs, other, color=context_grey, lw=1)
        axis.plot(epochs, values, color="black", lw=2)
        best = [epoch for epoch, value in zip(epochs, values, strict=True) if value == max(values)]
        axis.plot(best, [max(values)] * len(best), "o", ms=9, mfc="none", mec="black", mew=1.5)
        axis.set_title(f"{name} (selected)" if name == selected_name else name, fontsize=10.5)
        axis.grid(axis="y", color="#EEEEEE")
        axis.xaxis.set_tick_params(labelbottom=True)
        axis.set_xlabel("epoch")
    axis.xaxis.set_major_locator(plt.MultipleLocator(10))
    axis.set_ylim(low - 0.08 * (high - low) - 1e-3, high + 0.12 * (high - low) + 1e-3)
    axis.yaxis.set_major_locator(plt.MultipleLocator(0.02))
    for row in axes:
        row[0].set_ylabel("validation accuracy")
    key = [
        plt.Line2D([], [], color="black", lw=2),
        plt.Line2D([], [], ls="none", marker="o", ms=9, mfc="none", mec="black", mew=1.5),
        plt.Line2D([], [], color=context_grey, lw=1),
    ]
    for spare in panels[len(models) :]:
        spare.axis("off")
    panels[-1].legend(key, ["highlighted model", "its best epoch", "other models"], loc="center", frameon=False)
    return _finish(fig, path)


def _interval_error(value: float, interval: Interval) -> list[list[float]]:
    """An interval as matplotlib's error bar wants it: the distances below and above the value."""
    return [[value - interval.low], [interval.high - value]]


def plot_selected_accuracy(models: Sequence[Model], selection: Selection, path: SavePath = None) -> Figure:
    """Each model's training accuracy (bare) and validation accuracy with its Wilson interval, and beside the selected
    model its test accuracy with its interval; the selection is made on validation, so test appears once."""
    fig, axis = plt.subplots(figsize=(3.6, 2.9))
    for x, model in enumerate(models, start=1):
        first = x == 1
        axis.plot(x - 0.22, model.train_acc, "o", ms=7, color=SPLIT_COLORS["train"], label="training" if first else "_")
        error = _interval_error(model.val_acc, model.val_interval)
        label = "validation" if first else "_"
        axis.errorbar(x, model.val_acc, error, fmt="s", ms=7, capsize=4, color="black", mfc="white", label=label)
        if model.selected:
            error = _interval_error(selection.test_acc, selection.test_interval)
            style = {"fmt": "D", "ms": 7, "capsize": 4, "color": "black", "mfc": SPLIT_COLORS["test"]}
            axis.errorbar(x + 0.26, selection.test_acc, error, **style, label="test")
    names = [f"{model.name.split()[-1]}\n(selected)" if model.selected else model.name.split()[-1] for model in models]
    axis.set_xticks(range(1, len(models) + 1), names)
    axis.yaxis.set_major_locator(plt.MultipleLocator(0.02))
    axis.grid(axis="y", color="#EEEEEE")
    axis.set(xlabel="model", ylabel="accuracy (zoomed)", xlim=(0.5, len(models) + 0.6))
    axis.legend(loc="lower center", bbox_to_anchor=(0.45, 1.0), ncol=3, fontsize=9, handletextpad=0.2, frameon=False)
    return _finish(fig, path)


def plot_confusion_matrix(matrix: list[list[int]], classes: Sequence[str], title: str, path: SavePath = None) -> Figure:
    """A confusion matrix as a heatmap from 0, rows true and columns predicted, with counts and row percentages."""
    import seaborn as sns

    counts = np.asarray(matrix)
    rows = counts.sum(axis=1, keepdims=True)
    labels = np.vectorize(lambda count, share: f"{count}\n({share:.1%}\nof row)")(counts, counts / rows)
    fig, axis = plt.subplots(figsize=(3.1, 2.7))
    ticks = {"xticklabels": classes, "yticklabels": classes}
    sns.heatmap(counts, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=rows.max(), cbar=False, ax=axis, **ticks)
    axis.set(xlabel="predicted class", ylabel="true class")
    axis.set_title(title, fontsize=10)
    return _finish(fig, path)


def plot_seed_study(models: Sequence[Model], seeds: Sequence[int], path: SavePath = None) -> Figure:
    """Each seed's validation accuracy per model as dots, the main run (first seed) ringed, and the mean ± std."""
    fig, axis = plt.subplots(figsize=(7.5, 2.7))
    names = []
    for index, model in enumerate(models):
        style, values, spread = MODEL_STYLES[index % len(MODEL_STYLES)], model.val_acc_by_seed, model.seed_val_acc
        offsets = index + np.linspace(-0.3, 0.1, len(values))
        axis.scatter(offsets, values, color=style["color"], marker=style["marker"], edgecolor="black", lw=0.5, zorder=3)
        main = f"seed {seeds[0]}: the main run" if index == 0 else "_"
        axis.scatter(offsets[0], values[0], s=120, facecolor="none", edgecolor="black", lw=1.5, label=main)
        label = "mean ± SD over seeds (also under each name)" if index == 0 else "_"
        axis.errorbar(index + 0.3, spread.mean, yerr=spread.std, fmt="_", color="black", ms=14, capsize=4, label=label)
        chosen = "\n(selected)" if model.selected else ""
        names.append(f"{model.name}\n{spread.mean:.3f} ± {spread.std:.3f}{chosen}")
    axis.set_xticks(range(len(names)), names)
    axis.margins(y=0.12)
    axis.yaxis.set_major_locator(plt.MultipleLocator(0.01))
    axis.set(ylabel="validation accuracy")
    axis.legend(ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return _finish(fig, path)
