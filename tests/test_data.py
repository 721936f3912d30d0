"""load_cifar2 and make_loader on the real car and cat images."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
from PIL import Image
from torchvision.transforms.v2.functional import resize

import helpers

EXPECTED_SIZES = {"train": 9000, "val": 1000, "test": 2000}


@pytest.fixture(scope="module")
def data(cifar_root, tmp_path_factory):
    """The data set as the notebooks load it, through a cache of the test's own."""
    return helpers.load_cifar2(cifar_root, cache_dir=tmp_path_factory.mktemp("cache"))


def png_pixels(root: Path, split: str, name: str, rank: int) -> np.ndarray:
    """One image decoded independently of helpers, as (32, 32, 3) uint8."""
    return np.array(Image.open(root / split / name / f"{rank:05d}.png").convert("RGB"))


def test_sizes_shapes_and_types(data):
    for split, size in EXPECTED_SIZES.items():
        x, y = getattr(data, split).tensors
        assert x.shape == (size, 3, 16, 16)
        assert x.dtype == torch.float32
        assert y.dtype == torch.int64
        assert set(y.tolist()) == {0, 1}
    assert data.classes == ("automobile", "cat")


def test_each_split_is_balanced(data):
    for split, size in EXPECTED_SIZES.items():
        assert getattr(data, split).tensors[1].bincount().tolist() == [size // 2, size // 2]


def test_train_and_val_partition_the_training_images(data, cifar_root):
    train_rows = {image.numpy().tobytes() for image in data.raw["train"]}
    val_rows = {image.numpy().tobytes() for image in data.raw["val"]}
    assert len(train_rows) == 9000 and len(val_rows) == 1000
    assert not train_rows & val_rows
    all_training = helpers.load_cifar2(cifar_root, n_val=2, cache_dir=None).raw
    everything = {image.numpy().tobytes() for image in torch.cat([all_training["train"], all_training["val"]])}
    assert train_rows | val_rows == everything


def test_split_depends_on_the_seed(cifar_root, data):
    other = helpers.load_cifar2(cifar_root, seed=7, cache_dir=None)
    assert not torch.equal(other.raw["val"], data.raw["val"])
    assert other.val.tensors[1].bincount().tolist() == [500, 500]


def test_test_split_is_the_official_test_set_in_canonical_order(data, cifar_root):
    for index, (name, rank) in enumerate([("automobile", 0), ("automobile", 999), ("cat", 0), ("cat", 999)]):
        position = rank + 1000 * (name == "cat")
        image = torch.from_numpy(png_pixels(cifar_root, "test", name, rank)).permute(2, 0, 1)
        expected = resize(image, [16, 16], antialias=True)
        assert torch.equal(data.raw["test"][position], expected), index
        assert data.test.tensors[1][position].item() == (name == "cat")


def test_normalised_train_has_zero_mean_and_unit_std(data):
    x = data.train.tensors[0].double()
    assert x.mean(dim=(0, 2, 3)).abs().max().item() < 1e-5
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max().item() < 1e-5


def test_statistics_come_from_train_only(data):
    train_pixels = data.raw["train"].double() / 255
    assert torch.allclose(data.mean.double(), train_pixels.mean(dim=(0, 2, 3)), rtol=0, atol=1e-6)
    all_pixels = torch.cat([data.raw["train"], data.raw["val"]]).double() / 255
    assert not torch.allclose(data.mean.double(), all_pixels.mean(dim=(0, 2, 3)), rtol=0, atol=1e-6)


def test_two_loads_are_bitwise_equal(cifar_root):
    first = helpers.load_cifar2(cifar_root, cache_dir=None)
    second = helpers.load_cifar2(cifar_root, cache_dir=None)
    for split in EXPECTED_SIZES:
        for a, b in zip(getattr(first, split).tensors, getattr(second, split).tensors, strict=True):
            assert torch.equal(a, b)


def test_cache_hit_equals_cold_load_and_is_keyed(cifar_root, tmp_path, monkeypatch):
    cold = helpers.load_cifar2(cifar_root, cache_dir=tmp_path)
    cached_files = list(tmp_path.iterdir())
    assert [path.suffix for path in cached_files] == [".pt"]
    monkeypatch.setattr(helpers, "_read_split", lambda *args: pytest.fail("the cache was not used"))
    warm = helpers.load_cifar2(cifar_root, cache_dir=tmp_path)
    for split in EXPECTED_SIZES:
        for a, b in zip(getattr(cold, split).tensors, getattr(warm, split).tensors, strict=True):
            assert torch.equal(a, b)
    monkeypatch.undo()
    helpers.load_cifar2(cifar_root, size=8, cache_dir=tmp_path)
    helpers.load_cifar2(cifar_root, classes=("cat", "automobile"), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_class_order_sets_the_labels(cifar_root, data):
    swapped = helpers.load_cifar2(cifar_root, classes=("cat", "automobile"), cache_dir=None)
    assert torch.equal(swapped.raw["test"][:1000], data.raw["test"][1000:])
    assert swapped.classes == ("cat", "automobile")


def test_other_sizes(cifar_root):
    full = helpers.load_cifar2(cifar_root, size=32, cache_dir=None)
    assert full.test.tensors[0].shape == (2000, 3, 32, 32)
    assert torch.equal(
        full.raw["test"][0], torch.from_numpy(png_pixels(cifar_root, "test", "automobile", 0)).permute(2, 0, 1)
    )


def write_official_release(png_root: Path, target: Path) -> None:
    """Write the car and cat images in the official pickled format, interleaved with rows of other classes."""
    folder = target / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    filler = np.full((1, 3072), 7, dtype=np.uint8)
    for split, per_class, files in (
        ("train", 5000, [f"data_batch_{i}" for i in range(1, 6)]),
        ("test", 1000, ["test_batch"]),
    ):
        # Official order interleaves the classes; a sorted official index puts each image where it was.
        rows = []
        for label, name in ((1, "automobile"), (3, "cat")):
            offsets = np.arange(per_class) * 2 + (label == 3)
            for rank, offset in enumerate(offsets):
                rows.append((offset, label, png_pixels(png_root, split, name, rank).transpose(2, 0, 1).reshape(1, -1)))
        rows.sort(key=lambda row: row[0])
        for part, file_name in enumerate(files):
            chunk = rows[part * 2000 : (part + 1) * 2000]
            data = np.concatenate([filler] + [pixels for _, _, pixels in chunk])
            labels = [5] + [label for _, label, _ in chunk]
            with open(folder / file_name, "wb") as handle:
                pickle.dump({"data": data, "labels": labels}, handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": list(helpers.CIFAR10_CLASSES)}, handle)


def test_official_release_and_png_tree_give_identical_tensors(cifar_root, data, tmp_path, monkeypatch):
    write_official_release(cifar_root, tmp_path)
    # The fixture is not the real release, so torchvision's md5 checks are switched off for it.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    official = helpers.load_cifar2(tmp_path, download=False, cache_dir=None)
    for split in EXPECTED_SIZES:
        assert torch.equal(official.raw[split], data.raw[split])
        for a, b in zip(getattr(official, split).tensors, getattr(data, split).tensors, strict=True):
            assert torch.equal(a, b)


def test_root_comes_from_the_environment(cifar_root, data, monkeypatch):
    monkeypatch.setenv("CIFAR10_ROOT", str(cifar_root))
    assert torch.equal(helpers.load_cifar2(cache_dir=None).raw["val"], data.raw["val"])


def assert_no_data_message(message: str) -> None:
    for part in ("cifar-10-batches-py", "train/<class>/NNNNN.png", "CIFAR10_ROOT"):
        assert part in message


def test_no_data_and_no_download(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        helpers.load_cifar2(tmp_path, download=False, cache_dir=None)
    assert_no_data_message(str(error.value))


def test_download_that_fails_gives_the_same_message(tmp_path, monkeypatch):
    def offline(self):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", offline)
    with pytest.raises(FileNotFoundError) as error:
        helpers.load_cifar2(tmp_path, download=True, cache_dir=None)
    assert_no_data_message(str(error.value))


def test_unknown_class_lists_the_valid_names(cifar_root):
    with pytest.raises(ValueError, match=r"out of airplane, automobile, bird, cat.*got \('car', 'cat'\)"):
        helpers.load_cifar2(cifar_root, classes=("car", "cat"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
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
    for split in ("train", "test"):
        for name in helpers.CLASSES:
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            for source in (cifar_root / split / name).glob("*.png"):
                (folder / source.name).symlink_to(source.resolve())
    return tmp_path


def test_wrong_count_names_the_counts(linked_tree):
    (linked_tree / "train" / "cat" / "00042.png").unlink()
    with pytest.raises(ValueError, match=r"expected 5000 train images of 'cat'.*found 4999"):
        helpers.load_cifar2(linked_tree, cache_dir=None)


def test_missing_image_names_the_file(linked_tree):
    missing = linked_tree / "test" / "automobile" / "00010.png"
    missing.rename(missing.with_name("99999.png"))
    with pytest.raises(ValueError, match=f"cannot read image {missing}"):
        helpers.load_cifar2(linked_tree, cache_dir=None)


def test_unreadable_image_names_the_file(linked_tree):
    broken = linked_tree / "train" / "automobile" / "00007.png"
    broken.unlink()
    broken.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=f"cannot read image {broken}"):
        helpers.load_cifar2(linked_tree, cache_dir=None)


def damage_by_truncation(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_by_emptying(path: Path) -> None:
    path.write_bytes(b"")


def damage_by_garbage(path: Path) -> None:
    path.write_bytes(b"\x00" * 4096)


def damage_by_wrong_shape(path: Path) -> None:
    cached = torch.load(path, weights_only=True)
    cached["train"] = cached["train"][:100]
    torch.save(cached, path)


def damage_by_wrong_dtype(path: Path) -> None:
    cached = torch.load(path, weights_only=True)
    cached["test"] = cached["test"].float()
    torch.save(cached, path)


def damage_by_missing_key(path: Path) -> None:
    cached = torch.load(path, weights_only=True)
    del cached["test"]
    torch.save(cached, path)


def damage_by_pickled_object(path: Path) -> None:
    path.write_bytes(pickle.dumps(Path("not tensors"), protocol=2))


@pytest.mark.parametrize(
    "damage",
    [
        damage_by_truncation,
        damage_by_emptying,
        damage_by_garbage,
        damage_by_wrong_shape,
        damage_by_wrong_dtype,
        damage_by_missing_key,
        damage_by_pickled_object,
    ],
)
def test_a_damaged_cache_is_rebuilt_with_a_warning(cifar_root, tmp_path, damage):
    fresh = helpers.load_cifar2(cifar_root, cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("*.pt")
    damage(cache_file)
    with pytest.warns(UserWarning, match=f"cache {cache_file.name} is damaged; rebuilding it"):
        rebuilt = helpers.load_cifar2(cifar_root, cache_dir=tmp_path)
    for split in EXPECTED_SIZES:
        for a, b in zip(getattr(fresh, split).tensors, getattr(rebuilt, split).tensors, strict=True):
            assert torch.equal(a, b)
    assert list(tmp_path.glob("*.pt")) == [cache_file]
    assert helpers._read_cache(cache_file, 16) is not None, "the rebuilt cache was not written back"


def test_relative_and_absolute_roots_share_one_cache_file(cifar_root, tmp_path, monkeypatch):
    monkeypatch.chdir(cifar_root.resolve().parent)
    helpers.load_cifar2(Path(cifar_root.resolve().name), cache_dir=tmp_path)
    helpers.load_cifar2(cifar_root.resolve(), cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 1
