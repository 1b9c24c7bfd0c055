"""kdviz.packing: b-bit codes packed into bytes, a model's weights written at b bits and read back exactly as
quantize.quantize_weights simulates them."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from kdviz import measure, models, packing, quantize


def _bits_of(byte: int) -> str:
    return format(byte, "08b")


def test_codes_fill_each_byte_from_the_lowest_bits():
    assert packing.pack(torch.tensor([1, 2]), 4).tolist() == [0b0010_0001]
    assert packing.pack(torch.tensor([3, 0, 1, 2, 1]), 2).tolist() == [0b10_01_00_11, 0b00_00_00_01]
    assert packing.pack(torch.tensor([1, 0, 1, 1, 0, 0, 0, 1, 1]), 1).tolist() == [0b1000_1101, 0b1]
    assert packing.pack(torch.tensor([255, 7]), 8).tolist() == [255, 7]


@pytest.mark.parametrize("bits", packing.PACKABLE_BITS)
def test_unpack_inverts_pack_for_every_count(bits):
    generator = torch.Generator().manual_seed(bits)
    for count in (0, 1, 7, 8, 1001):
        codes = torch.randint(0, 2 ** bits, (count,), generator=generator)
        packed = packing.pack(codes, bits)
        assert packed.dtype == torch.uint8 and len(packed) == -(-count * bits // 8)
        assert torch.equal(packing.unpack(packed, bits, count), codes)


def test_bad_codes_and_depths_are_named():
    with pytest.raises(ValueError, match=r"bits must be one of \[1, 2, 4, 8\]"):
        packing.pack(torch.tensor([1]), 3)
    with pytest.raises(ValueError, match="codes must be integers in 0..15"):
        packing.pack(torch.tensor([16]), 4)
    with pytest.raises(ValueError, match="codes must be integers in 0..3"):
        packing.pack(torch.tensor([-1]), 2)
    with pytest.raises(ValueError, match="at least count codes"):
        packing.unpack(torch.zeros(2, dtype=torch.uint8), 4, 5)


def _teacher() -> nn.Module:
    torch.manual_seed(0)
    model = models.build("teacher", width=8, hidden=32).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
    return model


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_a_model_read_back_is_the_fake_quantized_model_weight_for_weight(bits, tmp_path):
    model = _teacher()
    size = packing.save(model, bits, tmp_path / "model.pt")
    assert size == (tmp_path / "model.pt").stat().st_size
    back = packing.load(tmp_path / "model.pt", model)
    fake = quantize.quantize_weights(model, bits, per_channel=True)
    assert back.state_dict().keys() == fake.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), fake.state_dict().values()))
    weights = sum(layer.weight.numel() for layer in models.prunable_layers(model).values())
    float_bytes = measure.serialized_bytes(model)
    assert weights * bits / 8 < size < float_bytes  # the codes themselves, plus scales, biases and the container
    assert size < weights * bits / 8 + (float_bytes - 4 * weights) + 20_000


def test_a_file_of_another_kind_or_model_is_refused(tmp_path):
    model = _teacher()
    torch.save({"state": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a file of packed weights"):
        packing.load(tmp_path / "other.pt", model)
    packing.save(model, 4, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="holds the layers"):
        packing.load(tmp_path / "model.pt", nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))
    with pytest.raises(ValueError, match="is .* the model's"):
        packing.load(tmp_path / "model.pt", models.build("teacher", width=4, hidden=32))


def test_float_codes_a_fractional_count_and_a_damaged_file_are_refused(tmp_path):
    with pytest.raises(ValueError, match="codes must be an integer tensor"):
        packing.pack(torch.tensor([1.7, 2.0]), 4)
    with pytest.raises(ValueError, match="count must be an integer number of codes"):
        packing.unpack(torch.zeros(2, dtype=torch.uint8), 4, 3.0)
    with pytest.raises(ValueError, match="packed must be a 1-D uint8 tensor"):
        packing.unpack([1, 2], 4, 2)
    model = _teacher()
    state = packing.packed_state(model, 4)
    torch.save({**state, "bits": 3}, tmp_path / "bits.pt")
    with pytest.raises(ValueError, match="names 3 bits a weight"):
        packing.load(tmp_path / "bits.pt", model)
    first = next(iter(state["weights"]))
    state["weights"][first] = {**state["weights"][first], "scale": state["weights"][first]["scale"][:1]}
    torch.save(state, tmp_path / "scales.pt")
    with pytest.raises(ValueError, match="scales for 8 output channels"):
        packing.load(tmp_path / "scales.pt", model)
