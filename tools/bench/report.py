#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn oktls-bench output (one tap.log per boot) into markdown tables and a
gnuplot bar chart of the ratios.

  report.py OUT.md OUT.png HEADER_FILE LABEL=TAPLOG ...

LABEL names the boot's clock and CPU model, e.g. icount-max, icount-noerms,
wall-max. The first icount boot is the primary clock."""
import os
import statistics
import subprocess
import sys

IMPLS = ["oktls", "tls", "openssl", "tcp"]
TESTS = ["tx16k", "rx16k", "sendfile", "tx512", "tx4k"]
TEST_DESC = {"tx16k": "TX 16 KiB writes", "rx16k": "RX 16 KiB reads",
             "sendfile": "sendfile TX", "tx512": "TX 512 B writes",
             "tx4k": "TX 4 KiB writes"}
CLOCK_DESC = {
    "icount-max": "instruction clock (-icount shift=0,sleep=off), -cpu max",
    "icount-noerms": "instruction clock (-icount shift=0,sleep=off), -cpu max,-erms",
    "wall-max": "TCG wall clock, -cpu max",
}


def parse(path):
    d = {"tput": {}, "scale": {}, "mem": {}, "hs": {}, "fail": [], "meta": {}, "note": []}
    if not os.path.exists(path):
        return d
    for line in open(path, errors="replace"):
        w = line.split()
        if len(w) < 2 or w[0] != "BENCH":
            continue
        kind = w[1]
        if kind == "meta":
            d["meta"][w[2]] = " ".join(w[3:])
        elif kind in ("tput", "scale") and len(w) >= 10:
            tag, impl, rnd = w[2], w[3], int(w[4])
            nbytes, ns, cpu, ru, sirq = map(int, w[5:10])
            if cpu == 0:
                cpu = ru + sirq
            d[kind].setdefault((tag, impl), []).append((nbytes, ns, cpu))
        elif kind == "mem":
            d["mem"].setdefault(w[2], []).append(tuple(float(x) for x in w[4:9]))
        elif kind == "hs":
            ok, cnt, ns, cpu = int(w[4]), int(w[5]), int(w[6]), int(w[7])
            d["hs"].setdefault(w[2], []).append((ok, cnt, ns, cpu))
        elif kind == "fail":
            d["fail"].append(" ".join(w[2:]))
        elif kind == "note":
            d["note"].append(" ".join(w[2:]))
    return d


def mibs(samples):
    """median, min, max throughput in MiB/s on this boot's clock"""
    v = [b / (ns / 1e9) / 2**20 for b, ns, _ in samples]
    return statistics.median(v), min(v), max(v)


def cpu_gib(samples):
    """median CPU seconds (all CPUs busy) per GiB moved"""
    return statistics.median(c / 1e9 / (b / 2**30) for b, _, c in samples)


def fmt(x, nd=1):
    return "n/a" if x is None else f"{x:.{nd}f}"


def rows():
    for t in TESTS:
        for v in ("12", "13"):
            for c in ("aes128gcm", "aes256gcm", "chacha20"):
                yield t, f"{t}:{v}:{c}", f"{'1.2' if v == '12' else '1.3'} {c}"


def med(d, tag, impl):
    s = d["tput"].get((tag, impl))
    return mibs(s)[0] if s else None


def ratio(a, b):
    return a / b if a and b else None


def tput_table(label, d, out):
    out.append(f"\n### Throughput, {CLOCK_DESC.get(label, label)}\n")
    out.append(f"MiB/s on this boot's clock: median [min-max] over "
               f"{d['meta'].get('rounds', '?')} interleaved rounds; CPU = busy seconds of "
               f"all CPUs per GiB (schedstat). Guest CPU: {d['meta'].get('cpu', '?')}, "
               f"ERMS {'on' if d['meta'].get('erms') == '1' else 'off'}.\n")
    out.append("| test | TLS | cipher | tcp | oktls | tls | openssl | oktls/tls | oktls/openssl "
               "| CPU s/GiB oktls | tls | openssl |")
    out.append("|" + "---|" * 12)
    for t, tag, name in rows():
        cells = [TEST_DESC[t]] + name.split()
        tcp = d["tput"].get((f"{t}:-:-", "tcp"))
        cells.append(fmt(mibs(tcp)[0]) if tcp else "n/a")
        for impl in ("oktls", "tls", "openssl"):
            s = d["tput"].get((tag, impl))
            cells.append(f"{mibs(s)[0]:.1f} [{mibs(s)[1]:.1f}-{mibs(s)[2]:.1f}]" if s else "n/a")
        cells.append(fmt(ratio(med(d, tag, "oktls"), med(d, tag, "tls")), 2))
        cells.append(fmt(ratio(med(d, tag, "oktls"), med(d, tag, "openssl")), 2))
        for impl in ("oktls", "tls", "openssl"):
            s = d["tput"].get((tag, impl))
            cells.append(fmt(cpu_gib(s), 2) if s else "n/a")
        out.append("| " + " | ".join(cells) + " |")


def bars(boots, out):
    """The point-5 bars, judged on every instruction-clock boot."""
    ic = [l for l in boots if l.startswith("icount")]
    if not ic:
        ic = list(boots)
        out.append("\n**No instruction-clock boot: the verdicts below are on wall time "
                   "only and do not judge the bars.**")
    out.append("\n### Bars (clocks: " + ", ".join(ic) + ")\n")
    out.append("A row passes only if it passes on every instruction-clock boot. Bulk TX/RX: "
               "oktls median >= stock tls median. sendfile: oktls >= 1.25x OpenSSL.\n")
    out.append("| row | " + " | ".join(f"oktls/tls {l}" for l in ic) + " | " +
               " | ".join(f"oktls/openssl {l}" for l in ic) + " | bar | verdict |")
    out.append("|" + "---|" * (3 + 2 * len(ic)))
    misses = []
    for t, tag, name in rows():
        rt = [ratio(med(boots[l], tag, "oktls"), med(boots[l], tag, "tls")) for l in ic]
        ro = [ratio(med(boots[l], tag, "oktls"), med(boots[l], tag, "openssl")) for l in ic]
        if t in ("tx16k", "rx16k"):
            need, got, bar = 1.0, rt, ">= 1.00x tls"
        elif t == "sendfile":
            need, got, bar = 1.25, ro, ">= 1.25x openssl"
        else:
            need, got, bar = None, None, "(none)"
        if need is None:
            verdict = "-"
        elif any(g is None for g in got):
            verdict = "no data"
        elif min(got) >= need:
            verdict = "pass"
        else:
            verdict = f"MISS by {(1 - min(got) / need) * 100:.0f}%"
            misses.append(f"{TEST_DESC[t]} TLS {name}: {verdict}")
        out.append(f"| {TEST_DESC[t]} {name} | " + " | ".join(fmt(x, 2) for x in rt) + " | " +
                   " | ".join(fmt(x, 2) for x in ro) + f" | {bar} | {verdict} |")
    return misses


def scale_table(label, d, out):
    out.append(f"\n### Concurrent connections, TX 16 KiB, TLS 1.3 AES-GCM-128, "
               f"{CLOCK_DESC.get(label, label)}\n")
    out.append("Aggregate MiB/s, median [min-max]; the peer of every connection is plain TCP.\n")
    out.append("| connections | tcp | oktls | tls | openssl | oktls/tls | oktls/openssl |")
    out.append("|---|---|---|---|---|---|---|")
    for n in ("1", "4", "16", "64"):
        tag = f"{n}:13:aes128gcm"
        cells = [n]
        m = {}
        for impl in ("tcp", "oktls", "tls", "openssl"):
            s = d["scale"].get((tag, impl))
            if s:
                m[impl] = mibs(s)[0]
                cells.append(f"{mibs(s)[0]:.1f} [{mibs(s)[1]:.1f}-{mibs(s)[2]:.1f}]")
            else:
                cells.append("n/a")
        cells.append(fmt(ratio(m.get("oktls"), m.get("tls")), 2))
        cells.append(fmt(ratio(m.get("oktls"), m.get("openssl")), 2))
        out.append("| " + " | ".join(cells) + " |")


def mem_table(label, d, out):
    out.append(f"\n### Idle sockets with keys, and key install cost, {CLOCK_DESC.get(label, label)}\n")
    out.append("Slab and used-memory growth per socket over N sockets (N/2 loopback pairs, "
               "TLS 1.3 AES-GCM-128 TLS_TX + TLS_RX on every socket); 'over TCP' subtracts "
               "the plain TCP socket. Install = setsockopt(TCP_ULP) + TLS_TX + TLS_RX, "
               "median and mean per socket on this clock.\n")
    out.append("| socket | N | slab B/socket | over TCP | used B/socket | install median us "
               "| install mean us |")
    out.append("|---|---|---|---|---|---|---|")
    base = statistics.median(x[1] for x in d["mem"]["tcp"]) if "tcp" in d["mem"] else None
    for impl in ("tcp", "oktls", "tls"):
        s = d["mem"].get(impl)
        if not s:
            continue
        slab = statistics.median(x[1] for x in s)
        used = statistics.median(x[2] for x in s)
        cells = [impl, f"{int(s[0][0])}", f"{slab:.0f}",
                 f"{slab - base:.0f}" if base is not None and impl != "tcp" else "-",
                 f"{used:.0f}"]
        if impl == "tcp":
            cells += ["-", "-"]
        else:
            cells += [f"{statistics.median(x[3] for x in s) / 1e3:.1f}",
                      f"{statistics.median(x[4] for x in s) / 1e3:.1f}"]
        out.append("| " + " | ".join(cells) + " |")


def hs_table(label, d, out):
    out.append(f"\n### Handshake rate, {CLOCK_DESC.get(label, label)}\n")
    out.append("Sequential short connections from one OpenSSL client: TLS 1.3 handshake "
               "(X25519, ECDSA P-256), GET of 1 KiB, close. Handshakes per second of this "
               "clock, median [min-max]. CPU is client + server, all CPUs. oktlsd terminates "
               "TLS and splices the plaintext to a backend in the bench process, one more TCP "
               "hop than the other two.\n")
    out.append("| server | handshakes/s | CPU ms per handshake | ok/attempted |")
    out.append("|---|---|---|---|")
    for srv in ("s_server", "nginx", "oktlsd"):
        s = d["hs"].get(srv)
        if not s:
            out.append(f"| {srv} | skipped | | |")
            continue
        rates = [ok / (ns / 1e9) for ok, _, ns, _ in s]
        cpu = statistics.median(c / 1e6 / max(ok, 1) for ok, _, _, c in s)
        oks = sum(x[0] for x in s)
        tot = sum(x[1] for x in s)
        out.append(f"| {srv} | {statistics.median(rates):.0f} [{min(rates):.0f}-{max(rates):.0f}]"
                   f" | {cpu:.2f} | {oks}/{tot} |")
    for n in d["note"]:
        out.append(f"\nNote: {n}")


def chart(boots, png, header):
    ic = [l for l in boots if l.startswith("icount")] or list(boots)
    dat = png + ".dat"
    with open(dat, "w") as f:
        for t, tag, name in rows():
            vals = []
            for l in ic:
                d = boots[l]
                vals.append(ratio(med(d, tag, "oktls"), med(d, tag, "tls")))
            for l in ic:
                d = boots[l]
                vals.append(ratio(med(d, tag, "oktls"), med(d, tag, "openssl")))
            f.write(f'"{t} {name.replace(" ", "-")}" ' +
                    " ".join("NaN" if v is None else f"{v:.3f}" for v in vals) + "\n")
    cols = [f"oktls/tls {l}" for l in ic] + [f"oktls/openssl {l}" for l in ic]
    plots = ", ".join(
        f"'{dat}' using {i + 2}:xtic(1) title '{c}'" for i, c in enumerate(cols))
    script = f"""
set terminal pngcairo size 1800,700 noenhanced font ",10"
set output '{png}'
set title "{header}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "throughput ratio (median), >1 = oktls faster"
set xtics rotate by -60 scale 0
set grid ytics
set yrange [0:*]
set key top left
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
set arrow from graph 0, first 1.25 to graph 1, first 1.25 nohead dt 2 lc rgb "black"
plot {plots}
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report: gnuplot failed: {e}", file=sys.stderr)
    finally:
        os.unlink(dat)


def main():
    md, png, header_file = sys.argv[1:4]
    boots = {}
    for arg in sys.argv[4:]:
        label, path = arg.split("=", 1)
        boots[label] = parse(path)
    header = open(header_file).read()
    out = [header]
    for label, d in boots.items():
        if not d["tput"] and not d["hs"]:
            out.append(f"\n**{label}: no results (boot failed or timed out).**")
        for f in d["fail"]:
            out.append(f"\n**FAILED ({label}): {f}** (excluded from the medians)")
    misses = bars(boots, out)
    if misses:
        out.append("\nRows that miss their bar: " + "; ".join(misses) + ".")
    out.append(f"\n![ratios]({os.path.basename(png)})")
    for label, d in boots.items():
        if d["tput"]:
            tput_table(label, d, out)
    for label, d in boots.items():
        if d["scale"]:
            scale_table(label, d, out)
    for label, d in boots.items():
        if d["mem"]:
            mem_table(label, d, out)
    for label, d in boots.items():
        if d["hs"]:
            hs_table(label, d, out)
    open(md, "w").write("\n".join(out) + "\n")
    first = header.splitlines()[0].lstrip("# ") if header else "oktls bench"
    clk = "instruction clock" if any(l.startswith("icount") for l in boots) else "wall clock"
    chart(boots, png, f"{first} - oktls ratios on the {clk} (emulated CPU)")


if __name__ == "__main__":
    main()
