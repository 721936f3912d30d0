"""Backpropagation by hand against autograd and against finite differences."""

import re

import pytest
import torch
from conftest import same_tensors
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import helpers
from helpers import MyNet, backpropagation, gradient_check, sum_squared_error

ACTIVATION_NAMES = sorted(helpers.ACTIVATIONS)


def assert_matches_autograd(model: nn.Module, x: torch.Tensor, y_true: torch.Tensor, bound: float = 1e-10) -> None:
    for l, errors in helpers.compare_with_autograd(model, x, y_true).errors.items():
        layer = model.fc[str(l)]
        assert (model.dL_dw[l].shape, model.dL_db[l].shape) == (layer.weight.shape, layer.bias.shape)
        assert errors["weight"] < bound and errors["bias"] < bound, f"layer {l}: {errors}"


def assert_random_net_matches_autograd(seed, widths, activation, x_shape, y_shape) -> None:
    """A float64 MyNet on random inputs and targets: backprop within 1e-10 of autograd, inputs flattened."""
    torch.manual_seed(seed)
    model = MyNet(widths, activation).double()
    x, y_true = torch.randn(x_shape, dtype=torch.float64), torch.randn(y_shape, dtype=torch.float64)
    assert_matches_autograd(model, x, y_true)
    assert model.a[0].shape == (x_shape[0], widths[0])


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_matches_autograd_on_random_architectures(data):
    widths = data.draw(st.lists(st.integers(1, 20), min_size=2, max_size=5))
    n, name = len(widths) - 1, st.sampled_from(ACTIVATION_NAMES)
    activation = data.draw(name | st.lists(name, min_size=n, max_size=n))  # one for all layers, or one per layer
    seed, batch = data.draw(st.integers(0, 2**31 - 1)), data.draw(st.sampled_from([1, 2, 7, 32]))
    assert_random_net_matches_autograd(seed, widths, activation, (batch, widths[0]), (batch, widths[-1]))


@pytest.mark.parametrize(
    ("widths", "activation", "x_shape", "y_shape"),
    [
        *(([5, 8, 6, 3], name, (batch, 5), (batch, 3)) for name in ACTIVATION_NAMES for batch in (1, 16)),
        ([3 * 4 * 4, 10, 2], "relu", (9, 3, 4, 4), (9, 2)),  # image batches are flattened
        # Targets that broadcast: autograd of the broadcast loss is the reference.
        *(([3, 4, 2], "sigmoid", (5, 3), shape) for shape in [(5, 1), (1, 2), (1, 1), (2,), (1,), ()]),
    ],
)
def test_every_activation_batch_size_image_batch_and_broadcast_target(widths, activation, x_shape, y_shape):
    assert_random_net_matches_autograd(0, widths, activation, x_shape, y_shape)


class CourseTanhNet(nn.Module):
    """A net written the course's way: only the attribute contract is shared with MyNet."""

    def __init__(self, n_l):
        super().__init__()
        self.n_l, self.L = n_l, len(n_l) - 1
        self.fc = nn.ModuleDict({str(i): nn.Linear(n_l[i - 1], n_l[i]) for i in range(1, self.L + 1)})
        self.f = {i: torch.tanh for i in range(1, self.L + 1)}
        self.df = {i: (lambda z: 1 / torch.cosh(z) ** 2) for i in range(1, self.L + 1)}
        self.a, self.z, self.dL_dw, self.dL_db = {}, {}, {}, {}

    def forward(self, x):
        self.a[0] = torch.flatten(x, 1)
        for i in range(1, self.L + 1):
            self.z[i] = self.fc[str(i)](self.a[i - 1])
            self.a[i] = self.f[i](self.z[i])
        return self.a[self.L]


def test_runs_on_the_course_class():
    torch.manual_seed(2)
    model = CourseTanhNet([4, 6, 5, 2]).double()
    x = torch.randn(12, 4, dtype=torch.float64)
    assert_matches_autograd(model, x, torch.randn(12, 2, dtype=torch.float64))
    assert gradient_check(model, x, torch.randn(12, 2)).passed


def test_course_procedure_checks_before_every_step():
    """Toy data, 10 samples, 5 epochs of per-sample SGD at lr 0.1, checked before each step."""
    torch.manual_seed(helpers.SEED)
    model = MyNet([2, 3, 2])
    x = torch.randn(10, 2)
    y_true = torch.stack([x[:, 0] * x[:, 1], x[:, 0] - x[:, 1]], dim=1).tanh()
    losses = []
    for _epoch in range(5):
        losses.append(0.0)
        for sample, target in zip(x.split(1), y_true.split(1), strict=True):
            assert_matches_autograd(model, sample, target, bound=1e-5)
            check = gradient_check(model, sample, target)
            assert check.passed, str(check)
            y_pred = model(sample)
            losses[-1] += sum_squared_error(target, y_pred).item()
            backpropagation(model, target, y_pred)
            with torch.no_grad():
                for l in range(1, model.L + 1):
                    model.fc[str(l)].weight -= 0.1 * model.dL_dw[l]
                    model.fc[str(l)].bias -= 0.1 * model.dL_db[l]
    assert losses[-1] < losses[0]


def backprop_without_hidden_derivative(model, y_true, y_pred):
    """Broken on purpose: forgets f' in the hidden layers."""
    with torch.no_grad():
        delta = 2 * (y_pred - y_true) * model.df[model.L](model.z[model.L])
        for l in range(model.L, 0, -1):
            model.dL_dw[l] = delta.T @ model.a[l - 1]
            model.dL_db[l] = delta.sum(dim=0)
            delta = delta @ model.fc[str(l)].weight


def backprop_with_mean_bias(model, y_true, y_pred):
    """Broken on purpose: averages the bias gradient over the batch instead of summing it."""
    backpropagation(model, y_true, y_pred)
    for l in range(1, model.L + 1):
        model.dL_db[l] = model.dL_db[l] / len(y_true)


def backprop_without_output_derivative(model, y_true, y_pred):
    """Broken on purpose: treats the output layer as linear."""
    saved, model.df = model.df, {**model.df, model.L: helpers.ACTIVATIONS["identity"][1]}
    backpropagation(model, y_true, y_pred)
    model.df = saved


@pytest.mark.parametrize(
    ("backprop", "wrong_layers"),
    [
        (backpropagation, []),
        (backprop_without_hidden_derivative, [1, 2]),
        (backprop_with_mean_bias, [1, 2, 3]),
        (backprop_without_output_derivative, [1, 2, 3]),
    ],
)
def test_gradient_check_names_the_layers_a_backprop_gets_wrong_and_leaves_the_model_alone(backprop, wrong_layers):
    torch.manual_seed(3)
    model = MyNet([4, 5, 3, 2], ["tanh", "sigmoid", "tanh"])
    before = [p.clone() for p in model.parameters()]
    check = gradient_check(model, torch.randn(6, 4), torch.randn(6, 2), backprop=backprop)
    assert check.failing_layers == wrong_layers and check.passed == (not wrong_layers), str(check)
    assert str(check).startswith("FAIL" if wrong_layers else "PASS")
    for l, errors in check.errors.items():  # far off where wrong, float64 finite-difference close elsewhere
        assert errors["weight"] + errors["bias"] > 1e-3 if l in wrong_layers else max(errors.values()) < 1e-7, l
    assert same_tensors(before, model.parameters()) and next(model.parameters()).dtype == torch.float32, "model changed"


def test_relative_error_and_numerical_gradient_on_known_cases():
    assert helpers.relative_error(torch.zeros(3), torch.zeros(3)) == 0.0
    assert helpers.relative_error(torch.ones(3), -torch.ones(3)) == 1.0
    theta = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    gradient = helpers.numerical_gradient(lambda: (theta**2).sum().item(), theta, 1e-6)
    assert torch.allclose(gradient, 2 * theta, rtol=0, atol=1e-8)


def test_shapes_that_do_not_fit_are_named():
    model = MyNet([3, 4, 2])
    y_pred = model(torch.randn(5, 3))
    for shape in [(5, 3), (4, 2), (5, 2, 1), (10, 2)]:
        with pytest.raises(ValueError, match=re.escape(f"y_true has shape {shape}, expected (5, 2)")):
            backpropagation(model, torch.randn(shape), y_pred)
    with pytest.raises(ValueError, match=r"y_pred has shape \(2,\), expected \(5, 2\)"):
        backpropagation(model, torch.randn(5, 2), torch.randn(2))
    with pytest.raises(ValueError, match="run model"):
        backpropagation(MyNet([3, 2]), torch.randn(1, 2), torch.randn(1, 2))


def course_main_test(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> None:
    """A stand-in for the course's harness: per-sample batches of one, autograd vs backpropagation, float64."""
    for sample, target in zip(inputs, targets, strict=True):
        model.zero_grad()
        y_pred = model(sample.unsqueeze(0))
        ((target - y_pred) ** 2).sum().backward()
        backpropagation(model, target, y_pred)
        for l in range(1, model.L + 1):
            layer = model.fc[str(l)]
            for mine, parameter in ((model.dL_dw[l], layer.weight), (model.dL_db[l], layer.bias)):
                assert mine.shape == parameter.shape and helpers.relative_error(mine, parameter.grad) < 1e-12


def test_course_harness_toy_and_mnist_modes():
    """The course's template runs under torch.set_default_dtype(torch.double); the default is restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(helpers.SEED)
        course_main_test(CourseTanhNet([2, 3, 2]), torch.randn(10, 2), torch.randn(10, 1, 2))  # (1, n_L) per sample
        mnist = CourseTanhNet([24 * 24, 16, 10])
        labels = torch.randint(0, 10, (6, 1, 1)).double()  # [[label]]: shape (1, 1) against outputs (1, 10)
        course_main_test(mnist, torch.rand(6, 1, 24, 24), labels)
        assert mnist.dL_dw[1].dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)


def test_mynet_contract():
    model = MyNet([6, 4, 3, 2], ["relu", "sigmoid", "identity"])
    assert model.L == 3 and model.n_l == [6, 4, 3, 2]
    assert list(model.fc.keys()) == ["1", "2", "3"] and model.fc["2"].weight.shape == (3, 4)
    assert set(model.f) == set(model.df) == {1, 2, 3}
    assert model(torch.randn(5, 2, 3)).shape == (5, 2)
    assert sorted(model.a) == [0, 1, 2, 3] and sorted(model.z) == [1, 2, 3]
    assert torch.equal(model.a[3], model.z[3])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (([3], "tanh"), r"at least two positive widths.*got n_l=\[3\]"),
        (([3, 0, 2], "tanh"), r"at least two positive widths.*got n_l=\[3, 0, 2\]"),
        (([3, 2], "softplus"), r"one activation per layer out of tanh, relu, sigmoid, identity.*'softplus'"),
        (([3, 4, 2], ["tanh"]), r"one activation per layer.*activation=\['tanh'\]"),
    ],
)
def test_mynet_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        MyNet(*arguments)
