#!/usr/bin/python3
"""Fits the table of src/kernels/cpu/fast_math.cpp's float32 GELU and prints it as C++.

M(t) = Phi(-t) e^(t^2/2) on [0, 7.87] in 32 pieces, piece i around t = i/4 in u = 4t - i
(u in [-1/2, 1/2]; piece 0 is [0, 1/8], u in [0, 1/2]): u^5 .. u^1 coefficients and the constant
as a float pair (hi, lo). Each fit is a weighted least-squares fit for relative error, made
near-minimax by Lawson's reweighting; the coefficients are rounded to float from the highest
degree down, the lower ones refitted after each rounding. Needs Debian's python3-numpy:
  /usr/bin/python3 tools/fits/gelu_table.py
"""
import math

import numpy as np

from lawson import lawson

F32 = np.float32
DEGREE, PIECES, END = 5, 32, float(F32(7.87))


def m_of(t):
    return 0.5 * math.erfc(t / math.sqrt(2)) * math.exp(t * t / 2)


def piece(i):
    lo, hi = max(0.0, (i - 0.5) / 4), min(END, (i + 0.5) / 4)
    u = np.linspace(4 * lo - i, 4 * hi - i, 600)
    y = np.array([m_of((i + v) / 4) for v in u])
    centre = m_of(i / 4)
    c0h = float(F32(centre))
    c0l = float(F32(centre - c0h))
    rest = y - c0h - c0l
    powers = np.vander(u, DEGREE + 1)[:, :-1]  # u^5 .. u^1
    coefs = []
    for k in range(DEGREE):
        c = lawson(powers[:, k:], rest, 1 / y)
        ck = float(F32(c[0]))
        coefs.append(ck)
        rest = rest - ck * powers[:, k]
    return coefs + [c0h, c0l], float((np.abs(rest) / y).max())


def c_float(v):
    v = float(F32(v))
    if v == 0:
        return "0.0f"
    sign, text = ("-", v.hex()[1:]) if v < 0 else ("", v.hex())
    mant, exp = text.split("p")
    return f"{sign}{mant.rstrip('0').rstrip('.')}p{exp}f"


def main():
    table, worst = [], 0.0
    for i in range(PIECES):
        coefs, err = piece(i)
        table.append(coefs)
        worst = max(worst, err)
    print(f"// worst relative error of the fit: {worst:.2e}")
    print("alignas(64) constexpr float kGeluPoly[7][32] = {")
    for k in range(DEGREE + 2):
        print("    {" + ", ".join(c_float(row[k]) for row in table) + "},")
    print("};")


if __name__ == "__main__":
    main()
