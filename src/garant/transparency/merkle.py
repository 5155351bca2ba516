"""The Merkle tree of RFC 9162 §2.1: hashes, proofs, and their verification.

Written by hand because no maintained Python package implements RFC 9162 proofs over a tree
whose nodes live in a database; the algorithms are short, follow the RFC step by step, and
are checked against the transparency-dev known answers and exhaustively up to 256 leaves.

Nodes are named (level, index): level 0 holds the leaf hashes, node (L, i) is the root of the
perfect subtree over leaves [i·2^L, (i+1)·2^L). Storing every such node that is complete lets
any proof be assembled from O(log n) stored hashes. This module has no dependency on the
store: the offline bundle verifier uses it alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
Node = tuple[int, int]  # (level, index)
NodeSource = Callable[[Iterable[Node]], Mapping[Node, bytes]]
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, or a request for a proof that cannot exist."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- which subtrees a hash or a proof is made of -----------------------------------------


def range_nodes(start: int, end: int) -> list[Node]:
    """The stored perfect subtrees whose hashes make MTH(D[start:end]), left to right.

    Valid for the ranges RFC 9162's recursions produce (start aligned to the range's split).
    """
    nodes = []
    pos = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        nodes.append((level, pos >> level))
        pos += 1 << level
        remaining -= 1 << level
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the perfect subtrees of a range (left to right) into the range's hash."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 as the leaf ranges whose hashes form the proof."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m = start + k, m - k
    out.reverse()  # the recursion appends outermost last
    return out


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 as leaf ranges; empty when m == n or m == 0."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    out: list[tuple[int, int]] = []
    start, end, m, whole = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                out.append((start, end))
            break
        k = _split(n)
        if m <= k:
            out.append((start + k, end))
            end = start + k
        else:
            out.append((start, start + k))
            start, m, whole = start + k, m - k, False
    out.reverse()
    return out


def _hashes_of(ranges: Sequence[tuple[int, int]], source: NodeSource) -> list[bytes]:
    wanted = [range_nodes(a, b) for a, b in ranges]
    found = source({n for nodes in wanted for n in nodes})
    try:
        return [fold([found[n] for n in nodes]) for nodes in wanted]
    except KeyError as exc:
        raise ProofError(f"node {exc.args[0]} is missing from the log") from None


def root_hash(size: int, source: NodeSource) -> bytes:
    return _hashes_of([(0, size)], source)[0] if size else EMPTY_ROOT


def inclusion_proof(index: int, size: int, source: NodeSource) -> list[bytes]:
    return _hashes_of(inclusion_ranges(index, size), source)


def consistency_proof(first: int, second: int, source: NodeSource) -> list[bytes]:
    return _hashes_of(consistency_ranges(first, second), source)


# --- appending ----------------------------------------------------------------------------


def frontier_nodes(size: int) -> list[Node]:
    """The perfect subtrees covering [0, size), largest first: all an append needs to read."""
    return [
        (level, (size >> level) - 1) for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1
    ]


def append_leaves(
    frontier: Sequence[bytes], size: int, leaf_hashes: Iterable[bytes]
) -> tuple[list[tuple[int, int, bytes]], list[bytes]]:
    """Add leaves after `size` leaves; return the new complete nodes (level ≥ 1) and the new frontier.

    `frontier` holds the hashes of `frontier_nodes(size)`, in that order.
    """
    stack: list[tuple[int, int, bytes]] = [
        (lvl, idx, h) for (lvl, idx), h in zip(frontier_nodes(size), frontier, strict=True)
    ]
    created: list[tuple[int, int, bytes]] = []
    n = size
    for lh in leaf_hashes:
        level, idx, h = 0, n, lh
        while stack and stack[-1][0] == level:
            _, left_idx, left = stack.pop()
            h = node_hash(left, h)
            level, idx = level + 1, left_idx >> 1
            created.append((level, idx, h))
        stack.append((level, idx, h))
        n += 1
    return created, [h for _, _, h in stack]


class MemoryTree:
    """A whole tree in memory: the reference the stored log is audited and tested against."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, h: bytes) -> None:
        self.levels[0].append(h)
        level, idx = 0, len(self.levels[0]) - 1
        while idx & 1:
            parent = node_hash(self.levels[level][idx - 1], self.levels[level][idx])
            level, idx = level + 1, idx >> 1
            if len(self.levels) == level:
                self.levels.append([])
            self.levels[level].append(parent)

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        out = {}
        for level, idx in wanted:
            if level < len(self.levels) and idx < len(self.levels[level]):
                out[(level, idx)] = self.levels[level][idx]
        return out

    def root(self, size: int | None = None) -> bytes:
        return root_hash(self.size if size is None else size, self.nodes)


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ----------------------------------------


def _check_hashes(*hashes: bytes) -> None:
    for h in hashes:
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofError("a hash is not 32 bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` implies for `leaf` at `index` in a tree of `size` leaves."""
    _check_hashes(leaf, *proof)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    _check_hashes(root)
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof of leaf {index} does not lead to the root of size {size}")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Raise ProofError unless the tree of `second` leaves extends the tree of `first` leaves."""
    _check_hashes(first_root, second_root, *proof)
    if not 0 <= first <= second:
        raise ProofError(f"size {second} is smaller than size {first}")
    if first == second:
        if proof:
            raise ProofError("a consistency proof between equal sizes is empty")
        if first_root != second_root:
            raise ProofError("roots differ at the same size")
        return
    if first == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree is empty")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root:
        raise ProofError(f"consistency proof does not lead to the root of size {first}")
    if sr != second_root:
        raise ProofError(f"consistency proof does not lead to the root of size {second}")
