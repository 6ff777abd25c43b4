"""Weighted least squares made near-minimax by Lawson's reweighting (shared by the fits here)."""
import numpy as np


def lawson(a, y, weight, rounds=50):
    """Coefficients c minimizing max |a c - y| * weight, approximately (rounds reweightings)."""
    w = np.ones(len(y))
    c = None
    for _ in range(rounds):
        sw = np.sqrt(w) * weight
        c, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
        e = np.abs(a @ c - y) * weight
        w = w * (e + 1e-30)
        w /= w.sum()
    return c
