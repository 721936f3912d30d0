"""load_cifar2 and make_loader on the real car and cat images."""

import pickle
from pathlib import Path
from unittest.mock import Mock

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
from conftest import same_tensors
from PIL import Image
from torchvision.transforms.v2.functional import resize

import helpers

EXPECTED_SIZES = {"train": 9000, "val": 1000, "test": 2000}


@pytest.fixture(scope="module")
def data(cifar_root, tmp_path_factory):
    """The data set as the notebooks load it, through a cache of the test's own."""
    return helpers.load_cifar2(cifar_root, cache_dir=tmp_path_factory.mktemp("cache"))


def png_pixels(root: Path, split: str, name: str, rank: int) -> torch.Tensor:
    """One image decoded independently of helpers, as (3, 32, 32) uint8."""
    pixels = np.array(Image.open(root / split / name / f"{rank:05d}.png").convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1)


def assert_same_data(first: helpers.Cifar2, second: helpers.Cifar2) -> None:
    for split in EXPECTED_SIZES:
        first_tensors, second_tensors = ([*getattr(data, split).tensors, data.raw[split]] for data in (first, second))
        assert same_tensors(first_tensors, second_tensors), split


def test_sizes_shapes_types_and_balance(data):
    for split, size in EXPECTED_SIZES.items():
        x, y = getattr(data, split).tensors
        assert x.shape == (size, 3, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert y.bincount().tolist() == [size // 2, size // 2]  # labels 0 and 1 only, half each
    assert data.classes == ("automobile", "cat")


def test_train_and_val_partition_the_training_images(data, cifar_root):
    train_rows = {image.numpy().tobytes() for image in data.raw["train"]}
    val_rows = {image.numpy().tobytes() for image in data.raw["val"]}
    assert len(train_rows) == 9000 and len(val_rows) == 1000 and not train_rows & val_rows
    all_training = helpers.load_cifar2(cifar_root, n_val=2, cache_dir=None).raw
    everything = {image.numpy().tobytes() for image in torch.cat([all_training["train"], all_training["val"]])}
    assert train_rows | val_rows == everything


def test_split_depends_on_the_seed(cifar_root, data):
    other = helpers.load_cifar2(cifar_root, seed=7, cache_dir=None)
    assert not torch.equal(other.raw["val"], data.raw["val"])
    assert other.val.tensors[1].bincount().tolist() == [500, 500]


def test_test_split_is_the_official_test_set_in_canonical_order(data, cifar_root):
    for name, rank in [("automobile", 0), ("automobile", 999), ("cat", 0), ("cat", 999)]:
        position = rank + 1000 * (name == "cat")
        expected = resize(png_pixels(cifar_root, "test", name, rank), [16, 16], antialias=True)
        assert torch.equal(data.raw["test"][position], expected), (name, rank)
        assert data.test.tensors[1][position].item() == (name == "cat")


def test_normalised_train_has_zero_mean_and_unit_std_from_statistics_of_train_only(data):
    x = data.train.tensors[0].double()
    assert x.mean(dim=(0, 2, 3)).abs().max().item() < 1e-5
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max().item() < 1e-5
    assert torch.allclose(data.mean.double(), (data.raw["train"].double() / 255).mean(dim=(0, 2, 3)), rtol=0, atol=1e-6)
    all_pixels = torch.cat([data.raw["train"], data.raw["val"]]).double() / 255
    assert not torch.allclose(data.mean.double(), all_pixels.mean(dim=(0, 2, 3)), rtol=0, atol=1e-6)


def test_root_from_the_environment_loads_bitwise_the_same_again(cifar_root, data, monkeypatch):
    monkeypatch.setenv("CIFAR10_ROOT", str(cifar_root))
    assert_same_data(helpers.load_cifar2(cache_dir=None), data)  # two cold loads, neither through a cache


def test_cache_hit_equals_cold_load_and_is_keyed(cifar_root, tmp_path, monkeypatch):
    cold = helpers.load_cifar2(cifar_root, cache_dir=tmp_path)
    assert [path.suffix for path in tmp_path.iterdir()] == [".pt"]
    monkeypatch.setattr(helpers, "_read_split", lambda *args: pytest.fail("the cache was not used"))
    assert_same_data(cold, helpers.load_cifar2(cifar_root, cache_dir=tmp_path))
    monkeypatch.chdir(cifar_root.resolve().parent)  # the same root, spelled relative: the same cache file
    helpers.load_cifar2(Path(cifar_root.resolve().name), cache_dir=tmp_path)
    monkeypatch.undo()
    helpers.load_cifar2(cifar_root, size=8, cache_dir=tmp_path)
    swapped = helpers.load_cifar2(cifar_root, classes=("cat", "automobile"), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 3 and not list(tmp_path.glob("*.tmp"))
    # The class order sets the labels: cats first, as class 0.
    assert torch.equal(swapped.raw["test"][:1000], cold.raw["test"][1000:]) and swapped.classes == ("cat", "automobile")


def test_other_sizes(cifar_root):
    full = helpers.load_cifar2(cifar_root, size=32, cache_dir=None)
    assert full.test.tensors[0].shape == (2000, 3, 32, 32)
    assert torch.equal(full.raw["test"][0], png_pixels(cifar_root, "test", "automobile", 0))


def test_official_release_and_png_tree_give_identical_tensors(cifar_root, data, tmp_path, monkeypatch):
    # The images in the official pickled format: interleaved (car, cat, car...), each batch after a row of a dog.
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for split, files in (("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])):
        images = [png_pixels(cifar_root, split, name, i) for i in range(1000 * len(files)) for name in helpers.CLASSES]
        for part, file_name in enumerate(files):
            rows = [image.numpy().reshape(1, -1) for image in images[part * 2000 : (part + 1) * 2000]]
            pixels = np.concatenate([np.full((1, 3072), 7, dtype=np.uint8), *rows])
            (folder / file_name).write_bytes(pickle.dumps({"data": pixels, "labels": [5] + [1, 3] * 1000}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(helpers.CIFAR10_CLASSES)}))
    # Not the real release, so torchvision's md5 checks are switched off for it.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    assert_same_data(helpers.load_cifar2(tmp_path, download=False, cache_dir=None), data)


@pytest.mark.parametrize("download", [False, True], ids=["no download", "download fails"])
def test_no_data_names_both_layouts_and_the_variable(tmp_path, monkeypatch, download):
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", Mock(side_effect=OSError("network is unreachable")))
    with pytest.raises(FileNotFoundError) as error:
        helpers.load_cifar2(tmp_path, download=download, cache_dir=None)
    for part in ("cifar-10-batches-py", "train/<class>/NNNNN.png", "CIFAR10_ROOT"):
        assert part in str(error.value)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"classes": ("car", "cat")}, r"out of airplane, automobile, bird, cat.*got \('car', 'cat'\)"),
        ({"classes": ("cat", "cat")}, "two different class names"),
        ({"size": 0}, "size must be"),
        ({"n_val": 3}, "n_val must be even"),
    ],
)
def test_bad_arguments(cifar_root, arguments, message):
    with pytest.raises(ValueError, match=message):
        helpers.load_cifar2(cifar_root, cache_dir=None, **arguments)


@pytest.fixture
def linked_tree(cifar_root, tmp_path):
    """A PNG tree of links to the real images, safe to break."""
    for folder in (Path(split, name) for split in ("train", "test") for name in helpers.CLASSES):
        (tmp_path / folder).mkdir(parents=True)
        for source in (cifar_root / folder).glob("*.png"):
            (tmp_path / folder / source.name).symlink_to(source.resolve())
    return tmp_path


def test_wrong_count_names_the_counts(linked_tree):
    (linked_tree / "train" / "cat" / "00042.png").unlink()
    with pytest.raises(ValueError, match=r"expected 5000 train images of 'cat'.*found 4999"):
        helpers.load_cifar2(linked_tree, cache_dir=None)


@pytest.mark.parametrize(
    "image", ["test/automobile/00010.png", "train/automobile/00007.png"], ids=["missing", "not a png"]
)
def test_a_missing_or_unreadable_image_names_the_file(linked_tree, image):
    image = linked_tree / image
    if image.parent.parent.name == "test":
        image.rename(image.with_name("99999.png"))
    else:
        image.unlink()
        image.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=f"cannot read image {image}"):
        helpers.load_cifar2(linked_tree, cache_dir=None)


def edit_cache(change):
    """A damage that saves back the cached tensors as `change` returns them."""
    return lambda path: torch.save(change(torch.load(path, weights_only=True)), path)


DAMAGES = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "empty": lambda path: path.write_bytes(b""),
    "garbage": lambda path: path.write_bytes(b"\x00" * 4096),
    "wrong shape": edit_cache(lambda cached: cached | {"train": cached["train"][:100]}),
    "wrong dtype": edit_cache(lambda cached: cached | {"test": cached["test"].float()}),
    "missing key": edit_cache(lambda cached: {"train": cached["train"]}),
    "pickled object": lambda path: path.write_bytes(pickle.dumps(Path("not tensors"), protocol=2)),
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES)
def test_a_damaged_cache_is_rebuilt_with_a_warning(cifar_root, tmp_path, damage):
    fresh = helpers.load_cifar2(cifar_root, cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("*.pt")
    damage(cache_file)
    with pytest.warns(UserWarning, match=f"cache {cache_file.name} is damaged; rebuilding it"):
        assert_same_data(fresh, helpers.load_cifar2(cifar_root, cache_dir=tmp_path))
    assert list(tmp_path.glob("*.pt")) == [cache_file]
    assert helpers._read_cache(cache_file, 16) is not None, "the rebuilt cache was not written back"
