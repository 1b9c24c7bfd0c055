"""Exercise checks, in notebook order: run the learner's function on small known cases, say what is wrong, give a
hint."""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune as torch_prune

from kdviz import (
    architectures,
    config,
    data,
    distill,
    hints,
    huffman,
    int8,
    integer_linear,
    measure,
    models,
    packing,
    quantize,
    train,
)
from kdviz.pareto import pareto_front

# ==============================================================================================================
# Shared by every check
# ==============================================================================================================

@dataclass(frozen=True)
class CheckResult:
    """The verdict of a check; shows as one readable message in a notebook."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("Correct! " if self.passed else "Not yet. ") + self.message

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(repr(self))


def claim(statement: str, holds: bool, measured: str | None = None) -> None:
    """Print a notebook's claim about what it just measured with its verdict, one line: the line a
    ``# NBVAL_CHECK_OUTPUT`` cell compares between the committed run and CI's. The ``measured`` values are printed
    in brackets, which the comparison ignores (they differ between profiles and machines; the verdict must not)."""
    print(f"{'holds' if holds else 'DOES NOT HOLD'}: {statement}" + (f" [measured: {measured}]" if measured else ""))


def full_profile_claim(statement: str, holds: bool, measured: str | None, profile: config.Profile,
                       why: str = "it trains too little") -> None:
    """A claim that only the full profile (``judges_full_profile_claims``) can judge, ``why`` says: its verdict
    there (a test reads it from the committed notebook); in another profile the statement and the values, marked as
    not claimed. Every other claim is a :func:`claim`, judged in both profiles."""
    if profile.judges_full_profile_claims:
        claim(f"{statement} ({profile.name} profile)", holds, measured)
    else:
        print(f"not claimed in the {profile.name} profile ({why}): {statement}"
              + (f" [measured: {measured}]" if measured else ""))


def _call(fn: Callable, *args):
    """Call the learner's function; return (value, None) or (None, a failing CheckResult)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, CheckResult(False, "Your function still raises NotImplementedError: replace that line with your code.")
    except Exception as error:  # the learner's code may fail in any way; say how
        return None, CheckResult(False, f"Calling your function with {args} raised {type(error).__name__}: {error}")


def _tensor_call(fn: Callable, *args):
    value, failure = _call(fn, *args)
    if failure is None and not isinstance(value, torch.Tensor):
        failure = CheckResult(False, f"Your function returned {type(value).__name__}; return a torch.Tensor.")
    return value, failure


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the model's weights and buffers, to tell whether a learner's function changed them."""
    return {key: value.clone() for key, value in model.state_dict().items()}


def _changed_since(model: nn.Module, snapshot: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(value, model.state_dict()[key]) for key, value in snapshot.items())


def _compare(fn: Callable, cases: list[dict], reference: Callable[..., int], source: str,
             hint: Callable[..., str]) -> CheckResult | None:
    """Run ``fn`` on each case (keyword arguments); the first mismatch with ``reference`` fails with a hint."""
    for case in cases:
        expected = reference(**case)
        got, failure = _call(fn, *case.values())
        if failure is not None:
            return failure
        if got != expected:
            described = ", ".join(f"{key}={value}" for key, value in case.items())
            return CheckResult(False, f"For {described} your function gives {got}, {source} {expected}. "
                                      f"Hint: {hint(got=got, expected=expected, **case)}")
    return None


# ==============================================================================================================
# 00 · Why compress
# ==============================================================================================================

CONV_CASES = [dict(in_channels=1, out_channels=32, kernel_size=3, bias=True),
              dict(in_channels=32, out_channels=64, kernel_size=3, bias=False),
              dict(in_channels=3, out_channels=16, kernel_size=5, bias=True),
              dict(in_channels=64, out_channels=128, kernel_size=1, bias=False)]


def _conv2d_parameters(in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> int:
    return measure.count_parameters(nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias))


def _conv2d_parameters_hint(got: object, expected: int, in_channels: int, out_channels: int, kernel_size: int,
                            bias: bool) -> str:
    weights = in_channels * out_channels * kernel_size ** 2
    if bias and got == weights:
        return "you counted the weights but not the biases: a layer with bias=True has one bias per output channel."
    if not bias and got == weights + out_channels:
        return "with bias=False the layer has no biases at all."
    if got - (out_channels if bias else 0) in (in_channels * out_channels * kernel_size, in_channels * out_channels):
        return "a kernel is square: kernel_size x kernel_size weights per (input, output) channel pair."
    return "every output channel has one kernel_size x kernel_size filter for every input channel."


def check_conv2d_parameters(fn: Callable[[int, int, int, bool], int]) -> CheckResult:
    """Notebook 00: ``fn(in_channels, out_channels, kernel_size, bias)`` counts a Conv2d's parameters."""
    failure = _compare(fn, CONV_CASES, _conv2d_parameters, "PyTorch's layer has", _conv2d_parameters_hint)
    if failure is not None:
        return failure
    return CheckResult(True, f"Your count matches nn.Conv2d on all {len(CONV_CASES)} shapes.")


MAC_CASES = [dict(in_channels=1, out_channels=32, kernel_size=3, size=28),
             dict(in_channels=32, out_channels=64, kernel_size=3, size=14),
             dict(in_channels=16, out_channels=16, kernel_size=1, size=7),
             dict(in_channels=3, out_channels=8, kernel_size=5, size=32)]


def _conv2d_macs(in_channels: int, out_channels: int, kernel_size: int, size: int) -> int:
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    return measure.macs(layer, (1, in_channels, size, size))


def _conv2d_macs_hint(got: object, expected: int, in_channels: int, out_channels: int, kernel_size: int, size: int) -> str:
    if got == in_channels * out_channels * kernel_size ** 2:
        return "the filters are applied at every one of the size x size output positions."
    if got == 2 * expected:
        return "you counted FLOPs (a multiply and an add); a MAC is one multiply-accumulate, half as many."
    return "each output value needs kernel_size^2 x in_channels MACs, and there are out_channels x size^2 of them."


def check_conv2d_macs(fn: Callable[[int, int, int, int], int]) -> CheckResult:
    """Notebook 00: ``fn(in_channels, out_channels, kernel_size, size)`` gives the MACs of a 'same'-padded
    Conv2d (stride 1) on a ``size`` x ``size`` feature map, as torch.utils.flop_counter counts them."""
    failure = _compare(fn, MAC_CASES, _conv2d_macs, "the flop counter measures", _conv2d_macs_hint)
    if failure is not None:
        return failure
    return CheckResult(True, f"Your formula matches torch.utils.flop_counter on all {len(MAC_CASES)} layers.")


ACCURACY_BATCH_SIZES = (256, 300)  # the second leaves a smaller last batch on most test sets


def _accuracy_of(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(inputs).argmax(1) == labels).float().mean().item()


def check_accuracy(fn: Callable[[nn.Module, torch.Tensor, torch.Tensor, int], float], model: nn.Module,
                   images: torch.Tensor, labels: torch.Tensor) -> CheckResult:
    """Notebook 00: ``fn(model, images, labels, batch_size)`` returns the share (0 to 1) of the uint8 ``images`` that
    ``model`` classifies right, ``batch_size`` images at a time. Checked on a copy of ``model`` (the teacher) and
    real test images against :func:`kdviz.train.evaluate`, at batch sizes that do and do not leave a smaller last
    batch; the model must come back unchanged."""
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"images and labels must be non-empty and of equal length, got {len(images)} and {len(labels)}")
    model = models.copy_model(model).cpu().eval()
    expected = train.evaluate(model, images, labels, device="cpu").accuracy
    state = _snapshot(model)
    for batch_size in ACCURACY_BATCH_SIZES:
        got, failure = _call(fn, model, images, labels, batch_size)
        changed = _changed_since(model, state)
        model.load_state_dict(state)
        model.eval()
        if failure is not None:
            return failure
        if changed:
            return CheckResult(False, "Your function changed the model's batch-norm statistics: its forward passes "
                                      "ran in training mode. Hint: call model.eval() first, and run the batches "
                                      "inside torch.no_grad().")
        try:
            got = float(got)
        except (TypeError, ValueError):
            return CheckResult(False, f"Return one number, the share of images classified right; your function "
                                      f"returned {got!r}.")
        if abs(got - expected) <= 0.5 / len(labels):
            continue
        kept = len(labels) - len(labels) % batch_size
        if abs(got - 100 * expected) <= 50 / len(labels):
            hint = "return a share from 0 to 1, not a percentage."
        elif 0 < kept < len(labels) and abs(got - _accuracy_of(model, data.normalize(images[:kept]), labels[:kept])) < 1e-6:
            hint = (f"your answer is the accuracy on the first {kept:,} images: the last, smaller batch of "
                    f"{len(labels) - kept} images is left out. Count every image.")
        elif abs(got - _accuracy_of(model, images.float().unsqueeze(1) / 255, labels)) < 1e-6:
            hint = ("the images reach the model scaled to [0, 1] but not standardised. Pass each batch through "
                    "data.normalize, as training did.")
        else:
            hint = ("one at a time: (1) does every batch go through data.normalize (uint8 in, standardised floats "
                    "out)? (2) is every image counted, the smaller last batch too? (3) the prediction is "
                    "logits.argmax(1); compare it with the batch's labels and divide the right ones by the number of "
                    "images. Where to look: kdviz.train.predict_logits.")
        return CheckResult(False, f"At batch size {batch_size} your function gives {got:.4f}; train.evaluate gives "
                                  f"{expected:.4f} on these {len(labels):,} images. Hint: {hint}")
    return CheckResult(True, f"Your accuracy equals train.evaluate's, {100 * expected:.2f} % on {len(labels):,} test "
                             f"images, at batch sizes {' and '.join(map(str, ACCURACY_BATCH_SIZES))}, and the model is "
                             "unchanged.")


# ==============================================================================================================
# 01 · Efficient architectures
# ==============================================================================================================

def _separable_macs(in_channels: int, out_channels: int, kernel_size: int, size: int) -> int:
    return measure.macs(architectures.separable_conv(in_channels, out_channels, kernel_size),
                        (1, in_channels, size, size))


def _separable_macs_hint(got: object, expected: int, in_channels: int, out_channels: int, kernel_size: int,
                         size: int) -> str:
    depthwise, pointwise = kernel_size ** 2 * in_channels * size ** 2, in_channels * out_channels * size ** 2
    if got == depthwise:
        return "that is the depthwise part only; add the pointwise 1x1 convolution that mixes the channels."
    if got == pointwise:
        return "that is the pointwise part only; add the depthwise Dk x Dk filtering, one filter per input channel."
    if got == kernel_size ** 2 * in_channels * out_channels * size ** 2:
        return "that is a standard convolution; the separable one splits it into depthwise + pointwise."
    if got == kernel_size ** 2 * in_channels * out_channels * size ** 2 + pointwise:
        return "the depthwise filters do not combine channels: Dk² x M per position, without N."
    return "depthwise: Dk² x M x Df²; pointwise: M x N x Df²; the layer is their sum."


def check_separable_macs(fn: Callable[[int, int, int, int], int]) -> CheckResult:
    """Notebook 01: ``fn(in_channels, out_channels, kernel_size, size)`` gives the MACs of a depthwise-separable
    convolution ('same' padding, stride 1) on a ``size`` x ``size`` map, as torch.utils.flop_counter counts them."""
    failure = _compare(fn, MAC_CASES, _separable_macs, "the flop counter measures", _separable_macs_hint)
    if failure is not None:
        return failure
    return CheckResult(True, f"Your formula matches torch.utils.flop_counter on all {len(MAC_CASES)} separable layers.")


SEPARABLE_BLOCK_CASES = [dict(in_channels=8, out_channels=16, kernel_size=3),
                         dict(in_channels=16, out_channels=4, kernel_size=5),
                         dict(in_channels=3, out_channels=3, kernel_size=1)]


def check_separable_block(fn: Callable[[int, int, int], nn.Module]) -> CheckResult:
    """Notebook 01: ``fn(in_channels, out_channels, kernel_size)`` builds a depthwise-separable convolution
    without biases that keeps the map size: a depthwise Dk x Dk layer, then a pointwise 1x1 one."""
    for case in SEPARABLE_BLOCK_CASES:
        block, failure = _call(fn, *case.values())
        if failure is not None:
            return failure
        described = ", ".join(f"{key}={value}" for key, value in case.items())
        if not isinstance(block, nn.Module):
            return CheckResult(False, f"Your function returned {type(block).__name__}; return an nn.Module "
                                      "(for example an nn.Sequential of two nn.Conv2d).")
        M, N, k = case["in_channels"], case["out_channels"], case["kernel_size"]
        try:
            output = block(torch.zeros(2, M, 10, 10))
        except Exception as error:  # the learner's layer may fail in any way; say how
            return CheckResult(False, f"For {described} your block fails on a (2, {M}, 10, 10) input with "
                                      f"{type(error).__name__}: {error}")
        if tuple(output.shape) != (2, N, 10, 10):
            hint = ("pad the depthwise layer by kernel_size // 2 so the map keeps its size."
                    if output.shape[1:2] == (N,) else "the pointwise layer maps the M channels to N.")
            return CheckResult(False, f"For {described} your block's output has shape {tuple(output.shape)}, "
                                      f"expected (2, {N}, 10, 10). Hint: {hint}")
        expected = architectures.separable_cost(M, N, k, 10)["parameters"]
        got = measure.count_parameters(block)
        if got != expected:
            convolutions = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
            if any(m.bias is not None for m in convolutions):
                hint = "use bias=False (batch norm after the block supplies the bias)."
            elif not any(m.groups == M and m.groups > 1 for m in convolutions) and M > 1:
                hint = "the depthwise layer needs groups=in_channels, so that each filter sees one channel."
            else:
                hint = "depthwise: M filters of Dk x Dk (Dk² M weights); pointwise: M x N weights."
            return CheckResult(False, f"For {described} your block has {got} parameters, a depthwise-separable "
                                      f"convolution has {expected}. Hint: {hint}")
    return CheckResult(True, f"Your block has the right output shape and parameter count on all "
                             f"{len(SEPARABLE_BLOCK_CASES)} shapes.")


def check_separable_swap(fn: Callable[[nn.Sequential, int], nn.Module], model: nn.Sequential, index: int,
                         images: torch.Tensor, labels: torch.Tensor) -> CheckResult:
    """Notebook 01: ``fn(model, index)`` returns a copy of the sequential ``model`` in which the standard convolution
    at ``index`` is a depthwise-separable block of the same channels and kernel size; every other layer is the
    original's, and the model given stays as it was. Checked on the trained teacher: the copy's MACs (torch's
    counter) against kdviz's separable twin of that layer, its outputs on real images."""
    if not isinstance(model, nn.Sequential) or not 0 <= index < len(model) or not isinstance(model[index], nn.Conv2d):
        raise ValueError(f"index must name an nn.Conv2d of the nn.Sequential model, got {index!r}")
    original = models.copy_model(model).cpu().eval()
    state = _snapshot(original)
    swapped, failure = _call(fn, original, index)
    if failure is not None:
        return failure
    if not isinstance(original[index], nn.Conv2d) or _changed_since(original, state):
        return CheckResult(False, "Your function changed the model it was given. Hint: work on a copy "
                                  "(copy.deepcopy(model)), then replace the layer in the copy.")
    if not isinstance(swapped, nn.Sequential) or len(swapped) != len(original):
        return CheckResult(False, f"Return an nn.Sequential of {len(original)} layers, the original's with one "
                                  f"replaced; your function returned {type(swapped).__name__}.")
    if swapped is original or any(p is q for p in swapped.parameters() for q in original.parameters()):
        return CheckResult(False, "Your model shares weights with the original, so training one would change both. "
                                  "Hint: start from copy.deepcopy(model).")
    for position, (before, after) in enumerate(zip(original, swapped)):
        if position != index and (type(before) is not type(after) or any(
                not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values()))):
            return CheckResult(False, f"Layer {position} ({type(before).__name__}) is not the original's. Replace "
                                      f"only layer {index}; keep every other layer, weights and all.")
    conv = original[index]
    reference = models.copy_model(original)
    reference[index] = architectures.separable_conv(conv.in_channels, conv.out_channels, conv.kernel_size[0])
    expected = measure.macs(reference)
    try:
        got = measure.macs(swapped.eval())
        accuracy = train.evaluate(swapped, images, labels, device="cpu").accuracy
    except Exception as error:  # the learner's block may fail in any way; say how
        return CheckResult(False, f"Your model fails on real images with {type(error).__name__}: {error}. Hint: the "
                                  f"block takes {conv.in_channels} channels and gives {conv.out_channels}, at the "
                                  "same map size (padding = kernel_size // 2).")
    if got != expected:
        return CheckResult(False, f"Your model needs {got:,} MACs per image, the teacher with that layer separable "
                                  f"{expected:,}. Hints, one at a time: (1) the depthwise layer keeps the channels "
                                  "(in_channels to in_channels) with groups=in_channels; (2) the 1x1 layer maps them "
                                  "to out_channels, and neither has a bias; (3) where to look: your block of "
                                  "exercise 2, or architectures.separable_conv.")
    teacher_accuracy = train.evaluate(original, images, labels, device="cpu").accuracy
    return CheckResult(True, f"Your twin needs {got:,} MACs per image against the teacher's {measure.macs(original):,}. "
                             f"With its new block untrained it classifies {100 * accuracy:.1f} % of {len(labels):,} test "
                             f"images right (the teacher: {100 * teacher_accuracy:.1f} %): a new layer's weights must "
                             "be learnt, which is why the twins of section 3 were trained from scratch.")


# ==============================================================================================================
# 02 · Pruning
# ==============================================================================================================

def check_low_rank_factors(fn: Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]],
                           weight: torch.Tensor) -> CheckResult:
    """Notebook 01: ``fn(weight, rank)`` returns (first, second), (rank, in) and (out, rank), whose product
    second @ first is the best rank-``rank`` approximation of ``weight``: its error equals what the discarded
    singular values hold (Eckart-Young). Checked on a real layer of the teacher at ranks 1, 8 and 32."""
    weight = weight.detach().float().cpu()
    values = torch.linalg.svdvals(weight.double())
    for rank in (1, 8, 32):
        pair, failure = _call(fn, weight.clone(), rank)
        if failure is not None:
            return failure
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(t, torch.Tensor) for t in pair)):
            return CheckResult(False, f"Return a pair of tensors (first, second); your function returned {type(pair).__name__}.")
        first, second = pair
        if first.shape != (rank, weight.shape[1]) or second.shape != (weight.shape[0], rank):
            return CheckResult(False, f"At rank {rank} your factors are {tuple(first.shape)} and {tuple(second.shape)}, "
                                      f"expected first {(rank, weight.shape[1])} and second {(weight.shape[0], rank)}: "
                                      "the layer becomes x -> first @ x -> second @ (first @ x).")
        error = float(torch.linalg.matrix_norm(weight.double() - second.double() @ first.double()))
        best = float(values[rank:].pow(2).sum().sqrt())
        if error <= best * (1 + 1e-4) + 1e-6:
            continue
        u, _, vh = torch.linalg.svd(weight.double(), full_matrices=False)
        without_values = float(torch.linalg.matrix_norm(weight.double() - u[:, :rank] @ vh[:rank]))
        hint = ("carry the singular values: U_r diag(S_r) V_r^T, not U_r V_r^T (split them as sqrt(S_r) on each side)."
                if abs(error - without_values) < 1e-4 * (1 + without_values) else
                "torch.linalg.svd(weight, full_matrices=False) returns U, S, Vh with the largest value first; keep the "
                "first rank columns of U, values of S and rows of Vh.")
        return CheckResult(False, f"At rank {rank} the error of your approximation is {error:.4f}; the best possible, "
                                  f"the discarded singular values' norm, is {best:.4f}. Hint: {hint}")
    return CheckResult(True, "Your factors reach the best error at every rank (Eckart-Young): the discarded singular "
                             "values are all that is lost.")


def check_magnitude_mask(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """Notebook 02: ``fn(weight, amount)`` returns a 0/1 mask removing the ``amount`` fraction of weights with
    the smallest |w|, as torch.nn.utils.prune.l1_unstructured does."""
    generator = torch.Generator().manual_seed(2)
    for shape, amount in (((6, 5), 0.5), ((4, 3, 3, 3), 0.8), ((10,), 0.3)):
        weight = torch.randn(shape, generator=generator)
        holder = nn.Module()
        holder.weight = nn.Parameter(weight.clone())
        torch_prune.l1_unstructured(holder, "weight", amount=amount)
        expected = holder.weight_mask
        got, failure = _tensor_call(fn, weight.clone(), amount)
        if failure is not None:
            return failure
        if got.shape == expected.shape and torch.equal(got.float(), expected):
            continue
        if got.shape != expected.shape:
            hint = f"return a mask of the weight's shape {tuple(shape)}, not {tuple(got.shape)}."
        elif torch.equal(got.float(), 1 - expected):
            hint = "your mask is inverted: 1 keeps a weight, 0 removes it."
        elif int((got == 0).sum()) != int((expected == 0).sum()):
            hint = (f"remove round(amount x number of weights) = {int((expected == 0).sum())} weights; "
                    f"your mask removes {int((got == 0).sum())}.")
        else:
            hint = "rank by magnitude |w| (torch.abs), not by the signed value: large negative weights matter too."
        return CheckResult(False, f"For a weight of shape {tuple(shape)} and amount {amount} your mask differs from "
                                  f"torch.nn.utils.prune's. Hint: {hint}")
    return CheckResult(True, "Your mask matches torch.nn.utils.prune.l1_unstructured on all 3 weights.")


def check_obd_saliency(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Notebook 02: ``fn(weight, hessian_diagonal)`` returns OBD's saliency h_kk * w_k² / 2 of every weight."""
    generator = torch.Generator().manual_seed(3)
    weight = torch.randn(5, 4, generator=generator)
    diagonal = torch.rand(5, 4, generator=generator) + 0.1
    expected = diagonal * weight ** 2 / 2
    got, failure = _tensor_call(fn, weight.clone(), diagonal.clone())
    if failure is not None:
        return failure
    if got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-5):
        return CheckResult(True, "Your saliency matches h_kk w_k² / 2 entry by entry.")
    mistakes = {
        "divide by 2: the saliency is the second-order term of the Taylor expansion, (1/2) h_kk δw².":
            diagonal * weight ** 2,
        "square the weight: deleting w_k moves it by δw = -w_k, and the term is (1/2) h_kk δw².":
            diagonal * weight.abs() / 2,
        "multiply by the curvature h_kk: without it this is magnitude pruning in disguise.": weight ** 2 / 2,
    }
    hint = next((h for h, wrong in mistakes.items() if got.shape == wrong.shape and torch.allclose(got, wrong, rtol=1e-5)),
                "the saliency of each weight is h_kk * w_k**2 / 2, computed entry by entry (same shape as the weight).")
    return CheckResult(False, f"Your saliency differs from h_kk w_k² / 2. Hint: {hint}")


def check_channels_before_linear(fn: Callable[..., tuple[nn.Module, nn.Module, nn.Module]], model: nn.Sequential,
                                 images: torch.Tensor) -> CheckResult:
    """Notebook 02: ``fn(conv, norm, linear, keep)`` rebuilds the model's last convolution, its batch norm and the
    linear layer after the flatten with only the output channels ``keep``. Checked on ``images`` (normalized, a
    batch): the smaller layers compute what the original ones compute with the other channels silenced, and hold
    exactly the parameters those channels leave."""
    layers = list(model)
    last_conv = max(i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d))
    linear_at = next(i for i, m in enumerate(layers) if isinstance(m, nn.Linear) and i > last_conv)
    conv, norm, linear = layers[last_conv], layers[last_conv + 1], layers[linear_at]
    if not isinstance(norm, nn.BatchNorm2d):
        raise ValueError("model must have a BatchNorm2d right after its last Conv2d, like the teacher")
    between = nn.Sequential(*layers[last_conv + 2:linear_at]).eval()  # ReLU, pooling, flatten (dropout off)
    keep = conv.weight.detach().abs().sum(dim=(1, 2, 3)).argsort(descending=True)[: conv.out_channels // 2].sort().values
    with torch.no_grad():
        inputs = nn.Sequential(*layers[:last_conv]).eval()(images)
        silence = torch.zeros(conv.out_channels)
        silence[keep] = 1
        expected = linear(between(norm.eval()(conv(inputs)) * silence[None, :, None, None]))
    result, failure = _call(fn, *[copy.deepcopy(layer) for layer in (conv, norm, linear)], keep.clone())
    if failure is not None:
        return failure
    if not (isinstance(result, tuple) and len(result) == 3 and all(isinstance(m, nn.Module) for m in result)):
        return CheckResult(False, "Return the three rebuilt layers as a tuple: (conv, norm, linear).")
    smaller_conv, smaller_norm, smaller_linear = result
    try:
        with torch.no_grad():
            got = smaller_linear(between(smaller_norm.eval()(smaller_conv(inputs))))
    except Exception as error:  # the learner's layers may not fit together; say how
        positions = linear.in_features // conv.out_channels
        return CheckResult(False, f"Your layers fail on the teacher's activations with {type(error).__name__}: {error}. "
                                  f"Hint: after Flatten, channel c owns the {positions} consecutive inputs "
                                  f"c*{positions} .. (c+1)*{positions}-1 of the linear layer: keep those columns.")
    kept_parameters = (sum(p.numel() for p in conv.parameters()) + sum(p.numel() for p in norm.parameters())) \
        * len(keep) // conv.out_channels + linear.out_features * (linear.in_features * len(keep) // conv.out_channels) \
        + (linear.out_features if linear.bias is not None else 0)
    have = sum(p.numel() for m in result for p in m.parameters())
    if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4):
        if have != kept_parameters:
            return CheckResult(False, f"The outputs are right, but your layers hold {have:,} parameters where the "
                                      f"kept channels need {kept_parameters:,}: drop the removed channels' weights.")
        before = sum(p.numel() for m in (conv, norm, linear) for p in m.parameters())
        return CheckResult(True, f"Your layers compute what the teacher computes with those channels silenced, with "
                                 f"{have:,} parameters instead of {before:,}.")
    hint = ("copy the batch norm's running_mean and running_var for the kept channels too, not only its weight and "
            "bias." if torch.equal(smaller_norm.running_mean, torch.zeros_like(smaller_norm.running_mean)) else
            "keep the conv's filters keep (dim 0), the norm's entries keep, and for the linear layer the columns of "
            "each kept channel, in the order of keep.")
    return CheckResult(False, f"Your smaller layers compute something else than the original with the other channels "
                              f"silenced. Hint: {hint}")


# ==============================================================================================================
# 03 · Quantization
# ==============================================================================================================

def check_quantize(fn: Callable[[torch.Tensor, float, int, int, int], torch.Tensor]) -> CheckResult:
    """Notebook 03: ``fn(x, scale, zero_point, qmin, qmax)`` returns clamp(round(x / scale) + zero_point, qmin, qmax)."""
    x = torch.tensor([-1.3, -0.26, 0.0, 0.24, 0.5, 0.77, 2.9])
    for scale, zero_point, qmin, qmax in ((0.1, 10, 0, 31), (0.25, 0, -8, 7), (0.05, 3, 0, 15)):
        expected = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
        got, failure = _tensor_call(fn, x.clone(), scale, zero_point, qmin, qmax)
        if failure is not None:
            return failure
        if got.shape == expected.shape and torch.equal(got.float(), expected):
            continue
        wrong = {
            "clamp to [qmin, qmax]: values beyond the range saturate at the end codes.":
                torch.round(x / scale) + zero_point,
            "round to the nearest integer (torch.round), don't truncate.": torch.clamp(torch.trunc(x / scale) + zero_point, qmin, qmax),
            "add the zero point after dividing by the scale: round(x / scale) + zero_point.":
                torch.clamp(torch.round(x / scale), qmin, qmax),
            "divide by the scale (x / scale); multiplying is the way back (dequantize).":
                torch.clamp(torch.round(x * scale) + zero_point, qmin, qmax),
        }
        hint = next((h for h, w in wrong.items() if got.shape == w.shape and torch.equal(got.float(), w)),
                    "q = clamp(round(x / scale) + zero_point, qmin, qmax), element by element.")
        return CheckResult(False, f"For scale={scale}, zero_point={zero_point}, range [{qmin}, {qmax}] your codes are "
                                  f"{got.tolist()}, expected {expected.tolist()}. Hint: {hint}")
    return CheckResult(True, "Your quantize matches clamp(round(x / scale) + zero_point, qmin, qmax) on all 3 grids.")


def check_scale(fn: Callable[[torch.Tensor, int], tuple[float, int]]) -> CheckResult:
    """Notebook 03: ``fn(x, bits)`` returns the asymmetric (scale, zero_point) that maps [min(x, 0), max(x, 0)] onto
    0 .. 2^bits - 1, as torch's MinMaxObserver does."""
    generator = torch.Generator().manual_seed(5)
    for x, bits in ((torch.randn(100, generator=generator) * 2 + 1, 8), (torch.rand(50, generator=generator) * 6, 4),
                    (-torch.rand(30, generator=generator) - 0.5, 3)):
        params = quantize.choose_qparams(x, bits)
        expected = (float(params.scale), int(params.zero_point))
        got, failure = _call(fn, x.clone(), bits)
        if failure is not None:
            return failure
        try:
            scale, zero_point = float(got[0]), int(got[1])
        except (TypeError, ValueError, IndexError):
            return CheckResult(False, f"Return a pair (scale, zero_point); your function returned {got!r}.")
        if abs(scale - expected[0]) <= 1e-6 * expected[0] and zero_point == expected[1]:
            continue
        low, high = float(x.min()), float(x.max())
        if abs(scale - (high - low) / (2 ** bits - 1)) < 1e-6 * expected[0] and (low > 0 or high < 0):
            hint = "widen the range to include 0 (min(x.min(), 0) and max(x.max(), 0)), so that 0 is exactly representable."
        elif abs(scale - expected[0] * (2 ** bits - 1) / 2 ** bits) < 1e-6 * expected[0]:
            hint = f"a {bits}-bit code has 2^bits - 1 = {2 ** bits - 1} steps between its {2 ** bits} levels, not {2 ** bits}."
        elif abs(scale - expected[0]) <= 1e-6 * expected[0]:
            hint = "the scale is right; the zero point is the code of 0: round(-min / scale), kept in range."
        else:
            hint = "scale = (max - min) / (2^bits - 1) over the range widened to include 0."
        return CheckResult(False, f"For {bits} bits your (scale, zero_point) is ({scale:.6g}, {zero_point}), expected "
                                  f"({expected[0]:.6g}, {expected[1]}). Hint: {hint}")
    return CheckResult(True, "Your scale and zero point match torch's MinMaxObserver on all 3 tensors.")


def check_integer_linear_per_channel(fn: Callable[..., torch.Tensor], layer: nn.Linear, inputs: torch.Tensor,
                                     calibration_inputs: torch.Tensor) -> CheckResult:
    """Notebook 03: ``fn(codes, weight_codes, bias_codes, input_zero_point, multipliers, shifts, output_zero_point)``
    is the integer-only linear layer with one weight scale, so one multiplier m0 and one shift, per output channel
    (int64 tensors). Checked on ``inputs`` (float activations reaching ``layer``) against PyTorch's quantized kernel
    with per-channel weights: every output code within one of its."""
    input_grid = quantize.choose_qparams(calibration_inputs, 8)
    output_grid = quantize.choose_qparams(layer(calibration_inputs).detach(), 8)
    weight_grid = integer_linear.weight_params(layer, per_channel=True)
    accumulator_scales = float(input_grid.scale) * weight_grid.scale.double()
    pairs = [integer_linear.fixed_point_multiplier(float(scale / float(output_grid.scale))) for scale in accumulator_scales]
    multipliers, shifts = (torch.tensor(column, dtype=torch.int64) for column in zip(*pairs))
    weight_codes = quantize.quantize(layer.weight.detach(), weight_grid).to(torch.int8)
    bias_codes = torch.round(layer.bias.detach().double() / accumulator_scales).to(torch.int32)
    codes = quantize.quantize(inputs, input_grid).to(torch.uint8)
    expected = integer_linear.pytorch_linear(layer, codes, input_grid, output_grid, per_channel=True)
    got, failure = _tensor_call(fn, codes.clone(), weight_codes.clone(), bias_codes.clone(), int(input_grid.zero_point),
                                multipliers.clone(), shifts.clone(), int(output_grid.zero_point))
    if failure is not None:
        return failure
    if got.shape != expected.shape or got.dtype != torch.uint8:
        return CheckResult(False, f"Your layer returned {got.dtype} {tuple(got.shape)}; return uint8 codes of shape "
                                  f"{tuple(expected.shape)} (clamp to 0..255, then .to(torch.uint8)).")
    apart = (got.int() - expected.int()).abs()
    if int(apart.max()) <= 1:
        return CheckResult(True, f"Your integer-only layer gives PyTorch's per-channel kernel's codes on "
                                 f"{len(codes):,} images: {float((apart == 0).float().mean()):.2%} equal, none more "
                                 "than one apart.")
    return CheckResult(False, f"{float((apart > 1).float().mean()):.1%} of your output codes are more than one away "
                              "from PyTorch's. Hints, one at a time: (1) each output channel n has its own multiplier "
                              "m0[n] and shift[n]: they apply to column n of the int32 accumulator; (2) subtract the "
                              "input zero point before the products, add the output zero point after the shift; "
                              "(3) section 3's integer_only_linear is the per-tensor version of this function.")


# ==============================================================================================================
# 04 · Knowledge distillation
# ==============================================================================================================

SOFT_TARGET_CASES = [(torch.tensor([[2.0, 1.0, 0.1]]), 1.0), (torch.tensor([[5.0, -3.0, 0.0, 1.0]]), 4.0),
                     (torch.tensor([[10.0, 0.0], [0.0, 10.0]]), 20.0)]


def check_unpack(fn: Callable[[torch.Tensor, int, int], torch.Tensor], weight: torch.Tensor) -> CheckResult:
    """Notebook 03: ``fn(packed, bits, count)`` returns the first ``count`` codes of bytes packed as
    :func:`kdviz.packing.pack` packs them (8 / bits codes to a byte, the first in the lowest bits). Checked on a real
    weight's 4-bit and 2-bit codes, with a count that leaves the last byte partly padding."""
    for bits in (4, 2):
        codes = packing.unsigned_codes(weight, bits)[0].flatten()[:1001]  # 1,001 codes: a padded last byte
        packed = packing.pack(codes, bits)
        got, failure = _tensor_call(fn, packed.clone(), bits, len(codes))
        if failure is not None:
            return failure
        if got.shape == codes.shape and torch.equal(got.to(torch.int64), codes):
            continue
        per_byte, mask = 8 // bits, 2 ** bits - 1
        shifts = torch.arange(per_byte) * bits
        spread = packed.to(torch.int64)[:, None] >> shifts
        wrong = {
            "the first code sits in the lowest bits: shift each byte right by 0, bits, 2 * bits, ... in that order.":
                ((packed.to(torch.int64)[:, None] >> shifts.flip(0)) & mask).flatten()[:len(codes)],
            "after each shift keep only the lowest bits: & (2 ** bits - 1).": spread.flatten()[:len(codes)],
            f"keep only the first count codes: the last byte is padded with zero codes up to {per_byte} to a byte.":
                (spread & mask).flatten(),
        }
        hint = next((h for h, w in wrong.items() if got.shape == w.shape and torch.equal(got.to(torch.int64), w)),
                    "for each byte, (byte >> (i * bits)) & (2 ** bits - 1) is its code number i.")
        shown = got.flatten()[:8].tolist()
        return CheckResult(False, f"At {bits} bits your first codes are {shown} ({got.numel():,} in all), expected "
                                  f"{codes[:8].tolist()} ({len(codes):,}). Hint: {hint}")
    return CheckResult(True, "Your unpacking gives back every 4-bit and 2-bit code of the teacher's weight, "
                             "padding dropped: the file stores b bits a weight, and nothing is lost.")


def check_soft_targets(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """Notebook 04: ``fn(logits, T)`` returns softmax(logits / T) over the last dimension."""
    for logits, T in SOFT_TARGET_CASES:
        expected = distill.soft_targets(logits, T)
        got, failure = _tensor_call(fn, logits.clone(), T)
        if failure is not None:
            return failure
        if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-5):
            continue
        case = f"logits={logits.tolist()}, T={T}"
        if got.shape != expected.shape:
            hint = f"keep the shape of the logits: expected {tuple(expected.shape)}, got {tuple(got.shape)}."
        elif torch.allclose(got, torch.softmax(logits, -1), atol=1e-5):
            hint = "divide the logits by T before the softmax."
        elif torch.allclose(got, torch.softmax(logits * T, -1), atol=1e-5):
            hint = "divide the logits by T; multiplying makes the distribution sharper, not softer."
        elif torch.allclose(got, torch.exp(logits / T), atol=1e-5):
            hint = "normalise: divide each exp(logit / T) by their sum, so the probabilities add up to 1."
        elif torch.allclose(got, torch.log_softmax(logits / T, -1), atol=1e-5):
            hint = "return probabilities (softmax), not log-probabilities."
        else:
            hint = "each row should sum to 1 over the classes (the last dimension): softmax(logits / T, dim=-1)."
        return CheckResult(False, f"For {case} your function gives {got.tolist()}, expected {expected.tolist()}. "
                                  f"Hint: {hint}")
    return CheckResult(True, f"Your soft targets match kdviz.distill.soft_targets on all {len(SOFT_TARGET_CASES)} cases.")


def _loss_cases() -> list[tuple]:
    generator = torch.Generator().manual_seed(4)
    cases = []
    for T, alpha in ((1.0, 0.5), (8.0, 0.9), (4.0, 0.3)):
        student = torch.randn(6, 5, generator=generator) * 2
        teacher = torch.randn(6, 5, generator=generator) * 4
        labels = torch.randint(0, 5, (6,), generator=generator)
        cases.append((student, teacher, labels, T, alpha))
    return cases


def check_distillation_loss(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Notebook 04: ``fn(student_logits, teacher_logits, labels, T, alpha)`` is the alpha/T distillation loss."""
    for student, teacher, labels, T, alpha in _loss_cases():
        expected = distill.distillation_loss(student, teacher, labels, T, alpha)
        got, failure = _tensor_call(fn, student.clone(), teacher.clone(), labels.clone(), T, alpha)
        if failure is not None:
            return failure
        if got.numel() == 1 and torch.allclose(got.float().reshape(()), expected, rtol=1e-4):
            continue
        if got.numel() != 1:
            return CheckResult(False, f"Your loss has shape {tuple(got.shape)}; return one number (average over the batch).")
        kl = distill.soft_loss(student, teacher, T)
        ce = F.cross_entropy(student, labels)
        reversed_kl = F.kl_div(F.log_softmax(teacher / T, -1), F.log_softmax(student / T, -1),
                               reduction="batchmean", log_target=True)
        mistakes = {
            "the soft term needs the factor T²: without it its gradients shrink as 1/T².": alpha * kl + (1 - alpha) * ce,
            "alpha weights the soft (teacher) term and 1 - alpha the hard (label) term: you swapped them.":
                (1 - alpha) * T ** 2 * kl + alpha * ce,
            "the KL divergence goes from the teacher's distribution to the student's: KL(teacher || student).":
                alpha * T ** 2 * reversed_kl + (1 - alpha) * ce,
            "average the KL over the batch only ('batchmean'), not over the classes too ('mean').":
                alpha * T ** 2 * kl / student.shape[1] + (1 - alpha) * ce,
            "the hard term uses the student's plain logits (T = 1), not logits / T.":
                alpha * T ** 2 * kl + (1 - alpha) * F.cross_entropy(student / T, labels),
        }
        hint = next((h for h, wrong in mistakes.items() if torch.allclose(got.float().reshape(()), wrong, rtol=1e-4)),
                    "loss = alpha * T² * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels).")
        return CheckResult(False, f"For T={T}, alpha={alpha} your loss is {float(got):.5f}, expected "
                                  f"{float(expected):.5f}. Hint: {hint}")
    return CheckResult(True, "Your loss matches kdviz.distill.distillation_loss at every T and alpha tried.")


EPOCH_BAR = 0.75  # test accuracy after one epoch of distillation of the width-8 student: chance is 0.10


def check_distillation_epoch(fn: Callable[..., object], train_split: tuple[torch.Tensor, torch.Tensor],
                             teacher_logits: torch.Tensor, test: tuple[torch.Tensor, torch.Tensor],
                             T: float = 4.0, alpha: float = 0.9) -> CheckResult:
    """Notebook 04: ``fn(student, optimizer, images, labels, teacher_logits, T, alpha)`` trains ``student`` for one
    epoch of distillation over the uint8 ``images`` (one row of ``teacher_logits`` per image). Checked by running
    it on a fresh width-8 student: its weights must move, and its test accuracy must clear ``EPOCH_BAR``."""
    config.seed_everything(0)
    student = models.build("student_cnn", width=8)
    before = [p.detach().clone() for p in student.parameters()]
    optimizer = torch.optim.SGD(student.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    images, labels = train_split
    _, failure = _call(fn, student, optimizer, images, labels, teacher_logits, T, alpha)
    if failure is not None:
        return failure
    if all(torch.equal(a, b) for a, b in zip(before, student.parameters())):
        return CheckResult(False, "The student's weights did not change. Hint: for every batch, compute the loss, "
                                  "call loss.backward(), then optimizer.step() (and optimizer.zero_grad() before the "
                                  "next backward).")
    accuracy = train.evaluate(student, *test, device="cpu").accuracy
    if accuracy >= EPOCH_BAR:
        return CheckResult(True, f"After your epoch the student reaches {100 * accuracy:.2f} % on "
                                 f"{len(test[1]):,} test images (the bar: {100 * EPOCH_BAR:.0f} %).")
    return CheckResult(False, f"After your epoch the student reaches {100 * accuracy:.2f} % on the test images; "
                              f"the bar is {100 * EPOCH_BAR:.0f} %. Hints, one at a time: (1) does every batch go "
                              "through data.normalize, as in training? (2) is the loss the one of exercise 2 (check "
                              "it there), with the teacher's logits of the same images as the batch? (3) compare "
                              "with distillation_step in the recap section: zero_grad, backward, step, every batch; "
                              "student.train() first.")


# ==============================================================================================================
# 05 · Better together
# ==============================================================================================================

PARETO_CASES = [  # (cost, accuracy) points, as a learner would list them
    [(3.0, 0.94), (3.0, 0.90), (0.03, 0.92), (0.01, 0.85), (0.5, 0.93)],
    [(1.0, 0.5), (2.0, 0.4), (3.0, 0.6)],
    [(5.0, 0.9), (1.0, 0.9), (1.0, 0.8)],
]


def check_hint_loss(fn: Callable, student: nn.Sequential, regressor: nn.Module, images: torch.Tensor,
                    teacher_features: torch.Tensor) -> CheckResult:
    """Notebook 04: ``fn(student, regressor, images, teacher_features)`` returns FitNets' hint loss: half the mean
    squared difference between the regressor's map of the student's guided features (its first
    ``hints.STUDENT_GUIDED_LAYERS`` layers) and the teacher's features. Checked on a real batch."""
    regressed = regressor(student[:hints.STUDENT_GUIDED_LAYERS](images))
    expected = hints.hint_loss(regressed, teacher_features)
    got, failure = _tensor_call(fn, student, regressor, images, teacher_features)
    if failure is not None:
        return failure
    if got.numel() == 1 and torch.allclose(got.detach().float().reshape(()), expected.detach(), rtol=1e-4):
        if not got.requires_grad:
            return CheckResult(False, "Your loss has the right value but no gradient: keep it a tensor computed "
                                      "from the student's and the regressor's outputs (no .item(), no torch.no_grad).")
        return CheckResult(True, "Your hint loss equals kdviz.hints.hint_loss on a real batch: the student's lower "
                                 "layers can now be trained towards the teacher's features.")
    value = float(got.detach().float().flatten()[0]) if got.numel() else float("nan")
    squared = (regressed - teacher_features.float()) ** 2
    wrong = {"FitNets' loss is half the mean squared difference: multiply by 0.5.": squared.mean(),
             "average over every element (.mean()), not the sum.": 0.5 * squared.sum()}
    hint = next((h for h, w in wrong.items() if got.numel() == 1 and torch.isclose(torch.tensor(value), w.detach(),
                                                                                    rtol=1e-4)),
                "regressed = regressor(student[:8](images)); 0.5 * ((regressed - teacher_features) ** 2).mean().")
    return CheckResult(False, f"Your loss is {value:.5g} (shape {tuple(got.shape)}), expected {float(expected.detach()):.5g}. "
                              f"Hint: {hint}")


def check_code_lengths(fn: Callable, symbols: list[int], alphabet: int) -> CheckResult:
    """Notebook 05: ``fn(symbols, alphabet)`` returns the length of each symbol's Huffman code, one per symbol of
    ``0 .. alphabet - 1`` (0 for a symbol that never occurs). Checked on real symbols: a code with these lengths
    must exist (the Kraft inequality) and take as few bits as Huffman's."""
    got, failure = _call(fn, list(symbols), alphabet)
    if failure is not None:
        return failure
    try:
        lengths = [int(n) for n in got]
    except (TypeError, ValueError):
        return CheckResult(False, f"Your function returned {type(got).__name__}; return a list of integers, one "
                                  f"per symbol of the alphabet ({alphabet}).")
    best = huffman.encoded_bits(symbols, huffman.code_lengths(symbols, alphabet))
    present = set(symbols)
    if len(lengths) != alphabet:
        return CheckResult(False, f"You returned {len(lengths)} lengths; return one per symbol of the alphabet "
                                  f"({alphabet}), 0 for those that never occur.")
    if any(lengths[s] <= 0 for s in present) or any(n < 0 for n in lengths):
        return CheckResult(False, "Every symbol that occurs needs a code of at least one bit, and no length is "
                                  "negative. Hint: start every symbol at 0 and add 1 to each member of a merged group.")
    kraft = sum(2.0 ** -lengths[s] for s in present)
    if kraft > 1 + 1e-12:
        return CheckResult(False, f"No prefix code has these lengths: the sum of 2^-length is {kraft:.3f}, over 1. "
                                  "Hint: each merge adds one bit to every member of *both* groups merged.")
    total = sum(lengths[s] for s in symbols)
    if total > best:
        fixed = len({lengths[s] for s in present}) == 1
        hint = ("these are fixed-width codes: let frequent symbols have shorter codes." if fixed else
                "always merge the two groups with the *smallest* counts (heapq.heappop twice), then push the merged "
                "group back with the sum of their counts.")
        return CheckResult(False, f"Your codes take {total:,} bits for the {len(symbols):,} symbols; Huffman's take "
                                  f"{best:,}. Hint: {hint}")
    return CheckResult(True, f"Your code lengths are optimal: {total:,} bits for {len(symbols):,} symbols, "
                             f"{total / len(symbols):.2f} bits a symbol instead of the fixed "
                             f"{max(1, (alphabet - 1).bit_length())}.")


def check_pareto_front(fn: Callable[[list[tuple[float, float]]], list[int]]) -> CheckResult:
    """Notebook 05: ``fn(points)`` returns the positions of the (cost, accuracy) points on the Pareto front: those
    that no other point beats (at most as costly and at least as accurate, better in one), cheapest first."""
    for points in PARETO_CASES:
        rows = [{"name": i, "cost": c, "accuracy": a} for i, (c, a) in enumerate(points)]
        expected = pareto_front(rows, "cost")
        got, failure = _call(fn, list(points))
        if failure is not None:
            return failure
        try:
            got = [int(i) for i in got]
        except (TypeError, ValueError):
            return CheckResult(False, f"Return a list of positions (integers); your function returned {got!r}.")
        if got == expected:
            continue
        if sorted(got) == sorted(expected):
            hint = "the right points, in the wrong order: sort them by cost, cheapest first."
        elif any(i not in expected for i in got):
            beaten = next(i for i in got if i not in expected)
            hint = (f"point {beaten} {points[beaten]} is beaten by another point that costs no more and is at least "
                    "as accurate: it is not on the front.")
        else:
            kept = next(i for i in expected if i not in got)
            hint = f"point {kept} {points[kept]} is missing: no other point is both cheaper (or as cheap) and better."
        return CheckResult(False, f"For the points {points} your front is {got}, expected {expected}. Hint: {hint}")
    return CheckResult(True, f"Your front matches on all {len(PARETO_CASES)} sets of points.")


def check_fgsm_step(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> CheckResult:
    """Notebook 05: ``fn(x, gradient, epsilon)`` returns the fast-gradient-sign step clamp(x + epsilon * sign(g), 0, 1)."""
    generator = torch.Generator().manual_seed(6)
    x = torch.rand(2, 1, 4, 4, generator=generator)
    x[0, 0, 0, :2] = torch.tensor([0.0, 1.0])
    gradient = torch.randn(2, 1, 4, 4, generator=generator) * 3
    for epsilon in (0.1, 0.25):
        expected = (x + epsilon * gradient.sign()).clamp(0, 1)
        got, failure = _tensor_call(fn, x.clone(), gradient.clone(), epsilon)
        if failure is not None:
            return failure
        if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-6):
            continue
        wrong = {
            "keep the pixels in their range: clamp the result to [0, 1].": x + epsilon * gradient.sign(),
            "use the sign of the gradient (torch.sign), not the gradient itself: every pixel moves by exactly epsilon.":
                (x + epsilon * gradient).clamp(0, 1),
            "step *up* the gradient (x + ...): the attack raises the loss, it does not lower it.":
                (x - epsilon * gradient.sign()).clamp(0, 1),
        }
        hint = next((h for h, w in wrong.items() if got.shape == w.shape and torch.allclose(got, w, atol=1e-6)),
                    "x_adv = clamp(x + epsilon * sign(gradient), 0, 1), element by element.")
        return CheckResult(False, f"For epsilon = {epsilon} your step differs from clamp(x + epsilon * sign(g), 0, 1). "
                                  f"Hint: {hint}")
    return CheckResult(True, "Your step matches the fast gradient sign method for both epsilons.")


INT8_TOLERANCE = 0.005  # the learner's int8 model's test accuracy against kdviz's, same calibration images


def check_static_int8(fn: Callable[[nn.Module, torch.Tensor], nn.Module], model: nn.Sequential,
                      calibration_images: torch.Tensor, test_images: torch.Tensor,
                      test_labels: torch.Tensor) -> CheckResult:
    """Notebook 05: ``fn(model, calibration_images)`` returns ``model`` converted to static int8 with
    torch.ao.quantization's eager mode (fused, wrapped between a QuantStub and a DeQuantStub, observed on the uint8
    calibration images, converted). Checked on a copy of the pipeline's pruned student: no float layer left, and the
    test accuracy within half a point of :func:`kdviz.int8.static_int8`'s on the same calibration images."""
    original = models.copy_model(model).cpu().eval()
    state = _snapshot(original)
    with int8.quiet_deprecations():
        converted, failure = _call(fn, original, calibration_images)
    if failure is not None:
        return failure
    if _changed_since(original, state):
        return CheckResult(False, "Your function changed the model it was given (fusing folds batch norm into the "
                                  "convolutions in place). Hint: work on copy.deepcopy(model).")
    if not isinstance(converted, nn.Module):
        return CheckResult(False, f"Return the converted nn.Module; your function returned {type(converted).__name__}.")
    left = sorted({type(m).__name__ for m in converted.modules()
                   if type(m) in (nn.Conv2d, nn.Linear, nn.BatchNorm2d)})
    if left:
        hint = ("fuse each conv-BN-ReLU run first (tq.fuse_modules with int8.fusion_groups), so that batch norm is "
                "folded into the convolution." if left == ["BatchNorm2d"] else
                "after tq.prepare and the calibration batches, tq.convert swaps each observed layer for its int8 twin.")
        return CheckResult(False, f"Float layers are left in your model: {', '.join(left)}. Hint: {hint}")
    try:
        with int8.quiet_deprecations():
            accuracy = train.evaluate(converted, test_images, test_labels, device="cpu").accuracy
    except (RuntimeError, NotImplementedError) as error:
        return CheckResult(False, f"Your int8 model fails on real images: {str(error).splitlines()[0][:200]}. Hint: a "
                                  "quantized layer needs quantized inputs: wrap the model between a tq.QuantStub and "
                                  "a tq.DeQuantStub (int8.QuantizedWrapper does) before you prepare it.")
    reference = train.evaluate(int8.static_int8(original, calibration_images), test_images, test_labels,
                               device="cpu").accuracy
    if abs(accuracy - reference) <= INT8_TOLERANCE:
        return CheckResult(True, f"Your int8 model: {100 * accuracy:.2f} % on {len(test_labels):,} test images, "
                                 f"kdviz's {100 * reference:.2f} %, and {measure.serialized_bytes(converted):,} bytes "
                                 f"against the float model's {measure.serialized_bytes(original):,}.")
    return CheckResult(False, f"Your int8 model scores {100 * accuracy:.2f} % on the test images, kdviz's "
                              f"{100 * reference:.2f} %. Hints, one at a time: (1) did every calibration batch go "
                              "through data.normalize and the prepared model, before tq.convert? Without them the "
                              "observers have seen nothing. (2) the qconfig: tq.get_default_qconfig(int8.backend()), "
                              "and torch.backends.quantized.engine set to the same. (3) compare with "
                              "kdviz.int8.static_int8.")
