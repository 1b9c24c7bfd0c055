"""Optimal Brain Damage (LeCun, Denker & Solla 1989): saliency s_k = h_kk w_k² / 2 from the diagonal of the
Hessian of the training loss; the exact diagonal for tiny nets and two approximations for real ones (introduced
in 02)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F
from tqdm.auto import tqdm

from kdviz import data, models, prune

Diagonal = dict[str, torch.Tensor]  # parameter name -> estimate of d²L/dθ² for each entry
METHODS = ("exact", "gauss-newton", "fisher", "empirical-fisher", "hutchinson")
EXACT_LIMIT = 5_000  # parameters: the exact Hessian needs P² numbers


def _inputs(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int):
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"images and labels must be non-empty and of equal length, got {len(images)} and {len(labels)}")
    return data.batches(images, labels, batch_size, device=models.device_of(model))


def mean_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> float:
    """Mean cross-entropy of the model (eval mode) on uint8 images: the training loss OBD reasons about."""
    model.eval()
    with torch.no_grad():
        total = sum(F.cross_entropy(model(x), y, reduction="sum").item()
                    for x, y in _inputs(model, images, labels, batch_size))
    return total / len(labels)


def validate_trained(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> float:
    """The model's loss, or a clear error if it is near chance: OBD assumes a trained model at a loss minimum."""
    loss = mean_loss(model, images, labels)
    if loss > 0.9 * math.log(num_classes):
        raise ValueError(f"model must be trained before its saliencies mean anything: its loss on these images is "
                         f"{loss:.2f}, near chance (ln {num_classes} = {math.log(num_classes):.2f}). OBD's Taylor "
                         "expansion assumes a minimum of the loss, where the gradient is zero")
    return loss


def exact_diagonal(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Diagonal:
    """The exact diagonal of the Hessian of the mean loss (the full Hessian by torch.func; tiny networks only)."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    if sum(sizes) > EXACT_LIMIT:
        raise ValueError(f"model must have at most {EXACT_LIMIT:,} parameters for the exact Hessian (it needs P² "
                         f"numbers); this one has {sum(sizes):,}: use method='gauss-newton' or 'hutchinson'")
    model.eval()
    buffers = dict(model.named_buffers())
    x, y = next(iter(_inputs(model, images, labels, len(labels))))

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        params = {n: t.reshape(s) for n, t, s in zip(names, flat.split(sizes), shapes)}
        return F.cross_entropy(functional_call(model, (params, buffers), (x,)), y)

    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    diagonal = torch.func.jacrev(torch.func.jacrev(loss_of))(flat).diagonal()  # reverse over reverse: no jit warning
    return {n: d.reshape(s) for n, d, s in zip(names, diagonal.split(sizes), shapes)}


def _per_sample_gradients(model: nn.Module):
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = dict(model.named_buffers())

    def loss_one(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, (params, buffers), (x.unsqueeze(0),)), y.unsqueeze(0))

    return params, vmap(grad(loss_one), in_dims=(None, 0, 0))


def gauss_newton_diagonal(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, labels_from: str = "model",
                          batch_size: int = 32, seed: int = 0, progress: bool = True) -> Diagonal:
    """The diagonal of the Gauss-Newton matrix J^T H_out J (what OBD itself used), from squared per-sample gradients.

    ``labels_from``: "all" weighs the gradient for every class by the model's probability (the exact Gauss-Newton
    diagonal, ten passes); "model" samples one label per image from the model (the Fisher: an unbiased estimate
    at the cost of one pass); "data" uses the true labels (the empirical Fisher, cheap but biased).
    """
    if labels_from not in ("all", "model", "data"):
        raise ValueError(f"labels_from must be 'all', 'model' or 'data', got {labels_from!r}")
    model.eval()
    params, per_sample = _per_sample_gradients(model)
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    generator = torch.Generator().manual_seed(seed)
    batches = list(_inputs(model, images, labels, batch_size))
    for x, y in tqdm(batches, desc=f"Gauss-Newton diagonal ({labels_from})", disable=not progress):
        with torch.no_grad():
            probabilities = model(x).softmax(-1)  # (B, C)
        if labels_from == "all":
            choices = [(torch.full_like(y, c), probabilities[:, c]) for c in range(probabilities.shape[1])]
        elif labels_from == "model":
            sampled = torch.multinomial(probabilities.cpu(), 1, generator=generator).flatten().to(y.device)
            choices = [(sampled, torch.ones_like(probabilities[:, 0]))]
        else:
            choices = [(y, torch.ones_like(probabilities[:, 0]))]
        for target, weight in choices:
            gradients = per_sample(params, x, target)
            for name, g in gradients.items():  # g: (B, *shape)
                total[name] += torch.einsum("b,b...->...", weight, g.pow(2))
    return {name: t / len(labels) for name, t in total.items()}


def hutchinson_diagonal(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, probes: int = 100,
                        batch_size: int = 1024, seed: int = 0, progress: bool = True) -> Diagonal:
    """Hutchinson's estimator of the Hessian diagonal, E[z * Hz] over Rademacher vectors z (Hessian-vector products
    by double backward). Unbiased, but each entry is noisy and can come out negative."""
    if isinstance(probes, bool) or not isinstance(probes, int) or probes <= 0:
        raise ValueError(f"probes must be a positive integer, got {probes!r}")
    model.eval()
    params = [p for p in model.parameters()]
    names = [name for name, _ in model.named_parameters()]
    generator = torch.Generator().manual_seed(seed)
    total = [torch.zeros_like(p) for p in params]
    batches = list(_inputs(model, images, labels, batch_size))
    bar = tqdm(total=probes * len(batches), desc=f"Hutchinson ({probes} probes)", disable=not progress)
    for x, y in batches:
        loss = F.cross_entropy(model(x), y, reduction="sum") / len(labels)
        gradients = torch.autograd.grad(loss, params, create_graph=True)
        for _ in range(probes):
            z = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(p) for p in params]
            products = torch.autograd.grad(gradients, params, grad_outputs=z, retain_graph=True)
            for t, zi, hz in zip(total, z, products):
                t += zi * hz.detach() / probes
            bar.update()
    bar.close()
    return {name: t for name, t in zip(names, total)}


def hessian_diagonal(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, method: str = "fisher",
                     **options) -> Diagonal:
    """The Hessian diagonal by ``method``: "exact", "gauss-newton" (all classes), "fisher" (sampled labels),
    "empirical-fisher" (true labels) or "hutchinson"."""
    if method == "exact":
        return exact_diagonal(model, images, labels)
    if method == "hutchinson":
        return hutchinson_diagonal(model, images, labels, **options)
    labels_from = {"gauss-newton": "all", "fisher": "model", "empirical-fisher": "data"}.get(method)
    if labels_from is None:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    return gauss_newton_diagonal(model, images, labels, labels_from=labels_from, **options)


def saliency(model: nn.Module, diagonal: Diagonal) -> prune.Scores:
    """OBD's saliency of every prunable weight: s_k = h_kk * w_k² / 2, the loss increase its deletion predicts."""
    scores = {}
    for name, layer in models.prunable_layers(model).items():
        key = f"{name}.weight" if name else "weight"
        if key not in diagonal:
            raise ValueError(f"diagonal must hold an entry for {key!r} (from hessian_diagonal of the same model)")
        scores[name] = diagonal[key].to(layer.weight.device) * layer.weight.detach() ** 2 / 2
    return scores


def obd_saliency(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, method: str = "fisher",
                 **options) -> prune.Scores:
    """Check the model is trained, estimate the Hessian diagonal by ``method``, and return the saliencies."""
    validate_trained(model, images, labels)
    return saliency(model, hessian_diagonal(model, images, labels, method, **options))


def predicted_against_actual(model: nn.Module, scores: prune.Scores, fractions: Sequence[float],
                             images: torch.Tensor, labels: torch.Tensor,
                             order_by: prune.Scores | None = None) -> list[dict]:
    """OBD's Fig. 1b: delete the lowest-ranked weights (by ``order_by``, default the saliencies ``scores``) for each
    fraction, and compare the predicted loss increase (the sum of the deleted weights' saliencies) with the
    measured one."""
    base = mean_loss(model, images, labels)
    ranking = order_by if order_by is not None else scores
    names = list(scores)
    flat_scores = torch.cat([scores[n].flatten() for n in names])
    flat_ranking = torch.cat([ranking[n].flatten() for n in names])
    order = torch.argsort(flat_ranking)
    rows = []
    for fraction in fractions:
        count = round(prune.validate_amount(fraction, "fractions") * len(flat_scores))
        pruned = prune.prune_model(model, fraction, scores=ranking)
        rows.append({"fraction": float(fraction), "deleted": count,
                     "predicted": float(flat_scores[order[:count]].sum()),
                     "actual": mean_loss(pruned, images, labels) - base})
    return rows


def hutchinson_convergence(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, exact: Diagonal,
                           probes: Sequence[int] = (1, 4, 16, 64, 256), seed: int = 0) -> list[dict]:
    """How Hutchinson's estimate approaches the exact diagonal as probes are added: relative error and the share
    of entries that come out negative (an impossible curvature for a convex loss in one weight)."""
    target = torch.cat([d.flatten() for d in exact.values()])
    rows = []
    for count in probes:
        estimate = torch.cat([d.flatten() for d in hutchinson_diagonal(model, images, labels, probes=count, seed=seed,
                                                                       progress=False).values()])
        rows.append({"probes": count, "relative_error": float((estimate - target).norm() / target.norm()),
                     "negative": float((estimate < 0).float().mean())})
    return rows
