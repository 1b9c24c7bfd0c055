"""The teacher's pruning experiments, cached: one-shot curves, sensitivity, iterative pruning and channel pruning
(introduced in 02)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kdviz import cache, channel_pruning, config, data, models, obd, prune, train

METHODS = ("magnitude", "obd")


def saliency_images(profile: config.Profile | str | None = None) -> train.Split:
    """The training images the Hessian diagonal is estimated on (``profile.saliency_images``), balanced, fixed."""
    profile = config.get_profile(profile)
    images, labels = data.load_profile_split("fashion-mnist", "train", profile)
    return data.subset(images, labels, profile.saliency_images, seed=0)


def teacher_saliency(profile: config.Profile | str | None = None, method: str = "fisher",
                     progress: bool = True) -> prune.Scores:
    """OBD saliencies of the teacher's weights (cached): h_kk w_k² / 2 with the Hessian diagonal by ``method``."""
    profile = config.get_profile(profile)
    teacher = train.cached_teacher(profile)
    images, labels = saliency_images(profile)
    settings = train.teacher_key(profile, ("saliency_images",), method=method, images=len(labels))
    return cache.cached_tensors("teacher-saliency", settings,
                                lambda: obd.obd_saliency(teacher, images, labels, method, progress=progress))


TINY_ESTIMATES = {"Gauss-Newton": "gauss-newton", "Fisher (sampled labels)": "fisher",
                  "Hutchinson, 100 probes": "hutchinson"}


def tiny_hessian(profile: config.Profile | str | None = None, progress: bool = True) -> dict:
    """Notebook 02's tiny net on the saliency images, cached: {"exact": its exact Hessian diagonal, "estimates":
    {name: the diagonal by each method of ``TINY_ESTIMATES``}, "convergence": obd.hutchinson_convergence's rows
    at ``profile.hutchinson_probes``} (about 1,400 Hessian-vector products and an exact diagonal)."""
    profile = config.get_profile(profile)
    tiny, _ = train.load_or_train("tiny_mlp", seed=0, profile=profile, progress=False)
    images, labels = saliency_images(profile)

    def compute() -> dict:
        exact = obd.exact_diagonal(tiny, images, labels)
        estimates = {name: obd.hessian_diagonal(tiny, images, labels, method, progress=progress)
                     for name, method in TINY_ESTIMATES.items()}
        convergence = obd.hutchinson_convergence(tiny, images, labels, exact, probes=profile.hutchinson_probes)
        return {"exact": exact, "estimates": estimates, "convergence": convergence}

    settings = train.profile_key(profile, ("saliency_images", "hutchinson_probes"),
                                 model=train.checkpoint_name("tiny_mlp", profile, 0))
    return cache.cached_tensors("tiny-hessian", settings, compute)


def magnitudes(model: nn.Module) -> prune.Scores:
    """|w| of every prunable weight: magnitude pruning's ranking, in the form OBD's functions take."""
    return {name: layer.weight.detach().abs() for name, layer in models.prunable_layers(model).items()}


def one_shot(profile: config.Profile | str | None = None, sparsities: Sequence[float] | None = None,
             progress: bool = True) -> dict:
    """Test accuracy after one-shot pruning of the teacher: by magnitude (global and per layer) and by OBD saliency
    (global), cached."""
    profile = config.get_profile(profile)
    sparsities = sparsities or profile.sparsities

    def compute() -> dict:
        teacher, test = train.cached_teacher(profile), data.load_profile_split("fashion-mnist", "test", profile)
        return {"magnitude (global)": prune.one_shot_curve(teacher, sparsities, test, progress=progress,
                                                           description="magnitude"),
                "magnitude (per layer)": prune.one_shot_curve(teacher, sparsities, test, scope="layer", progress=progress,
                                                              description="magnitude per layer"),
                "OBD (global)": prune.one_shot_curve(teacher, sparsities, test, progress=progress, description="OBD",
                                                     scores=teacher_saliency(profile, progress=progress))}

    curves = ["magnitude (global)", "magnitude (per layer)", "OBD (global)"]
    settings = train.teacher_key(profile, ("saliency_images",), sparsities=list(sparsities), curves=curves)
    return cache.cached_result("one-shot", settings, compute)


def loss_prediction(profile: config.Profile | str | None = None, fractions: Sequence[float] | None = None,
                    progress: bool = True) -> dict:
    """OBD's Fig. 1b on the teacher: predicted against measured training-loss increase, deleting in OBD's order
    and in magnitude's (cached)."""
    profile = config.get_profile(profile)
    fractions = fractions or profile.loss_fractions

    def compute() -> dict:
        teacher, scores = train.cached_teacher(profile), teacher_saliency(profile, progress=progress)
        images, labels = saliency_images(profile)
        return {"obd": obd.predicted_against_actual(teacher, scores, fractions, images, labels),
                "magnitude": obd.predicted_against_actual(teacher, scores, fractions, images, labels,
                                                          order_by=magnitudes(teacher))}

    return cache.cached_result("loss-prediction", train.teacher_key(profile, ("saliency_images",), fractions=list(fractions)), compute)


def sensitivity(profile: config.Profile | str | None = None,
                sparsities: Sequence[float] | None = None, progress: bool = True) -> dict:
    """Accuracy when only one of the teacher's layers is pruned (cached): {"sparsities": [...], layer: [...]}."""
    profile = config.get_profile(profile)
    sparsities = sparsities or profile.sensitivity_sparsities

    def compute() -> dict:
        teacher, test = train.cached_teacher(profile), data.load_profile_split("fashion-mnist", "test", profile)
        return {"sparsities": list(sparsities), **prune.sensitivity(teacher, sparsities, test, progress=progress)}

    return cache.cached_result("sensitivity", train.teacher_key(profile, sparsities=list(sparsities)), compute)


def iterative(profile: config.Profile | str | None = None, method: str = "magnitude",
              schedule: Sequence[float] | None = None, epochs_per_step: int = 1, lr: float = 0.01, seed: int = 0,
              images_per_step: int | None = config.FINETUNE_IMAGES,
              device: torch.device | str | None = None, progress: bool = True) -> tuple[nn.Module, dict]:
    """The teacher pruned step by step to each sparsity of ``schedule`` with fine-tuning after each step, ranking
    by magnitude or by OBD saliency recomputed at every step (OBD's own procedure), each step fine-tuned on
    ``images_per_step`` training images; ``seed`` draws them and orders their batches. Cached weights and records."""
    profile = config.get_profile(profile)
    schedule = schedule or profile.pruning_schedule
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    images, labels = saliency_images(profile)
    scores_fn = (lambda model: obd.obd_saliency(model, images, labels, "fisher", progress=False)) \
        if method == "obd" else None

    def compute(model: nn.Module) -> dict:
        train_split = data.load_profile_split("fashion-mnist", "train", profile)
        test = data.load_profile_split("fashion-mnist", "test", profile)
        pruned, records = prune.iterative_prune(train.cached_teacher(profile, device), schedule, train_split, test,
                                                epochs_per_step=profile.epochs(epochs_per_step), lr=lr,
                                                scores_fn=scores_fn, seed=seed, device=device, progress=progress,
                                                augmentation=profile.augments, images_per_step=images_per_step)
        model.load_state_dict(pruned.state_dict())
        return {"steps": records}

    depends_on = ("saliency_images",) if method == "obd" else ()
    settings = train.teacher_key(profile, depends_on, method=method, schedule=list(schedule),
                                 epochs_per_step=epochs_per_step, lr=lr, seed=seed, images_per_step=images_per_step)
    fresh = models.build("teacher", **train.RECIPES["teacher"].model_kwargs)
    model, result = cache.cached_model("iterative-pruning", settings, fresh, compute)
    return model.eval(), result


def channel_pruned(profile: config.Profile | str | None = None, amount: float = 0.5, epochs: int = 5,
                   lr: float = 0.02, device: torch.device | str | None = None,
                   progress: bool = True) -> tuple[nn.Module, dict]:
    """The teacher without ``amount`` of its channels and hidden units (a smaller dense model), fine-tuned
    (cached): the model and its accuracy before and after fine-tuning."""
    profile = config.get_profile(profile)
    teacher = train.cached_teacher(profile)
    test = data.load_profile_split("fashion-mnist", "test", profile)

    def compute(model: nn.Module) -> dict:
        before = train.evaluate(model, *test).accuracy
        history = train.fit(model, data.load_profile_split("fashion-mnist", "train", profile), test,
                            epochs=profile.epochs(epochs), lr=lr, augmentation=profile.augments, device=device, progress=progress,
                            description=f"fine-tune the channel-pruned teacher ({100 * amount:.0f} % fewer channels)")
        return {"accuracy_pruned": before, "accuracy": history.final_test_accuracy}

    settings = train.teacher_key(profile, amount=amount, epochs=epochs, lr=lr)
    model, result = cache.cached_model("channel-pruning", settings, channel_pruning.channel_prune(teacher, amount), compute)
    return model.eval(), result

