"""Bit-exact helpers of the batched generator: counter-based random numbers (splitmix64 of seed,
user, step and purpose), draws from rows of probabilities, Python's rounding on arrays and the
5-decimal text of probabilities, and ragged rows padded into arrays. A user's numbers depend only on
the seed and its index, so the output does not depend on batches or workers."""

from __future__ import annotations

import numpy as np

_NEAR = 1e-7  # sums this close to a threshold are decided by the exact sum
_M64 = (1 << 64) - 1

_REPR5: list[str] = []


def _repr5_table(ks: np.ndarray) -> list[str] | dict[int, str]:
    """``repr(k / 1e5)`` indexed by k for every k of ``ks`` (the probabilities written are rounded
    to 5 decimals): a table of 0..100000, made once."""
    if not _REPR5:
        _REPR5.extend(repr(k / 100000.0) for k in range(100001))
    if ks.size and (ks.min() < 0 or ks.max() > 100000):  # not a probability: a table of its own
        return {k: repr(k / 100000.0) for k in np.unique(ks).tolist()}
    return _REPR5


def _mix64_int(z: int) -> int:
    """splitmix64's finaliser on a Python int."""
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def uniforms(seed: int, users: np.ndarray, step: int, purpose: int) -> np.ndarray:
    """Counter-based uniform numbers in [0, 1): one per user, a hash of (seed, user, step,
    purpose), so a user's numbers do not depend on which other users are generated with it."""
    key = _mix64_int(_mix64_int(int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) ^ (step << 12 | purpose))
    z = np.asarray(users, dtype=np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(key)
    z = _mix64(_mix64(z) ^ np.uint64(_mix64_int(key + 1)))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _draw(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row, the index drawn from the (unnormalised) distribution ``p`` by the uniform ``u``:
    the first index whose cumulative share exceeds ``u`` (never one of probability 0)."""
    cdf = np.cumsum(p, axis=1)
    pick = (cdf <= (u * cdf[:, -1])[:, None]).sum(1)
    last = p.shape[1] - 1 - np.argmax(p[:, ::-1] > 0, axis=1)
    return np.minimum(pick, last)


def _round9(x: np.ndarray) -> np.ndarray:
    """``round(x, 9)`` element by element (Python's rounding: numpy's differs within an ulp of
    a half, where Python's is used)."""
    y = x * 1e9
    out = np.rint(y) / 1e9
    frac = np.abs(y - np.floor(y) - 0.5)
    risky = np.isfinite(y) & (frac < 1e-4)
    if risky.any():
        out[risky] = [round(v, 9) for v in x[risky].tolist()]
    return out


def _pad(rows: list[list], fill, dtype=np.intp) -> np.ndarray:
    """Ragged rows as one array, padded with ``fill`` (at least one column)."""
    width = max([1, *map(len, rows)])
    out = np.full((len(rows), width), fill, dtype=dtype)
    for k, row in enumerate(rows):
        out[k, : len(row)] = row
    return out
