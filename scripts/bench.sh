#!/usr/bin/env bash
# Measures the SPEC §11 budgets hoss has commands for, each beside the
# physical limit measured in the same run on the same machine, and prints a
# Markdown table for docs/BENCHMARKS.md.
#
#   scripts/bench.sh                 # full size: 1,000,000 existing leads
#   BENCH_LEADS=100000 scripts/bench.sh   # quicker
#
# Needs: a release build (done here), sqlite3, python3, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

LEADS=${BENCH_LEADS:-1000000}
NEW=${BENCH_NEW:-100000}
RUNS=${BENCH_RUNS:-3}

cargo build --release --quiet
HOSS=$PWD/target/release/hoss
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOSS_LOCK_DIR=$work/locks HOSS_LOG=warn HOSS_CONFIG=$work/none.toml
: > "$work/none.toml"

# run CMD...: prints "<seconds> <peak RSS KiB>" of one run.
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
    cat "$work/stderr" >&2; return 1; }
  cat "$work/time"
}

# best RUNS of a command that needs a fresh copy of the base database each time.
best_of() {
  local best="" rss=0 line secs kib
  for _ in $(seq "$RUNS"); do
    cp "$work/base.db" "$work/run.db"
    line=$(HOSS_DB=$work/run.db measure "$@")
    secs=${line% *}; kib=${line#* }
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $secs < $best else 1)"; then best=$secs; fi
    [ "$kib" -gt "$rss" ] && rss=$kib
  done
  echo "$best $rss"
}

echo "building a database with $LEADS leads…" >&2
HOSS_DB=$work/base.db "$HOSS" check >/dev/null
sqlite3 "$work/base.db" >/dev/null <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LEADS)
INSERT INTO lead (name, email, company, company_key, domain, niche, source, created_at)
SELECT 'Seed ' || i, 'seed' || i || '@seed' || i || '.example', 'Seed Co ' || i, 'seed co ' || i,
       'seed' || i || '.example', 'agency', 'DUMMY_SEED', 1700000000 + i FROM n;
PRAGMA wal_checkpoint(TRUNCATE);
SQL

# 1. source-leads: NEW dummy leads deduped and inserted in one pass.
read -r hoss_s hoss_kib < <(MAX_NEW_LEADS_PER_CYCLE=$NEW best_of "$HOSS" source-leads)
created=$(sqlite3 "$work/run.db" "SELECT COUNT(*) FROM lead") ; created=$((created - LEADS))
# The limit: the same number of rows with random keys, inserted with the same
# conflict rule by the sqlite3 CLI in one transaction.
cat > "$work/limit.sql" <<SQL
PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
BEGIN IMMEDIATE;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $NEW),
r(i, k) AS (SELECT i, lower(hex(randomblob(6))) FROM n)
INSERT INTO lead (name, email, company, company_key, domain, website, niche, source, created_at)
SELECT 'Bench ' || i, 'p.' || k || '@' || k || '.example', 'Bench ' || k, 'bench ' || k, k || '.example',
       'https://www.' || k || '.example', 'saas', 'DUMMY_SEED', 1800000000 FROM r
WHERE true ON CONFLICT DO NOTHING;
COMMIT;
SQL
read -r lim_s lim_kib < <(best_of sqlite3 "$work/run.db" ".read $work/limit.sql")
py() { python3 -c "print($1)"; }
src_rate=$(py "round($created / $hoss_s)")
lim_rate=$(py "round($NEW / $lim_s)")

# 2. check: process start to exit, median of 50.
cp "$work/base.db" "$work/run.db"
startup() {
  python3 - "$@" <<'PY'
import subprocess, sys, time, statistics
t = []
for _ in range(50):
    s = time.perf_counter(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); t.append(time.perf_counter() - s)
print(round(statistics.median(t) * 1000, 2))
PY
}
check_ms=$(HOSS_DB=$work/run.db startup "$HOSS" check)
limit_ms=$(startup sqlite3 "$work/run.db" "PRAGMA user_version")
read -r _ check_kib < <(HOSS_DB=$work/run.db measure "$HOSS" check)

cat <<MD
| command | workload | hoss | limit | ratio (hoss/limit) | peak RSS | budget |
|---|---|---|---|---|---|---|
| \`source-leads\` | $created new dummy leads into $LEADS existing, one pass | $src_rate leads/s ($hoss_s s) | $lim_rate rows/s (sqlite3 CLI, same inserts, ${lim_s} s) | $(py "round($lim_rate / max($src_rate, 1), 2)")× slower | $((hoss_kib / 1024)) MiB | ≥ 50,000 leads/s |
| \`check\` | process start to exit, median of 50 | $check_ms ms | $limit_ms ms (sqlite3 CLI opening the same db) | $(py "round($check_ms / $limit_ms, 2)")× | $((check_kib / 1024)) MiB | ≤ 20 ms |
MD
