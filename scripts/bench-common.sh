# Sourced by scripts/bench.sh and scripts/bench-postgres.sh: the sizes, the
# release build, a work directory (removed on exit), the timing helpers and
# the two SQLite datasets both benchmarks measure on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LEADS=${BENCH_LEADS:-1000000}
LEDGER=${BENCH_LEDGER:-$LEADS}
NEW=${BENCH_NEW:-100000}
CUSTOMERS=${BENCH_CUSTOMERS:-10000}
EVENTS=${BENCH_EVENTS:-10000}
RUNS=${BENCH_RUNS:-3}

cargo build --release --quiet
cargo build --release --quiet --example webhook_load
HOSS=$PWD/target/release/hoss
LOAD=$PWD/target/release/examples/webhook_load
work=$(mktemp -d)
serve_pid="" shm=""
# A script that starts more (a database server) sets bench_more_cleanup.
# Every step runs even if one fails (set +e): a cleanup cut short would
# leave a server running beside its password file.
bench_more_cleanup=:
trap 'set +e; [ -n "$serve_pid" ] && kill $serve_pid 2>/dev/null; eval "$bench_more_cleanup"; [ -n "$shm" ] && rm -rf "$shm"; rm -rf "$work"' EXIT
export HOSS_LOCK_DIR=$work/locks HOSS_LOG=warn HOSS_CONFIG=$work/none.toml
: > "$work/none.toml"
py() { python3 -c "print($1)"; }
mib() { echo $(( $1 / 1024 )); }

# measure CMD…: "<seconds> <peak RSS KiB>" of one run.
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; return 1; }
  cat "$work/time"
}

# best_of CMD…: best time (and worst RSS) of RUNS runs, each on a fresh copy of base.db.
best_of() {
  best_of_with 'cp "$work/base.db" "$work/run.db"' "$@"
}

# best_of_with PREP CMD…: the same, with PREP (shell text) making the fresh copy.
best_of_with() {
  local prep=$1 best="" rss=0 line secs kib
  shift
  for _ in $(seq "$RUNS"); do
    eval "$prep"
    line=$(HOSS_DB=$work/run.db measure "$@")
    secs=${line% *}; kib=${line#* }
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $secs < $best else 1)"; then best=$secs; fi
    [ "$kib" -gt "$rss" ] && rss=$kib
  done
  echo "$best $rss"
}

# median_ms CMD…: median wall time of 30 runs in milliseconds (python
# timer); a run that fails ends it, naming the command without its
# VAR=value settings (a DATABASE_URL holds a password).
median_ms() { medians check "$@"; }
# median_any_ms CMD…: like median_ms, whatever the exit code (a pass that
# stops on an unreachable provider exits 75).
median_any_ms() { medians any "$@"; }
medians() {
  python3 - "$@" <<'PY'
import subprocess, sys, time, statistics
must_pass, *cmd = sys.argv[1:]
t = []
for _ in range(30):
    s = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.append(time.perf_counter() - s)
    if must_pass == 'check' and r.returncode != 0:
        shown = ' '.join(a for a in cmd if a != 'env' and '=' not in a)
        sys.exit(f"{shown} exited {r.returncode}")
print(round(statistics.median(t) * 1000, 2))
PY
}

# build_base_db FILE NOW: LEADS leads, LEDGER ledger rows over 35 days before
# NOW, CUSTOMERS customers × 10 invoices (the §11 budgets' database).
build_base_db() {
  local db=$1 now=$2
  HOSS_DB=$db "$HOSS" check >/dev/null
  sqlite3 "$db" >/dev/null <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LEADS)
INSERT INTO lead (name, email, company, company_key, domain, niche, source, status, created_at)
SELECT 'Seed ' || i, 'seed' || i || '@seed' || i || '.example', 'Seed Co ' || i, 'seed co ' || i,
       'seed' || i || '.example', 'agency', CASE i % 3 WHEN 0 THEN 'import' ELSE 'DUMMY_SEED' END,
       CASE WHEN i % 10 = 0 THEN 'contacted' ELSE 'new' END, $now - (i % (35 * 86400)) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LEDGER)
INSERT INTO send_ledger (at, hour_start, kind, lead_id, step, recipient, subject, mode, outcome)
SELECT $now - (i * 3) % (35 * 86400) AS at, 0, CASE i % 50 WHEN 0 THEN 'test' ELSE 'outreach' END, NULL, 1,
       'seed' || i || '@seed.example', 'Hello', 'SMTP',
       CASE i % 7 WHEN 0 THEN 'failed' WHEN 1 THEN 'throttled' WHEN 2 THEN 'dry_run' ELSE 'sent' END FROM n;
UPDATE send_ledger SET hour_start = at - at % 3600;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $CUSTOMERS)
INSERT INTO customer (id, company, contact_email, public_token, created_at)
SELECT i, 'Customer ' || i, 'c' || i || '@customers.example', printf('%032x', i * 7919 + 1000003), $now FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $CUSTOMERS * 10)
INSERT INTO invoice (customer_id, amount_cents, currency, status, payment_url, stripe_payment_link_id, link_active, created_at, paid_at, paid_via, due_at)
SELECT (i - 1) / 10 + 1, 1000 + i % 40000, 'usd', CASE i % 4 WHEN 0 THEN 'paid' WHEN 1 THEN 'open' ELSE 'draft' END,
       CASE i % 4 WHEN 1 THEN 'https://buy.stripe.com/test_' || i END, CASE i % 4 WHEN 1 THEN 'plink_' || i END,
       CASE i % 4 WHEN 1 THEN 1 ELSE 0 END, $now - i % (30 * 86400),
       CASE i % 4 WHEN 0 THEN $now - i % (30 * 86400) END, CASE i % 4 WHEN 0 THEN 'manual' END,
       -- open invoices are due 14 days after they were made: about half are overdue
       CASE i % 4 WHEN 1 THEN $now - i % (30 * 86400) + 14 * 86400 END FROM n;
PRAGMA wal_checkpoint(TRUNCATE);
ANALYZE;
SQL
}

# build_seq_db FILE WED: the sequences database (SPEC §14): LEADS leads at
# their own .com domains, one in ten contacted with an active sequence,
# 1 % in New York and 1 % in Tokyo, LEDGER ledger rows over 35 days.
build_seq_db() {
  local db=$1 wed=$2
  HOSS_DB=$db "$HOSS" check >/dev/null
  sqlite3 "$db" >/dev/null <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LEADS)
INSERT INTO lead (name, email, company, company_key, domain, niche, source, status, created_at, last_contacted_at, timezone)
SELECT 'Seed ' || i, 'seed' || i || '@seedco' || i || '.com', 'Seed Co ' || i, 'seed co ' || i, 'seedco' || i || '.com',
       'agency', 'import', CASE WHEN i % 10 = 0 THEN 'contacted' ELSE 'new' END, $wed - 40 * 86400 + i,
       CASE WHEN i % 10 = 0 THEN $wed - 4 * 86400 END,
       CASE i % 100 WHEN 7 THEN 'America/New_York' WHEN 8 THEN 'Asia/Tokyo' END FROM n;
INSERT INTO sequence (lead_id, step, next_step, next_due_at, state, domain, first_subject, message_ids, started_at, updated_at)
SELECT id, 1, 2, $wed - 3 * 86400 + (id * 7919) % (8 * 86400), 'active', domain, 'Hello', 'hoss.' || id || '@bench',
       $wed - 4 * 86400, $wed - 4 * 86400 FROM lead WHERE status = 'contacted';
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LEDGER)
INSERT INTO send_ledger (at, hour_start, kind, lead_id, step, recipient, subject, mode, outcome)
SELECT $wed - (i * 3) % (35 * 86400) AS at, 0, 'outreach', NULL, 1 + i % 3, 'seed' || i || '@seed.example', 'Hello', 'SMTP',
       CASE i % 7 WHEN 0 THEN 'failed' WHEN 1 THEN 'throttled' WHEN 2 THEN 'dry_run' ELSE 'sent' END FROM n;
UPDATE send_ledger SET hour_start = at - at % 3600;
PRAGMA wal_checkpoint(TRUNCATE);
ANALYZE;
SQL
}
