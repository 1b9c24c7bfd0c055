"""kdviz.huffman: optimal prefix codes, checked against the merge-cost identity, the Kraft equality and
hand-worked examples, and decoded back exactly."""
from __future__ import annotations

import heapq
import random
from collections import Counter

import pytest

from kdviz import huffman


def _optimal_total_bits(symbols):
    """Independent reference: an optimal prefix code's total length is the sum of every merge's count."""
    heap = list(Counter(symbols).values())
    if len(heap) == 1:
        return len(symbols)
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total += merged
        heapq.heappush(heap, merged)
    return total


def test_a_hand_worked_example():
    symbols = [0] * 5 + [1] * 2 + [2] + [3]
    lengths = huffman.code_lengths(symbols, 5)
    assert lengths == [1, 2, 3, 3, 0]
    assert huffman.canonical_codes(lengths) == {0: "0", 1: "10", 2: "110", 3: "111"}
    assert huffman.encode(symbols, lengths) == bytes([0b00000101, 0b01101110])  # 00000 1010 110 111, padded


@pytest.mark.parametrize("seed", range(5))
def test_lengths_are_optimal_and_complete(seed):
    rng = random.Random(seed)
    alphabet = rng.randint(2, 60)
    symbols = [min(int(rng.expovariate(0.3)), alphabet - 1) for _ in range(rng.randint(2, 3000))]
    lengths = huffman.code_lengths(symbols, alphabet)
    assert huffman.encoded_bits(symbols, lengths) == _optimal_total_bits(symbols)
    used = [n for n in lengths if n]
    assert len(used) == len(set(symbols))
    if len(used) > 1:
        assert sum(2.0 ** -n for n in used) == 1.0  # a Huffman code wastes no code space


@pytest.mark.parametrize("seed", range(5))
def test_decoding_gives_the_symbols_back(seed):
    rng = random.Random(seed)
    alphabet = rng.randint(1, 40)
    symbols = [rng.randrange(alphabet) for _ in range(rng.randint(0, 2000))]
    lengths = huffman.code_lengths(symbols, alphabet) if symbols else [1] * alphabet
    data = huffman.encode(symbols, lengths)
    assert len(data) == -(-huffman.encoded_bits(symbols, lengths) // 8)
    assert huffman.decode(data, lengths, len(symbols)) == symbols


def test_canonical_codes_are_prefix_free():
    codes = huffman.canonical_codes([2, 3, 3, 2, 2, 0])
    values = sorted(codes.values())
    assert not any(b.startswith(a) for a, b in zip(values, values[1:]))


def test_fixed_width_lengths_give_plain_binary():
    assert huffman.canonical_codes([2, 2, 2, 2]) == {0: "00", 1: "01", 2: "10", 3: "11"}


def test_a_lone_symbol_takes_one_bit():
    assert huffman.code_lengths([3, 3, 3], 4) == [0, 0, 0, 1]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="symbols must be integers in 0..3"):
        huffman.code_lengths([4], 4)
    with pytest.raises(ValueError, match="alphabet must be a positive"):
        huffman.code_lengths([0], 0)
    with pytest.raises(ValueError, match="Kraft"):
        huffman.canonical_codes([1, 1, 1])
    with pytest.raises(ValueError, match="have no code"):
        huffman.encode([2], [1, 1, 0])
    with pytest.raises(ValueError, match="count must be"):
        huffman.decode(b"", [1, 1], -1)
    with pytest.raises(ValueError, match="stream ends"):
        huffman.decode(b"\x00", [1, 1], 9)
