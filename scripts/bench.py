#!/usr/bin/env python3
"""dondoc's benchmark: a province's year in one sync, measured against the parsing floor.

One run, each step a separate `dondoc` process (so that its peak resident memory is its own,
read exactly from wait4(2)):

  1. the simulator (`dondoc simulate`, another process) serves N dossiers over a year for U units
     and M documents;
  2. the floor: `dondoc sync --dry-run` fetches and parses every page, storing nothing;
  3. a first full `dondoc sync` into a fresh SQLite database (and PostgreSQL with --postgres);
  4. 1,000 dossiers change upstream; an incremental `dondoc sync`;
  5. `dondoc evaluate`: every unit, metric, scope and period kind;
  6. `dondoc status --format json` for the current quarter;
  7. `dondoc backfill --recompute`: every past day of the year evaluated again (365 as-of instants);
  8. an idle `dondoc run` between jobs: resident memory and CPU over a quiet window;
  9. the same province keeping --years years of history (the dossiers times --years): the
     evaluation against the one-year figure.

Steps 2-7 run --repeat times (each full sync into a fresh database); the table at the end gives
each target of issue 16 beside its median, the spread, and the number of runs.

Speed is reported, never asserted. Standard library only (Python 3.8+).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(path, sim_port, http_port, db_url, units, page_size):
    lines = [
        "[database]", f'url = "{db_url}"', "",
        "[sources.motcua]", 'kind = "one_stop"', f'base_url = "http://127.0.0.1:{sim_port}"', f"page_size = {page_size}",
        "timeout_secs = 120", "max_requests_per_sec = 0", "max_page_mib = 256", "",
        "[sources.qlvb]", 'kind = "documents"', f'base_url = "http://127.0.0.1:{sim_port}"', f"page_size = {page_size}",
        "timeout_secs = 120", "max_requests_per_sec = 0", "max_page_mib = 256", "",
        "[http]", f'listen = "127.0.0.1:{http_port}"', "",
        "[schedule]", 'sync = "0 0 3 * * *"', 'alerts = "0 0 8 * * Mon-Fri"', "",
        "[field_groups]", 'land_construction_investment = ["G09-DD", "G09-XD", "G09-DT"]', "",
        "[[scoped_targets]]", 'metric = "satisfaction_rate"', 'scope = "land_construction_investment"', "min = 85.0", "",
        "[[units]]", 'code = "TINH"', 'name = "UBND tỉnh (benchmark)"', 'one_stop_codes = ["000.00.00.H50"]', 'document_codes = ["T0"]', "",
    ]
    # The province's cities, each with agencies and wards below: a three-level tree.
    cities = max(1, units // 20)
    made = 1
    for c in range(cities):
        if made >= units:
            break
        lines += ["[[units]]", f'code = "TP{c:02d}"', f'name = "UBND thành phố {c:02d}"', 'parent = "TINH"',
                  f'one_stop_codes = ["000.00.{c:02d}.H52"]', f'document_codes = ["TP{c:02d}"]', ""]
        made += 1
    i = 0
    while made < units:
        c = i % cities
        lines += ["[[units]]", f'code = "DV{i:03d}"', f'name = "Phường Đơn vị {i:03d}"', f'parent = "TP{c:02d}"',
                  f'one_stop_codes = ["000.{i % 1000:03d}.{c:02d}.H51"]', f'document_codes = ["D{i:03d}"]', ""]
        made += 1
        i += 1
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def run(bin_, cfg, args, cwd, quiet=True):
    """Runs `dondoc --config cfg args`; returns (wall seconds, peak RSS MiB, stdout)."""
    t0 = time.monotonic()
    p = subprocess.Popen([bin_, "--config", cfg] + args, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL if quiet else None, env={**os.environ, "RUST_LOG": "warn"})
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    text = out.decode("utf-8", "replace")
    if p.returncode != 0:
        sys.exit(f"dondoc {' '.join(args)} failed (exit {p.returncode}):\n{text}")
    return wall, usage.ru_maxrss / 1024.0, text


def sync_table(text):
    """(endpoint → (fetched, pages, seconds)) from the table `dondoc sync` prints."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+(ho-so|van-ban|thu-tuc)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)s\s+ok", line)
        if m:
            rows[m.group(2)] = (int(m.group(3)), int(m.group(6)), float(m.group(7)))
    return rows


def wait_http(url, deadline_s=300):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status
        except Exception:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer in {deadline_s}s")


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = int(parts[11]) + int(parts[12])  # utime + stime
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return ticks, rss / 1024.0


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def spread(xs):
    return f"{min(xs):.2f}–{max(xs):.2f}" if len(xs) > 1 else "one run"


def idle_rss(bin_, cfg, work, http_port, seconds):
    """Starts `dondoc run`, waits for its start-up jobs to end, then watches it `seconds` long:
    returns (CPU %, RSS MiB at the end)."""
    daemon = subprocess.Popen([bin_, "--config", cfg, "run"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "RUST_LOG": "warn"})
    try:
        wait_http(f"http://127.0.0.1:{http_port}/healthz")
        # Let the start-up catch-up jobs end: wait for two quiet seconds (at most 10 minutes).
        end = time.monotonic() + 600
        while time.monotonic() < end:
            a0, _ = proc_stat(daemon.pid)
            time.sleep(2)
            a1, _ = proc_stat(daemon.pid)
            if a1 - a0 <= 2:
                break
        ticks0, _ = proc_stat(daemon.pid)
        time.sleep(seconds)
        ticks1, rss = proc_stat(daemon.pid)
        return (ticks1 - ticks0) / os.sysconf("SC_CLK_TCK") / seconds * 100, rss
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)


def history_seconds(text):
    """The whole backfill's seconds, from the line `dondoc sync` / `backfill` print."""
    m = re.search(r"History .* in ([\d.]+) s", text)
    return float(m.group(1)) if m else None


def history_evaluation_seconds(text):
    """Of which the evaluation (the rest writes the samples)."""
    m = re.search(r"History .* \(evaluation ([\d.]+) s\)", text)
    return float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=None, help="the dondoc binary (default: target/release/dondoc)")
    ap.add_argument("--dossiers", type=int, default=1_000_000)
    ap.add_argument("--documents", type=int, default=200_000)
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--idle-seconds", type=int, default=60,
                    help="how long the idle daemon is watched after its start-up jobs (longer than two of the "
                         "store's 20 s idle timeouts, after which the daemon has closed its connections and trimmed)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each figure (the median is reported)")
    ap.add_argument("--years", type=int, default=3,
                    help="also serve YEARS years of history (YEARS times the dossiers) and compare the evaluation (0: skip)")
    ap.add_argument("--postgres", default=os.environ.get("DONDOC_BENCH_POSTGRES_URL"),
                    help="also sync into PostgreSQL: an admin URL such as postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    bin_ = a.bin or os.path.join(target, "release", "dondoc")
    work = tempfile.mkdtemp(prefix="dondoc-bench-")
    results = []
    fig = {}  # figure name -> list of values, one per run

    def record(name, value):
        fig.setdefault(name, []).append(value)

    def report(step, wall, records, requests, rss, note=""):
        rate = records / wall if wall > 0 and records else 0
        results.append({"step": step, "wall_s": round(wall, 3), "records": records, "records_per_s": round(rate),
                        "requests": requests, "peak_rss_mib": round(rss, 1), "note": note})
        print(f"{step:<34} {wall:>8.2f}s {records:>9} {rate:>11,.0f}/s {requests!s:>9} {rss:>8.1f} MiB  {note}", flush=True)

    def start_sim(cfg, port, dossiers, documents, history_days):
        sim = subprocess.Popen([bin_, "--config", cfg, "simulate", "--listen", f"127.0.0.1:{port}", "--dossiers", str(dossiers),
                                "--documents", str(documents), "--history-days", str(history_days)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(f"http://127.0.0.1:{port}/thu-tuc")
        return sim

    def stop(sim):
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()

    print(f"dondoc benchmark: {a.dossiers:,} dossiers, {a.documents:,} documents, {a.units} units, page {a.page_size}, "
          f"{a.repeat} run(s) of each figure")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(load)} at the start; binary {bin_}; work dir {work}\n")
    sims = []
    try:
        sim_port, http_port = free_port(), free_port()
        t0 = time.monotonic()
        base_cfg = os.path.join(work, "sim.toml")
        config(base_cfg, sim_port, http_port, f"sqlite://{work}/sim.db", a.units, a.page_size)
        sims.append(start_sim(base_cfg, sim_port, a.dossiers, a.documents, 365))
        print(f"{'step':<34} {'wall':>9} {'records':>9} {'rate':>13} {'requests':>9} {'peak RSS':>12}")
        report("1. simulator ready", time.monotonic() - t0, 0, "-", 0.0, "(another process)")
        cfg = None
        for run_no in range(1, a.repeat + 1):
            print(f"-- run {run_no}/{a.repeat}")
            cfg = os.path.join(work, f"bench{run_no}.toml")
            config(cfg, sim_port, http_port, f"sqlite://{work}/bench{run_no}.db", a.units, a.page_size)

            wall, rss, out = run(bin_, cfg, ["sync", "--dry-run"], work)
            floor = sync_table(out)
            floor_s = sum(v[2] for v in floor.values())
            report("2. floor: fetch + parse only", wall, sum(v[0] for v in floor.values()), sum(v[1] for v in floor.values()), rss,
                   f"endpoints {floor_s:.2f}s")

            wall, rss, out = run(bin_, cfg, ["sync"], work)
            full = sync_table(out)
            full_s = sum(v[2] for v in full.values())
            hist = history_seconds(out)
            record("sync_vs_floor", full_s / floor_s)
            record("sync_peak_rss", rss)
            if hist is not None:
                record("first_sync_history_s", hist)
            report("3. full sync (SQLite)", wall, sum(v[0] for v in full.values()), sum(v[1] for v in full.values()), rss,
                   f"endpoints {full_s:.2f}s = {full_s / floor_s:.2f}x floor; dossiers {full['ho-so'][0] / full['ho-so'][2]:,.0f}/s; "
                   f"history {hist if hist is not None else '?'} s")

            if run_no == 1:
                req = urllib.request.Request(f"http://127.0.0.1:{sim_port}/_sim/touch?count={a.changes}", method="POST")
                with urllib.request.urlopen(req, timeout=30) as r:
                    changed = json.load(r).get("changed")
                wall, rss, out = run(bin_, cfg, ["sync"], work)
                inc = sync_table(out)
                per = ", ".join(f"{k} {v[1]}" for k, v in sorted(inc.items()))
                report(f"4. incremental sync ({changed} changed)", wall, sum(v[0] for v in inc.values()), per, rss,
                       f"endpoints {sum(v[2] for v in inc.values()):.2f}s")

            wall, rss, out = run(bin_, cfg, ["evaluate"], work)
            m = re.search(r"Evaluated (\d+) rows .* in ([\d.]+)s", out)
            if m:
                record("evaluate_s", float(m.group(2)))
            record("evaluate_rss", rss)
            report("5. evaluate every rate", wall, int(m.group(1)) if m else 0, "-", rss, f"evaluation {m.group(2) if m else '?'}s")

            wall, rss, out = run(bin_, cfg, ["status", "--period", "quarter", "--format", "json"], work)
            record("status_s", wall)
            report("6. status --format json (quarter)", wall, len(json.loads(out)["rows"]), "-", rss)

            wall, rss, out = run(bin_, cfg, ["backfill", "--recompute"], work)
            hist = history_seconds(out)
            record("past_365_total_s", hist if hist is not None else wall)
            ev365 = history_evaluation_seconds(out)
            if ev365 is not None:
                record("past_365_s", ev365)
            record("past_365_rss", rss)
            report("7. backfill --recompute (past days)", wall, 0, "-", rss, out.strip().splitlines()[-1] if out.strip() else "")

            if a.postgres:
                dbname = f"dondoc_bench_{os.getpid()}_{run_no}"
                subprocess.run(["psql", a.postgres, "-qc", f"CREATE DATABASE {dbname}"], check=True)
                pg = a.postgres.rsplit("/", 1)[0] + "/" + dbname
                pg_cfg = os.path.join(work, f"bench-pg{run_no}.toml")
                config(pg_cfg, sim_port, http_port, pg, a.units, a.page_size)
                wall, rss, out = run(bin_, pg_cfg, ["sync"], work)
                full_pg = sync_table(out)
                s = sum(v[2] for v in full_pg.values())
                record("pg_sync_vs_floor", s / floor_s)
                report("3'. full sync (PostgreSQL)", wall, sum(v[0] for v in full_pg.values()), sum(v[1] for v in full_pg.values()), rss,
                       f"endpoints {s:.2f}s = {s / floor_s:.2f}x floor; history {history_seconds(out)} s")
                wall, rss, out = run(bin_, pg_cfg, ["evaluate"], work)
                m = re.search(r"in ([\d.]+)s", out)
                if m:
                    record("pg_evaluate_s", float(m.group(1)))
                report("5'. evaluate (PostgreSQL)", wall, 0, "-", rss, f"evaluation {m.group(1) if m else '?'}s")
                subprocess.run(["psql", a.postgres, "-qc", f"DROP DATABASE {dbname}"], check=False)

        cpu, rss = idle_rss(bin_, cfg, work, http_port, a.idle_seconds)
        record("idle_rss", rss)
        report("8. idle `dondoc run`", float(a.idle_seconds), 0, "-", rss, f"CPU {cpu:.2f}% over {a.idle_seconds}s (RSS at the end)")
        stop(sims.pop())

        if a.years > 1:
            # The same province keeping YEARS years: YEARS times the dossiers over YEARS times the days.
            port = free_port()
            ycfg = os.path.join(work, "years.toml")
            config(ycfg, port, http_port, f"sqlite://{work}/years.db", a.units, a.page_size)
            sims.append(start_sim(ycfg, port, a.dossiers * a.years, a.documents * a.years, 365 * a.years))
            wall, rss, out = run(bin_, ycfg, ["sync"], work)
            full = sync_table(out)
            report(f"9. full sync, {a.years} years", wall, sum(v[0] for v in full.values()), "-", rss,
                   f"endpoints {sum(v[2] for v in full.values()):.2f}s; history {history_seconds(out)} s")
            for _ in range(a.repeat):
                wall, rss, out = run(bin_, ycfg, ["evaluate"], work)
                m = re.search(r"in ([\d.]+)s", out)
                if m:
                    record("evaluate_years_s", float(m.group(1)))
                report(f"10. evaluate, {a.years} years", wall, 0, "-", rss, f"evaluation {m.group(1) if m else '?'}s")
            stop(sims.pop())

        print("\nfigure (issue 16)                                   target        median       spread (runs)")
        ev = median(fig["evaluate_s"]) if "evaluate_s" in fig else None

        def line(name, target, key, fmt, ok, ratio_of=None):
            if key not in fig:
                print(f"{name:<51} {target:<13} not measured")
                return
            xs = fig[key] if ratio_of is None else [x / ratio_of for x in fig[key]]
            m = median(xs)
            print(f"{name:<51} {target:<13} {fmt.format(m):<12} {spread(xs)} ({len(xs)})  {'met' if ok(m) else 'MISSED'}")

        line("full sync vs the floor (SQLite)", "<= 1.5x", "sync_vs_floor", "{:.2f}x", lambda m: m <= 1.5)
        line("evaluation of everything", "<= 0.3 s", "evaluate_s", "{:.2f} s", lambda m: m <= 0.3)
        if ev and a.years > 1:
            line(f"evaluation, {a.years} years vs 1 year", "<= 1.2x", "evaluate_years_s", "{:.2f}x", lambda m: m <= 1.2, ratio_of=ev)
        line("status --format json (quarter)", "<= 0.3 s", "status_s", "{:.2f} s", lambda m: m <= 0.3)
        line("365 past days: their evaluation", "<= 30 s", "past_365_s", "{:.1f} s", lambda m: m <= 30)
        line("(365 past days: backfill --recompute, writes too)", "-", "past_365_total_s", "{:.1f} s", lambda m: True)
        line("peak RSS during the full sync", "<= 100 MB", "sync_peak_rss", "{:.0f} MiB", lambda m: m * 1.048576 <= 100)
        line("idle `dondoc run` after the sync", "<= 30 MB", "idle_rss", "{:.0f} MiB", lambda m: m * 1.048576 <= 30)
        line("full sync vs the floor (PostgreSQL)", "<= 2x", "pg_sync_vs_floor", "{:.2f}x", lambda m: m <= 2)
        line("(first sync's history of past days)", "-", "first_sync_history_s", "{:.1f} s", lambda m: True)
        line("(peak RSS of evaluate)", "-", "evaluate_rss", "{:.0f} MiB", lambda m: True)
        line("(peak RSS of backfill --recompute)", "-", "past_365_rss", "{:.0f} MiB", lambda m: True)
        with open("/proc/loadavg") as f:
            print(f"load average at the end: {' '.join(f.read().split()[:3])}")
    finally:
        for sim in sims:
            stop(sim)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"steps": results, "figures": fig}, f, indent=2)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
