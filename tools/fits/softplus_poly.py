#!/usr/bin/python3
"""Fits softplus's polynomial in src/kernels/cpu/fast_math_lanes.cpp and prints it as C++.

log1p(e) = e + e^2 Q(e) on e in (0, 1] (e = e^-|x|), Q of degree 8: a weighted least-squares fit
for the relative error of log1p(e), made near-minimax by Lawson's reweighting, the coefficients
rounded to float from the highest degree down and the lower ones refitted after each rounding.
Prints the worst relative error of the rounded polynomial (in units of 2^-24) and the
coefficients, highest degree first. Needs Debian's python3-numpy:
  /usr/bin/python3 tools/fits/softplus_poly.py
"""
import math

import numpy as np

from lawson import lawson

F32 = np.float32
DEGREE = 8


def main():
    e = 0.5 * (1 - np.cos(np.linspace(0, math.pi, 4000)))  # Chebyshev-spaced on [0, 1]
    e = e[e > 1e-6]
    log1p = np.log1p(e)
    q = (log1p - e) / (e * e)
    weight = e * e / log1p  # an error in Q, times e^2, relative to log1p(e)
    a = np.vander(e, DEGREE + 1)
    fixed = []
    for k in range(DEGREE + 1):
        rest = q - (a[:, :k] @ np.array(fixed) if k else 0)
        fixed.append(float(F32(lawson(a[:, k:], rest, weight, rounds=60)[0])))
    worst = np.max(np.abs(e + e * e * (a @ np.array(fixed)) - log1p) / log1p)
    print(f"// worst relative error {worst / 2**-24:.3f} x 2^-24")
    print(", ".join(f"{float(c).hex().replace('0000000p', 'p')}f" for c in fixed))


if __name__ == "__main__":
    main()
