"""Every model of the workbook measured from the cache for one chart, its table and the README's results section
(introduced in 05)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from kdviz import (
    cache,
    config,
    deep_compression_runs,
    distillation_runs,
    low_rank_runs,
    measure,
    packing,
    pipeline_runs,
    pruning_runs,
    quantization_runs,
    quantize,
    sparse,
    train,
    weight_sharing,
)
from kdviz.pareto import COSTS, pareto_front


@dataclass(frozen=True)
class _Entry:
    """A model the chart may show: its name and family, how to get it (model, accuracy, MACs, stored bytes or
    None) from the cache, and what a reader should know about its figures."""

    name: str
    family: str
    get: Callable[[config.Profile], tuple]
    note: str = ""


def _zoo_model(name: str, twin: bool = False) -> Callable[[config.Profile], tuple]:
    """A zoo model of seed 0: with its own recipe, or (``twin``) as notebook 01 trains it beside the teacher."""
    def get(profile: config.Profile) -> tuple:
        epochs = profile.twin_epochs if twin else None
        model, history = train.load_or_train(name, 0, profile=profile, device="cpu", epochs=epochs, progress=False)
        return model, history.final_test_accuracy, measure.macs(model), None
    return get


def _sparse_teacher(profile: config.Profile) -> tuple:
    model, result = pruning_runs.iterative(profile, "magnitude")
    return model, result["steps"][-1]["accuracy"], measure.macs(model), sparse.sparse_bytes(model)


def _channel_pruned_teacher(profile: config.Profile) -> tuple:
    model, result = pruning_runs.channel_pruned(profile)
    return model, result["accuracy"], measure.macs(model), None


def _int8(model: nn.Module, profile: config.Profile) -> tuple:
    """A float model's static int8 version, its accuracy, and the float model's MACs (an int8 model has no count)."""
    converted, accuracy = pipeline_runs.quantized(model, profile)
    return converted, accuracy, measure.macs(model), None


def _packed_teacher(profile: config.Profile, bits: int = 4) -> tuple:
    """The teacher with its weights stored packed at ``bits`` bits (one scale per channel): the file's bytes, and
    the accuracy notebook 03's weight curve measured for that depth (the same weights); it runs unpacked."""
    teacher = train.cached_teacher(profile, "cpu")
    accuracy = {r["bits"]: r["accuracy"] for r in quantization_runs.weight_bits(profile)["per channel"]}[bits]
    return (quantize.quantize_weights(teacher, bits, per_channel=True), accuracy, measure.macs(teacher),
            len(packing.file_contents(teacher, bits)))


def _low_rank_teacher(profile: config.Profile) -> tuple:
    """The teacher with its big layer factorized at the rank notebook 01 chose on validation, fine-tuned."""
    model, result = low_rank_runs.finetuned(profile, low_rank_runs.chosen_rank(profile, progress=False), progress=False)
    return model, result["accuracy"], result["MACs"], None


def _deep_compressed(profile: config.Profile) -> tuple:
    """LeNet-300-100 pruned, shared at the codebook size notebook 05 chose on validation, and Huffman-coded: the
    file's bytes; it runs decoded, as a dense float network."""
    model, row = deep_compression_runs.chosen(profile, progress=False)
    dense = weight_sharing.to_linear(model)
    return dense, row["accuracy"], measure.macs(dense), row["huffman_bytes"]


def _int8_teacher(profile: config.Profile) -> tuple:
    return _int8(train.cached_teacher(profile, "cpu"), profile)


def chart_student(width: int, method: str, profile: config.Profile | str | None = None) -> distillation_runs.StudentRun:
    """A student of the chart: distilled with the recipe notebook 04 recommends (its sweep's best cell on the
    validation images), or the scratch student of the same size beside it."""
    recipe = pipeline_runs.recommended(profile)
    return distillation_runs.StudentRun(width=width, method=method, T=recipe.T, alpha=recipe.alpha, epochs=10)


def chart_student_result(width: int, method: str = "distilled", profile: config.Profile | str | None = None,
                         progress: bool = True) -> dict:
    """The result of :func:`chart_student`'s run (trained now if it is not cached)."""
    return distillation_runs.run_student(chart_student(width, method, profile), profile, progress=progress)


def _student(width: int, method: str) -> Callable[[config.Profile], tuple]:
    def get(profile: config.Profile) -> tuple:
        model, result = distillation_runs.student(chart_student(width, method, profile), profile, device="cpu", progress=False)
        return model, result["accuracy"], measure.macs(model), None
    return get


def _hinted_student(kind: str) -> Callable[[config.Profile], tuple]:
    """Notebook 04's width-16 student taught with FitNets' hints (seed 0, all labels)."""
    def get(profile: config.Profile) -> tuple:
        model, result = distillation_runs.student(distillation_runs.hint_run(kind, None, 0), profile, device="cpu",
                                                  progress=False)
        return model, result["accuracy"], measure.macs(model), None
    return get


def _compact_student(profile: config.Profile) -> tuple:
    model, result = pipeline_runs.student(pipeline_runs.recommended(profile), profile, device="cpu", progress=False)
    return model, result["accuracy"], measure.macs(model), None


def _compact_pruned(profile: config.Profile) -> tuple:
    model, result = pipeline_runs.pruned(pipeline_runs.recommended(profile), profile, device="cpu", progress=False)
    return model, result["accuracy"], measure.macs(model), None


def _compact_int8(profile: config.Profile) -> tuple:
    return _int8(pipeline_runs.pruned(pipeline_runs.recommended(profile), profile, device="cpu", progress=False)[0], profile)


_TWIN_NOTE = ("trained for notebook 01's side-by-side comparison, on fewer epochs than the teacher here (that notebook "
              "trains a teacher alike beside it)")

ENTRIES = (
    _Entry("teacher", "teacher", _zoo_model("teacher")),
    _Entry("separable twin", "architecture", _zoo_model("separable_cnn", twin=True), _TWIN_NOTE),
    _Entry("fire twin", "architecture", _zoo_model("fire_cnn", twin=True), _TWIN_NOTE),
    _Entry("teacher, 95 % pruned (CSR)", "pruned", _sparse_teacher, "stored sparse; runs dense, so its MACs and "
           "latency are the teacher's"),
    _Entry("teacher, 50 % channels pruned", "pruned", _channel_pruned_teacher),
    _Entry("teacher, low rank (fine-tuned)", "architecture", _low_rank_teacher,
           "its first fully connected layer factorized by truncated SVD at the rank notebook 01 chose on validation"),
    _Entry("teacher, int8", "quantized", _int8_teacher),
    _Entry("teacher, 4-bit weights (packed)", "quantized", _packed_teacher,
           "stored packed, 4 bits a weight and a scale per channel; unpacked to float32 to run, so its MACs and "
           "latency are the teacher's"),
    _Entry("student w8 (scratch)", "scratch", _student(8, "scratch")),
    _Entry("student w8 (distilled)", "distilled", _student(8, "distilled"),
           "notebook 04's recipe: its sweep's best cell on the validation images"),
    _Entry("student w16 (scratch)", "scratch", _student(16, "scratch")),
    _Entry("student w16 (distilled)", "distilled", _student(16, "distilled"), "notebook 04's recipe"),
    _Entry("student w16 (hints, then labels)", "distilled", _hinted_student("hints"),
           "FitNets' hints for 3 of its 10 epochs, then the labels (notebook 04, section 6)"),
    _Entry("student w16 (hints + logits)", "distilled", _hinted_student("hints + logits"),
           "FitNets' hints for 3 of its 10 epochs, then the talk's T = 8, alpha = 0.9 (notebook 04, section 6)"),
    _Entry("compact student (distilled)", "combined", _compact_student),
    _Entry("+ 50 % channels pruned", "combined", _compact_pruned),
    _Entry("+ int8", "combined", _compact_int8),
    _Entry("MLP 784-100-10", "baseline", _zoo_model("mlp")),
    _Entry("LeNet-300-100", "baseline", _zoo_model("lenet_300_100")),
    _Entry("LeNet-300-100, Deep Compression", "combined", _deep_compressed,
           "pruned, weights shared and Huffman-coded as in notebook 05; decoded to a dense float32 network to run, so "
           "its MACs and latency are LeNet-300-100's"),
)


def collect(profile: config.Profile | str | None = None, min_run_time: float | None = None,
            progress: bool = True) -> tuple[list[dict], list[str]]:
    """Measure every model of the workbook found in the cache (nothing is trained): rows of name, family, accuracy,
    bytes, MACs and latency at batch 1 and 256, and the names of the models not cached yet."""
    profile = config.get_profile(profile)
    timing = profile.timing() if min_run_time is None else {**profile.timing(), "min_run_time": min_run_time}
    rows, missing = [], []
    for entry in tqdm(ENTRIES, desc="measuring the workbook's models", unit="model", disable=not progress):
        try:
            with cache.only_cached():
                model, accuracy, macs, file_bytes = entry.get(profile)
        except cache.NotCached:
            missing.append(entry.name)
            continue
        rows.append({"name": entry.name, "family": entry.family, "MACs": macs,
                     **measure.profile_model(model.cpu().eval(), accuracy=accuracy, counts=False,
                                             file_bytes=file_bytes, **timing),
                     "note": entry.note})
    return rows, missing


def table(rows: Sequence[dict], reference: str = "teacher") -> pd.DataFrame:
    """The rows as a pandas DataFrame (a row per model) with sizes in kB, how many times smaller than
    ``reference`` each is, and whether it is on the Pareto front of each cost."""
    if not rows:
        raise ValueError("rows must hold at least one measured model (pareto_runs.collect)")
    frame = pd.DataFrame(rows).set_index("name")
    frame["accuracy (%)"] = 100 * frame["accuracy"]
    frame["kB"] = frame["bytes"] / 1e3
    frame["MMACs"] = frame["MACs"] / 1e6
    if reference in frame.index:
        frame["times smaller"] = frame.loc[reference, "bytes"] / frame["bytes"]
    for cost in COSTS:
        frame[f"front: {cost}"] = frame.index.isin(pareto_front(rows, cost))
    columns = ["family", "accuracy (%)", "kB", "times smaller", "MMACs", "ms @ batch 1", "ms @ batch 256",
               *(f"front: {cost}" for cost in COSTS)]
    return frame[[c for c in columns if c in frame.columns]]


def _star(row: pd.Series, cost: str) -> str:
    return " ★" if row[f"front: {cost}"] else ""


def markdown(rows: Sequence[dict], reference: str = "teacher") -> str:
    """The table as GitHub markdown, for the README: one line per model; a star marks a cost whose Pareto front
    (with accuracy) the model is on."""
    frame = table(rows, reference)
    header = ("| model | family | accuracy | size | smaller | MACs | ms, batch 1 | ms, batch 256 |\n"
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    lines = [header]
    for name, row in frame.iterrows():
        smaller = f"{row['times smaller']:.1f}x" if "times smaller" in frame.columns else ""
        lines.append(f"| {name} | {row['family']} | {row['accuracy (%)']:.2f} % | {row['kB']:,.1f} kB{_star(row, 'bytes')}"
                     f" | {smaller} | {row['MMACs']:.2f} M | {row['ms @ batch 1']:.3f}{_star(row, 'ms @ batch 1')}"
                     f" | {row['ms @ batch 256']:.1f}{_star(row, 'ms @ batch 256')} |")
    return "\n".join(lines)


README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def readme_section(results: dict) -> str:
    """The README's results section (between its markers) from a saved run of :func:`collect`: where it ran, the
    table, and the chart's picture. ``results`` holds "rows", "profile", "machine", "torch" and "chart"."""
    for key in ("rows", "profile", "machine", "torch", "chart"):
        if key not in results:
            raise ValueError(f"results must have {key!r} (written by scripts/readme_results.py)")
    return "\n".join([
        README_START,
        f"Measured by `scripts/readme_results.py` in the {results['profile']} profile on {results['machine']}, "
        f"PyTorch {results['torch']}; each latency is the median of repeated measurements on the CPU, each timing "
        "blocks of forward passes with Python's `timeit` (their lowest and highest are in docs/results.json). A star "
        "marks the models on the Pareto front of that cost (no other model is at most as costly and at least as "
        "accurate, and strictly better in one).",
        "",
        markdown(results["rows"]),
        "",
        *(f"* {row['name']}: {row['note']}." for row in results["rows"] if row.get("note")),
        "",
        f"![Accuracy against size; bubble area is MACs]({results['chart']})",
        README_END,
    ])


def replace_readme_section(readme: str, section: str) -> str:
    """``readme`` with the text between the results markers replaced by ``section``."""
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README must contain {README_START} ... {README_END}")
    return readme[:start] + section + readme[end + len(README_END):]
