"""scale_table.py TIMES PARAMS BYTES - the table of bench/run_scale.sh.
TIMES: "model case seconds maxrss_kb" per run; PARAMS: "model params
largest_tensor_bytes"; BYTES: "model file_bytes inline|external".
Prints per model and case the median wall time, x cp, x the Python
reference, peak RSS (the largest of the runs) against its target, and ns
per parameter; then the scaling of convert and --threads 1 vs 2."""
import statistics
import sys
from collections import defaultdict

times = defaultdict(list)
rss = defaultdict(int)
for line in open(sys.argv[1]):
    model, case, sec, kb = line.split()
    times[model, case].append(float(sec))
    rss[model, case] = max(rss[model, case], int(kb))
params = {m: (int(p), int(big)) for m, p, big in (l.split() for l in open(sys.argv[2]))}
files = {m: (int(b), kind) for m, b, kind in (l.split() for l in open(sys.argv[3]))}
models = list(params)
MiB = 1048576.0


def med(model, case):
    return statistics.median(times[model, case])


def rss_target(model):
    size, kind = files[model]
    if kind == "external":
        return 256 * MiB + 2 * params[model][1], "256 MiB + 2x largest"
    return 1.5 * size, "1.5x file"


print("| model | file | case | median s | x cp | x cat | x Python ref | peak RSS MiB | RSS target MiB | ns/param |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
ref = med("s256", "python-ref") if ("s256", "python-ref") in times else None
for m in models:
    cp, cat = med(m, "cp"), med(m, "cat")
    for case in ("cp", "cat", "report", "convert", "paper", "convert-t1", "python-ref"):
        if (m, case) not in times:
            continue
        t = med(m, case)
        target, _ = rss_target(m)
        show_target = case in ("report", "convert", "paper")
        print("| %s | %.0f MiB %s | %s | %.3f | %.2f | %.2f | %s | %.0f | %s | %.2f |" % (
            m, files[m][0] / MiB, files[m][1], case, t, t / cp, t / cat,
            "%.1f" % (ref / t) if ref and m == "s256" and case != "python-ref" else "",
            rss[m, case] / 1024.0, "%.0f" % (target / MiB) if show_target else "",
            1e9 * t / params[m][0]))

print()
print("Scaling of convert (safe, lut), ns per parameter against the 16 MiB float32 model:")
base = 1e9 * med("s16", "convert") / params["s16"][0]
for m in models:
    ns = 1e9 * med(m, "convert") / params[m][0]
    print("  %-5s %8.0f MiB  %6.2f ns/param  %5.2fx" % (m, files[m][0] / MiB, ns, ns / base))
if ("e1g", "convert-t1") in times:
    print("--threads 2 against 1 on e1g: %.2fx faster" % (med("e1g", "convert-t1") / med("e1g", "convert")))
