"""kdviz.pareto: the Pareto front, the workbook's models gathered from the cache only, the table and the chart."""
from __future__ import annotations

from dataclasses import replace

import pytest

from kdviz import cache, pareto, pareto_runs, pipeline_runs, plots, widgets

ROWS = [  # made-up points to test the front's logic, not results
    {"name": "teacher", "family": "teacher", "accuracy": 0.94, "bytes": 3_000_000, "MACs": 19e6,
     "ms @ batch 1": 0.5, "ms @ batch 256": 80.0},
    {"name": "dominated", "family": "pruned", "accuracy": 0.90, "bytes": 3_000_000, "MACs": 19e6,
     "ms @ batch 1": 0.6, "ms @ batch 256": 90.0},
    {"name": "small", "family": "combined", "accuracy": 0.92, "bytes": 30_000, "MACs": 1e6,
     "ms @ batch 1": 0.2, "ms @ batch 256": 5.0},
    {"name": "tiny but worse", "family": "baseline", "accuracy": 0.85, "bytes": 10_000, "MACs": 0.1e6,
     "ms @ batch 1": 0.1, "ms @ batch 256": 6.0},
    {"name": "twin of small", "family": "distilled", "accuracy": 0.92, "bytes": 30_000, "MACs": 1e6,
     "ms @ batch 1": 0.3, "ms @ batch 256": 5.0},
]


def test_the_front_keeps_what_nothing_beats():
    assert pareto.pareto_front(ROWS) == ["tiny but worse", "small", "teacher"]
    assert pareto.pareto_front(ROWS, "ms @ batch 256") == ["small", "teacher"]  # "tiny" is slower and worse
    assert pareto.pareto_front(ROWS[:1]) == ["teacher"]
    with pytest.raises(ValueError, match="every row must have 'name', 'joules'"):
        pareto.pareto_front(ROWS, "joules")


def test_table_and_markdown_mark_the_front():
    frame = pareto_runs.table(ROWS)
    assert frame.loc["small", "times smaller"] == pytest.approx(100)
    assert bool(frame.loc["small", "front: bytes"]) and not bool(frame.loc["dominated", "front: bytes"])
    text = pareto_runs.markdown(ROWS)
    assert text.count("\n") == 1 + len(ROWS)
    assert "| small | combined | 92.00 % | 30.0 kB ★ | 100.0x |" in text
    with pytest.raises(ValueError, match="rows must hold at least one"):
        pareto_runs.table([])


def test_chart_and_explorer_draw_the_rows():
    fig = plots.plot_pareto(ROWS, "ms @ batch 1")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.collections) == len({r["family"] for r in ROWS})
    front_line = [line for line in ax.get_lines() if line.get_label() == "Pareto front"][0]
    assert list(front_line.get_xdata()) == [0.1, 0.2, 0.5]
    with pytest.raises(ValueError, match="cost must be one of"):
        plots.plot_pareto(ROWS, "watts")
    explorer = widgets.pareto_explorer(ROWS)
    axis, families, message, picture = explorer.children
    ticks = families.children[1:]
    first = picture.value
    axis.value = "ms @ batch 256"
    assert picture.value != first and picture.value == plots.to_png(plots.plot_pareto(ROWS, "ms @ batch 256"))
    for box in ticks:
        box.value = box.description == "combined"
    assert picture.value == plots.to_png(widgets.pareto_view(ROWS, "ms @ batch 256", ["combined"]))
    for box in ticks:
        box.value = False
    assert message.value == widgets.NO_FAMILY and picture.layout.display == "none"
    ticks[0].value = True
    assert message.value == "" and picture.layout.display is None
    with pytest.raises(ValueError, match="families must name at least one"):
        widgets.pareto_view(ROWS, "bytes", ["nothing"])


def test_a_family_keeps_its_colour_and_marker_when_others_are_hidden():
    def styles(fig):
        return {c.get_label(): (tuple(c.get_facecolor()[0]), c.get_paths()[0].vertices.tobytes())
                for c in fig.axes[0].collections}

    every = styles(plots.plot_pareto(ROWS))
    for family in {r["family"] for r in ROWS}:
        alone = styles(plots.plot_pareto([r for r in ROWS if r["family"] == family]))
        assert alone[family] == every[family]


def test_collect_reads_the_cache_and_trains_nothing(small_world, monkeypatch):
    rows, missing = pareto_runs.collect(small_world, min_run_time=0.01, progress=False)
    assert rows == [] and missing == [entry.name for entry in pareto_runs.ENTRIES]
    small = pipeline_runs.Pipeline(width=4, hidden=8, epochs=1, finetune_epochs=1)
    monkeypatch.setattr(pipeline_runs, "recommended", lambda profile=None, **changes: replace(small, **changes))
    pipeline_runs.steps(small, small_world, progress=False)  # trains the teacher and the pipeline
    rows, missing = pareto_runs.collect(small_world, min_run_time=0.01, progress=False)
    names = [r["name"] for r in rows]
    assert names == ["teacher", "teacher, int8", "compact student (distilled)", "+ 50 % channels pruned", "+ int8"]
    assert "separable twin" in missing and "MLP 784-100-10" in missing
    teacher, last = rows[0], rows[-1]
    assert last["bytes"] < rows[-3]["bytes"] and last["MACs"] == rows[-2]["MACs"] < rows[-3]["MACs"] < teacher["MACs"]
    assert all(r["ms @ batch 256"] > 0 and 0 <= r["accuracy"] <= 1 for r in rows)


def test_only_cached_refuses_to_compute(small_world):
    with cache.only_cached(), pytest.raises(cache.NotCached, match="is not in the cache yet"):
        cache.cached_result("anything", {"a": 1}, lambda: {"computed": True})
    assert cache.cached_result("anything", {"a": 1}, lambda: {"computed": True}) == {"computed": True}
    with cache.only_cached():
        assert cache.cached_result("anything", {"a": 1}, lambda: pytest.fail("computed")) == {"computed": True}


def test_readme_results_are_generated_from_the_saved_run():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    results = json.loads((root / "docs" / "results.json").read_text())
    readme = (root / "README.md").read_text()
    assert pareto_runs.readme_section(results) in readme, "README.md's results differ from docs/results.json: " \
        "run scripts/readme_results.py"
    assert (root / results["chart"]).is_file()
    assert results["profile"] == "full" and {r["name"] for r in results["rows"]} == {e.name for e in pareto_runs.ENTRIES}


def test_replace_readme_section_needs_the_markers():
    text = f"a\n{pareto_runs.README_START}\nold\n{pareto_runs.README_END}\nb"
    assert pareto_runs.replace_readme_section(text, "new") == "a\nnew\nb"
    with pytest.raises(ValueError, match="must contain"):
        pareto_runs.replace_readme_section("no markers", "new")


def test_the_packed_teacher_is_charted_once_its_weight_curve_is_cached(small_world):
    from kdviz import data, packing, quantization_runs, quantize, train

    teacher = train.cached_teacher(small_world, "cpu")  # trains the tiny teacher
    assert "teacher, 4-bit weights (packed)" in pareto_runs.collect(small_world, min_run_time=0.01, progress=False)[1]
    curve = quantization_runs.weight_bits(small_world)
    rows = {r["name"]: r for r in pareto_runs.collect(small_world, min_run_time=0.01, progress=False)[0]}
    packed = rows["teacher, 4-bit weights (packed)"]
    assert packed["bytes"] == len(packing.file_contents(teacher, 4)) < rows["teacher"]["bytes"]
    assert packed["MACs"] == rows["teacher"]["MACs"]
    assert packed["accuracy"] == {r["bits"]: r["accuracy"] for r in curve["per channel"]}[4]
    test = data.load_profile_split("fashion-mnist", "test", small_world)
    assert packed["accuracy"] == train.evaluate(quantize.quantize_weights(teacher, 4), *test).accuracy
