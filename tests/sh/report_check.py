"""report_check.py SCHEMA REPORT.json [OTHER.json]

Validates a report against the schema, checks that its totals are the
parameter-weighted means of its selected tensors (bits, bits_before, gg)
and that the energy totals (snr_db, rel_rmse) agree with each other; with
OTHER (a report of the same model by the other command), checks that every
"before" figure agrees: input, gg, bits_before, hash, selection, params."""
import json
import math
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
report = json.load(open(sys.argv[2]))
jsonschema.validate(report, schema)
errors = []


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


sel = [t for t in report["tensors"] if t["selected"]]
totals = report["totals"]
for group, keys in (("bits", ["entropy", "exp_golomb", "huffman", "fixed", "zstd"]),
                    ("bits_before", ["entropy", "exp_golomb", "huffman", "fixed", "zstd"]),
                    ("gg", ["shape", "scale", "mean"])):
    for k in keys:
        pairs = [(t["params"], t[group][k]) for t in sel if t[group] and t[group][k] is not None]
        want = sum(p * v for p, v in pairs) / sum(p for p, _ in pairs) if pairs else None
        if not close(totals[group][k], want):
            errors.append("totals.%s.%s = %s, weighted mean %s" % (group, k, totals[group][k], want))
pairs = [(t["params"], t["rf8"]["entropy_no_floor"]) for t in sel if t["rf8"]]
want = sum(p * v for p, v in pairs) / sum(p for p, _ in pairs) if pairs else None
if not close(totals["entropy_no_floor"], want):
    errors.append("totals.entropy_no_floor = %s, weighted mean %s" % (totals["entropy_no_floor"], want))
if totals["snr_db"] is not None and not close(10 ** (-totals["snr_db"] / 20), totals["rel_rmse"]):
    errors.append("totals: snr_db and rel_rmse disagree")
if totals["selected"] != len(sel) or totals["selected_params"] != sum(t["params"] for t in sel):
    errors.append("totals: selected counts")

if len(sys.argv) > 3:
    other = json.load(open(sys.argv[3]))
    if other["input"] != report["input"]:
        errors.append("input differs")
    for k in ("gg", "bits_before"):
        if other["totals"][k] != totals[k]:
            errors.append("totals.%s differs" % k)
    for a, b in zip(report["tensors"], other["tensors"]):
        for k in ("name", "params", "selected", "skip_reason", "hash", "gg", "bits_before", "bytes_before"):
            if a[k] != b[k]:
                errors.append("tensor %s: %s differs" % (a["name"], k))
    if len(report["tensors"]) != len(other["tensors"]):
        errors.append("tensor counts differ")

for e in errors[:20]:
    print("#", e)
sys.exit(1 if errors else 0)
