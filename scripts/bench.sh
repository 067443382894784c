#!/usr/bin/env bash
# Measures every SPEC §11 budget on a release build, each beside the physical
# limit measured in the same run on the same machine (the same work through
# the sqlite3 CLI, a bare process start, or a do-nothing loopback HTTP
# server), and prints the Markdown table kept in docs/BENCHMARKS.md.
#
#   scripts/bench.sh                       # full size (1,000,000 leads and ledger rows)
#   BENCH_LEADS=100000 scripts/bench.sh    # quicker
#   BENCH_ONLY=sequences scripts/bench.sh  # the SPEC §14 budgets alone
#
# Needs: cargo, sqlite3, python3, /usr/bin/time.
source "$(dirname "$0")/bench-common.sh"

# 7. Sequences (SPEC §14): choosing a pass's due work among LEADS leads and
# LEADS/10 active sequences, and `plan` and `why` on the same database.
# Real email through SendGrid, never reached (its base is a closed loopback
# port: the first send ends the pass as unreachable), with the daily, hour
# and per-domain caps lifted so a pass goes on until MAX_EMAILS_PER_CYCLE
# sends. 1 % of the leads live in New York and 1 % in Tokyo (their own
# zone); the default window is Mon-Fri 08:00-17:00 UTC. The clock is pinned
# to Wednesday 14:00 UTC (open), Wednesday 23:30 UTC (closed in UTC and New
# York, open in Tokyo) and Saturday 15:00 UTC (closed everywhere).
sequences_bench() {
  local wed=1795615205 night=1795649400 sat=1795878000 port
  echo "building a database: $LEADS leads, $((LEADS / 10)) active sequences, $LEDGER ledger rows…" >&2
  build_seq_db "$work/seq.db" $wed
  port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  local real=(env HOSS_DB="$work/seq.db" EMAIL_MODE=SENDGRID SENDGRID_API_KEY=SG.bench
    SENDGRID_API_BASE="http://127.0.0.1:$port" SENDGRID_FROM_EMAIL=bench@hoss-bench.com SENDER_NAME=Bench
    COMPANY_NAME="Bench Co" COMPANY_POSTAL_ADDRESS="1 Main St" EMAIL_SEND_DELAY_MIN=0 EMAIL_SEND_DELAY_MAX=0
    MAX_EMAILS_PER_DAY=1000000 WARMUP=OFF MAX_EMAILS_PER_HOUR=100000
    MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY=100000 MAX_ACTIVE_PER_DOMAIN=100000
    MX_CHECK=OFF) # no benchmark asks a resolver on the internet
  local due_open due_sat
  due_open=$(sqlite3 "$work/seq.db" "SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at <= $wed")
  due_sat=$(sqlite3 "$work/seq.db" "SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at <= $sat")
  # The limit: the pass's two due queries, through the sqlite3 CLI.
  cat > "$work/due.sql" <<SQL
SELECT next_due_at, lead_id, next_step FROM sequence WHERE state = 'active' AND next_due_at <= $wed
  AND (next_due_at, lead_id) > (-9223372036854775808, 0) ORDER BY next_due_at, lead_id LIMIT 64;
SELECT id FROM lead WHERE status = 'new' AND id > 0 ORDER BY id LIMIT 64;
SQL
  # …and what \`why\` reads of one lead in a sequence (the 24 h and 7-day
  # counts from the tallies, as hoss reads them).
  local week_whole=$(( (wed - 7 * 86400 + 3599) / 3600 * 3600 )) day_whole=$(( (wed - 86399 + 3599) / 3600 * 3600 ))
  local last_whole=$(( (wed + 1) / 3600 * 3600 ))
  cat > "$work/why.sql" <<SQL
SELECT * FROM lead WHERE id = 10;
SELECT * FROM sequence WHERE lead_id = 10;
SELECT * FROM email_pause WHERE resumed_at IS NULL;
SELECT value FROM hoss_state WHERE key = 'first_real_send_day';
SELECT MAX(resumed_at) FROM email_pause;
SELECT kind || COALESCE(':' || bounce, ''), COUNT(*) FROM inbox_message WHERE at >= $wed - 7 * 86400 AND at < $wed + 1 GROUP BY 1;
SELECT key, SUM(n) FROM tally_second WHERE metric = 'send' AND at >= $wed - 7 * 86400 AND at < $week_whole GROUP BY key;
SELECT key, SUM(n) FROM tally_hour WHERE metric = 'send' AND hour >= $week_whole AND hour < $last_whole GROUP BY key;
SELECT key, SUM(n) FROM tally_second WHERE metric = 'send' AND at >= $last_whole AND at < $wed + 1 GROUP BY key;
SELECT key, SUM(n) FROM tally_second WHERE metric = 'send' AND at >= $wed - 86399 AND at < $day_whole GROUP BY key;
SELECT key, SUM(n) FROM tally_hour WHERE metric = 'send' AND hour >= $day_whole AND hour < $last_whole GROUP BY key;
SELECT key, SUM(n) FROM tally_second WHERE metric = 'send' AND at >= $last_whole AND at < $wed + 1 GROUP BY key;
SELECT COUNT(*) FROM send_ledger WHERE hour_start = $wed - $wed % 3600 AND outcome IN ('reserved', 'sent', 'uncertain') AND kind = 'outreach';
SELECT timezone, not_before FROM lead WHERE id = 10;
SELECT until, reason FROM domain_hold WHERE domain = 'seedco10.com' AND until > $wed;
SELECT reason FROM suppression WHERE email = 'seed10@seedco10.com';
SELECT outcome, at FROM send_ledger WHERE lead_id = 10 AND step = 2 AND kind = 'outreach' AND outcome IN ('reserved', 'sent', 'uncertain');
SQL
  local pass_open pass_sat pass_lim plan_open plan_night plan_sat why_seq why_new why_lim status_seq plan_kib why_kib
  pass_open=$(median_any_ms "${real[@]}" HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" send-outreach --json)
  pass_lim=$(median_ms sqlite3 "$work/seq.db" ".read $work/due.sql")
  pass_sat=$(median_ms "${real[@]}" HOSS_NOW=2026-11-28T15:00:00Z "$HOSS" send-outreach --json)
  plan_open=$(median_ms "${real[@]}" HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" plan --json)
  plan_night=$(median_ms "${real[@]}" HOSS_NOW=2026-11-25T23:30:00Z "$HOSS" plan --json)
  plan_sat=$(median_ms "${real[@]}" HOSS_NOW=2026-11-28T15:00:00Z "$HOSS" plan --json)
  read -r _ plan_kib < <(measure "${real[@]}" HOSS_NOW=2026-11-25T23:30:00Z "$HOSS" plan --json)
  why_seq=$(median_ms "${real[@]}" HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" why 10 --json)
  why_new=$(median_ms "${real[@]}" HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" why 1 --json)
  why_lim=$(median_ms sqlite3 "$work/seq.db" ".read $work/why.sql")
  read -r _ why_kib < <(measure "${real[@]}" HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" why 10 --json)
  status_seq=$(median_ms "${real[@]}" HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" status --json)
  local seqs=$((LEADS / 10))
  cat <<MD

| command | workload | hoss | limit | ratio | peak RSS | budget |
|---|---|---|---|---|---|---|
| \`send-outreach\` | $LEADS leads, $seqs active sequences ($due_open due), $LEDGER ledger rows; window open: choose the first due follow-up, reserve it, send (refused at once), stop; median of 30 | $pass_open ms | $pass_lim ms: sqlite3 CLI, the pass's two due queries | $(py "round($pass_open / $pass_lim, 2)")× | – | ≤ 50 ms |
| \`send-outreach\` | same, Saturday ($due_sat due): the window closed in every zone, every lead waits, nothing sent; median of 30 | $pass_sat ms | $pass_lim ms (as above) | $(py "round($pass_sat / $pass_lim, 2)")× | – | ≤ 50 ms |
| \`plan --json\` | same database, window open: walks until MAX_EMAILS_PER_CYCLE (10) sends are planned; median of 30 | $plan_open ms | $pass_lim ms: the pass's two due queries | $(py "round($plan_open / $pass_lim, 2)")× | – | ≤ 50 ms |
| \`plan --json\` | closed in UTC and New York, open in Tokyo: counts the closed zones, walks Tokyo's leads; median of 30 | $plan_night ms | – | – | $(mib $plan_kib) MiB | ≤ 50 ms |
| \`plan --json\` | Saturday, closed everywhere: counts every zone; median of 30 | $plan_sat ms | – | – | – | ≤ 50 ms |
| \`why 10 --json\` | a lead in an active sequence; median of 30 | $why_seq ms | $why_lim ms: sqlite3 CLI, the queries \`why\` reads | $(py "round($why_seq / $why_lim, 2)")× | $(mib $why_kib) MiB | ≤ 50 ms |
| \`why 1 --json\` | a new lead (first email: domain caps, address already emailed); median of 30 | $why_new ms | – | – | – | ≤ 50 ms |
| \`status --json\` | the same database (sequence counts, due now, 24 h count); median of 30 | $status_seq ms | – | – | – | ≤ 50 ms |
MD
}

if [ "${BENCH_ONLY:-}" = sequences ]; then
  sequences_bench
  exit 0
fi

echo "building a database: $LEADS leads, $LEDGER ledger rows, $CUSTOMERS customers × 10 invoices…" >&2
now=$(date +%s)
build_base_db "$work/base.db" "$now"

# 1. source-leads: NEW dummy leads deduped and inserted in one pass.
read -r src_s src_kib < <(MAX_NEW_LEADS_PER_CYCLE=$NEW best_of "$HOSS" source-leads)
created=$(( $(sqlite3 "$work/run.db" "SELECT COUNT(*) FROM lead") - LEADS ))
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
read -r lim_s _ < <(best_of sqlite3 "$work/run.db" ".read $work/limit.sql")
src_rate=$(py "round($created / $src_s)"); lim_rate=$(py "round($NEW / $lim_s)")

# 2./3. status and summary on the big database; the limit is the same
# queries through the sqlite3 CLI (process start included on both sides).
cp "$work/base.db" "$work/run.db"
hour=$(( now - now % 3600 )); day=$(( now - 86400 ))
cat > "$work/status.sql" <<SQL
SELECT status, n FROM lead_status_count;
SELECT COUNT(*) FROM send_ledger WHERE hour_start = $hour AND outcome IN ('reserved','sent','uncertain') AND kind = 'outreach';
SELECT COUNT(*) FROM send_ledger INDEXED BY send_ledger_uncertain WHERE outcome = 'uncertain';
SELECT * FROM send_ledger ORDER BY id DESC LIMIT 20;
SELECT status, n FROM invoice_status_total;
SELECT SUM(high), SUM(low) FROM invoice_status_total WHERE status IN ('draft', 'open');
SELECT * FROM lead_source_run ORDER BY id DESC LIMIT 1;
SELECT command, MAX(id) FROM command_run GROUP BY command;
SELECT id, amount_cents FROM invoice WHERE status = 'draft' AND out_of_range_logged = 1 ORDER BY id;
SELECT id, link_error FROM invoice WHERE status = 'draft' AND link_error IS NOT NULL ORDER BY id;
SELECT received_at, event_id, reason FROM stripe_event WHERE needs_attention = 1 AND received_at >= $day ORDER BY received_at DESC LIMIT 20;
SELECT COUNT(*), SUM(amount_cents) FROM invoice INDEXED BY invoice_unpaid_due WHERE status IN ('draft', 'open') AND due_at IS NOT NULL AND due_at < $now;
SELECT invoice_id, kind, MAX(at) FROM send_ledger INDEXED BY send_ledger_invoice WHERE invoice_id IS NOT NULL AND at >= $day AND outcome IN ('failed', 'suppressed') GROUP BY invoice_id, kind;
SQL
first_whole=$(( (day + 3599) / 3600 * 3600 )); last_whole=$(( (now + 1) / 3600 * 3600 ))
cat > "$work/summary.sql" <<SQL
SELECT key, SUM(n) FROM tally_second WHERE metric = 'lead' AND at >= $day AND at < $first_whole GROUP BY key;
SELECT key, SUM(n) FROM tally_hour WHERE metric = 'lead' AND hour >= $first_whole AND hour < $last_whole GROUP BY key;
SELECT key, SUM(n) FROM tally_second WHERE metric = 'lead' AND at >= $last_whole AND at < $now + 1 GROUP BY key;
SELECT key, SUM(n) FROM tally_second WHERE metric = 'send' AND at >= $day AND at < $first_whole GROUP BY key;
SELECT key, SUM(n) FROM tally_hour WHERE metric = 'send' AND hour >= $first_whole AND hour < $last_whole GROUP BY key;
SELECT key, SUM(n) FROM tally_second WHERE metric = 'send' AND at >= $last_whole AND at < $now + 1 GROUP BY key;
SELECT COUNT(*), COALESCE(SUM(amount_cents), 0) FROM invoice WHERE created_at >= $day AND created_at < $now + 1;
SELECT COUNT(*), COALESCE(SUM(amount_cents), 0) FROM invoice WHERE paid_at >= $day AND paid_at < $now + 1 AND paid_at IS NOT NULL;
SELECT COUNT(*) FROM send_ledger INDEXED BY send_ledger_uncertain WHERE outcome = 'uncertain';
SELECT COALESCE(SUM(deduped), 0) FROM lead_source_run WHERE started_at >= $day AND started_at < $now + 1;
SELECT id, amount_cents FROM invoice WHERE status = 'draft' AND out_of_range_logged = 1 ORDER BY id;
SELECT id, link_error FROM invoice WHERE status = 'draft' AND link_error IS NOT NULL ORDER BY id;
SELECT COUNT(*) FROM event_log WHERE tag = '[STRIPE][WEBHOOK]' AND level IN ('WARN', 'ERROR') AND at >= $day AND at < $now + 1;
SELECT COUNT(*), SUM(amount_cents) FROM invoice INDEXED BY invoice_unpaid_due WHERE status IN ('draft', 'open') AND due_at IS NOT NULL AND due_at < $now;
SELECT id, amount_cents, due_at FROM invoice INDEXED BY invoice_unpaid_due WHERE status IN ('draft', 'open') AND due_at IS NOT NULL AND due_at >= $day AND due_at < $now ORDER BY due_at, id LIMIT 50;
SELECT invoice_id, kind, MAX(at) FROM send_ledger INDEXED BY send_ledger_invoice WHERE invoice_id IS NOT NULL AND at >= $day AND outcome IN ('failed', 'suppressed') GROUP BY invoice_id, kind;
SQL
status_ms=$(HOSS_DB=$work/run.db median_ms "$HOSS" status --json)
status_lim=$(median_ms sqlite3 "$work/run.db" ".read $work/status.sql")
summary_ms=$(HOSS_DB=$work/run.db median_ms "$HOSS" summary --json)
summary_lim=$(median_ms sqlite3 "$work/run.db" ".read $work/summary.sql")
read -r _ status_kib < <(HOSS_DB=$work/run.db measure "$HOSS" status --json)
read -r _ summary_kib < <(HOSS_DB=$work/run.db measure "$HOSS" summary --json)

# 3b. summary when every lead and ledger row landed inside the 24 h window
# (a bulk import): hoss reads its tallies; the limit shown is what counting
# the window row by row costs through the sqlite3 CLI.
HOSS_DB=$work/window.db "$HOSS" check >/dev/null
sqlite3 "$work/window.db" >/dev/null <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LEADS)
INSERT INTO lead (name, email, company, company_key, domain, niche, source, status, created_at)
SELECT 'Seed ' || i, 'seed' || i || '@seed' || i || '.example', 'Seed Co ' || i, 'seed co ' || i,
       'seed' || i || '.example', 'agency', CASE i % 3 WHEN 0 THEN 'import' ELSE 'DUMMY_SEED' END,
       'new', $now - (i % 86000) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LEDGER)
INSERT INTO send_ledger (at, hour_start, kind, lead_id, step, recipient, subject, mode, outcome)
SELECT $now - (i % 86000), ($now - (i % 86000)) / 3600 * 3600, 'outreach', NULL, 1,
       'seed' || i || '@seed.example', 'Hello', 'SMTP', CASE i % 7 WHEN 0 THEN 'failed' ELSE 'sent' END FROM n;
PRAGMA wal_checkpoint(TRUNCATE);
ANALYZE;
SQL
window_ms=$(HOSS_DB=$work/window.db median_ms "$HOSS" summary --json)
window_lim=$(median_ms sqlite3 "$work/window.db" "SELECT source, COUNT(*) FROM lead WHERE created_at >= $day AND created_at < $now + 1 GROUP BY source; SELECT kind, outcome, COUNT(*) FROM send_ledger WHERE at >= $day AND at < $now + 1 GROUP BY kind, outcome;")

# 4. portal-export: CUSTOMERS pages of 10 invoices each; the limit is the
# sqlite3 CLI reading the same rows and the filesystem writing as many files.
read -r portal_s portal_kib < <(best_of "$HOSS" portal-export --out "$work/portal")
shm=$(mktemp -d /dev/shm/hoss-bench.XXXX)
read -r shm_s shm_kib < <(best_of "$HOSS" portal-export --out "$shm/portal")
rm -rf "$shm"
cat > "$work/portal.sql" <<SQL
.output /dev/null
SELECT c.public_token, i.created_at, i.status, i.amount_cents, i.currency, i.payment_url
FROM customer c JOIN invoice i ON i.customer_id = c.id ORDER BY c.id, i.id;
SQL
read -r plim_read _ < <(best_of sqlite3 "$work/run.db" ".read $work/portal.sql")
plim_write=$(python3 - "$work/files" "$CUSTOMERS" <<'PY'
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
root, n = sys.argv[1], int(sys.argv[2]); page = "x" * 6000
def write(k):  # four writers, like hoss
    for i in range(k, n, 4):
        d = os.path.join(root, "%032x" % i); os.mkdir(d)
        with open(os.path.join(d, "index.html"), "w") as f: f.write(page)
t = time.perf_counter()
os.makedirs(root)
with ThreadPoolExecutor(4) as ex: list(ex.map(write, range(4)))
print(round(time.perf_counter() - t, 2))
PY
)
plim=$(py "round($plim_read + $plim_write, 2)")

# 5. serve: EVENTS verified webhooks over loopback; none may be lost. The
# limit: the same client (one connection per event) against a do-nothing
# tiny_http server.
cp "$work/base.db" "$work/serve.db"
HOSS_DB=$work/serve.db STRIPE_WEBHOOK_SECRET=whsec_benchsecret HOSS_LISTEN=127.0.0.1:0 \
  "$HOSS" serve > "$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/listening on //p' "$work/serve.out")
serve_line=$("$LOAD" "$url" "$EVENTS" 16 whsec_benchsecret)
serve_kib=$(awk '/VmHWM/ {print $2}' "/proc/$serve_pid/status")
kill -TERM $serve_pid; wait $serve_pid 2>/dev/null || true; serve_pid=""
recorded=$(sqlite3 "$work/serve.db" "SELECT COUNT(*) FROM stripe_event WHERE event_id LIKE 'evt_bench_%'")
serve_rate=$(echo "$serve_line" | sed -n 's/.*rate=\([0-9]*\).*/\1/p')
serve_fail=$(echo "$serve_line" | sed -n 's/.*failures=\([0-9]*\).*/\1/p')
base_rate=$("$LOAD" --baseline "$EVENTS" 16 | sed -n 's/.*rate=\([0-9]*\).*/\1/p')

# 6. check: process start to exit.
cp "$work/base.db" "$work/run.db"
check_ms=$(HOSS_DB=$work/run.db median_ms "$HOSS" check)
start_lim=$(median_ms sqlite3 "$work/run.db" "PRAGMA user_version")
read -r _ check_kib < <(HOSS_DB=$work/run.db measure "$HOSS" check)

cat <<MD
| command | workload | hoss | limit | ratio | peak RSS | budget |
|---|---|---|---|---|---|---|
| \`source-leads\` | $created new dummy leads into $LEADS existing, one pass | $src_rate leads/s ($src_s s) | $lim_rate rows/s: sqlite3 CLI, same inserts ($lim_s s) | $(py "round($lim_rate / max($src_rate, 1), 2)")× | $(mib $src_kib) MiB | ≥ 50,000 leads/s |
| \`status --json\` | $LEADS leads, $LEDGER ledger rows, $((CUSTOMERS * 10)) invoices; median of 30 | $status_ms ms | $status_lim ms: sqlite3 CLI, same queries | $(py "round($status_ms / $status_lim, 2)")× | $(mib $status_kib) MiB | ≤ 50 ms |
| \`summary --json\` | same database, 24 h window; median of 30 | $summary_ms ms | $summary_lim ms: sqlite3 CLI, same queries | $(py "round($summary_ms / $summary_lim, 2)")× | $(mib $summary_kib) MiB | ≤ 50 ms |
| \`summary --json\` | $LEADS leads and $LEDGER ledger rows all inside the 24 h window; median of 30 | $window_ms ms | $window_lim ms: sqlite3 CLI counting the window row by row | $(py "round($window_ms / $window_lim, 2)")× | – | ≤ 50 ms |
| \`portal-export\` | $CUSTOMERS customers × 10 invoices, on the database's disk | $portal_s s | $plim s: sqlite3 CLI reading the rows + 4 threads writing as many files | $(py "round($portal_s / $plim, 2)")× | $(mib $portal_kib) MiB | ≤ 2 s, ≤ 64 MiB |
| \`portal-export\` | the same, into tmpfs (/dev/shm): the CPU side | $shm_s s | – | – | $(mib $shm_kib) MiB | |
| \`serve\` | $EVENTS signed webhooks, 16 clients, one connection per event; $recorded recorded, $serve_fail failed | $serve_rate events/s | $base_rate req/s: do-nothing tiny_http on loopback | $(py "round($base_rate / max($serve_rate, 1), 2)")× | $(mib $serve_kib) MiB | ≥ 1,000 events/s, none lost |
| \`check\` | process start to exit; median of 30 | $check_ms ms | $start_lim ms: sqlite3 CLI opening the same db | $(py "round($check_ms / $start_lim, 2)")× | $(mib $check_kib) MiB | ≤ 20 ms |
MD
sequences_bench
