#!/usr/bin/env python3
"""Summarise the runs of scripts/compare.sh as one markdown table.

Each argument is a run directory written by the script, holding:
  name        the client's label (one line), e.g. `mysql_lb`
  t0_ms       the wall-clock instant (ms since the epoch) that the samples' t_ms counts from
  events      one fault a line: `<what> <epoch_ms>`, what in kill, restart, pause, resume;
              the instant is when the script sent the command to the sandbox
  samples.csv `t_ms,latency_us,ok,host`, one line per statement (`mysql-lb bench --samples`)

Phases, in ms since the client's t0 (a statement counts in the phase where it STARTED):
  healthy  [1 s, kill - 100 ms)            every server up; the first second is left out so
                                           JIT and connection set-up do not count
  kill     [kill - 100 ms, pause - 100 ms) server 0 SIGKILLed, restarted at `restart`
  pause    [pause - 100 ms, resume + 2 s)  server 1 SIGSTOPped (a hung host), SIGCONTed at
                                           `resume`; the 2 s after show the way back
A phase begins LEAD (100 ms) before its fault is sent so that the statements the fault
catches in flight (started just before it) count in the fault's phase, not in the one before.

Columns per phase: statements/s (started in the phase, ok or not, over the phase's length),
errors (statements that failed), p99 and max latency in ms over every statement of the phase,
failed ones included: an error that took 2 s cost the application 2 s.

Python 3 standard library only.
"""

import csv
import math
import sys
from pathlib import Path

WARMUP_MS = 1000
LEAD_MS = 100
PAUSE_TAIL_MS = 2000


def read_run(path):
    """The run's label, its phases as (name, start_ms, end_ms) and its samples."""
    d = Path(path)
    name = (d / "name").read_text().strip()
    t0 = float((d / "t0_ms").read_text().strip())
    events = {}
    for line in (d / "events").read_text().splitlines():
        if line.strip():
            what, when = line.split()
            events[what] = float(when) - t0
    missing = {"kill", "pause", "resume"} - events.keys()
    if missing:
        sys.exit(f"analyze: {d}/events lacks {', '.join(sorted(missing))}")
    kill, pause = events["kill"] - LEAD_MS, events["pause"] - LEAD_MS
    phases = [
        ("healthy", WARMUP_MS, kill),
        ("kill", kill, pause),
        ("pause", pause, events["resume"] + PAUSE_TAIL_MS),
    ]
    samples = []
    with open(d / "samples.csv", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header != ["t_ms", "latency_us", "ok", "host"]:
            sys.exit(f"analyze: {d}/samples.csv: unexpected header {header}")
        for row in rows:
            samples.append((float(row[0]), float(row[1]) / 1000.0, row[2] == "1"))
    return name, phases, samples


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def phase_stats(samples, start, end):
    """(statements/s, errors, p99 ms, max ms) of the statements started in [start, end)."""
    inside = [(lat, ok) for t, lat, ok in samples if start <= t < end]
    latencies = sorted(lat for lat, _ in inside)
    seconds = max(end - start, 1.0) / 1000.0
    errors = sum(1 for _, ok in inside if not ok)
    return len(inside) / seconds, errors, percentile(latencies, 0.99), (latencies or [None])[-1]


def ms(value):
    return "-" if value is None else f"{value:.1f}"


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: analyze.py RUN_DIR...")
    runs = [read_run(p) for p in argv[1:]]
    phase_names = [name for name, _, _ in runs[0][1]]
    head = ["client"]
    for p in phase_names:
        head += [f"{p} stmt/s", f"{p} errors", f"{p} p99 ms", f"{p} max ms"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for name, phases, samples in runs:
        cells = [name]
        for _, start, end in phases:
            rate, errors, p99, worst = phase_stats(samples, start, end)
            cells += [f"{rate:.0f}", str(errors), ms(p99), ms(worst)]
        print("| " + " | ".join(cells) + " |")
    # The phase bounds of each run, so a reader can see the schedule was applied as meant.
    print()
    for name, phases, _ in runs:
        bounds = ", ".join(f"{p} {s / 1000:.2f}-{e / 1000:.2f} s" for p, s, e in phases)
        print(f"- {name}: {bounds}")


if __name__ == "__main__":
    main(sys.argv)
