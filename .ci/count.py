"""count.py TESTLOG.json... - counts what the runs executed: every TAP line
of TAP tests, every other test as one; prints the Check summaries and ends
with "N passed, N failed" (skips are said apart). Exits 1 when a test
failed or when nothing ran."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        print("%s: missing: that run did not reach its tests" % path)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout") or ""
        for s in out.splitlines():
            if s.startswith("# ") and "Checks:" in s:
                print("%s: %s" % (t["name"], s[2:]))
        tap = [s for s in out.splitlines() if s.startswith(("ok ", "not ok ", "1.."))]
        if tap:
            for s in out.splitlines():
                if s.startswith("not ok "):
                    failed += 1
                elif s.startswith("ok "):
                    if "# SKIP" in s:
                        skipped += 1
                    else:
                        passed += 1
            if t["result"] not in ("OK", "SKIP") and "not ok " not in out:
                failed += 1  # crashed or timed out after its last line
        elif t["result"] == "SKIP":
            skipped += 1
        elif t["result"] == "OK":
            passed += 1
        else:
            failed += 1
print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % skipped if skipped else ""))
sys.exit(1 if failed or not passed else 0)
