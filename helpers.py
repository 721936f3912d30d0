"""Backpropagation and gradient descent by hand, on CIFAR-10 cars vs cats.

The module reads top to bottom in sections: reproducible numerics, data,
networks, backpropagation and gradient check, training, evaluation, the study,
uncertainty, plots. The notebooks `backprop.ipynb` and `project1.ipynb` call
it; the tests in `tests/` check it.
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import itertools
import json
import math
import os
import pickle
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
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
TRAIN_PER_CLASS = 5000
TEST_PER_CLASS = 1000
SPLIT_SIZES = {"train": 9000, "val": 1000, "test": 2000}  # what load_cifar2 gives with its defaults
PROJECT_DIR = Path(__file__).resolve().parent
CACHE_DIR = PROJECT_DIR / ".cache"
FIGURES_DIR = PROJECT_DIR / "figures"
CACHE_FORMAT = 1


# ---------------------------------------------------------------------------
# Reproducible numerics
# ---------------------------------------------------------------------------

# MKL, the BLAS inside torch's CPU build, picks its matrix-product kernels per CPU, and 30 epochs of training turn
# last-bit differences into different models. Its Conditional Numerical Reproducibility mode fixes the kernels;
# MKL reads MKL_CBWR at its first call, so it is set here, before torch has run any matrix product.
# A value the user set wins.
PINNED_MKL_MODE = "AVX2,STRICT"
os.environ.setdefault("MKL_CBWR", PINNED_MKL_MODE)

MKL_BRANCHES = {1: "OFF", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 8: "SSE4_2", 9: "AVX", 10: "AVX2", 12: "AVX512"}
MKL_STRICT_FLAG = 0x10000


class NumericsWarning(UserWarning):
    """Issued once when this process's numbers cannot be pinned to the committed ones."""


def mkl_numerics_mode() -> str:
    """The reproducibility mode MKL runs in, as it reports it (e.g. 'AVX2,STRICT'), 'no MKL' or 'unknown'."""
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


def numerics_pinned(mode: str) -> bool:
    """True when MKL runs a fixed, thread-count independent code path (a STRICT mode other than OFF)."""
    return mode.endswith(",STRICT") and not mode.startswith("OFF")


def _warn_unless_pinned(mode: str) -> None:
    """Say once, in one line, what it means when the numerics could not be pinned."""
    if mode == "no MKL":
        message = "this torch has no MKL (e.g. ARM): numbers are reproducible on this machine only"
    elif mode == "unknown":
        message = "cannot read MKL's reproducibility mode back: numbers may differ from the committed ones"
    elif not numerics_pinned(mode):
        message = (
            f"MKL runs in mode {mode}, not pinned: a matrix product ran before helpers was imported, or MKL_CBWR "
            f"was set otherwise. Restart the kernel and import helpers first (or set MKL_CBWR={PINNED_MKL_MODE})"
        )
    else:
        return
    warnings.warn(message, NumericsWarning, stacklevel=3)


NUMERICS_MODE = mkl_numerics_mode()
_warn_unless_pinned(NUMERICS_MODE)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cifar2:
    """The two-class data set: normalised splits plus what is needed to show raw images."""

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    mean: Tensor
    std: Tensor
    classes: tuple[str, ...]
    raw: dict[str, Tensor]
    layout: str

    def denormalize(self, x: Tensor) -> Tensor:
        """Map normalised images back to [0, 1] pixel values."""
        return x * self.std.view(1, 3, 1, 1) + self.mean.view(1, 3, 1, 1)


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
    classes = _check_classes(classes)
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if n_val < 2 or n_val % 2 or n_val >= 2 * TRAIN_PER_CLASS:
        raise ValueError(f"n_val must be even and between 2 and {2 * TRAIN_PER_CLASS - 2}, got {n_val}")
    root = Path(root if root is not None else os.environ.get("CIFAR10_ROOT", "data"))
    layout = _find_layout(root, download)
    prepared = _prepared_images(root, layout, classes, size, download, cache_dir)
    return _split_and_normalise(prepared, classes, n_val, seed, layout)


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    """Return the class names as a tuple after checking they are two distinct CIFAR-10 names."""
    classes = tuple(classes)
    unknown = [name for name in classes if name not in CIFAR10_CLASSES]
    if unknown:
        raise ValueError(f"unknown class {unknown[0]!r}; valid names are {', '.join(CIFAR10_CLASSES)}")
    if len(classes) != 2 or classes[0] == classes[1]:
        raise ValueError(f"give two different class names, got {classes}")
    return classes


def _find_layout(root: Path, download: bool) -> str:
    """Say which layout the root holds: 'official release' or 'PNG tree'."""
    if (root / "cifar-10-batches-py").is_dir():
        return "official release"
    if (root / "train").is_dir() and (root / "test").is_dir():
        return "PNG tree"
    if not download:
        raise FileNotFoundError(_no_data_message(root))
    _open_official_release(root, "test", download=True)
    return "official release"


def _no_data_message(root: Path) -> str:
    """The one message for 'no data here and nothing downloaded'."""
    return (
        f"No CIFAR-10 data under {root} and no download was possible. Give one of two layouts: "
        "the official python release (cifar-10-batches-py/, which torchvision downloads when "
        "download=True and the network allows), or a PNG tree train/<class>/NNNNN.png and "
        "test/<class>/NNNNN.png. Point the root argument or the CIFAR10_ROOT environment "
        "variable at the folder that holds it."
    )


def _prepared_images(
    root: Path,
    layout: str,
    classes: tuple[str, ...],
    size: int,
    download: bool,
    cache_dir: str | os.PathLike | None,
) -> dict[str, Tensor]:
    """Resized uint8 images and labels of both splits, from the cache when it is fresh."""
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"cifar2-{size}px-{_cache_key(root, layout, classes, size)}.pt"
        if cache_path.is_file():
            cached = _read_cache(cache_path, size)
            if cached is not None:
                return cached
            warnings.warn(
                f"the prepared-data cache {cache_path.name} is damaged; rebuilding it from the images", stacklevel=3
            )
    prepared = {}
    for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        if layout == "PNG tree":
            images = _read_png_split(root, split, classes, per_class)
        else:
            images = _read_official_split(root, split, classes, per_class, download)
        prepared[f"{split}_images"] = _resize(images, size)
        prepared[f"{split}_labels"] = torch.arange(2).repeat_interleave(per_class)
    if cache_path is not None:
        _save_atomically(prepared, cache_path)
    return prepared


def _cache_key(root: Path, layout: str, classes: tuple[str, ...], size: int) -> str:
    """A short hash of everything the prepared tensors depend on, file times included."""
    root = root.resolve()
    if layout == "PNG tree":
        watched = [root / split / name for split in ("train", "test") for name in classes]
    else:
        watched = sorted((root / "cifar-10-batches-py").glob("*_batch*"))
    stamps = [(str(path), *_stamp(path)) for path in watched]
    description = [CACHE_FORMAT, layout, str(root.resolve()), list(classes), size, stamps]
    return hashlib.sha256(json.dumps(description).encode()).hexdigest()[:16]


def _read_cache(path: Path, size: int) -> dict[str, Tensor] | None:
    """The cached tensors, or None when the file is unreadable or does not hold what a fresh preparation would."""
    try:
        cached = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        return None
    expected = {}
    for split, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        expected[f"{split}_images"] = ((2 * per_class, 3, size, size), torch.uint8)
        expected[f"{split}_labels"] = ((2 * per_class,), torch.int64)
    if not isinstance(cached, dict) or cached.keys() != expected.keys():
        return None
    for key, (shape, dtype) in expected.items():
        if not isinstance(cached[key], Tensor) or cached[key].shape != shape or cached[key].dtype != dtype:
            return None
    return cached


def _stamp(path: Path) -> tuple[int, int]:
    """Modification time and size of a path, or zeros when it does not exist yet."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


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


def _read_png_split(root: Path, split: str, classes: tuple[str, ...], per_class: int) -> Tensor:
    """Decode `per_class` PNGs of each class in canonical order into a (N, 3, 32, 32) uint8 tensor."""
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


def _read_official_split(root: Path, split: str, classes: tuple[str, ...], per_class: int, download: bool) -> Tensor:
    """The images of both classes from the official release, in canonical order."""
    release = _open_official_release(root, split, download)
    targets = torch.tensor(release.targets)
    indices = []
    for name in classes:
        class_indices = torch.nonzero(targets == CIFAR10_CLASSES.index(name)).flatten()
        if len(class_indices) != per_class:
            raise ValueError(f"expected {per_class} {split} images of {name!r}, found {len(class_indices)}")
        indices.append(class_indices)
    return torch.from_numpy(release.data[torch.cat(indices).numpy()]).permute(0, 3, 1, 2)


def _open_official_release(root: Path, split: str, download: bool) -> object:
    """torchvision's CIFAR10 for one split, downloading it when allowed; any failure gets the one clear message."""
    from torchvision.datasets import CIFAR10

    try:
        return CIFAR10(root, train=split == "train", download=download)
    except (OSError, RuntimeError) as error:
        raise FileNotFoundError(_no_data_message(root)) from error


def _resize(images: Tensor, size: int) -> Tensor:
    """Resize a uint8 batch to size×size with antialiasing, in one call.

    torch's uint8 kernel gives the same pixels as torchvision's resize, without importing it.
    """
    if images.shape[-1] == size:
        return images.contiguous()
    return nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True)


def _split_and_normalise(
    prepared: dict[str, Tensor], classes: tuple[str, ...], n_val: int, seed: int, layout: str
) -> Cifar2:
    """Stratified seeded train/val split, statistics from train only, float32 normalisation."""
    images, labels = prepared["train_images"], prepared["train_labels"]
    generator = torch.Generator().manual_seed(seed)
    val_mask = torch.zeros(len(labels), dtype=torch.bool)
    for label in (0, 1):
        members = torch.nonzero(labels == label).flatten()
        chosen = torch.randperm(len(members), generator=generator)[: n_val // 2]
        val_mask[members[chosen]] = True
    raw = {
        "train": images[~val_mask],
        "val": images[val_mask],
        "test": prepared["test_images"],
    }
    targets = {"train": labels[~val_mask], "val": labels[val_mask], "test": prepared["test_labels"]}
    mean, std = _channel_statistics(raw["train"])
    splits = {split: TensorDataset(_normalise(raw[split], mean, std), targets[split]) for split in raw}
    return Cifar2(**splits, mean=mean, std=std, classes=classes, raw=raw, layout=layout)


def _channel_statistics(images: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and (unbiased) std of uint8 images scaled to [0, 1], exact in float64.

    Counting the 256 pixel values per channel gives the sums without a float copy of the images.
    """
    values = torch.arange(256, dtype=torch.float64) / 255
    means, stds = [], []
    for channel in images.unbind(dim=1):
        counts = torch.bincount(channel.flatten(), minlength=256).double()
        n = counts.sum()
        mean = (counts * values).sum() / n
        means.append(mean)
        stds.append(((counts * (values - mean) ** 2).sum() / (n - 1)).sqrt())
    return torch.stack(means).float(), torch.stack(stds).float()


def _normalise(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """(pixels / 255 − mean) / std per channel, as float32, computed in place on one copy."""
    return images.float().div_(255).sub_(mean.view(1, 3, 1, 1)).div_(std.view(1, 3, 1, 1))


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
        if not self.shuffle:
            for start in range(0, n, self.batch_size):
                yield self.inputs[start : start + self.batch_size], self.targets[start : start + self.batch_size]
            return
        order = torch.randperm(n, generator=self.generator)
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
    eval_loaders: dict[str, TensorLoader] | None = None,
    history: dict[str, list[float]] | None = None,
    progress: bool = True,
) -> list[float]:
    """Train with a torch optimizer; return the mean training loss of each epoch."""
    for group in optimizer.param_groups:
        check_hyperparameters(float(group["lr"]), group.get("momentum", 0.0), group.get("weight_decay", 0.0))

    def update(loss: Tensor) -> None:
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return _run_epochs(n_epochs, model, loss_fn, train_loader, update, eval_loaders, history, progress)


def train_manual_update(
    n_epochs: int,
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    train_loader: TensorLoader,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    *,
    eval_loaders: dict[str, TensorLoader] | None = None,
    history: dict[str, list[float]] | None = None,
    progress: bool = True,
) -> list[float]:
    """Train with SGD written out by hand (`manual_sgd_step`); return the mean loss of each epoch."""
    check_hyperparameters(lr, momentum, weight_decay)
    parameters = list(model.parameters())
    momentum_buffers: list[Tensor | None] = [None] * len(parameters)

    def update(loss: Tensor) -> None:
        model.zero_grad()
        loss.backward()
        manual_sgd_step(parameters, momentum_buffers, lr, momentum, weight_decay)

    return _run_epochs(n_epochs, model, loss_fn, train_loader, update, eval_loaders, history, progress)


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
    eval_loaders: dict[str, TensorLoader] | None,
    history: dict[str, list[float]] | None,
    progress: bool,
) -> list[float]:
    """The epoch loop both trainers share; `update` turns one batch loss into a step."""
    if not (isinstance(n_epochs, int) and n_epochs >= 1):
        raise ValueError(f"n_epochs must be a whole number >= 1, got {n_epochs}")
    if eval_loaders and history is None:
        raise ValueError("eval_loaders needs a history dict to record the accuracies in")
    epoch_losses = []
    for epoch in _progress_bar(range(1, n_epochs + 1), progress):
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
        for name, loader in (eval_loaders or {}).items():
            history.setdefault(f"{name}_acc", []).append(accuracy(model, loader))
    return epoch_losses


def _progress_bar(epochs: range, enabled: bool) -> Iterator[int]:
    """Epochs, with a tqdm bar when enabled."""
    if not enabled:
        return iter(epochs)
    from tqdm.auto import tqdm

    return iter(tqdm(epochs, desc="epochs", leave=False))


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
    hyper = {key: config[key] for key in ("lr", "momentum", "weight_decay")}
    torch.manual_seed(seed)
    model = MyMLP()
    train_loader = make_loader(data.train, batch_size, shuffle=True, seed=seed)
    history: dict[str, list[float]] = {}
    val_loader = make_loader(data.val, batch_size=len(data.val), shuffle=False)
    options = {"eval_loaders": {"val": val_loader} if val_per_epoch else None, "history": history, "progress": False}
    if trainer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), **hyper)
        losses = train(n_epochs, optimizer, model, nn.CrossEntropyLoss(), train_loader, **options)
    else:
        losses = train_manual_update(n_epochs, model, nn.CrossEntropyLoss(), train_loader, **hyper, **options)
    run = {
        "train_loss": losses,
        "train_acc": accuracy(model, make_loader(data.train, batch_size=len(data.train), shuffle=False)),
        "val_acc": history["val_acc"][-1] if val_per_epoch else accuracy(model, val_loader),
    }
    if val_per_epoch:
        run["val_acc_per_epoch"] = history["val_acc"]
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
# Uncertainty: intervals, paired tests, the seed study and the facts the report quotes
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
    data: Cifar2,
    records: list[dict],
    seeds: Sequence[int] = STUDY_SEEDS,
    n_epochs: int = 30,
    batch_size: int = 256,
    known_runs: dict[tuple[str, int], dict] | None = None,
) -> dict:
    """Every configuration of `records` trained with torch.optim.SGD under each seed.

    The runs at SEED come from `records`, and `known_runs` maps (name, seed) to SGD runs already made with the same
    settings; only the others are trained. A model wins a seed when no other model has a higher validation accuracy
    at that seed (ties all win).
    """
    runs = {record["name"]: {SEED: record["sgd"]} for record in records}
    for (name, seed), run in (known_runs or {}).items():
        runs[name][seed] = run
    for seed in seeds:
        for record in records:
            if seed not in runs[record["name"]]:
                run = train_config(record, data, "sgd", n_epochs, batch_size, seed, val_per_epoch=False)[0]
                runs[record["name"]][seed] = run
        if seed != SEED:
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


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n − 1)."""
    return statistics.mean(values), statistics.stdev(values)


def seeds_ahead(selected_seeds: Sequence[float], other_seeds: Sequence[float]) -> int:
    """At how many seeds the selected model's accuracy is strictly higher than the other's."""
    return sum(s > o for s, o in zip(selected_seeds, other_seeds, strict=True))


def difference_is_real(test: dict, selected_seeds: Sequence[float], other_seeds: Sequence[float]) -> bool:
    """A difference survives the noise when McNemar rejects at 5% and the selected model is ahead at every seed."""
    return test["p_value"] < 0.05 and seeds_ahead(selected_seeds, other_seeds) == len(selected_seeds)


def loss_rises(losses: Sequence[float]) -> int:
    """How many times the epoch loss went up from one epoch to the next."""
    return sum(later > earlier for earlier, later in itertools.pairwise(losses))


def best_epoch(values: Sequence[float]) -> int:
    """The first epoch (counting from 1) at which `values` reaches its maximum."""
    return 1 + max(range(len(values)), key=lambda epoch: (values[epoch], -epoch))


def save_results(results: dict, path: str | os.PathLike = FIGURES_DIR / "results.json") -> None:
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

# One meaning per colour in every figure, all colour-blind safe: blue and yellow are the two trainers, greys are
# the data splits, the other Okabe-Ito hues are the five models (each with its own marker and line style too).
TRAINER_STYLE = {"sgd": ("torch.optim.SGD", "#0072B2", "-"), "manual": ("manual update", "#F0E442", "--")}
SPLIT_COLORS = {"train": "#404040", "val": "#8C8C8C", "test": "#CFCFCF"}
SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}
MODEL_STYLES = (
    ("#E69F00", "o", "-"),
    ("#56B4E9", "s", "--"),
    ("#009E73", "^", "-."),
    ("#D55E00", "D", ":"),
    ("#CC79A7", "v", (0, (5, 1, 1, 1))),
)


def model_style(index: int) -> dict:
    """Colour, marker and line style of the model at `index`, the same in every figure."""
    color, marker, linestyle = MODEL_STYLES[index % len(MODEL_STYLES)]
    return {"color": color, "marker": marker, "linestyle": linestyle}


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    """Lay out the figure and save it as PNG when a path is given."""
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, metadata={"Software": None})
    return fig


def plot_samples(data: Cifar2, n_per_class: int = 6, path: str | os.PathLike | None = None) -> Figure:
    """Training images of each class as stored, after normalisation, and the pixel histograms of both."""
    labels = data.train.tensors[1]
    chosen = torch.cat([torch.nonzero(labels == c).flatten()[:n_per_class] for c in (0, 1)])
    normalised = data.train.tensors[0][chosen]
    # A fixed window of ±2.5 standard deviations shows normalised pixels without per-image stretching.
    window = ((normalised + 2.5) / 5).clamp(0, 1)
    rows = {"as stored": data.raw["train"][chosen].float() / 255, "normalised,\nshown −2.5σ…2.5σ": window}
    fig = plt.figure(figsize=(1.3 * len(chosen), 5.4))
    grid = fig.add_gridspec(3, len(chosen), height_ratios=[1, 1, 1.5])
    for row, (title, images) in enumerate(rows.items()):
        for column, image in enumerate(images):
            axis = fig.add_subplot(grid[row, column])
            axis.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(data.classes[labels[chosen[column]]], fontsize=8)
            if column == 0:
                axis.set_ylabel(title, fontsize=8)
    # Colour means trainer, split or model in the other figures, so the channels are told apart by line style.
    channels = (("red", "-"), ("green", "--"), ("blue", ":"))
    histograms = {"pixels as stored (0–1)": data.raw["train"].float() / 255, "normalised pixels": data.train.tensors[0]}
    half = len(chosen) // 2
    for index, (title, pixels) in enumerate(histograms.items()):
        axis = fig.add_subplot(grid[2, index * half : (index + 1) * half])
        for channel, (name, linestyle) in enumerate(channels):
            values = pixels[:, channel].flatten().numpy()
            axis.hist(values, bins=64, histtype="step", color="black", linestyle=linestyle, label=f"{name} channel")
        axis.set_title(f"{title}, all training images", fontsize=8)
        axis.set_yticks([])
        axis.legend(fontsize=7)
    return _finish(fig, path)


def plot_gradient_check(
    checks: dict[str, GradientCheck], network: str = "the network", path: str | os.PathLike | None = None
) -> Figure:
    """Relative error per layer and parameter, on a log scale, for one or more gradient checks of one network."""
    fig, axis = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / len(checks)
    for offset, (label, check) in enumerate(checks.items()):
        names = [f"W{l}" if kind == "weight" else f"b{l}" for l in check.errors for kind in ("weight", "bias")]
        values = [max(error, 1e-17) for errors in check.errors.values() for error in errors.values()]
        positions = np.arange(len(names)) + offset * width
        filled = offset % 2 == 0
        axis.bar(
            positions,
            values,
            width,
            label=label,
            color="black" if filled else "white",
            edgecolor="black",
            hatch=None if filled else "xx",
        )
        axis.set_xticks(np.arange(len(names)) + width * (len(checks) - 1) / 2, names)
    tolerance = next(iter(checks.values())).tolerance
    axis.axhline(tolerance, color="black", linestyle=":", label=f"tolerance {tolerance:.0e}")
    axis.set_yscale("log")
    axis.set_xlabel("parameter (layer)")
    axis.set_ylabel("relative error vs finite differences")
    axis.set_title(f"Gradient check of {network}\nbackprop vs central differences, float64", fontsize=10)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _finish(fig, path)


def plot_accuracies(models: list[dict], path: str | os.PathLike | None = None) -> Figure:
    """Train and validation accuracy of each model, SGD (plain bars) vs manual update (hatched bars)."""
    fig, axis = plt.subplots(figsize=(10, 4.2))
    bars = [(split, trainer) for split in ("train", "val") for trainer in ("sgd", "manual")]
    width = 0.8 / len(bars)
    positions = np.arange(len(models))
    for offset, (split, trainer) in enumerate(bars):
        values = [model[trainer][f"{split}_acc"] for model in models]
        drawn = axis.bar(
            positions + offset * width,
            values,
            width,
            color=SPLIT_COLORS[split],
            hatch="///" if trainer == "manual" else None,
            edgecolor="white" if trainer == "manual" else SPLIT_COLORS[split],
            label=f"{SPLIT_NAMES[split]}, {TRAINER_STYLE[trainer][0]}",
        )
        axis.bar_label(drawn, fmt="%.3f", fontsize=6, rotation=90, padding=2)
    axis.set_xticks(positions + width * (len(bars) - 1) / 2, [model["name"] for model in models])
    axis.axhline(0.5, color="black", linewidth=0.8, linestyle=":", label="majority-class baseline")
    axis.set_ylim(0, 1.12)
    axis.set_ylabel("accuracy")
    largest = max(max(model["max_param_diff"], model["max_loss_diff"]) for model in models)
    axis.set_title(f"SGD and manual bars are bitwise identical (largest difference {largest})", fontsize=10)
    axis.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return _finish(fig, path)


def plot_final_losses(models: list[dict], path: str | os.PathLike | None = None) -> Figure:
    """Training loss after the last epoch, SGD vs manual."""
    fig, axis = plt.subplots(figsize=(8, 4))
    positions = np.arange(len(models))
    for offset, (trainer, (label, color, _)) in enumerate(TRAINER_STYLE.items()):
        values = [model[trainer]["train_loss"][-1] for model in models]
        bars = axis.bar(positions + offset * 0.4, values, 0.4, label=label, color=color, edgecolor="black", lw=0.5)
        axis.bar_label(bars, fmt="%.4f", fontsize=7)
    axis.set_xticks(positions + 0.2, [model["name"] for model in models])
    axis.set_ylabel("mean cross-entropy, last epoch")
    axis.set_title("Final training loss per model: the two trainers give the same number", fontsize=10)
    axis.legend(fontsize=8)
    return _finish(fig, path)


def plot_loss_panels(models: list[dict], path: str | os.PathLike | None = None) -> Figure:
    """Training loss per epoch, one panel per model; the manual curve is dashed over the SGD curve."""
    n_rows = math.ceil((len(models) + 1) / 3)
    fig, axes = plt.subplots(n_rows, 3, figsize=(10, 3.1 * n_rows), sharey=True, squeeze=False)
    panels = axes.flatten()
    for axis, model in zip(panels, models, strict=False):
        for trainer, (label, color, style) in TRAINER_STYLE.items():
            losses = model[trainer]["train_loss"]
            width = 3 if trainer == "sgd" else 1.5
            axis.plot(range(1, len(losses) + 1), losses, style, color=color, label=label, lw=width)
        axis.set_title(model["name"], fontsize=10)
        axis.set_xlabel("epoch")
        note = f"max |Δ loss| = {model['max_loss_diff']}"
        axis.text(0.95, 0.9, note, transform=axis.transAxes, ha="right", fontsize=9)
    for row in axes:
        row[0].set_ylabel("mean training loss")
    handles, labels = panels[0].get_legend_handles_labels()
    for spare in panels[len(models) :]:
        spare.axis("off")
    panels[-1].legend(handles, labels, loc="center", fontsize=10, title="trainer")
    return _finish(fig, path)


def plot_loss_curves(models: list[dict], path: str | os.PathLike | None = None) -> Figure:
    """The training loss curves of all models together, on a log scale."""
    fig, axis = _plot_per_epoch(models, "train_loss", "mean training loss (log scale)")
    axis.set_yscale("log")
    return _finish(fig, path)


def plot_val_accuracy_curves(
    models: list[dict], selected_name: str | None = None, baseline: float = 0.5, path: str | os.PathLike | None = None
) -> Figure:
    """Validation accuracy after each epoch; the last epoch, which selection uses, is marked, and the baseline."""
    fig, axis = _plot_per_epoch(models, "val_acc_per_epoch", "validation accuracy")
    for index, model in enumerate(models):
        values = model["sgd"]["val_acc_per_epoch"]
        style = model_style(index)
        axis.plot(len(values), values[-1], style["marker"], color=style["color"], ms=9, mec="black", zorder=3)
        if model["name"] == selected_name:
            axis.annotate(
                f"selected: {selected_name}, last epoch {values[-1]:.3f}",
                (len(values), values[-1]),
                xytext=(-150, -45),
                textcoords="offset points",
                arrowprops={"arrowstyle": "->"},
                fontsize=8,
            )
    axis.axhline(baseline, color="black", linestyle=":", linewidth=1, label=f"majority-class baseline {baseline:.3f}")
    axis.set_ylim(min(baseline, axis.get_ylim()[0]) - 0.02, 1.0)
    axis.legend(fontsize=7, loc="lower right")
    return _finish(fig, path)


def _plot_per_epoch(models: list[dict], key: str, ylabel: str) -> tuple[Figure, plt.Axes]:
    """One curve per model of a per-epoch series of the SGD run, each model in its own style."""
    fig, axis = plt.subplots(figsize=(7.5, 4.2))
    for index, model in enumerate(models):
        values = model["sgd"][key]
        axis.plot(
            range(1, len(values) + 1), values, label=_config_label(model), markevery=5, ms=5, **model_style(index)
        )
    axis.set_xlabel("epoch")
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=7)
    return fig, axis


def plot_selected_accuracy(
    selected: dict, sizes: dict[str, int] | None = None, path: str | os.PathLike | None = None
) -> Figure:
    """The selected model's accuracy on train, validation and test, with 95% Wilson intervals.

    `sizes` gives the number of images per split, by default the project's 9000 / 1000 / 2000.
    """
    sizes = sizes or SPLIT_SIZES
    fig, axis = plt.subplots(figsize=(5.5, 3.8))
    splits = ("train", "val", "test")
    values = [selected[f"{split}_acc"] for split in splits]
    intervals = [accuracy_interval(value, sizes[split]) for value, split in zip(values, splits, strict=True)]
    errors = np.array([[value - low, high - value] for value, (low, high) in zip(values, intervals, strict=True)]).T
    bars = axis.bar(
        [SPLIT_NAMES[split] for split in splits],
        values,
        yerr=errors,
        capsize=6,
        color=[SPLIT_COLORS[split] for split in splits],
        edgecolor="black",
        linewidth=0.5,
    )
    labels = [f"{value:.4f}\n[{low:.3f}, {high:.3f}]" for value, (low, high) in zip(values, intervals, strict=True)]
    axis.bar_label(bars, labels=labels, fontsize=7, padding=3)
    axis.axhline(0.5, color="black", linestyle=":", linewidth=1, label="majority-class baseline")
    axis.set_ylim(0, 1.18)
    axis.set_ylabel("accuracy (95% Wilson interval)")
    axis.set_title(f"{selected['name']}, selected on validation", fontsize=10)
    axis.legend(fontsize=7, loc="lower right")
    return _finish(fig, path)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str, path: str | os.PathLike | None = None
) -> Figure:
    """A confusion matrix as a heatmap from 0, rows true and columns predicted, with counts and row percentages."""
    import seaborn as sns

    counts = np.asarray(matrix)
    shares = counts / counts.sum(axis=1, keepdims=True)
    labels = np.array(
        [
            [f"{count}\n({share:.1%} of row)" for count, share in zip(*row, strict=True)]
            for row in zip(counts, shares, strict=True)
        ]
    )
    fig, axis = plt.subplots(figsize=(5, 4))
    sns.heatmap(
        counts,
        annot=labels,
        fmt="",
        cmap="Blues",
        vmin=0,
        vmax=counts.sum(axis=1).max(),
        xticklabels=classes,
        yticklabels=classes,
        ax=axis,
    )
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title, fontsize=10)
    return _finish(fig, path)


def plot_seed_study(study: dict, selected_name: str, path: str | os.PathLike | None = None) -> Figure:
    """Each seed's validation accuracy per model as dots, with the mean ± one standard deviation."""
    fig, axis = plt.subplots(figsize=(7.5, 4))
    for index, model in enumerate(study["models"]):
        style = model_style(index)
        values = model["val_acc"]
        offsets = np.linspace(-0.15, 0.15, len(values))
        axis.scatter(
            index + offsets, values, color=style["color"], marker=style["marker"], edgecolor="black", lw=0.5, zorder=3
        )
        mean, std = mean_and_std(values)
        axis.errorbar(index + 0.3, mean, yerr=std, fmt="_", color="black", ms=14, capsize=4)
        axis.text(index + 0.36, mean, f"{mean:.3f}\n±{std:.3f}", fontsize=7, va="center")
    names = [model["name"] + (" (selected)" if model["name"] == selected_name else "") for model in study["models"]]
    axis.set_xticks(range(len(names)), names, fontsize=8)
    axis.set_xlim(-0.5, len(names) - 0.2)
    axis.set_ylabel("validation accuracy, last epoch")
    axis.set_title(f"{len(study['seeds'])} seeds per model (dots) and mean ± std (black)", fontsize=10)
    return _finish(fig, path)


def _config_label(model: dict) -> str:
    """A legend label with the model's hyper-parameters."""
    return f"{model['name']} (lr {model['lr']}, m {model['momentum']}, wd {model['weight_decay']})"
