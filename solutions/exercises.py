"""Reference answers to the notebooks' checked exercises, for instructors: each function is what a learner writes in
place of ``raise NotImplementedError``, under the same name. ``SOLUTIONS`` maps each check of ``kdviz.checks`` to
its answer; the test command runs every one through its check (tests/test_solutions.py).

Paste one into the notebook's exercise cell, or import it:
``from solutions.exercises import conv2d_parameters``.
"""
from __future__ import annotations

import copy
import heapq
from collections import Counter

import torch
from torch import nn
from torch.ao import quantization as tq

from kdviz import checks, data, int8


# --- 00 why compress ------------------------------------------------------------------------------------------------
def conv2d_parameters(in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> int:
    """One k x k x M filter per output channel, plus one bias each if there are biases."""
    return out_channels * in_channels * kernel_size ** 2 + (out_channels if bias else 0)


def conv2d_macs(in_channels: int, out_channels: int, kernel_size: int, size: int) -> int:
    """Each of the N x size² outputs sums k² x M products."""
    return kernel_size ** 2 * in_channels * out_channels * size ** 2


def my_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> float:
    """In eval mode and without gradients, each batch normalized; the right answers over every image, the last
    smaller batch included."""
    model.eval()
    right = 0
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(data.normalize(images[start:start + batch_size]))
            right += int((logits.argmax(1) == labels[start:start + batch_size]).sum())
    return right / len(images)


# --- 01 efficient architectures ---------------------------------------------------------------------------------------
def separable_macs(in_channels: int, out_channels: int, kernel_size: int, size: int) -> int:
    """Depthwise: k² per input channel and position; pointwise: M per output channel and position."""
    return (kernel_size ** 2 * in_channels + in_channels * out_channels) * size ** 2


def separable_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Module:
    """A depthwise k x k convolution (groups = M) that keeps the size, then a 1x1 convolution, no biases."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels, bias=False),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
    )


def my_separable_swap(model: nn.Sequential, index: int) -> nn.Sequential:
    """A deep copy with layer ``index`` replaced by a depthwise then pointwise pair of the same shape, no biases."""
    twin = copy.deepcopy(model)
    conv = model[index]
    M, N, k = conv.in_channels, conv.out_channels, conv.kernel_size[0]
    twin[index] = nn.Sequential(nn.Conv2d(M, M, k, padding=k // 2, groups=M, bias=False),
                                nn.Conv2d(M, N, 1, bias=False))
    return twin


# --- 02 pruning -------------------------------------------------------------------------------------------------------
def magnitude_mask(weight: torch.Tensor, amount: float) -> torch.Tensor:
    """0 for the round(amount x numel) weights of smallest |w|, 1 elsewhere."""
    mask = torch.ones_like(weight)
    count = round(amount * weight.numel())
    if count:
        smallest = torch.topk(weight.abs().flatten(), count, largest=False).indices
        mask.view(-1)[smallest] = 0
    return mask


def obd_saliency(weight: torch.Tensor, hessian_diagonal: torch.Tensor) -> torch.Tensor:
    """The loss increase OBD predicts for deleting each weight alone: h_kk w_k² / 2."""
    return hessian_diagonal * weight ** 2 / 2


def channels_before_linear(conv: nn.Conv2d, norm: nn.BatchNorm2d, linear: nn.Linear,
                           keep: torch.Tensor) -> tuple[nn.Module, nn.Module, nn.Module]:
    """The kept filters, batch-norm entries, and for the linear layer the block of columns each kept channel owns
    after Flatten (its H x W positions, consecutive)."""
    positions = linear.in_features // conv.out_channels
    smaller_conv = nn.Conv2d(conv.in_channels, len(keep), conv.kernel_size, padding=conv.padding,
                             bias=conv.bias is not None)
    smaller_conv.weight.data = conv.weight.data[keep].clone()
    if conv.bias is not None:
        smaller_conv.bias.data = conv.bias.data[keep].clone()
    smaller_norm = nn.BatchNorm2d(len(keep), eps=norm.eps)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(smaller_norm, name).data = getattr(norm, name).data[keep].clone()
    columns = (keep[:, None] * positions + torch.arange(positions)).flatten()
    smaller_linear = nn.Linear(len(columns), linear.out_features, bias=linear.bias is not None)
    smaller_linear.weight.data = linear.weight.data[:, columns].clone()
    if linear.bias is not None:
        smaller_linear.bias.data = linear.bias.data.clone()
    return smaller_conv, smaller_norm, smaller_linear


# --- 03 quantization --------------------------------------------------------------------------------------------------
def my_quantize(x: torch.Tensor, scale: float, zero_point: int, qmin: int, qmax: int) -> torch.Tensor:
    """Round to the grid, shift by the zero point, clamp to the integer range."""
    return torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)


def my_scale(x: torch.Tensor, bits: int) -> tuple[float, int]:
    """[min(x, 0), max(x, 0)] onto 0 .. 2^bits - 1: the step, and the code that stands for 0."""
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    qmax = 2 ** bits - 1
    scale = max((high - low) / qmax, torch.finfo(torch.float32).eps)
    return scale, int(min(max(round(-low / scale), 0), qmax))


def my_integer_linear_per_channel(codes: torch.Tensor, weight_codes: torch.Tensor, bias_codes: torch.Tensor,
                                  input_zero_point: int, multipliers: torch.Tensor, shifts: torch.Tensor,
                                  output_zero_point: int) -> torch.Tensor:
    """The int32 accumulator as in section 3; then column n times its own m0[n], rounded and shifted by 31 + n[n]."""
    accumulator = (codes.to(torch.int32) - input_zero_point) @ weight_codes.to(torch.int32).T + bias_codes
    total = 31 + shifts
    half = torch.bitwise_left_shift(torch.ones_like(total), total - 1)
    rounded = torch.bitwise_right_shift(accumulator.to(torch.int64) * multipliers + half, total)
    return (rounded + output_zero_point).clamp(0, 255).to(torch.uint8)


# --- 04 knowledge distillation ------------------------------------------------------------------------------------------
def my_soft_targets(logits: torch.Tensor, T: float) -> torch.Tensor:
    """The softmax of the logits divided by T."""
    return torch.softmax(logits / T, dim=-1)


def my_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                         T: float, alpha: float) -> torch.Tensor:
    """alpha T² KL(teacher || student, both softened by T) + (1 - alpha) CE(student, labels), batch means."""
    soft = nn.functional.kl_div(torch.log_softmax(student_logits / T, dim=-1), torch.softmax(teacher_logits / T, dim=-1),
                                reduction="batchmean")
    return alpha * T ** 2 * soft + (1 - alpha) * nn.functional.cross_entropy(student_logits, labels)


def my_distillation_epoch(student: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                          labels: torch.Tensor, teacher_logits: torch.Tensor, T: float, alpha: float) -> None:
    """Shuffled batches of 128: the student's logits on the normalized images, the loss, one step each."""
    student.train()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    for start in range(0, len(order), 128):
        batch = order[start:start + 128]
        loss = my_distillation_loss(student(data.normalize(images[batch])), teacher_logits[batch], labels[batch], T,
                                    alpha)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    student.eval()


# --- 05 better together -----------------------------------------------------------------------------------------------
def my_hint_loss(student: nn.Sequential, regressor: nn.Module, images: torch.Tensor,
                 teacher_features: torch.Tensor) -> torch.Tensor:
    regressed = regressor(student[:8](images))  # the student's two convolution blocks, mapped to the teacher's shape
    return 0.5 * ((regressed - teacher_features.float()) ** 2).mean()


def my_code_lengths(symbols: list[int], alphabet: int) -> list[int]:
    counts = Counter(symbols)
    lengths = [0] * alphabet
    if len(counts) == 1:
        lengths[symbols[0]] = 1
        return lengths
    heap = [(count, symbol, [symbol]) for symbol, count in counts.items()]
    heapq.heapify(heap)
    while len(heap) > 1:
        count_a, first_a, members_a = heapq.heappop(heap)
        count_b, first_b, members_b = heapq.heappop(heap)
        for symbol in members_a + members_b:  # one more bit for every member of both groups
            lengths[symbol] += 1
        heapq.heappush(heap, (count_a + count_b, min(first_a, first_b), members_a + members_b))
    return lengths


def my_pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Cheapest first (the more accurate first among equal costs), keep each point more accurate than all before."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def my_fgsm_step(x: torch.Tensor, gradient: torch.Tensor, epsilon: float) -> torch.Tensor:
    """One step of size epsilon in the direction of the gradient's sign, kept in the pixel range."""
    return torch.clamp(x + epsilon * gradient.sign(), 0, 1)


def my_static_int8(model: nn.Sequential, calibration_images: torch.Tensor) -> nn.Module:
    """Copy; fuse conv-BN-ReLU; QuantStub ... DeQuantStub; observers; calibration batches; convert."""
    torch.backends.quantized.engine = int8.backend()
    wrapped = int8.QuantizedWrapper(copy.deepcopy(model).eval())
    fused = tq.fuse_modules(wrapped, int8.fusion_groups(wrapped.model))
    fused.qconfig = tq.get_default_qconfig(int8.backend())
    prepared = tq.prepare(fused)
    with torch.no_grad():
        for start in range(0, len(calibration_images), 256):
            prepared(data.normalize(calibration_images[start:start + 256]))
    return tq.convert(prepared).eval()


def my_unpack(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    per_byte = 8 // bits
    shifts = torch.arange(per_byte) * bits
    codes = (packed.to(torch.int64)[:, None] >> shifts) & (2 ** bits - 1)  # one row per byte, first code lowest
    return codes.flatten()[:count]


def my_factors(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    u, s, vh = torch.linalg.svd(weight, full_matrices=False)
    root = s[:rank].sqrt()
    return root[:, None] * vh[:rank], u[:, :rank] * root


SOLUTIONS = {
    checks.check_conv2d_parameters: conv2d_parameters,
    checks.check_conv2d_macs: conv2d_macs,
    checks.check_accuracy: my_accuracy,
    checks.check_separable_macs: separable_macs,
    checks.check_separable_block: separable_block,
    checks.check_separable_swap: my_separable_swap,
    checks.check_low_rank_factors: my_factors,
    checks.check_magnitude_mask: magnitude_mask,
    checks.check_obd_saliency: obd_saliency,
    checks.check_channels_before_linear: channels_before_linear,
    checks.check_quantize: my_quantize,
    checks.check_scale: my_scale,
    checks.check_integer_linear_per_channel: my_integer_linear_per_channel,
    checks.check_unpack: my_unpack,
    checks.check_soft_targets: my_soft_targets,
    checks.check_distillation_loss: my_distillation_loss,
    checks.check_distillation_epoch: my_distillation_epoch,
    checks.check_hint_loss: my_hint_loss,
    checks.check_pareto_front: my_pareto_front,
    checks.check_fgsm_step: my_fgsm_step,
    checks.check_code_lengths: my_code_lengths,
    checks.check_static_int8: my_static_int8,
}
