"""kdviz.measure: counts against hand formulas, bytes against a real file, MACs, latency, the summary table."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from kdviz import measure, models


def test_parameter_counts_match_the_formula():
    layer = nn.Conv2d(3, 16, 5)
    assert measure.count_parameters(layer) == 16 * 3 * 5 * 5 + 16
    assert measure.count_parameters(models.build("mlp", hidden=100)) == 784 * 100 + 100 + 100 * 10 + 10


def test_nonzero_sees_pruning_masks():
    layer = nn.Linear(10, 10)
    prune.l1_unstructured(layer, "weight", amount=0.3)
    assert measure.count_nonzero(layer) == 70 + 10
    assert measure.count_parameters(layer) == 110


def test_serialized_bytes_equals_a_saved_file(tmp_path):
    model = models.build("teacher")
    # torch.save names the records inside its zip after the file; "archive" is the name it gives a buffer
    torch.save(model.state_dict(), tmp_path / "archive.pt")
    assert measure.serialized_bytes(model) == (tmp_path / "archive.pt").stat().st_size
    assert measure.serialized_bytes(model) > 4 * measure.count_parameters(model)  # fp32 plus a little framing


def test_macs_of_known_layers():
    assert measure.macs(nn.Linear(784, 100), (1, 784)) == 784 * 100
    conv = nn.Conv2d(8, 16, 3, padding=1, bias=False)
    assert measure.macs(conv, (1, 8, 10, 10)) == 16 * 10 * 10 * 8 * 9
    assert measure.macs(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), (2, 1, 28, 28)) == 2 * 7840
    with pytest.raises(ValueError, match="input_shape"):
        measure.macs(conv, (1, 0, 10, 10))


def test_teacher_macs_add_up_layer_by_layer():
    expected = (28 * 28 * 32 * 1 * 9 + 28 * 28 * 32 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 14 * 14 * 64 * 64 * 9
                + 3136 * 256 + 256 * 10)
    assert measure.macs(models.build("teacher")) == expected


def test_latency_is_positive_and_grows_with_the_batch():
    model = models.build("mlp")
    one = measure.latency_ms(model, 1, min_run_time=0.05)
    many = measure.latency_ms(model, 512, min_run_time=0.05)
    assert 0 < one < many
    with pytest.raises(ValueError, match="batch_size"):
        measure.latency_ms(model, 0)


def test_summary_has_a_row_per_model():
    table = measure.summary({"mlp": models.build("mlp"), "teacher": models.build("teacher")},
                            {"mlp": 0.85}, min_run_time=0.02)
    assert list(table.index) == ["mlp", "teacher"]
    assert set(table.columns) >= {"parameters", "nonzero", "bytes", "MACs", "ms @ batch 1", "ms @ batch 256", "accuracy"}
    assert table.loc["mlp", "accuracy"] == 0.85 and table.loc["teacher", "MACs"] > table.loc["mlp", "MACs"]
    with pytest.raises(ValueError, match="accuracies names models not in models"):
        measure.summary({"mlp": models.build("mlp")}, {"other": 0.5})


def test_summary_without_counts_and_with_stored_bytes():
    table = measure.summary({"mlp": models.build("mlp")}, {"mlp": 0.8}, min_run_time=0.02, counts=False,
                            file_bytes={"mlp": 1234})
    assert list(table.columns) == ["bytes", "ms @ batch 1", "ms @ batch 1 low", "ms @ batch 1 high", "ms @ batch 256",
                                   "ms @ batch 256 low", "ms @ batch 256 high", "repeats", "accuracy"]
    assert table.loc["mlp", "bytes"] == 1234
    with pytest.raises(ValueError, match="file_bytes names models not in models"):
        measure.summary({"mlp": models.build("mlp")}, file_bytes={"other": 1})


def test_memory_traffic_counts_inputs_outputs_and_weights():
    layer = nn.Conv2d(3, 5, 3, padding=1, bias=False)
    assert measure.memory_traffic(layer, (2, 3, 8, 8)) == 4 * (2 * 3 * 64 + 2 * 5 * 64 + 5 * 3 * 9)
    block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), nn.Conv2d(4, 6, 1, bias=False))
    assert measure.memory_traffic(block, (1, 4, 5, 5)) == 4 * ((100 + 100 + 36) + (100 + 150 + 24))


def test_compare_layers_measures_each_layer():
    layers = {"standard": nn.Conv2d(8, 8, 3, padding=1, bias=False),
              "depthwise": nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)}
    rows = measure.compare_layers(layers, (8, 12, 12), batch_size=4, min_run_time=0.01)
    assert [r["layer"] for r in rows] == ["standard", "depthwise"]
    assert rows[0]["MACs"] == 4 * 9 * 8 * 8 * 144 and rows[1]["MACs"] == 4 * 9 * 8 * 144
    for row in rows:
        assert row["ms"] > 0 and row["GMAC/s"] == pytest.approx(row["MACs"] / row["ms"] / 1e6)
        assert row["MACs per byte"] == pytest.approx(row["MACs"] / row["bytes moved"])
    assert rows[0]["MACs per byte"] > 5 * rows[1]["MACs per byte"]
    with pytest.raises(ValueError, match="at least one layer"):
        measure.compare_layers({}, (8, 12, 12))


def test_latencies_repeat_each_measurement_and_give_the_range():
    timed = measure.latencies({"mlp": models.build("mlp"), "teacher": models.build("teacher")}, 1, repeats=3,
                              min_run_time=0.01)
    for latency in timed.values():
        assert latency.repeats == 3 and 0 < latency.low <= latency.median <= latency.high
    assert timed["teacher"].median > timed["mlp"].median
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        measure.latencies({"mlp": models.build("mlp")}, repeats=0)


def test_latencies_agree_with_torch_benchmark_and_keep_the_thread_count():
    from torch.utils import benchmark
    model, images = models.build("teacher").eval(), torch.randn(32, *models.INPUT_SHAPE)
    before = torch.get_num_threads()
    ours = measure.latencies({"teacher": model}, 32, repeats=5, min_run_time=0.05, threads=1)["teacher"]
    assert torch.get_num_threads() == before
    timer = benchmark.Timer("with torch.no_grad(): model(x)", globals={"model": model, "x": images, "torch": torch},
                            num_threads=1)
    reference = sorted(timer.blocked_autorange(min_run_time=0.05).median * 1e3 for _ in range(5))[2]
    assert 0.7 < ours.median / reference < 1.4  # the same statistic, measured twice on a machine that may be busy


def test_a_latency_is_faster_slower_or_not_measurably_different():
    baseline = measure.Latency(median=10.0, low=9.0, high=11.0, repeats=5)
    assert measure.Latency(5.0, 4.5, 5.5, 5).against(baseline) == "2.00x faster"
    assert measure.Latency(20.0, 19.0, 21.0, 5).against(baseline) == "2.00x slower"
    assert measure.Latency(10.5, 10.8, 12.0, 5).against(baseline) == "no measurable difference"  # the ranges overlap


def test_a_summary_row_gives_back_its_latency():
    table = measure.summary({"mlp": models.build("mlp")}, min_run_time=0.01, repeats=2)
    latency = measure.Latency.from_row(table.loc["mlp"], 256)
    assert latency.repeats == 2 and latency.low <= latency.median <= latency.high


def test_a_styled_table_formats_counts_percentages_and_milliseconds():
    table = pd.DataFrame({"bytes": [3493327], "ms @ batch 1": [0.12345], "ms @ batch 1 low": [0.1111],
                          "ms @ batch 256": [52.345], "accuracy": [0.9374]}, index=["teacher"])
    html = measure.styled(table).to_html()
    assert all(text in html for text in ("3,493,327", "0.123", "0.111", "52.3", "93.74%"))


@pytest.mark.parametrize("run_time", [float("nan"), float("inf"), 0, -1, "1"])
def test_a_run_time_that_would_never_end_is_refused(run_time):
    with pytest.raises(ValueError, match="min_run_time must be a positive, finite number of seconds"):
        measure.latency_ms(models.build("mlp"), 1, min_run_time=run_time)


@pytest.mark.parametrize("arguments, name", [({"batch_size": True}, "batch_size"), ({"threads": -1}, "threads"),
                                             ({"repeats": 2.0}, "repeats")])
def test_sizes_that_are_not_positive_integers_are_named(arguments, name):
    with pytest.raises(ValueError, match=name):
        measure.latencies({"mlp": models.build("mlp")}, **{"min_run_time": 0.01, **arguments})
