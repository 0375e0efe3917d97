"""ort_same.py - reads ort_run.js --json on stdin; exits 0 only when every
output matched exactly (no difference, no NaN mismatch, none missing)."""
import json
import sys

report = json.load(sys.stdin)
rows = report.get("compare") or []
bad = [r for r in rows if r.get("error") or r["max_abs_diff"] != 0 or r["nan_mismatch"]]
for r in rows:
    print("#   %s: max_abs_diff=%s" % (r["output"], r.get("max_abs_diff", r.get("error"))))
sys.exit(1 if bad or not rows else 0)
