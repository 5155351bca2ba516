"""RFC 9162 Merkle tree: the public known answers, every proof up to 256 leaves, corruptions.

Known answers are those of transparency-dev/merkle (testonly/constants.go and
proof/verify_test.go), the reference test constants of Certificate Transparency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest

from garant.transparency import merkle

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
ROOTS = [  # by tree size 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {  # (leaf index, tree size) -> proof
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CONSISTENCY = {  # (first size, second size) -> proof
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (6, 7): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


def _tree() -> merkle.MemoryTree:
    return merkle.MemoryTree(merkle.leaf_hash(d) for d in LEAF_INPUTS)


def test_known_leaf_hashes_and_roots_for_sizes_0_to_8() -> None:
    assert [merkle.leaf_hash(d).hex() for d in LEAF_INPUTS] == LEAF_HASHES
    tree = _tree()
    assert [tree.root(n).hex() for n in range(9)] == ROOTS
    # the incremental append path (what the store uses) gives the same roots
    frontier: list[bytes] = []
    for n, data in enumerate(LEAF_INPUTS):
        _, frontier = merkle.append_leaves(frontier, n, [merkle.leaf_hash(data)])
        assert merkle.fold(frontier).hex() == ROOTS[n + 1]


@pytest.mark.parametrize(("index", "size"), sorted(INCLUSION))
def test_known_inclusion_proofs(index: int, size: int) -> None:
    tree = _tree()
    proof = merkle.inclusion_proof(index, size, tree.nodes)
    assert [h.hex() for h in proof] == INCLUSION[(index, size)]
    merkle.verify_inclusion(index, size, tree.levels[0][index], proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("first", "second"), sorted(CONSISTENCY))
def test_known_consistency_proofs(first: int, second: int) -> None:
    tree = _tree()
    proof = merkle.consistency_proof(first, second, tree.nodes)
    assert [h.hex() for h in proof] == CONSISTENCY[(first, second)]
    merkle.verify_consistency(first, second, proof, bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second]))


# --- an independent reference: RFC 9162's definitions, recursively, on lists ---------------


def _mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return merkle.leaf_hash(d[0])
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [_mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


def test_stored_node_proofs_equal_the_rfc_definitions_up_to_64_leaves() -> None:
    data = [i.to_bytes(2, "big") for i in range(64)]
    tree = merkle.MemoryTree(merkle.leaf_hash(x) for x in data)
    for n in range(1, 65):
        assert tree.root(n) == _mth(data[:n])
        for m in range(n):
            assert merkle.inclusion_proof(m, n, tree.nodes) == _path(m, data[:n])
        for m in range(1, n):
            assert merkle.consistency_proof(m, n, tree.nodes) == _subproof(m, data[:n], True)


# --- every proof up to 256 leaves, and every corruption of it ------------------------------

N = 256
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _flip_bits(proof: list[bytes], every_bit: bool) -> list[list[bytes]]:
    """Proofs with one bit flipped: every bit of every hash, or one bit of every byte."""
    out = []
    for i, h in enumerate(proof):
        for bit in range(256) if every_bit else range(i % 8, 256, 8):
            changed = bytearray(h)
            changed[bit // 8] ^= 1 << (bit % 8)
            out.append([*proof[:i], bytes(changed), *proof[i + 1 :]])
    return out


def _count(check: Callable[..., None], *args: object) -> int:
    """1 if the verifier accepted what it should have refused."""
    try:
        check(*args)
    except merkle.ProofError:
        return 0
    return 1


@pytest.fixture(scope="module")
def big_tree() -> merkle.MemoryTree:
    return merkle.MemoryTree(merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(N))


def test_every_inclusion_proof_up_to_256_verifies_and_no_corruption_is_accepted(
    big_tree: merkle.MemoryTree, record_property: Callable[[str, object], None]
) -> None:
    proofs = accepted_corruptions = tried = 0
    for n in range(1, N + 1):
        root = big_tree.root(n)
        for m in range(n):
            leaf = big_tree.levels[0][m]
            proof = merkle.inclusion_proof(m, n, big_tree.nodes)
            merkle.verify_inclusion(m, n, leaf, proof, root)
            proofs += 1
            # the probes of transparency-dev/merkle's verifier tests: wrong index, a tree of
            # another height, wrong leaf, garbage before or after, a hash removed or inserted
            bad: list[tuple[int, int, bytes, list[bytes]]] = [
                (m - 1, n, leaf, proof),
                (m + 1, n, leaf, proof),
                (m ^ 2, n, leaf, proof),
                (m, n * 2, leaf, proof),
                (m, n // 2, leaf, proof),
                (m, n, SOME_HASH, proof),
                (m, n, leaf, [*proof, b""]),
                (m, n, leaf, [*proof, root]),
                (m, n, leaf, [b"", *proof]),
                (m, n, leaf, [root, *proof]),
            ]
            if proof:
                bad.append((m, n, leaf, proof[:-1]))
            if len(proof) > 1:
                bad.append((m, n, leaf, [proof[0], SOME_HASH, *proof[1:]]))
            # single-bit corruptions: every bit of every proof up to 16 leaves; beyond, one bit
            # of every byte, for the first, middle and last leaf
            if n <= 16 or m in (0, n // 2, n - 1):
                bad += [(m, n, leaf, p) for p in _flip_bits(proof, every_bit=n <= 16)]
            for bi, bn, bl, bp in bad:
                tried += 1
                accepted_corruptions += _count(merkle.verify_inclusion, bi, bn, bl, bp, root)
            # and a root other than the true one: the empty tree's, an arbitrary one
            for other in (merkle.EMPTY_ROOT, SOME_HASH):
                tried += 1
                accepted_corruptions += _count(merkle.verify_inclusion, m, n, leaf, proof, other)
    record_property("inclusion_corruptions_tried", tried)
    print(f"inclusion: {proofs} proofs verified, {tried} corruptions tried, {accepted_corruptions} taken")
    assert proofs == N * (N + 1) // 2
    assert accepted_corruptions == 0


def test_every_consistency_proof_up_to_256_verifies_and_no_corruption_is_accepted(
    big_tree: merkle.MemoryTree, record_property: Callable[[str, object], None]
) -> None:
    proofs = accepted_corruptions = tried = 0
    roots = [big_tree.root(n) for n in range(N + 1)]
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, big_tree.nodes)
            merkle.verify_consistency(m, n, proof, roots[m], roots[n])
            proofs += 1
            if m == n:
                continue
            r1, r2 = roots[m], roots[n]
            bad: list[tuple[int, int, list[bytes], bytes, bytes]] = [
                (m - 1, n, proof, r1, r2),
                (m + 1, n, proof, r1, r2),
                (m ^ 2, n, proof, r1, r2),
                (m, n * 2, proof, r1, r2),
                (m, n // 2, proof, r1, r2),
                (m, n, proof, SOME_HASH, r2),
                (m, n, proof, r1, SOME_HASH),
                (m, n, proof, r2, r1),
                (m, n, [], r1, r2),
                (m, n, [*proof, b""], r1, r2),
                (m, n, [*proof, r1], r1, r2),
                (m, n, [*proof, r2], r1, r2),
                (m, n, [b"", *proof], r1, r2),
                (m, n, [r1, *proof], r1, r2),
                (m, n, [r2, *proof], r1, r2),
                (m, n, [proof[0], *proof], r1, r2),
                (m, n, proof[:-1], r1, r2),
            ]
            if n <= 16 or m in (1, n // 2, n - 1):
                bad += [(m, n, p, r1, r2) for p in _flip_bits(proof, every_bit=n <= 16)]
            for bm, bn, bp, b1, b2 in bad:
                tried += 1
                accepted_corruptions += _count(merkle.verify_consistency, bm, bn, bp, b1, b2)
    record_property("consistency_corruptions_tried", tried)
    print(
        f"consistency: {proofs} proofs verified, {tried} corruptions tried, {accepted_corruptions} accepted"
    )
    assert proofs == N * (N + 1) // 2
    assert accepted_corruptions == 0


def test_impossible_proof_requests_are_refused() -> None:
    tree = _tree()
    for index, size in ((8, 8), (-1, 8), (0, 0)):
        with pytest.raises(merkle.ProofError):
            merkle.inclusion_proof(index, size, tree.nodes)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(5, 4, tree.nodes)
    with pytest.raises(merkle.ProofError, match="missing"):
        merkle.inclusion_proof(0, 9, tree.nodes)  # the tree holds 8 leaves
