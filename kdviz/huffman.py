"""Huffman coding, the third stage of Deep Compression (introduced in 05): frequent symbols get short codes, rare
ones long codes, and no code is the start of another, so a stream of codes needs no separators. Canonical codes:
the code lengths alone (one byte per symbol of the alphabet) define the codes, so a file stores only those."""
from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence

MAX_CODE_LENGTH = 255  # a length is stored in one byte


def _check_symbols(symbols: Sequence[int], alphabet: int) -> list[int]:
    if isinstance(alphabet, bool) or not isinstance(alphabet, int) or alphabet < 1:
        raise ValueError(f"alphabet must be a positive number of symbols, got {alphabet!r}")
    values = [int(s) for s in symbols]
    if values and (min(values) < 0 or max(values) >= alphabet):
        raise ValueError(f"symbols must be integers in 0..{alphabet - 1} (the alphabet), got "
                         f"{min(values)}..{max(values)}")
    return values


def code_lengths(symbols: Sequence[int], alphabet: int) -> list[int]:
    """The length of each symbol's Huffman code (0 for symbols that never occur), one per symbol of the alphabet
    0 .. alphabet - 1: repeatedly merge the two rarest groups; every merge adds one bit to each member's code."""
    counts = Counter(_check_symbols(symbols, alphabet))
    lengths = [0] * alphabet
    if len(counts) == 1:  # a lone symbol still needs one bit per occurrence
        lengths[next(iter(counts))] = 1
        return lengths
    heap = [(count, symbol, [symbol]) for symbol, count in counts.items()]  # the symbol breaks ties: deterministic
    heapq.heapify(heap)
    while len(heap) > 1:
        count_a, tie_a, members_a = heapq.heappop(heap)
        count_b, tie_b, members_b = heapq.heappop(heap)
        for symbol in members_a + members_b:
            lengths[symbol] += 1
        heapq.heappush(heap, (count_a + count_b, min(tie_a, tie_b), members_a + members_b))
    if max(lengths) > MAX_CODE_LENGTH:
        raise ValueError(f"a code is longer than {MAX_CODE_LENGTH} bits; the symbols' counts are too skewed")
    return lengths


def canonical_codes(lengths: Sequence[int]) -> dict[int, str]:
    """The canonical code of each symbol with a nonzero length, as a string of bits: shorter codes first, equal
    lengths in symbol order, each code the previous one plus one (shifted left when the length grows)."""
    if any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_CODE_LENGTH for n in lengths):
        raise ValueError(f"lengths must be integers in 0..{MAX_CODE_LENGTH}")
    used = sorted((n, symbol) for symbol, n in enumerate(lengths) if n > 0)
    if sum(2.0 ** -n for n, _ in used) > 1.0:
        raise ValueError("lengths break the Kraft inequality: no prefix code has them")
    codes, code, previous = {}, 0, used[0][0] if used else 0
    for n, symbol in used:
        code <<= n - previous
        codes[symbol] = format(code, f"0{n}b")
        code, previous = code + 1, n
    return codes


def encode(symbols: Sequence[int], lengths: Sequence[int]) -> bytes:
    """The symbols' canonical codes, concatenated, as bytes (the first bit in the highest bit of the first byte;
    the last byte padded with zero bits)."""
    codes = canonical_codes(lengths)
    missing = {int(s) for s in symbols} - set(codes)
    if missing:
        raise ValueError(f"symbols {sorted(missing)[:5]} have no code (their length is 0)")
    bits = "".join(codes[int(s)] for s in symbols)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def decode(data: bytes, lengths: Sequence[int], count: int) -> list[int]:
    """The first ``count`` symbols of a stream written by :func:`encode` with the same lengths."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative number of symbols, got {count!r}")
    by_code = {code: symbol for symbol, code in canonical_codes(lengths).items()}
    longest = max((len(code) for code in by_code), default=0)
    bits = format(int.from_bytes(data, "big"), f"0{8 * len(data)}b") if data else ""
    symbols, start = [], 0
    while len(symbols) < count:
        for end in range(start + 1, min(start + longest, len(bits)) + 1):
            symbol = by_code.get(bits[start:end])
            if symbol is not None:
                symbols.append(symbol)
                start = end
                break
        else:
            raise ValueError(f"the stream ends or holds no valid code after {len(symbols)} of {count} symbols")
    return symbols


def encoded_bits(symbols: Sequence[int], lengths: Sequence[int]) -> int:
    """The bits the symbols take coded with ``lengths`` (without the last byte's padding)."""
    return sum(lengths[int(s)] for s in symbols)
