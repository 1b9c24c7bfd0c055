"""Deep Compression's three stages on LeNet-300-100, cached (introduced in 05): the trained network pruned layer by
layer at the paper's rates with retraining, its weights shared by k-means at each codebook size with the codebook
fine-tuned, and every stage written to its file."""
from __future__ import annotations

import dataclasses

import torch.nn.utils.prune as torch_prune
from torch import nn

from kdviz import cache, config, data, deep_compression, measure, train, weight_sharing
from kdviz.models import copy_model

MODEL = "lenet_300_100"
PRUNED = (0.92, 0.91, 0.74)  # the share of each layer's weights pruned: Han et al. (2016), table 4, LeNet-300-100
PRUNING_STEPS = 6  # reached in equal steps, each followed by retraining (four times as long after the last)
EPOCHS_PER_STEP = 5
LAST_STEP_EPOCHS = 20
PRUNING_LR = 0.01  # of 0.01 and 0.02, with 10 or 20 epochs after the last step: the best on validation
BITS = (2, 3, 4, 5, 6)  # codebook sizes 4 .. 64 (the paper's was 64)
FINETUNE_EPOCHS = 3  # of the codebook
FINETUNE_LR = 0.01
WITHIN = 0.01  # the chosen codebook: the fewest bits whose fine-tuned model is within this of the dense network's
#                validation accuracy (the target: at most 1 point lost)


def _splits(profile: config.Profile) -> tuple[train.Split, train.Split, train.Split]:
    """LeNet-300-100's training images (as its recipe reads them, uncapped) and the profile's validation and test."""
    images = dataclasses.replace(profile, train_size=train.recipe_for(MODEL, profile).train_size)
    return (data.load_profile_split("fashion-mnist", "train", images),
            data.load_profile_split("fashion-mnist", "validation", profile),
            data.load_profile_split("fashion-mnist", "test", profile))


def _accuracies(model: nn.Module, validation: train.Split, test: train.Split) -> dict:
    return {"validation_accuracy": train.evaluate(model, *validation, device="cpu").accuracy,
            "accuracy": train.evaluate(model, *test, device="cpu").accuracy}


def dense(profile: config.Profile | str | None = None, progress: bool = True) -> nn.Module:
    """LeNet-300-100 trained on Fashion-MNIST (seed 0, cached)."""
    return train.load_or_train(MODEL, 0, profile=profile, device="cpu", progress=progress)[0]


def _key(profile: config.Profile, **settings) -> dict:
    recipe = train.recipe_for(MODEL, profile)
    return train.profile_key(profile, model=train.checkpoint_name(MODEL, profile, 0), recipe=recipe.fingerprint(),
                             pruned=list(PRUNED), steps=PRUNING_STEPS, epochs=EPOCHS_PER_STEP,
                             last_epochs=LAST_STEP_EPOCHS, lr=PRUNING_LR, **settings)


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's Linear layers, in order."""
    return [module for module in model.modules() if isinstance(module, nn.Linear)]


def pruned(profile: config.Profile | str | None = None, progress: bool = True) -> tuple[nn.Module, dict]:
    """The dense network pruned layer by layer (magnitude, ``torch.nn.utils.prune``) to :data:`PRUNED` in
    :data:`PRUNING_STEPS` equal steps, retrained with the masks in place after each. Cached: weights and a record
    per step."""
    profile = config.get_profile(profile)
    start = dense(profile, progress)

    def compute(model: nn.Module) -> dict:
        train_split, validation, test = _splits(profile)
        layers, steps, done = linear_layers(model), [], [0.0] * len(PRUNED)
        for step in range(1, PRUNING_STEPS + 1):
            for index, (layer, final) in enumerate(zip(layers, PRUNED)):
                target = final * step / PRUNING_STEPS
                # amount: the share of the weights still unpruned to prune now
                torch_prune.l1_unstructured(layer, "weight", amount=(target - done[index]) / (1 - done[index]))
                done[index] = target
            before = _accuracies(model, validation, test)
            epochs = LAST_STEP_EPOCHS if step == PRUNING_STEPS else EPOCHS_PER_STEP
            train.fit(model, train_split, epochs=epochs, lr=PRUNING_LR, weight_decay=1e-4, seed=step, device="cpu",
                      progress=progress, description=f"pruning step {step} of {PRUNING_STEPS}, retraining")
            steps.append({"step": step, "pruned": [float(t) for t in done], "before_retraining": before,
                          **_accuracies(model, validation, test)})
        for layer in layers:
            torch_prune.remove(layer, "weight")
        return {"steps": steps, "density": [float((layer.weight != 0).float().mean()) for layer in layers],
                **_accuracies(model, validation, test)}

    model, result = cache.cached_model("deep-compression-pruned", _key(profile), copy_model(start), compute)
    return model.eval(), result


def validate_codebook_bits(bits: int) -> int:
    """``bits`` as one of BITS, or a clear error."""
    if isinstance(bits, bool) or bits not in BITS:
        raise ValueError(f"bits must be one of {list(BITS)}, got {bits!r}")
    return bits


def shared(profile: config.Profile | str | None = None, bits: int = 5, progress: bool = True) -> tuple[nn.Module, dict]:
    """The pruned network with each layer's weights shared among 2^bits values (k-means, linear start), the
    codebooks then fine-tuned for FINETUNE_EPOCHS epochs. Cached: weights, accuracies before and after."""
    profile = config.get_profile(profile)
    validate_codebook_bits(bits)
    start = weight_sharing.share_weights(pruned(profile, progress)[0], bits)

    def compute(model: nn.Module) -> dict:
        train_split, validation, test = _splits(profile)
        before = _accuracies(model, validation, test)
        train.fit(model, train_split, epochs=FINETUNE_EPOCHS, lr=FINETUNE_LR, weight_decay=0.0, seed=0, device="cpu",
                  progress=progress, description=f"{2 ** bits} shared values a layer, fine-tuning the codebooks")
        return {"bits": bits, "before_finetuning": before, **_accuracies(model, validation, test)}

    settings = _key(profile, bits=bits, finetune_epochs=FINETUNE_EPOCHS, finetune_lr=FINETUNE_LR)
    model, result = cache.cached_model("deep-compression-shared", settings, start, compute)
    return model.eval(), result


def stages(profile: config.Profile | str | None = None, progress: bool = True) -> dict:
    """Every stage measured (cached): the dense network's bytes (``torch.save``) and accuracies, the pruned one's
    file, and at each codebook size the shared file, the Huffman-coded file and the accuracies; and the chosen
    codebook size (on validation)."""
    profile = config.get_profile(profile)

    def compute() -> dict:
        _, validation, test = _splits(profile)
        start = dense(profile, progress)
        pruned_model, pruned_result = pruned(profile, progress)
        rows = []
        for bits in BITS:
            model, result = shared(profile, bits, progress)
            rows.append({**result, "shared_bytes": len(deep_compression.file_contents(model, "shared")),
                         "huffman_bytes": len(deep_compression.file_contents(model, "huffman"))})
        baseline = _accuracies(start, validation, test)
        within = [row["bits"] for row in rows if row["validation_accuracy"] >= baseline["validation_accuracy"] - WITHIN]
        return {"dense": {**baseline, "bytes": measure.serialized_bytes(start),
                          "parameters": measure.count_parameters(start)},
                "pruned": {**pruned_result, "bytes": len(deep_compression.file_contents(pruned_model, "pruned")),
                           "weights": sum(int((layer.weight != 0).sum()) for layer in linear_layers(pruned_model))},
                "bits": rows, "chosen_bits": min(within) if within else max(BITS)}

    return cache.cached_result("deep-compression", _key(profile, bits=list(BITS), finetune_epochs=FINETUNE_EPOCHS,
                                                        finetune_lr=FINETUNE_LR, within=WITHIN), compute)


def chosen(profile: config.Profile | str | None = None, progress: bool = True) -> tuple[nn.Module, dict]:
    """The shared network at the codebook size chosen on validation, and its row of :func:`stages`."""
    measured = stages(profile, progress)
    row = next(row for row in measured["bits"] if row["bits"] == measured["chosen_bits"])
    return shared(profile, measured["chosen_bits"], progress)[0], row
