#!/usr/bin/env python3
"""Writes the data-quirk corpus of tests/data/quirks (checked by tests/quirks_test.cpp against
cases.tsv). Each file is a small longitudinal data set (persons x times) with one quirk. The values
are a fixed function of person and time plus a fixed wobble, so the files are the same on every run.
Run from this directory: python3 make_quirks.py"""

def base(persons=8, times=4):
    rows = []
    for p in range(persons):
        for t in range(times):
            wobble = ((p * 7 + t * 3) % 5 - 2) * 0.37 + ((p * 3) % 4 - 1.5) * 0.9
            y = 10 + 2 * t + wobble + 0.5 * (p % 3)
            x = round(1 + ((p * 5 + t * 11) % 9) * 0.5, 1)
            rows.append({"id": str(p + 1), "time": str(t), "y": f"{y:.3f}", "x": f"{x:g}"})
    return rows

def write(name, header, rows, sep=",", eol="\n", bom=False):
    text = sep.join(header) + eol + "".join(sep.join(r[h] for h in header) + eol for r in rows)
    with open(name, "w", newline="") as f:
        f.write(("\ufeff" if bom else "") + text)

H = ["id", "time", "y", "x"]

# Identifiers whose text differs where their numbers agree: 7 persons.
ids7 = ["01", "1", "001", "2", "02", "3.0", "3"]
rows = base(7)
for r in rows: r["id"] = ids7[int(r["id"]) - 1]
write("ids_leading_zeros.csv", H, rows)
for r in rows: r["id"] = '"' + r["id"] + '"'
write("ids_quoted.csv", H, rows)
rows = base(8)
for r in rows: r["id"] = f"{int(r['id']):03d}"
write("ids_zero_padded.csv", H, rows)
rows = base(8)
for r in rows: r["id"] = ["12345678901234567", "12345678901234568", "7", "8", "9", "10", "11", "12"][int(r["id"]) - 1]
write("ids_long_integers.csv", H, rows)
# Nested: 4 schools, classes "1" and "01" inside each (8 classes), 2 pupils x 4 times each.
rows = []
for i, r in enumerate(base(16)):
    p = int(r["id"]) - 1
    r["school"] = str(p // 4 + 1)
    r["class"] = ["1", "01"][(p // 2) % 2]
    rows.append(r)
write("nested_class_ids.csv", H + ["school", "class"], rows)
# Identifiers mostly numbers and some text: a text identifier, no error.
rows = base(8)
for r in rows:
    if r["id"] == "8": r["id"] = "A8"
write("ids_mixed_text.csv", H, rows)

# Missing-value codes in a numeric predictor (rows 3, 10, 17 of x).
for name, code in [("na_slash", "N/A"), ("na_null", "NULL"), ("na_lower", "na"), ("na_dash", "-"),
                   ("na_excel", "#N/A"), ("na_lower_slash", "n/a"), ("na_empty", ""), ("na_NA", "NA"),
                   ("na_dot", "."), ("na_nan", "NaN"), ("na_word", "missing")]:
    rows = base(8)
    for k in (2, 9, 16): rows[k]["x"] = code
    write(name + ".csv", H, rows)
# One code in 3 cells among 29 numbers, and 4 different words: not mostly numbers -> genuine text?
rows = base(8)
for k in (2, 9, 16): rows[k]["x"] = "-99"
write("sentinel_x.csv", H, rows)
rows = base(8)
for k in (5, 6): rows[k]["y"] = "-99"
write("sentinel_y.csv", H, rows)
rows = base(8)
for k in (1,): rows[k]["x"] = "999"
rows[4]["x"] = "N/A"
write("sentinel_and_code.csv", H, rows)
# The response with a text cell.
rows = base(8)
rows[12]["y"] = "see notes"
write("response_text.csv", H, rows)
rows = base(8)
rows[12]["y"] = "1e400"
write("response_out_of_range.csv", H, rows)

# Excel exports in decimal-comma locales: ';' separated, '3,5'.
rows = base(8)
for r in rows:
    r["y"] = r["y"].replace(".", ","); r["x"] = r["x"].replace(".", ",")
write("excel_semicolon.csv", H, rows, sep=";")
write("excel_semicolon.txt", H, rows, sep=";", eol="\r\n", bom=True)
# Thousands separators in quoted fields of a comma-separated file.
rows = base(8)
for r in rows: r["x"] = '"' + f"{int(float(r['x']) * 1000):,}" + '"'
write("thousands_quoted.csv", H, rows)
# BOM, CRLF, trailing spaces in numbers.
write("bom.csv", H, base(8), bom=True)
write("crlf.csv", H, base(8), eol="\r\n")
rows = base(8)
for r in rows: r["x"] = r["x"] + "  "; r["time"] = " " + r["time"]
write("trailing_spaces.csv", H, rows)
# Numeric codes of categories: Diet 1..4 per person.
rows = base(8)
for r in rows: r["Diet"] = str((int(r["id"]) - 1) % 4 + 1)
write("diet_codes.csv", H + ["Diet"], rows)
# A 0/1 response.
rows = base(8)
for r in rows: r["y"] = "1" if float(r["y"]) > 13 else "0"
write("binary_response.csv", H, rows)
# TRUE/FALSE, text groups, dates as grouping factor.
rows = base(8)
for r in rows:
    r["treat"] = "TRUE" if int(r["id"]) % 2 else "FALSE"
    r["group"] = "control" if int(r["id"]) <= 4 else "treated"
    r["date"] = f"2024-03-{int(r['time']) + 1:02d}"
write("logical_text_dates.csv", H + ["treat", "group", "date"], rows)
# A predictor with missing values only some models use (compare).
rows = base(8)
for k in (3, 11): rows[k]["x"] = "NA"
write("compare_missing.csv", H, rows)
