#!/usr/bin/env python3
"""Writes the small files of the bad-input corpus (tests/data/bad/). Deterministic: run it again
and nothing changes. The big inputs (a 10 MB line, 100,000 columns, long formulas) are made by
tests/corpus_test.cpp at run time; the expected outcome of every case is in cases.tsv."""
import os

os.chdir(os.path.dirname(os.path.abspath(__file__)))

# 8 groups x 5 times: y = 2 + 0.5 t + u_g + e, with fixed "noise" so the files never change.
U = [0.9, -1.2, 0.3, 1.6, -0.4, -0.8, 1.1, -1.5]
E = [((g * 37 + t * 11) % 17 - 8) / 16.0 for g in range(8) for t in range(5)]
ROWS = [(g, t, round(2 + 0.5 * t + U[g] + E[g * 5 + t], 4)) for g in range(8) for t in range(5)]


def write(name, data):
    with open(name, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def table(header, fmt, rows=ROWS):
    return header + "\n" + "".join(fmt(g, t, y) + "\n" for g, t, y in rows)


write("good.csv", table("y,x,g", lambda g, t, y: f"{y},{t},g{g}"))
# Bytes that are not UTF-8 (Latin-1 and stray bytes) in a grouping factor's levels.
write("non_utf8_levels.csv", b"y,x,g\n" + b"".join(f"{y},{t},".encode() + [b"caf\xe9", b"\xff\xfe", b"na\xefve", b"\x80"][g % 4] + str(g).encode() + b"\n" for g, t, y in ROWS))
# ... and in a column name used in the formula.
write("non_utf8_name.csv", b"y,x\xff,g\n" + b"".join(f"{y},{t},g{g}\n".encode() for g, t, y in ROWS))
write("nul_in_levels.csv", b"y,x,g\n" + b"".join(f"{y},{t},g\0{g}\n".encode() for g, t, y in ROWS))
write("nul_in_header.csv", b"y,x\0z,g\n" + b"".join(f"{y},{t},g{g}\n".encode() for g, t, y in ROWS))
base = [f"{y},{t},g{g}" for g, t, y in ROWS]
write("quote_left_open.csv", "y,x,g\n" + "\n".join(base[:10] + ['3.1,1,"g1'] + base[10:]) + "\n")
write("number_1e400.csv", "y,x,g\n" + "\n".join(base[:5] + ["1e400,1,g1"] + base[5:]) + "\n")
write("number_1e-400.csv", "y,x,g\n" + "\n".join(base[:5] + ["2.5,1e-400,g1"] + base[5:]) + "\n")
write("negative_zero.csv", table("y,x,g", lambda g, t, y: f"{y},{'-0' if t == 0 else t},g{g}"))
# A spreadsheet export with ';' and decimal commas, named .csv.
write("decimal_comma_semicolon.csv", table("y;x;g", lambda g, t, y: f"{str(y).replace('.', ',')};{t};g{g}"))
write("thousands_separator.csv", table("y,x,g", lambda g, t, y: f"\"{int(y * 1000):,}\",{t},g{g}"))
write("decimal_comma_predictor.csv", table("y,x,g", lambda g, t, y: f"{y},\"{t},5\",g{g}"))
write("zero_variance.csv", table("y,x,g", lambda g, t, y: f"3.5,{t},g{g}"))
write("exact_linear.csv", table("y,x,g", lambda g, t, y: f"{0.3 * t - 7.1:.4f},{t},g{g}"))
write("collinear.csv", table("y,x,x2,g", lambda g, t, y: f"{y},{t},{2 * t},g{g}"))
write("one_observation_groups.csv", table("y,x,g", lambda g, t, y: f"{y},{t},g{g}") + "".join(f"{1.5 + i},{i % 3},single{i}\n" for i in range(5)))
write("all_groups_size_one.csv", table("y,x,g", lambda g, t, y: f"{y},{t},u{g}_{t}"))
write("levels_equal_rows.csv", table("y,x,id", lambda g, t, y: f"{y},{t},{g * 5 + t + 1}"))
write("random_slopes_too_many.csv", table("y,x,g", lambda g, t, y: f"{y},{t},g{g}_{t // 2}", [r for r in ROWS if r[1] < 4]))
write("bom_crlf.csv", "\ufeff" + table("y,x,g", lambda g, t, y: f"{y},{t},g{g}").replace("\n", "\r\n"))
write("header_only.csv", "y,x,g\n")
write("all_missing_response.csv", table("y,x,g", lambda g, t, y: f"NA,{t},g{g}"))
write("gzip.csv", b"\x1f\x8b\x08\x00" + bytes(range(40)))
write("empty.csv", "")
write("ragged.csv", "y,x,g\n" + "\n".join(base[:7] + ["1,2"] + base[7:]) + "\n")
