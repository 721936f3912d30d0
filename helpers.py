"""Backpropagation and gradient descent by hand, on CIFAR-10 cars vs cats.

The module reads top to bottom in sections: reproducible numerics, data, networks, backpropagation and gradient
check, training, evaluation, the study, uncertainty and the report's numbers, plots. The notebooks
`backprop.ipynb` and `project1.ipynb` call it.
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import json
import math
import os
import statistics
import tempfile
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

SEED = 42
CLASSES = ("automobile", "cat")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_PER_CLASS = 5000
TEST_PER_CLASS = 1000
PROJECT_DIR = Path(__file__).resolve().parent
CACHE_DIR = PROJECT_DIR / ".cache"


# ---------------------------------------------------------------------------
# Reproducible numerics
# ---------------------------------------------------------------------------

# Every matrix product of a training runs in MKL's SGEMM, whose kernels differ per CPU vendor and vector width, and
# 30 epochs turn last-bit differences into different models. MKL's vendor-neutral COMPATIBLE branch gives the same
# bits on Intel and AMD, with AVX2 or AVX-512, for 1 or 2 threads (3 or more split the sums differently). MKL reads
# MKL_CBWR at its first call, so it is set here, before torch runs any matrix product. A value the user set wins:
# MKL_CBWR=AUTO is the fast mode, whose numbers are the machine's own.
PINNED_MKL_MODE = "COMPATIBLE"
PINNED_MAX_THREADS = 2
os.environ.setdefault("MKL_CBWR", PINNED_MKL_MODE)

MKL_BRANCHES = {1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 8: "SSE4_2", 9: "AVX", 10: "AVX2", 12: "AVX512"}
MKL_STRICT_FLAG = 0x10000


class NumericsWarning(UserWarning):
    """Issued once when this process's numbers cannot be pinned to the committed ones."""


def mkl_numerics_mode() -> str:
    """The reproducibility mode MKL runs in, as it reports it (e.g. 'COMPATIBLE'), 'no MKL' or 'unknown'."""
    if not torch.backends.mkl.is_available():
        return "no MKL"
    # libtorch_cpu exports MKL's service function that reads the mode back; it is undocumented, hence the guard.
    try:
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        read_mode = library.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return "unknown"
    read_mode.restype, read_mode.argtypes = ctypes.c_int, [ctypes.c_int]
    mode = read_mode(-1)
    branch = MKL_BRANCHES.get(mode & ~MKL_STRICT_FLAG, f"branch {mode & ~MKL_STRICT_FLAG}")
    return branch + (",STRICT" if mode & MKL_STRICT_FLAG else "")


def numerics_problem() -> str | None:
    """Why this process's numbers may differ from the committed ones, or None when they are pinned."""
    mode = mkl_numerics_mode()
    if mode == "no MKL":
        return "this torch has no MKL (e.g. ARM): the numbers are this machine's own"
    if mode == "unknown":
        return "cannot read MKL's reproducibility mode back: the numbers may differ from the committed ones"
    if mode.split(",")[0] != PINNED_MKL_MODE:
        if os.environ.get("MKL_CBWR") != PINNED_MKL_MODE:
            return f"MKL_CBWR={os.environ.get('MKL_CBWR')} (MKL reads back {mode}): the numbers are this machine's own"
        return f"MKL runs in mode {mode}: a matrix product ran before helpers was imported; restart and import it first"
    if torch.get_num_threads() > PINNED_MAX_THREADS:
        return f"torch runs {torch.get_num_threads()} threads; the pinned numbers need at most {PINNED_MAX_THREADS}"
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        return "this CPU (or ATEN_CPU_CAPABILITY) has no AVX2: the numbers are this machine's own"
    return None


NUMERICS_MODE = mkl_numerics_mode()
if NUMERICS_MODE.split(",")[0] == PINNED_MKL_MODE:
    torch.set_num_threads(min(PINNED_MAX_THREADS, torch.get_num_threads()))
NUMERICS_PROBLEM = numerics_problem()
if NUMERICS_PROBLEM:
    warnings.warn(NUMERICS_PROBLEM, NumericsWarning, stacklevel=2)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


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
    size: int = 16,
    n_val: int = 1000,
    seed: int = SEED,
    download: bool = True,
    cache_dir: str | os.PathLike | None = CACHE_DIR,
) -> Cifar2:
    """Load two CIFAR-10 classes resized to `size`, split train/val/test and normalised."""
    classes = tuple(classes)
    unknown = [name for name in classes if name not in CIFAR10_CLASSES]
    if unknown:
        raise ValueError(f"unknown class {unknown[0]!r}; valid names are {', '.join(CIFAR10_CLASSES)}")
    if len(classes) != 2 or classes[0] == classes[1]:
        raise ValueError(f"give two different class names, got {classes}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if n_val < 2 or n_val % 2 or n_val >= 2 * TRAIN_PER_CLASS:
        raise ValueError(f"n_val must be even and between 2 and {2 * TRAIN_PER_CLASS - 2}, got {n_val}")
    root = Path(root if root is not None else os.environ.get("CIFAR10_ROOT", "data"))
    layout = _find_layout(root, download)
    cache_path = None
    if cache_dir is not None:
        key = hashlib.sha256(json.dumps([layout, str(root.resolve()), classes, size]).encode()).hexdigest()[:16]
        cache_path = Path(cache_dir) / f"cifar2-{size}px-{key}.pt"
    prepared = _read_cache(cache_path, size) if cache_path is not None and cache_path.is_file() else None
    if prepared is None:
        prepared = {}
        for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
            images = _read_split(root, layout, split, classes, per_class, download)
            prepared[f"{split}_images"] = _resize(images, size)
            prepared[f"{split}_labels"] = torch.arange(2).repeat_interleave(per_class)
        if cache_path is not None:
            _save_atomically(prepared, cache_path)
    return _split_and_normalise(prepared, classes, n_val, seed)


def _find_layout(root: Path, download: bool) -> str:
    """Say which layout the root holds: 'official release' or 'PNG tree'."""
    if (root / "cifar-10-batches-py").is_dir():
        return "official release"
    if (root / "train").is_dir() and (root / "test").is_dir():
        return "PNG tree"
    if not download:
        raise FileNotFoundError(NO_DATA.format(root=root))
    _open_official_release(root, "test", download=True)
    return "official release"


NO_DATA = (
    "No CIFAR-10 data under {root} and no download was possible. Give one of two layouts: the official python "
    "release (cifar-10-batches-py/, which torchvision downloads when download=True and the network allows), or a PNG "
    "tree train/<class>/NNNNN.png and test/<class>/NNNNN.png. Point the root argument or the CIFAR10_ROOT "
    "environment variable at the folder that holds it."
)


def _read_cache(path: Path, size: int) -> dict[str, Tensor] | None:
    """The cached tensors, or None (with a warning) when the file does not hold what a fresh preparation would."""
    shapes = {"train_images": (2 * TRAIN_PER_CLASS, 3, size, size), "test_images": (2 * TEST_PER_CLASS, 3, size, size)}
    shapes |= {"train_labels": (2 * TRAIN_PER_CLASS,), "test_labels": (2 * TEST_PER_CLASS,)}
    try:
        cached = torch.load(path, weights_only=True)
        if cached.keys() == shapes.keys() and all(
            cached[key].shape == shape and cached[key].dtype == (torch.uint8 if "images" in key else torch.int64)
            for key, shape in shapes.items()
        ):
            return cached
    except Exception:  # any unreadable or foreign content means the same thing: rebuild
        pass
    warnings.warn(f"the prepared-data cache {path.name} is damaged; rebuilding it from the images", stacklevel=3)
    return None


def _save_atomically(tensors: dict[str, Tensor], path: Path) -> None:
    """Write to a temporary file beside `path`, then rename, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(tensors, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _read_split(
    root: Path, layout: str, split: str, classes: tuple[str, ...], per_class: int, download: bool
) -> Tensor:
    """The 32×32 images of both classes of one split, in canonical order, as an (N, 3, 32, 32) uint8 tensor."""
    if layout == "official release":
        release = _open_official_release(root, split, download)
        targets = torch.tensor(release.targets)
        indices = [torch.nonzero(targets == CIFAR10_CLASSES.index(name)).flatten() for name in classes]
        for name, found in zip(classes, indices, strict=True):
            if len(found) != per_class:
                raise ValueError(f"expected {per_class} {split} images of {name!r}, found {len(found)}")
        return torch.from_numpy(release.data[torch.cat(indices).numpy()]).permute(0, 3, 1, 2)
    paths = []
    for name in classes:
        folder = root / split / name
        found = len(list(folder.glob("*.png"))) if folder.is_dir() else 0
        if found != per_class:
            raise ValueError(f"expected {per_class} {split} images of {name!r} in {folder}, found {found}")
        paths += [folder / f"{rank:05d}.png" for rank in range(per_class)]
    return torch.from_numpy(np.stack([_read_png(path) for path in paths])).permute(0, 3, 1, 2)


def _read_png(path: Path) -> np.ndarray:
    """One 32×32 RGB image as an (32, 32, 3) uint8 array; errors name the file."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise FileNotFoundError(f"missing image {path}") from None
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
        raise FileNotFoundError(NO_DATA.format(root=root)) from error


def _resize(images: Tensor, size: int) -> Tensor:
    """Resize a uint8 batch to size×size with antialiasing in one call (the same pixels as torchvision's resize)."""
    if images.shape[-1] == size:
        return images.contiguous()
    return nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


def _split_and_normalise(prepared: dict[str, Tensor], classes: tuple[str, ...], n_val: int, seed: int) -> Cifar2:
    """Stratified seeded train/val split, per-channel statistics from train only, float32 normalisation."""
    images, labels = prepared["train_images"], prepared["train_labels"]
    generator = torch.Generator().manual_seed(seed)
    val_mask = torch.zeros(len(labels), dtype=torch.bool)
    for label in (0, 1):
        members = torch.nonzero(labels == label).flatten()
        val_mask[members[torch.randperm(len(members), generator=generator)[: n_val // 2]]] = True
    raw = {"train": images[~val_mask], "val": images[val_mask], "test": prepared["test_images"]}
    targets = {"train": labels[~val_mask], "val": labels[val_mask], "test": prepared["test_labels"]}
    # Exact in float64: the pixels are multiples of 1/255, and the statistics are the mean and unbiased std.
    pixels = raw["train"].double().div(255).transpose(0, 1).reshape(3, -1)
    mean, std = pixels.mean(dim=1).float(), pixels.std(dim=1).float()
    shift, scale = mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)
    splits = {
        name: TensorDataset(x.float().div_(255).sub_(shift).div_(scale), targets[name]) for name, x in raw.items()
    }
    return Cifar2(**splits, mean=mean, std=std, classes=classes, raw=raw)


class TensorLoader:
    """Batches sliced from in-memory tensors, reshuffled each epoch by the loader's own generator."""

    def __init__(self, dataset: TensorDataset, batch_size: int, shuffle: bool, seed: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.inputs, self.targets = dataset.tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
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


def make_loader(dataset: TensorDataset, batch_size: int = 256, shuffle: bool = True, seed: int = SEED) -> TensorLoader:
    """The loader every training and evaluation uses; two made alike yield the same batches."""
    return TensorLoader(dataset, batch_size, shuffle, seed)


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------


def identity(z: Tensor) -> Tensor:
    """f(z) = z."""
    return z


def d_identity(z: Tensor) -> Tensor:
    """f'(z) = 1."""
    return torch.ones_like(z)


def d_tanh(z: Tensor) -> Tensor:
    """tanh'(z) = 1 − tanh(z)²."""
    return 1 - torch.tanh(z) ** 2


def d_relu(z: Tensor) -> Tensor:
    """relu'(z) = 1 where z > 0, else 0."""
    return (z > 0).to(z.dtype)


def d_sigmoid(z: Tensor) -> Tensor:
    """sigmoid'(z) = σ(z)(1 − σ(z))."""
    s = torch.sigmoid(z)
    return s * (1 - s)


ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "tanh": (torch.tanh, d_tanh),
    "relu": (torch.relu, d_relu),
    "sigmoid": (torch.sigmoid, d_sigmoid),
    "identity": (identity, d_identity),
}


class MyNet(nn.Module):
    """A fully connected net whose forward pass keeps z and a for backpropagation by hand."""

    def __init__(self, n_l: Sequence[int], activation: str | Sequence[str] = "tanh") -> None:
        super().__init__()
        self.n_l = list(n_l)
        self.L = len(self.n_l) - 1
        if self.L < 1 or any(width < 1 for width in self.n_l):
            raise ValueError(f"n_l needs at least two positive widths, got {self.n_l}")
        names = [activation] * self.L if isinstance(activation, str) else list(activation)
        if len(names) != self.L:
            raise ValueError(f"{self.L} layers need {self.L} activations, got {len(names)}")
        for name in names:
            if name not in ACTIVATIONS:
                raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
        self.activations = names
        self.fc = nn.ModuleDict({str(l): nn.Linear(self.n_l[l - 1], self.n_l[l]) for l in range(1, self.L + 1)})
        self.f = {l: ACTIVATIONS[names[l - 1]][0] for l in range(1, self.L + 1)}
        self.df = {l: ACTIVATIONS[names[l - 1]][1] for l in range(1, self.L + 1)}
        self.z: dict[int, Tensor] = {}
        self.a: dict[int, Tensor] = {}
        self.dL_dw: dict[int, Tensor] = {}
        self.dL_db: dict[int, Tensor] = {}

    def forward(self, x: Tensor) -> Tensor:
        """Flatten x to (batch, -1), run every layer and cache z[l] and a[l]."""
        self.a[0] = torch.flatten(x, 1)
        for l in range(1, self.L + 1):
            self.z[l] = self.fc[str(l)](self.a[l - 1])
            self.a[l] = self.f[l](self.z[l])
        return self.a[self.L]


class MyMLP(nn.Module):
    """The project's classifier: 768 → 128 → 32 → 2 with ReLU after each hidden layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(768, 128)
        self.fc2 = nn.Linear(128, 32)
        self.fc3 = nn.Linear(32, 2)

    def forward(self, x: Tensor) -> Tensor:
        """Logits for a batch of images; CrossEntropyLoss applies the softmax."""
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


# ---------------------------------------------------------------------------
# Backpropagation and gradient check
# ---------------------------------------------------------------------------


def backpropagation(model: nn.Module, y_true: Tensor, y_pred: Tensor) -> None:
    """Fill model.dL_dw and model.dL_db for L = Σ (y_true − y_pred)², without autograd.

    y_true may have any shape that broadcasts to y_pred's, as the loss broadcasts it: the course's MNIST
    test passes targets of shape (1, 1) against outputs of shape (1, 10).

    With δ[l] = ∂L/∂z[l], a batch of B rows, and ⊙ the elementwise product:
        δ[L]     = 2 (y_pred − y_true) ⊙ f'_L(z[L])             (B, n_L)
        δ[l]     = (δ[l+1] W[l+1]) ⊙ f'_l(z[l])                 (B, n_l)
        ∂L/∂W[l] = δ[l]ᵀ a[l−1]                                 (n_l, n_{l−1})
        ∂L/∂b[l] = Σ over the batch of δ[l]                     (n_l,)
    """
    L = model.L
    if L not in model.z:
        raise ValueError("run model(x) before backpropagation: the forward caches z and a are empty")
    expected = tuple(model.z[L].shape)
    if tuple(y_pred.shape) != expected:
        raise ValueError(f"y_pred has shape {tuple(y_pred.shape)}, expected {expected} (the output z[L])")
    if not _broadcasts_to(y_true.shape, y_pred.shape):
        raise ValueError(
            f"y_true has shape {tuple(y_true.shape)}, expected {expected} or a shape that broadcasts to it"
        )
    with torch.no_grad():
        delta = 2 * (y_pred - y_true) * model.df[L](model.z[L])
        for l in range(L, 0, -1):
            model.dL_dw[l] = delta.T @ model.a[l - 1]
            model.dL_db[l] = delta.sum(dim=0)
            if l > 1:
                delta = (delta @ model.fc[str(l)].weight) * model.df[l - 1](model.z[l - 1])


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    """True when a tensor of `shape` broadcasts against one of `target` without enlarging it."""
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False


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
    for i in range(flat_parameter.numel()):
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
    """Per-layer relative errors between finite differences and backprop, and the verdict."""

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
    eps: float = 1e-6,
    tolerance: float = 1e-6,
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

        errors = {}
        for l in range(1, model.L + 1):
            layer = model.fc[str(l)]
            errors[l] = {
                "weight": relative_error(numerical_gradient(loss, layer.weight, eps), model.dL_dw[l]),
                "bias": relative_error(numerical_gradient(loss, layer.bias, eps), model.dL_db[l]),
            }
    return GradientCheck(errors, tolerance)


def compare_with_autograd(model: nn.Module, x: Tensor, y_true: Tensor) -> dict[int, dict[str, float]]:
    """Relative error per layer between `backpropagation` and Tensor.backward() on the same batch."""
    model.zero_grad()
    y_pred = model(x)
    sum_squared_error(y_true, y_pred).backward()
    backpropagation(model, y_true, y_pred)
    return {
        l: {
            "weight": relative_error(model.dL_dw[l], model.fc[str(l)].weight.grad),
            "bias": relative_error(model.dL_db[l], model.fc[str(l)].bias.grad),
        }
        for l in range(1, model.L + 1)
    }


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


class NonFiniteLossError(FloatingPointError):
    """Raised when the training loss becomes NaN or infinite."""


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
    """Train with a torch optimizer; return the mean training loss of each epoch.

    `after_epoch`, when given, is called with the model after every epoch (to record its validation accuracy).
    """
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
        b   ← g  at the first step,  else  b ← momentum · b + g,  then  g ← b      when momentum ≠ 0
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
                raise NonFiniteLossError(
                    f"loss is {loss_value} at epoch {epoch}, batch {batch}: training diverged "
                    "(try a smaller learning rate)"
                )
            update(loss)
            loss_sum += loss_value * len(targets)
            sample_count += len(targets)
        epoch_losses.append(loss_sum / sample_count)
        if after_epoch is not None:
            after_epoch(model)
    return epoch_losses


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


def predictions(model: nn.Module, loader: TensorLoader) -> tuple[Tensor, Tensor]:
    """Predicted and true labels over a whole loader."""
    model.eval()
    predicted, true = [], []
    with torch.no_grad():
        for inputs, targets in loader:
            predicted.append(model(inputs).argmax(dim=1))
            true.append(targets)
    return torch.cat(predicted), torch.cat(true)


def accuracy(model: nn.Module, loader: TensorLoader) -> float:
    """Fraction of correctly classified samples."""
    predicted, true = predictions(model, loader)
    return (predicted == true).double().mean().item()


def confusion_matrix(model: nn.Module, loader: TensorLoader, n_classes: int = 2) -> Tensor:
    """Counts with rows = true class and columns = predicted class."""
    predicted, true = predictions(model, loader)
    return torch.bincount(true * n_classes + predicted, minlength=n_classes**2).view(n_classes, n_classes)


# ---------------------------------------------------------------------------
# The study: five SGD configurations, each trained with torch and by hand
# ---------------------------------------------------------------------------

CONFIGS = (
    {"name": "Model 1", "lr": 0.01, "momentum": 0.0, "weight_decay": 0.0},
    {"name": "Model 2", "lr": 0.01, "momentum": 0.0, "weight_decay": 0.01},
    {"name": "Model 3", "lr": 0.01, "momentum": 0.85, "weight_decay": 0.0},
    {"name": "Model 4", "lr": 0.01, "momentum": 0.85, "weight_decay": 0.01},
    {"name": "Model 5", "lr": 0.05, "momentum": 0.85, "weight_decay": 0.01},
)


def sgd_settings(config: dict) -> dict:
    """The learning rate, momentum and weight decay of a configuration, as torch.optim.SGD takes them."""
    return {key: config[key] for key in ("lr", "momentum", "weight_decay")}


def train_config(
    config: dict,
    data: Cifar2,
    trainer: str = "sgd",
    n_epochs: int = 30,
    batch_size: int = 256,
    seed: int = SEED,
    val_per_epoch: bool = True,
) -> tuple[dict, nn.Module]:
    """Train one configuration from torch.manual_seed(seed), with torch.optim.SGD ('sgd') or by hand ('manual').

    The seed sets both the initial weights and the batch order. Returns the per-epoch losses, the final train and
    validation accuracy, the validation accuracy after every epoch when `val_per_epoch`, and the model.
    """
    if trainer not in ("sgd", "manual"):
        raise ValueError(f"trainer must be 'sgd' or 'manual', got {trainer!r}")
    torch.manual_seed(seed)
    model = MyMLP()
    train_loader = make_loader(data.train, batch_size, shuffle=True, seed=seed)
    val_loader = make_loader(data.val, batch_size=len(data.val), shuffle=False)
    val_accuracies: list[float] = []

    def record_val_accuracy(model: nn.Module) -> None:
        val_accuracies.append(accuracy(model, val_loader))

    after_epoch, settings = record_val_accuracy if val_per_epoch else None, sgd_settings(config)
    if trainer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), **settings)
        losses = train(n_epochs, optimizer, model, nn.CrossEntropyLoss(), train_loader, after_epoch=after_epoch)
    else:
        losses = train_manual_update(
            n_epochs, model, nn.CrossEntropyLoss(), train_loader, **settings, after_epoch=after_epoch
        )
    run = {
        "train_loss": losses,
        "train_acc": accuracy(model, make_loader(data.train, batch_size=len(data.train), shuffle=False)),
        "val_acc": val_accuracies[-1] if val_per_epoch else accuracy(model, val_loader),
    }
    if val_per_epoch:
        run["val_acc_per_epoch"] = val_accuracies
    return run, model


def compare_runs(sgd: tuple[dict, nn.Module], manual: tuple[dict, nn.Module]) -> dict:
    """Largest parameter and loss differences between two runs, and whether they are bitwise identical."""
    (sgd_run, sgd_model), (manual_run, manual_model) = sgd, manual
    pairs = list(zip(sgd_model.parameters(), manual_model.parameters(), strict=True))
    losses = list(zip(sgd_run["train_loss"], manual_run["train_loss"], strict=True))
    return {
        "max_param_diff": max((p - q).abs().max().item() for p, q in pairs),
        "max_loss_diff": max(abs(p - q) for p, q in losses),
        "bitwise_identical": all(torch.equal(p, q) for p, q in pairs) and all(p == q for p, q in losses),
    }


def train_both(
    config: dict, data: Cifar2, n_epochs: int = 30, batch_size: int = 256, seed: int = SEED
) -> tuple[dict, nn.Module]:
    """Train one configuration with torch.optim.SGD and by hand from the same start; compare them."""
    sgd = train_config(config, data, "sgd", n_epochs, batch_size, seed)
    manual = train_config(config, data, "manual", n_epochs, batch_size, seed)
    record = {**config, "sgd": sgd[0], "manual": manual[0], **compare_runs(sgd, manual)}
    return record, sgd[1]


# ---------------------------------------------------------------------------
# Uncertainty: intervals, paired tests and the seed study
# ---------------------------------------------------------------------------

STUDY_SEEDS = (SEED, 1, 2, 3, 4)
Z_95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for the proportion successes / n (95% for the default z)."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got successes={successes}, n={n}")
    p = successes / n
    shrink = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / shrink
    half_width = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / shrink
    return centre - half_width, centre + half_width


def accuracy_interval(accuracy: float, n: int) -> tuple[float, float]:
    """Wilson 95% interval of an accuracy measured on n samples."""
    return wilson_interval(round(accuracy * n), n)


def exact_mcnemar_p(only_first_right: int, only_second_right: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against a fair coin."""
    n = only_first_right + only_second_right
    smaller = min(only_first_right, only_second_right)
    tail = sum(math.comb(n, k) for k in range(smaller + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_test(name: str, selected_correct: Tensor, other_correct: Tensor) -> dict:
    """Exact McNemar test of the selected model against another one on the same images (boolean per image)."""
    only_selected_right = int((selected_correct & ~other_correct).sum())
    only_other_right = int((other_correct & ~selected_correct).sum())
    return {
        "name": name,
        "only_selected_right": only_selected_right,
        "only_other_right": only_other_right,
        "p_value": exact_mcnemar_p(only_selected_right, only_other_right),
    }


def seed_study(
    data: Cifar2, records: list[dict], seeds: Sequence[int] = STUDY_SEEDS, n_epochs: int = 30, batch_size: int = 256
) -> dict:
    """Every configuration of `records` trained with torch.optim.SGD under each seed; the runs at SEED are reused.

    A model wins a seed when no other model has a higher validation accuracy at that seed (ties all win).
    """
    runs = {record["name"]: {SEED: record["sgd"]} for record in records}
    for seed in seeds:
        for record in records:
            if seed not in runs[record["name"]]:
                runs[record["name"]][seed] = train_config(record, data, "sgd", n_epochs, batch_size, seed, False)[0]
        print(f"seed {seed}: " + ", ".join(f"{name} {runs[name][seed]['val_acc']:.3f}" for name in runs))
    best = {seed: max(runs[name][seed]["val_acc"] for name in runs) for seed in seeds}
    models = [
        {
            "name": name,
            "val_acc": [by_seed[seed]["val_acc"] for seed in seeds],
            "train_acc": [by_seed[seed]["train_acc"] for seed in seeds],
            "final_train_loss": [by_seed[seed]["train_loss"][-1] for seed in seeds],
            "wins": sum(by_seed[seed]["val_acc"] == best[seed] for seed in seeds),
        }
        for name, by_seed in runs.items()
    ]
    return {"seeds": list(seeds), "models": models}


def save_results(results: dict, path: str | os.PathLike) -> None:
    """Write the results as indented JSON, the same bytes for the same numbers."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(results, indent=2) + "\n")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table of already formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


# ---------------------------------------------------------------------------
# Plots: each returns its Figure and saves it when given a path
# ---------------------------------------------------------------------------

# Every figure reads in greyscale and for colour-blind readers. The trainers: SGD a wide grey line or grey bar, the
# manual update a thin black dashed line drawn on top (both show where they coincide) or a white hatched bar. The
# data splits are greys; the five models are Okabe-Ito hues, each with its own marker and line style too.
TRAINER_STYLE = {
    "sgd": ("torch.optim.SGD", {"color": "#999999", "lw": 5}, {"color": "#999999"}),
    "manual": ("manual update", {"color": "black", "lw": 1.3, "ls": "--"}, {"color": "white", "hatch": "///"}),
}
SPLIT_COLORS = {"train": "#404040", "val": "#8C8C8C", "test": "#CFCFCF"}
MODEL_STYLES = (
    ("#E69F00", "o", "-"),
    ("#56B4E9", "s", "--"),
    ("#009E73", "^", "-."),
    ("#0072B2", "D", ":"),
    ("#CC79A7", "v", (0, (5, 1, 1, 1))),
)
# Printed about 16 cm wide, a figure at most 7.5 inches wide keeps 10.5 pt text above 8 pt on paper. Set for the
# whole session: a per-figure rc_context would, on exit, switch off the interactive mode that Jupyter's inline backend
# turns on when the first figure is drawn, and the next figures would not show.
plt.rcParams.update({"font.size": 10.5, "axes.titlesize": "medium"})


def model_style(index: int) -> dict:
    """Colour, marker and line style of the model at `index`, the same in every figure."""
    color, marker, linestyle = MODEL_STYLES[index % len(MODEL_STYLES)]
    return {"color": color, "marker": marker, "linestyle": linestyle}


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    """Lay out the figure and save it as PNG when a path is given."""
    fig.tight_layout()
    fig.tight_layout()  # again, as a legend placed below its axes moves up when the first pass shrinks them
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, metadata={"Software": None})
    return fig


def _trainer_verdict(models: list[dict]) -> str:
    """What the records say of the two trainers: bitwise identical or not, and their largest difference."""
    identical = all(model["bitwise_identical"] for model in models)
    largest = max(max(model["max_param_diff"], model["max_loss_diff"]) for model in models)
    return f"SGD and manual runs {'bitwise identical' if identical else 'differ'} (largest difference {largest:g})"


def plot_samples(data: Cifar2, n_per_class: int = 6, path: str | os.PathLike | None = None) -> Figure:
    """Training images of each class as stored, after normalisation, and the pixel histograms of both."""
    from torchvision.utils import make_grid

    labels = data.train.tensors[1]
    chosen = torch.cat([torch.nonzero(labels == c).flatten()[:n_per_class] for c in (0, 1)])
    # A fixed window of ±2.5 standard deviations shows normalised pixels without per-image stretching.
    window = ((data.train.tensors[0][chosen] + 2.5) / 5).clamp(0, 1)
    mosaic = make_grid(torch.cat([data.raw["train"][chosen] / 255, window]), nrow=len(chosen), pad_value=1)
    fig = plt.figure(figsize=(7.5, 5.2))
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 2.2])
    axis = fig.add_subplot(grid[0, :])
    axis.imshow(mosaic.permute(1, 2, 0).numpy(), interpolation="nearest")
    cell = window.shape[-1] + 2  # make_grid pads each image by 2 pixels
    axis.set_xticks([cell * n_per_class * (c + 0.5) for c in (0, 1)], data.classes)
    axis.set_yticks([cell * (r + 0.5) for r in (0, 1)], ["as stored", "normalised,\n±2.5σ"])
    axis.xaxis.tick_top()
    axis.tick_params(length=0)
    axis.set_frame_on(False)
    # Colour means trainer, split or model in the other figures, so the channels are told apart by line style.
    channels = (("red", "-"), ("green", "--"), ("blue", ":"))
    histograms = {"pixel as stored (0–1)": data.raw["train"] / 255, "normalised pixel": data.train.tensors[0]}
    for index, (title, pixels) in enumerate(histograms.items()):
        axis = fig.add_subplot(grid[1, index], sharey=axis if index else None)
        for channel, (name, linestyle) in enumerate(channels):
            values = pixels[:, channel].flatten().numpy()
            axis.hist(values, bins=64, histtype="step", color="black", linestyle=linestyle, label=name)
        axis.set_xlabel(f"{title}, all training images")
        axis.set_ylabel("pixels per bin (thousands)")
        axis.yaxis.set_major_formatter(lambda count, _: f"{count / 1000:g}")
        axis.label_outer()
    axis.legend(title="channel")
    return _finish(fig, path)


def plot_gradient_check(
    checks: dict[str, GradientCheck], network: str = "the network", path: str | os.PathLike | None = None
) -> Figure:
    """Relative error per layer and parameter, on a log scale, one marker style per gradient check of one network."""
    fig, axis = plt.subplots(figsize=(7.5, 3.6))
    for offset, (label, check) in enumerate(checks.items()):
        names = [f"{'W' if kind == 'weight' else 'b'}{l}" for l, errors in check.errors.items() for kind in errors]
        values = [max(error, 1e-17) for errors in check.errors.values() for error in errors.values()]
        face = "black" if offset % 2 == 0 else "white"
        shift = 0.12 * (offset - (len(checks) - 1) / 2)  # side by side, so equal errors do not hide each other
        axis.plot(np.arange(len(names)) + shift, values, "osD^v"[offset % 5], ms=8, mfc=face, c="black", label=label)
    axis.set_xticks(range(len(names)), names)
    tolerance = next(iter(checks.values())).tolerance
    axis.axhline(tolerance, color="black", linestyle=":", label=f"tolerance $10^{{{math.log10(tolerance):.0f}}}$")
    axis.set_yscale("log")
    axis.set_xlabel("parameter: weights W or biases b of layer 1, 2, …")
    axis.set_ylabel("relative error vs\nfinite differences")
    axis.set_title(f"Gradient check of {network}\nbackprop vs central differences, float64")
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=len(checks) + 1)
    return _finish(fig, path)


def plot_accuracies(models: list[dict], path: str | os.PathLike | None = None) -> Figure:
    """Train and validation accuracy of each model: SGD filled, the manual update an open marker on top of it."""
    fig, axis = plt.subplots(figsize=(7.5, 4))
    positions = np.arange(len(models))
    for split, name, marker, side in (("train", "train", "o", -1), ("val", "validation", "s", 1)):
        x = positions + 0.15 * side
        sgd, manual = ([model[trainer][f"{split}_acc"] for model in models] for trainer in ("sgd", "manual"))
        axis.plot(x, sgd, marker, ms=10, ls="none", c=SPLIT_COLORS[split], label=f"{name}, torch.optim.SGD")
        axis.plot(x, manual, marker, ms=10, ls="none", mfc="none", mew=1.5, c="black", label=f"{name}, manual (ring)")
        for xy in zip(x, sgd, strict=True):
            axis.annotate(f"{xy[1]:.3f}", xy, (25 * side, 0), textcoords="offset points", va="center", ha="center")
    axis.set_xticks(positions, [model["name"] for model in models])
    axis.set_xlim(-0.8, len(models) - 0.2)
    axis.margins(y=0.12)
    axis.grid(axis="y", color="#DDDDDD")
    axis.set_ylabel("accuracy (zoomed)")
    axis.set_title(_trainer_verdict(models))
    axis.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _finish(fig, path)


def plot_final_losses(models: list[dict], path: str | os.PathLike | None = None) -> Figure:
    """Training loss after the last epoch, SGD (grey bars) vs manual update (white hatched bars)."""
    fig, axis = plt.subplots(figsize=(7.5, 4))
    positions = np.arange(len(models))
    for offset, (trainer, (label, _, bar)) in enumerate(TRAINER_STYLE.items()):
        values = [model[trainer]["train_loss"][-1] for model in models]
        bars = axis.bar(positions + offset * 0.4, values, 0.4, label=label, edgecolor="black", **bar)
        axis.bar_label(bars, fmt="%.3f", padding=2)
    axis.set_xticks(positions + 0.2, [model["name"] for model in models])
    axis.margins(y=0.1)
    axis.set_ylabel("mean cross-entropy, last epoch")
    axis.set_title(f"Final training loss per model\n{_trainer_verdict(models)}")
    axis.legend()
    return _finish(fig, path)


def plot_loss_panels(models: list[dict], path: str | os.PathLike | None = None) -> Figure:
    """Training loss per epoch, one panel per model; the thin dashed manual curve is drawn over the wide SGD one."""
    n_rows = math.ceil((len(models) + 1) / 3)
    fig, axes = plt.subplots(n_rows, 3, figsize=(7.5, 2.5 * n_rows), sharey=True, squeeze=False)
    panels = axes.flatten()
    for axis, model in zip(panels, models, strict=False):
        for trainer, (label, line, _) in TRAINER_STYLE.items():
            losses = model[trainer]["train_loss"]
            axis.plot(range(1, len(losses) + 1), losses, label=label, **line)
        axis.set_title(model["name"])
        axis.set_xlabel("epoch")
        axis.text(0.95, 0.88, f"max |Δ loss| = {model['max_loss_diff']}", transform=axis.transAxes, ha="right")
    for row in axes:
        row[0].set_ylabel("mean training loss")
    handles, labels = panels[0].get_legend_handles_labels()
    for spare in panels[len(models) :]:
        spare.axis("off")
    panels[-1].legend(handles, labels, loc="center", title="trainer")
    return _finish(fig, path)


def plot_loss_curves(models: list[dict], path: str | os.PathLike | None = None) -> Figure:
    """The training loss curves of all models together, on a log scale labelled in plain decimals."""
    fig, axis = _plot_per_epoch(models, "train_loss", "mean training loss (log scale)")
    axis.set_yscale("log")
    axis.yaxis.set_major_locator(plt.LogLocator(subs=(1, 2, 5)))
    axis.yaxis.set_major_formatter("{x:g}")
    axis.yaxis.set_minor_formatter(plt.NullFormatter())
    return _finish(fig, path)


def plot_val_accuracy_curves(
    models: list[dict], selected_name: str | None = None, baseline: float = 0.5, path: str | os.PathLike | None = None
) -> Figure:
    """Validation accuracy after each epoch, zoomed past the first epochs; the last, which selection uses, is marked."""
    label = f"validation accuracy\n(majority-class baseline {baseline:.3f})"
    fig, axis = _plot_per_epoch(models, "val_acc_per_epoch", label)
    curves = [model["sgd"]["val_acc_per_epoch"] for model in models]
    settled = [value for values in curves for value in values[len(values) // 6 :]]
    low, high = min(settled), max(settled)
    axis.set_ylim(low - 0.08 * (high - low) - 1e-3, high + 0.08 * (high - low) + 1e-3)
    ends = [values[-1] for values in curves]
    for index, (model, values) in enumerate(zip(models, curves, strict=True)):
        style = model_style(index)
        # End markers on (nearly) the same value are set side by side, so none hides another.
        x = len(values) + 0.8 * sum(abs(end - ends[index]) < (high - low) / 15 for end in ends[:index])
        axis.plot(x, values[-1], style["marker"], color=style["color"], ms=9, mec="black", zorder=3)
        if model["name"] == selected_name:
            text = f"selected: {selected_name}\nlast epoch {values[-1]:.3f}"
            where = {"textcoords": "axes fraction", "ha": "center", "arrowprops": {"arrowstyle": "->", "shrinkB": 7}}
            axis.annotate(text, (x, values[-1]), (0.75, 0.05), **where)
    return _finish(fig, path)


def _plot_per_epoch(models: list[dict], key: str, ylabel: str) -> tuple[Figure, plt.Axes]:
    """One curve per model of a per-epoch series of the SGD run, each model in its own style."""
    fig, axis = plt.subplots(figsize=(7.5, 4.8))
    for index, model in enumerate(models):
        values = model["sgd"][key]
        label = f"{model['name']} (η {model['lr']}, μ {model['momentum']}, λ {model['weight_decay']})"
        axis.plot(range(1, len(values) + 1), values, label=label, markevery=5, **model_style(index))
    axis.set_xlabel("epoch")
    axis.set_ylabel(ylabel)
    axis.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return fig, axis


def plot_selected_accuracy(selected: dict, sizes: dict[str, int], path: str | os.PathLike | None = None) -> Figure:
    """The selected model's accuracy: validation and test with 95% Wilson intervals (on `sizes` images), train bare."""
    fig, axis = plt.subplots(figsize=(6, 3.8))
    for x, split in enumerate(("train", "val", "test")):
        value = selected[f"{split}_acc"]
        error, label = None, f"{value:.4f}"
        if split != "train":  # the model was fitted on the training images: an interval there would mislead
            low, high = accuracy_interval(value, sizes[split])
            error, label = [[value - low], [high - value]], f"{label}\n[{low:.3f}, {high:.3f}]"
        axis.errorbar(x, value, error, fmt="os"[x > 0], ms=9, capsize=6, color="black", mfc=SPLIT_COLORS[split])
        axis.annotate(label, (x, value), xytext=(12, 0), textcoords="offset points", va="center")
    axis.set_xticks(range(3), ["train\n(fitted on; no interval)", "validation", "test"])
    axis.set_xlim(-0.4, 2.9)
    axis.margins(y=0.15)
    axis.set_ylabel("accuracy (zoomed),\n95% Wilson interval")
    axis.set_title(f"{selected['name']}, selected on validation")
    return _finish(fig, path)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str, path: str | os.PathLike | None = None
) -> Figure:
    """A confusion matrix as a heatmap from 0, rows true and columns predicted, with counts and row percentages."""
    import seaborn as sns

    counts = np.asarray(matrix)
    rows = counts.sum(axis=1, keepdims=True)
    labels = np.vectorize(lambda count, share: f"{count}\n({share:.1%} of row)")(counts, counts / rows)
    fig, axis = plt.subplots(figsize=(5, 4))
    ticks = {"xticklabels": classes, "yticklabels": classes}
    sns.heatmap(counts, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=rows.max(), ax=axis, **ticks)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title, fontsize=10)
    return _finish(fig, path)


def plot_seed_study(study: dict, selected_name: str, path: str | os.PathLike | None = None) -> Figure:
    """Each seed's validation accuracy per model as dots, the main run (first seed) ringed, and the mean ± std."""
    fig, axis = plt.subplots(figsize=(7.5, 4.2))
    names = []
    for index, model in enumerate(study["models"]):
        style = model_style(index)
        values = model["val_acc"]
        offsets = index + np.linspace(-0.3, 0.1, len(values))
        axis.scatter(offsets, values, color=style["color"], marker=style["marker"], edgecolor="black", lw=0.5, zorder=3)
        main = f"seed {study['seeds'][0]}: the main run" if index == 0 else "_"
        axis.scatter(offsets[0], values[0], s=120, facecolor="none", edgecolor="black", lw=1.5, label=main)
        mean, std = statistics.mean(values), statistics.stdev(values)
        label = "mean ± std (under each name)" if index == 0 else "_"
        axis.errorbar(index + 0.3, mean, yerr=std, fmt="_", color="black", ms=14, capsize=4, label=label)
        chosen = "\n(selected)" if model["name"] == selected_name else ""
        names.append(f"{model['name']}\n{mean:.3f} ± {std:.3f}{chosen}")
    axis.set_xticks(range(len(names)), names)
    axis.set_ylabel("validation accuracy, last epoch")
    axis.set_title(f"{len(study['seeds'])} seeds per model (SGD)")
    axis.legend(ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.27))
    return _finish(fig, path)
