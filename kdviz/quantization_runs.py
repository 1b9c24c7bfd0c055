"""The teacher's quantization experiments, cached: weights at every bit depth, activations with each calibration,
and quantization-aware training against post-training quantization (introduced in 03)."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from kdviz import cache, calibration, config, data, models, quantize, train

SCHEMES = {"per tensor": False, "per channel": True}


def calibration_images(profile: config.Profile | str | None = None) -> torch.Tensor:
    """Training images the activation ranges are observed on (``profile.calibration_images``), balanced, fixed."""
    profile = config.get_profile(profile)
    images, labels = data.load_profile_split("fashion-mnist", "train", profile)
    return data.subset(images, labels, profile.calibration_images, seed=0)[0]


def weight_bits(profile: config.Profile | str | None = None, bits: Sequence[int] | None = None) -> dict:
    """Test accuracy of the teacher with all Conv2d and Linear weights fake-quantized (symmetric) to each depth,
    per tensor and per channel (cached)."""
    profile = config.get_profile(profile)
    bits = bits or profile.weight_bits

    def compute() -> dict:
        teacher, test = train.cached_teacher(profile), data.load_profile_split("fashion-mnist", "test", profile)
        return {scheme: [{"bits": b, "accuracy": train.evaluate(
            quantize.quantize_weights(teacher, b, per_channel=per_channel), *test).accuracy} for b in bits]
            for scheme, per_channel in SCHEMES.items()}

    return cache.cached_result("weight-bits", train.teacher_key(profile, bits=list(bits), schemes=list(SCHEMES)), compute)


def activation_bits(profile: config.Profile | str | None = None, bits: Sequence[int] | None = None) -> dict:
    """Accuracy of the teacher on the validation images (where a calibration method is chosen; the test images
    only report) with every ReLU output fake-quantized to each depth (weights float), for each calibration method
    (cached)."""
    profile = config.get_profile(profile)
    bits = bits or profile.activation_bits

    def compute() -> dict:
        teacher = train.cached_teacher(profile)
        validation = data.load_profile_split("fashion-mnist", "validation", profile)
        images = calibration_images(profile)
        return {method: [{"bits": b, "accuracy": train.evaluate(
            calibration.quantize_activations(teacher, images, b, method), *validation).accuracy} for b in bits]
            for method in calibration.CALIBRATIONS}

    settings = train.teacher_key(profile, ("calibration_images",), bits=list(bits), methods=list(calibration.CALIBRATIONS),
                                 split="validation")
    return cache.cached_result("activation-bits", settings, compute)


ACTIVATION_FUNCTION_BITS = (8, 4, 2)


def activation_functions(profile: config.Profile | str | None = None, hidden: int = 128, epochs: int = 5,
                         lr: float = 0.05, progress: bool = True) -> dict:
    """The same small network (``calibration.activation_net``) trained with each activation function, once per
    seed of the profile (on the students' training images), then every activation fake-quantized at 8, 4 and 2
    bits with each calibration method: test accuracy in float and at each depth, one row per function and seed
    (cached)."""
    profile = config.get_profile(profile)

    def compute() -> dict:
        train_split = data.load_profile_split("fashion-mnist", "train", profile.for_students())
        test = data.load_profile_split("fashion-mnist", "test", profile)
        images = calibration_images(profile)
        rows = []
        for function in calibration.ACTIVATION_LAYERS:
            for seed in profile.seeds:
                config.seed_everything(seed)
                model = calibration.activation_net(function, hidden)
                train.fit(model, train_split, epochs=profile.epochs(epochs), lr=lr, seed=seed, progress=progress,
                          description=f"{function}, seed {seed}")
                row = {"function": function, "seed": seed, "float": train.evaluate(model, *test).accuracy}
                for method in calibration.CALIBRATIONS:
                    for bits in ACTIVATION_FUNCTION_BITS:
                        quantized = calibration.quantize_activations(model, images, bits, method)
                        row[f"{method}, {bits} bits"] = train.evaluate(quantized, *test).accuracy
                rows.append(row)
        return {"rows": rows}

    settings = train.profile_key(profile, ("calibration_images", "seeds", "student_train_size"), hidden=hidden,
                                 epochs=epochs, lr=lr, bits=list(ACTIVATION_FUNCTION_BITS),
                                 functions=list(calibration.ACTIVATION_LAYERS), methods=list(calibration.CALIBRATIONS))
    return cache.cached_result("activation-functions", settings, compute)


def points_lost(result: dict, method: str) -> "pd.DataFrame":
    """From :func:`activation_functions`' result, the accuracy each function loses at each depth with ``method``'s
    calibration, in points: mean and standard deviation over seeds, with the float accuracy (mean), a row per
    function in the order trained."""
    if method not in calibration.CALIBRATIONS:
        raise ValueError(f"method must be one of {list(calibration.CALIBRATIONS)}, got {method!r}")
    rows = pd.DataFrame(result["rows"])
    for bits in ACTIVATION_FUNCTION_BITS:
        rows[f"{bits} bits"] = 100 * (rows["float"] - rows[f"{method}, {bits} bits"])
    rows["float %"] = 100 * rows["float"]
    columns = ["float %", *(f"{bits} bits" for bits in ACTIVATION_FUNCTION_BITS)]
    grouped = rows.groupby("function", sort=False)[columns]
    spread = grouped.std(ddof=1).fillna(0.0)[columns[1:]].add_suffix(" sd")  # one seed: no spread
    table = grouped.mean().join(spread)
    table.index.name = "function"
    return table


def qat(profile: config.Profile | str | None = None, bits: int = 4, epochs: int = 2, lr: float = 0.01,
        device: torch.device | str | None = None, progress: bool = True) -> tuple[nn.Module, dict]:
    """The teacher fine-tuned with its weights fake-quantized to ``bits`` per channel (straight-through
    gradients), against the same depth without training (post-training quantization). Cached."""
    profile = config.get_profile(profile)
    quantize.validate_bits(bits)
    test = data.load_profile_split("fashion-mnist", "test", profile)

    def compute(model: nn.Module) -> dict:
        teacher = train.cached_teacher(profile, device)
        post_training = train.evaluate(quantize.quantize_weights(teacher, bits), *test).accuracy
        trainable = quantize.prepare_qat(teacher, bits)
        history = train.fit(trainable, data.load_profile_split("fashion-mnist", "train", profile), test,
                            epochs=profile.epochs(epochs), lr=lr, augmentation=profile.augments, device=device, progress=progress,
                            description=f"quantization-aware training, {bits}-bit weights")
        model.load_state_dict(quantize.finish_qat(trainable).state_dict())
        return {"bits": bits, "post_training": post_training, "qat": history.final_test_accuracy,
                "history": history.records}

    fresh = models.build("teacher", **train.RECIPES["teacher"].model_kwargs)
    settings = train.teacher_key(profile, bits=bits, epochs=epochs, lr=lr)
    model, result = cache.cached_model("qat", settings, fresh, compute)
    return model.eval(), result


def float_finetuned(profile: config.Profile | str | None = None, epochs: int = 2, lr: float = 0.01,
                    device: torch.device | str | None = None, progress: bool = True) -> tuple[nn.Module, dict]:
    """QAT's control: the teacher fine-tuned in float32 with :func:`qat`'s epochs and recipe, so that what QAT
    gains over the float teacher can be told apart from what the extra training alone gives. Cached."""
    profile = config.get_profile(profile)
    test = data.load_profile_split("fashion-mnist", "test", profile)

    def compute(model: nn.Module) -> dict:
        trainable = models.copy_model(train.cached_teacher(profile, device))
        history = train.fit(trainable, data.load_profile_split("fashion-mnist", "train", profile), test,
                            epochs=profile.epochs(epochs), lr=lr, augmentation=profile.augments, device=device, progress=progress,
                            description="float32 fine-tuning, QAT's control")
        model.load_state_dict(trainable.state_dict())
        return {"accuracy": history.final_test_accuracy, "history": history.records}

    fresh = models.build("teacher", **train.RECIPES["teacher"].model_kwargs)
    model, result = cache.cached_model("float-finetuned", train.teacher_key(profile, epochs=epochs, lr=lr), fresh, compute)
    return model.eval(), result
