"""The teacher's pruning experiments, cached: one-shot curves, sensitivity, iterative pruning and channel pruning
(introduced in 02)."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from kdviz import cache, config, data, models, obd, prune, shrink, train

SPARSITIES = {"full": (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98), "quick": (0.0, 0.5, 0.8, 0.9, 0.95)}
SENSITIVITY_SPARSITIES = {"full": (0.0, 0.5, 0.8, 0.9, 0.95, 0.98), "quick": (0.0, 0.5, 0.9, 0.98)}
SCHEDULE = {"full": (0.5, 0.75, 0.9, 0.95), "quick": (0.5, 0.9)}  # the quick profile measures fewer points
METHODS = ("magnitude", "obd")


def saliency_images(profile: config.Profile | str | None = None) -> train.Split:
    """The training images the Hessian diagonal is estimated on: 2,000 (quick: 500), balanced, fixed."""
    profile = config.get_profile(profile)
    images, labels = data.load_profile_split("fashion-mnist", "train", profile)
    return data.subset(images, labels, 2000 if profile.name == "full" else 500, seed=0)


def teacher_saliency(profile: config.Profile | str | None = None, method: str = "fisher") -> prune.Scores:
    """OBD saliencies of the teacher's weights (cached): h_kk w_k² / 2 with the Hessian diagonal by ``method``."""
    profile = config.get_profile(profile)
    teacher = train.cached_teacher(profile)
    images, labels = saliency_images(profile)
    settings = train.teacher_key(profile, method=method, images=len(labels))
    return cache.cached_tensors("teacher-saliency", settings,
                                lambda: obd.obd_saliency(teacher, images, labels, method))


def magnitudes(model: nn.Module) -> prune.Scores:
    """|w| of every prunable weight: magnitude pruning's ranking, in the form OBD's functions take."""
    return {name: layer.weight.detach().abs() for name, layer in prune.prunable_layers(model).items()}


def one_shot(profile: config.Profile | str | None = None, sparsities: Sequence[float] | None = None) -> dict:
    """Test accuracy after one-shot pruning of the teacher: by magnitude (global and per layer) and by OBD saliency
    (global), cached."""
    profile = config.get_profile(profile)
    sparsities = sparsities or SPARSITIES[profile.name]

    def compute() -> dict:
        teacher, test = train.cached_teacher(profile), data.load_profile_split("fashion-mnist", "test", profile)
        return {"magnitude (global)": prune.one_shot_curve(teacher, sparsities, test, description="magnitude"),
                "magnitude (per layer)": prune.one_shot_curve(teacher, sparsities, test, scope="layer",
                                                              description="magnitude per layer"),
                "OBD (global)": prune.one_shot_curve(teacher, sparsities, test, scores=teacher_saliency(profile),
                                                     description="OBD")}

    curves = ["magnitude (global)", "magnitude (per layer)", "OBD (global)"]
    return cache.cached_result("one-shot", train.teacher_key(profile, sparsities=list(sparsities), curves=curves), compute)


def loss_prediction(profile: config.Profile | str | None = None,
                    fractions: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)) -> dict:
    """OBD's Fig. 1b on the teacher: predicted against measured training-loss increase, deleting in OBD's order
    and in magnitude's (cached)."""
    profile = config.get_profile(profile)

    def compute() -> dict:
        teacher, scores = train.cached_teacher(profile), teacher_saliency(profile)
        images, labels = saliency_images(profile)
        return {"obd": obd.predicted_against_actual(teacher, scores, fractions, images, labels),
                "magnitude": obd.predicted_against_actual(teacher, scores, fractions, images, labels,
                                                          order_by=magnitudes(teacher))}

    return cache.cached_result("loss-prediction", train.teacher_key(profile, fractions=list(fractions)), compute)


def sensitivity(profile: config.Profile | str | None = None,
                sparsities: Sequence[float] | None = None) -> dict:
    """Accuracy when only one of the teacher's layers is pruned (cached): {"sparsities": [...], layer: [...]}."""
    profile = config.get_profile(profile)
    sparsities = sparsities or SENSITIVITY_SPARSITIES[profile.name]

    def compute() -> dict:
        teacher, test = train.cached_teacher(profile), data.load_profile_split("fashion-mnist", "test", profile)
        return {"sparsities": list(sparsities), **prune.sensitivity(teacher, sparsities, test)}

    return cache.cached_result("sensitivity", train.teacher_key(profile, sparsities=list(sparsities)), compute)


def iterative(profile: config.Profile | str | None = None, method: str = "magnitude",
              schedule: Sequence[float] | None = None, epochs_per_step: int = 1, lr: float = 0.01,
              device=None) -> tuple[nn.Module, dict]:
    """The teacher pruned step by step to each sparsity of ``schedule`` with fine-tuning after each step, ranking
    by magnitude or by OBD saliency recomputed at every step (OBD's own procedure). Cached weights and records."""
    profile = config.get_profile(profile)
    schedule = schedule or SCHEDULE[profile.name]
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
                                                scores_fn=scores_fn, device=device)
        model.load_state_dict(pruned.state_dict())
        return {"steps": records}

    settings = train.teacher_key(profile, method=method, schedule=list(schedule), epochs_per_step=epochs_per_step, lr=lr)
    fresh = models.build("teacher", **train.RECIPES["teacher"].model_kwargs)
    model, result = cache.cached_model("iterative-pruning", settings, fresh, compute)
    return model.eval(), result


def channel_pruned(profile: config.Profile | str | None = None, amount: float = 0.5, epochs: int = 5,
                   lr: float = 0.02, device=None) -> tuple[nn.Module, dict]:
    """The teacher without ``amount`` of its channels and hidden units (a smaller dense model), fine-tuned
    (cached): the model and its accuracy before and after fine-tuning."""
    profile = config.get_profile(profile)
    teacher = train.cached_teacher(profile)
    test = data.load_profile_split("fashion-mnist", "test", profile)

    def compute(model: nn.Module) -> dict:
        before = train.evaluate(model, *test).accuracy
        history = train.fit(model, data.load_profile_split("fashion-mnist", "train", profile), test,
                            epochs=profile.epochs(epochs), lr=lr, augmentation=True, device=device,
                            description=f"fine-tune the channel-pruned teacher ({100 * amount:.0f} % fewer channels)")
        return {"accuracy_pruned": before, "accuracy": history.final_test_accuracy}

    settings = train.teacher_key(profile, amount=amount, epochs=epochs, lr=lr)
    model, result = cache.cached_model("channel-pruning", settings, shrink.channel_prune(teacher, amount), compute)
    return model.eval(), result

