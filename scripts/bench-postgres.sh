#!/usr/bin/env bash
# The SPEC §11 and §14 budgets on PostgreSQL beside SQLite (issue #19): the
# same datasets as scripts/bench.sh in both stores, each command measured on
# both in the same run, one after the other, and one Markdown table printed
# (command | workload | SQLite | PostgreSQL | PG/SQLite | budget).
# "PG/SQLite" is PostgreSQL's time over SQLite's; for the rates
# (source-leads, serve) it is the time per lead or per event, i.e. SQLite's
# rate over PostgreSQL's. Above 1 means PostgreSQL is slower.
#
#   scripts/bench-postgres.sh                       # full size (1,000,000 leads and ledger rows)
#   BENCH_LEADS=100000 scripts/bench-postgres.sh    # quicker
#   BENCH_PG_FSYNC=off scripts/bench-postgres.sh    # the server without fsync
#   BENCH_PG_POOLER=pgbouncer scripts/bench-postgres.sh
#       # the per-command medians through a local PgBouncer in session mode
#       # (SCRAM login, the server's backends kept between processes)
#
# PostgreSQL: a throwaway cluster (initdb + pg_ctl, the newest
# /usr/lib/postgresql/*/bin, else PATH) in a temp directory, listening on a
# free 127.0.0.1 port only, password (SCRAM) login for a `hoss` role that
# owns the databases and is no superuser, as on a hosted server; stopped
# and removed on exit, also on failure. As root the server runs as
# `nobody`. fsync stays ON by default (every commit reaches the disk, as
# SQLite's synchronous=FULL does); the rest of the server's settings are
# its defaults (BENCH_PG_OPTS adds `-c name=value` options).
#
# The datasets: each SQLite file is built exactly as bench.sh builds it,
# then copied into its PostgreSQL database with `hoss migrate-store` and
# `VACUUM ANALYZE`d. A run that needs a fresh copy gets one through CREATE
# DATABASE … TEMPLATE.
#
# Needs: cargo, sqlite3, psql, PostgreSQL's server (initdb, pg_ctl), python3,
# /usr/bin/time. Never reaches the internet: MX_CHECK=OFF, and real email
# goes to a closed loopback port.
source "$(dirname "$0")/bench-common.sh"

# --- the cluster -----------------------------------------------------------
pg_bin=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && pg_bin=$d
done
if [ -z "$pg_bin" ]; then
  pg_bin=$(dirname "$(command -v initdb)") || { echo "no PostgreSQL server (initdb, pg_ctl) found" >&2; exit 1; }
fi
pgdir=$(mktemp -d)
pg_as=()
if [ "$(id -u)" = 0 ]; then
  chown nobody: "$pgdir"
  pg_as=(runuser -u nobody --)
fi
pg_tool() { "${pg_as[@]}" env -i PATH=/usr/bin:/bin HOME="$pgdir" LC_ALL=C "$pg_bin/$1" "${@:2}"; }
pg_port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
super_pw=$(python3 -c "import secrets; print(secrets.token_hex(12))")
hoss_pw=$(python3 -c "import secrets; print(secrets.token_hex(12))")
echo "$super_pw" > "$pgdir/pwfile"
[ ${#pg_as[@]} -gt 0 ] && chown nobody: "$pgdir/pwfile"
bench_more_cleanup='pg_tool pg_ctl -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1; rm -rf "$pgdir"'
pg_tool initdb -D "$pgdir/data" -U postgres --pwfile "$pgdir/pwfile" --auth-host=scram-sha-256 \
  --auth-local=scram-sha-256 -E UTF8 --no-locale --no-sync >/dev/null
fsync=${BENCH_PG_FSYNC:-on}
pg_tool pg_ctl -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 start -o \
  "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pgdir -c fsync=$fsync ${BENCH_PG_OPTS:-}" \
  >/dev/null || { cat "$pgdir/server.log" >&2; exit 1; }
pg_version=$(pg_tool postgres --version | awk '{print $3}')
# psql as the superuser, on database $1 (the cluster's own setup and counts).
sql() { PGPASSWORD=$super_pw psql -X -q -v ON_ERROR_STOP=1 -tA -h 127.0.0.1 -p "$pg_port" -U postgres -d "$1" -c "$2"; }
url() { echo "postgres://hoss:$hoss_pw@127.0.0.1:$pg_port/$1?sslmode=disable"; }
sql postgres "CREATE ROLE hoss LOGIN PASSWORD '$hoss_pw'" >/dev/null
# murl NAME: the URL the measured commands use: the server itself, or with
# BENCH_PG_POOLER=pgbouncer a PgBouncer in session mode in front of it
# (stopped with the server), so each process logs in to the pooler and gets
# a backend an earlier process already warmed.
murl() { url "$1"; }
pooler="none"
if [ "${BENCH_PG_POOLER:-}" = pgbouncer ]; then
  command -v pgbouncer >/dev/null || { echo "BENCH_PG_POOLER=pgbouncer: no pgbouncer on PATH" >&2; exit 1; }
  pgb_port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  # The server's stored SCRAM secret, not the password: PgBouncer checks
  # each login against it as the server would (a plain password would make
  # it derive a new secret, 4,096 rounds, at every login) and passes the
  # client's proof on to the server.
  printf '"hoss" "%s"\n' "$(sql postgres "SELECT rolpassword FROM pg_authid WHERE rolname = 'hoss'")" > "$pgdir/pgb-users"
  cat > "$pgdir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $pgdir/pgb-users
pool_mode = session
logfile = $pgdir/pgbouncer.log
pidfile = $pgdir/pgbouncer.pid
INI
  chmod 600 "$pgdir/pgb-users" "$pgdir/pgbouncer.ini"
  [ ${#pg_as[@]} -gt 0 ] && chown nobody: "$pgdir/pgb-users" "$pgdir/pgbouncer.ini"
  bench_more_cleanup='[ -f "$pgdir/pgbouncer.pid" ] && kill "$(cat "$pgdir/pgbouncer.pid")" 2>/dev/null; '"$bench_more_cleanup"
  "${pg_as[@]}" pgbouncer -d "$pgdir/pgbouncer.ini" || { cat "$pgdir/pgbouncer.log" >&2; exit 1; }
  # -d returns before the pooler listens: wait until it takes a connection.
  python3 -c "
import socket, sys, time
for _ in range(100):
    try: socket.create_connection(('127.0.0.1', $pgb_port), 0.1).close(); sys.exit(0)
    except OSError: time.sleep(0.05)
sys.exit(1)" || { echo "PgBouncer did not start listening on 127.0.0.1:$pgb_port" >&2; cat "$pgdir/pgbouncer.log" >&2; exit 1; }
  murl() { echo "postgres://hoss:$hoss_pw@127.0.0.1:$pgb_port/$1?sslmode=disable"; }
  pooler="PgBouncer $(pgbouncer --version | awk 'NR == 1 {print $2}'), session mode"
fi
file_copy=""
[ "$(sql postgres "SHOW server_version_num")" -ge 150000 ] && file_copy="STRATEGY = FILE_COPY"
# A pooler may still hold a connection to a database dropped between runs.
force=""
[ "$(sql postgres "SHOW server_version_num")" -ge 130000 ] && force="WITH (FORCE)"
# pg_copy NAME TEMPLATE: database NAME made afresh as a copy of TEMPLATE.
pg_copy() {
  sql postgres "DROP DATABASE IF EXISTS \"$1\" $force" >/dev/null
  sql postgres "CREATE DATABASE \"$1\" TEMPLATE \"$2\" OWNER hoss $file_copy" >/dev/null
}
# pg_load NAME FILE: database NAME with every row of the SQLite FILE.
pg_load() {
  sql postgres "CREATE DATABASE \"$1\" OWNER hoss" >/dev/null
  "$HOSS" migrate-store --from "sqlite:$2" --to "$(url "$1")" >/dev/null
  sql "$1" "VACUUM ANALYZE" >/dev/null
}
# timed TEXT CMD…: runs CMD, tells stderr how long TEXT took.
timed() {
  local t0=$SECONDS; "${@:2}"; echo "  $1: $((SECONDS - t0)) s" >&2
}
# pair CMD…: "SQLITE_MS PG_MS", medians of 30 runs of CMD on each store
# ($sq_env and $pg_env name the store), SQLite's 30 first. Not run by run
# in turns: PostgreSQL's background writes after a pass (WAL, autovacuum)
# then land in SQLite's next run: that measured SQLite's send-outreach
# 1.4-1.8x slower than on its own.
pair() { echo "$(median_ms "${sq_env[@]}" "$@") $(median_ms "${pg_env[@]}" "$@")"; }
pair_any() { echo "$(median_any_ms "${sq_env[@]}" "$@") $(median_any_ms "${pg_env[@]}" "$@")"; }
ratio() { py "round($2 / $1, 2)"; }

# --- the §11 database --------------------------------------------------------
echo "PostgreSQL $pg_version on 127.0.0.1:$pg_port, fsync=$fsync" >&2
echo "building the databases: $LEADS leads, $LEDGER ledger rows, $CUSTOMERS customers × 10 invoices…" >&2
now=$(date +%s)
timed "SQLite base.db" build_base_db "$work/base.db" "$now"
timed "PostgreSQL base (migrate-store + VACUUM ANALYZE)" pg_load base "$work/base.db"

# 1. source-leads: NEW dummy leads deduped and inserted in one pass, best of RUNS.
read -r src_sq _ < <(MAX_NEW_LEADS_PER_CYCLE=$NEW best_of "$HOSS" source-leads)
created_sq=$(( $(sqlite3 "$work/run.db" "SELECT COUNT(*) FROM lead") - LEADS ))
read -r src_pg _ < <(MAX_NEW_LEADS_PER_CYCLE=$NEW best_of_with 'pg_copy run base' \
  env DATABASE_URL="$(url run)" "$HOSS" source-leads)
created_pg=$(( $(sql run "SELECT COUNT(*) FROM lead") - LEADS ))
src_rate_sq=$(py "round($created_sq / $src_sq)"); src_rate_pg=$(py "round($created_pg / $src_pg)")

# 2./3./6. status, summary and check on a fresh copy of each.
cp "$work/base.db" "$work/run.db"; pg_copy run base
sq_env=(env HOSS_DB="$work/run.db"); pg_env=(env DATABASE_URL="$(murl run)")
read -r status_sq status_pg < <(pair "$HOSS" status --json)
read -r summary_sq summary_pg < <(pair "$HOSS" summary --json)
cp "$work/base.db" "$work/run.db"; pg_copy run base
read -r check_sq check_pg < <(pair "$HOSS" check)

# 4. portal-export: CUSTOMERS pages of 10 invoices each, into tmpfs
# (/dev/shm), each run a first export. On the disk the filesystem's own
# state weighs on whichever store runs later: ext4 looks past the inodes
# the earlier runs' 10,000 directories freed (both stores measured 6 s
# there after a day of runs, 0.6 s on a fresh disk). bench.sh measures the
# disk.
shm=$(mktemp -d /dev/shm/hoss-bench.XXXX)
fresh_portal='rm -rf "$shm/portal" "$shm"/.portal.*'
read -r portal_sq _ < <(best_of_with 'cp "$work/base.db" "$work/run.db"; '"$fresh_portal" \
  "$HOSS" portal-export --out "$shm/portal")
read -r portal_pg _ < <(best_of_with 'pg_copy run base; '"$fresh_portal" \
  env DATABASE_URL="$(url run)" "$HOSS" portal-export --out "$shm/portal")
rm -rf "$shm"

# 5. serve: EVENTS verified webhooks over loopback, 16 clients, none lost.
# serve_rate ENV…: "RATE FAILURES" of one load against `hoss serve` on ENV's store.
serve_rate() {
  "$@" STRIPE_WEBHOOK_SECRET=whsec_benchsecret HOSS_LISTEN=127.0.0.1:0 \
    "$HOSS" serve > "$work/serve.out" 2>"$work/serve.err" &
  serve_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
  local u line
  u=$(sed -n 's/listening on //p' "$work/serve.out")
  [ -n "$u" ] || { cat "$work/serve.err" >&2; return 1; }
  line=$("$LOAD" "$u" "$EVENTS" 16 whsec_benchsecret)
  kill -TERM $serve_pid; wait $serve_pid 2>/dev/null || true; serve_pid=""
  echo "$(echo "$line" | sed -n 's/.*rate=\([0-9]*\).*/\1/p') $(echo "$line" | sed -n 's/.*failures=\([0-9]*\).*/\1/p')"
}
cp "$work/base.db" "$work/serve.db"; pg_copy serve base
serve_rate env HOSS_DB="$work/serve.db" > "$work/rate"; read -r serve_sq fail_sq < "$work/rate"
serve_rate env DATABASE_URL="$(url serve)" > "$work/rate"; read -r serve_pg fail_pg < "$work/rate"
rec_sq=$(sqlite3 "$work/serve.db" "SELECT COUNT(*) FROM stripe_event WHERE event_id LIKE 'evt_bench_%'")
rec_pg=$(sql serve "SELECT COUNT(*) FROM stripe_event WHERE event_id LIKE 'evt_bench_%'")
sql postgres "DROP DATABASE serve $force" >/dev/null; sql postgres "DROP DATABASE run $force" >/dev/null
sql postgres "DROP DATABASE base" >/dev/null; rm -f "$work"/base.db* "$work"/run.db* "$work"/serve.db*

# --- the §14 sequences database ------------------------------------------------
# As bench.sh: real email through SendGrid whose base is a closed loopback
# port, the caps lifted, the clock pinned to Wednesday 14:00 UTC (open),
# 23:30 UTC (open in Tokyo only) and Saturday 15:00 UTC (closed everywhere).
wed=1795615205 sat=1795878000
echo "building the databases: $LEADS leads, $((LEADS / 10)) active sequences, $LEDGER ledger rows…" >&2
timed "SQLite seq.db" build_seq_db "$work/seq.db" $wed
timed "PostgreSQL seq (migrate-store + VACUUM ANALYZE)" pg_load seq "$work/seq.db"
port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
real=(EMAIL_MODE=SENDGRID SENDGRID_API_KEY=SG.bench
  SENDGRID_API_BASE="http://127.0.0.1:$port" SENDGRID_FROM_EMAIL=bench@hoss-bench.com SENDER_NAME=Bench
  COMPANY_NAME="Bench Co" COMPANY_POSTAL_ADDRESS="1 Main St" EMAIL_SEND_DELAY_MIN=0 EMAIL_SEND_DELAY_MAX=0
  MAX_EMAILS_PER_DAY=1000000 WARMUP=OFF MAX_EMAILS_PER_HOUR=100000
  MAX_NEW_CONTACTS_PER_DOMAIN_PER_DAY=100000 MAX_ACTIVE_PER_DOMAIN=100000
  MX_CHECK=OFF) # no benchmark asks a resolver on the internet
sq_env=(env HOSS_DB="$work/seq.db" "${real[@]}"); pg_env=(env DATABASE_URL="$(murl seq)" "${real[@]}")
seqs=$((LEADS / 10))
due_open=$(sqlite3 "$work/seq.db" "SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at <= $wed")
due_sat=$(sqlite3 "$work/seq.db" "SELECT COUNT(*) FROM sequence WHERE state = 'active' AND next_due_at <= $sat")
# One pass on each store first, not measured, at the latest time measured
# (Saturday): on a database built in one go it prunes the per-second
# tallies older than the retention at once (at 1,000,000 ledger rows,
# about 920,000 tally rows fall between Wednesday's cutoff and Saturday's).
# SQLite frees those rows then; PostgreSQL keeps them until a VACUUM
# (autovacuum's, within a minute in production), and each measured pass
# would read past them again.
"${sq_env[@]}" HOSS_NOW=2026-11-28T15:00:00Z "$HOSS" send-outreach >/dev/null 2>&1 || true
"${pg_env[@]}" HOSS_NOW=2026-11-28T15:00:00Z "$HOSS" send-outreach >/dev/null 2>&1 || true
sql seq "VACUUM ANALYZE" >/dev/null
read -r pass_open_sq pass_open_pg < <(pair_any HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" send-outreach --json)
read -r pass_sat_sq pass_sat_pg < <(pair HOSS_NOW=2026-11-28T15:00:00Z "$HOSS" send-outreach --json)
read -r plan_open_sq plan_open_pg < <(pair HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" plan --json)
read -r plan_night_sq plan_night_pg < <(pair HOSS_NOW=2026-11-25T23:30:00Z "$HOSS" plan --json)
read -r plan_sat_sq plan_sat_pg < <(pair HOSS_NOW=2026-11-28T15:00:00Z "$HOSS" plan --json)
read -r why_seq_sq why_seq_pg < <(pair HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" why 10 --json)
read -r why_new_sq why_new_pg < <(pair HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" why 1 --json)
read -r status_seq_sq status_seq_pg < <(pair HOSS_NOW=2026-11-25T14:00:05Z "$HOSS" status --json)

base="$LEADS leads, $LEDGER ledger rows, $((CUSTOMERS * 10)) invoices"
seq_db="$LEADS leads, $seqs active sequences ($due_open due), $LEDGER ledger rows"
# A median or rate that failed leaves its variable empty (read < <(…) does
# not stop the script): no table with holes.
for v in $(compgen -v | grep -E '_(sq|pg)$'); do
  [ -n "${!v}" ] || { echo "$v: the measurement failed" >&2; exit 1; }
done
[ "$pooler" = none ] || printf '%s\n\n' "PostgreSQL medians through $pooler; serve, source-leads and portal-export connect directly."
cat <<MD
| command | workload | SQLite | PostgreSQL | PG/SQLite | budget |
|---|---|---|---|---|---|
| \`status --json\` | $base; median of 30 | $status_sq ms | $status_pg ms | $(ratio $status_sq $status_pg)× | ≤ 50 ms |
| \`summary --json\` | same database, 24 h window; median of 30 | $summary_sq ms | $summary_pg ms | $(ratio $summary_sq $summary_pg)× | ≤ 50 ms |
| \`check\` | process start to exit (PostgreSQL: connect, SCRAM login, schema check); median of 30 | $check_sq ms | $check_pg ms | $(ratio $check_sq $check_pg)× | ≤ 20 ms |
| \`send-outreach\` | $seq_db; window open: choose the first due follow-up, reserve it, send (refused at once), stop; median of 30 | $pass_open_sq ms | $pass_open_pg ms | $(ratio $pass_open_sq $pass_open_pg)× | ≤ 50 ms |
| \`send-outreach\` | same, Saturday ($due_sat due): closed in every zone, nothing sent; median of 30 | $pass_sat_sq ms | $pass_sat_pg ms | $(ratio $pass_sat_sq $pass_sat_pg)× | ≤ 50 ms |
| \`plan --json\` | same, window open: walks until MAX_EMAILS_PER_CYCLE (10) sends are planned; median of 30 | $plan_open_sq ms | $plan_open_pg ms | $(ratio $plan_open_sq $plan_open_pg)× | ≤ 50 ms |
| \`plan --json\` | closed in UTC and New York, open in Tokyo; median of 30 | $plan_night_sq ms | $plan_night_pg ms | $(ratio $plan_night_sq $plan_night_pg)× | ≤ 50 ms |
| \`plan --json\` | Saturday, closed everywhere; median of 30 | $plan_sat_sq ms | $plan_sat_pg ms | $(ratio $plan_sat_sq $plan_sat_pg)× | ≤ 50 ms |
| \`why 10 --json\` | a lead in an active sequence; median of 30 | $why_seq_sq ms | $why_seq_pg ms | $(ratio $why_seq_sq $why_seq_pg)× | ≤ 50 ms |
| \`why 1 --json\` | a new lead (first email: domain caps); median of 30 | $why_new_sq ms | $why_new_pg ms | $(ratio $why_new_sq $why_new_pg)× | ≤ 50 ms |
| \`status --json\` | the sequences database (sequence counts, due now, 24 h count); median of 30 | $status_seq_sq ms | $status_seq_pg ms | $(ratio $status_seq_sq $status_seq_pg)× | ≤ 50 ms |
| \`serve\` | $EVENTS signed webhooks, 16 clients, one connection per event; recorded $rec_sq / $rec_pg, failed $fail_sq / $fail_pg | $serve_sq events/s | $serve_pg events/s | $(py "round($serve_sq / max($serve_pg, 1), 2)")× | ≥ 1,000 events/s, none lost |
| \`source-leads\` | $created_sq / $created_pg new dummy leads into $LEADS existing, one pass; best of $RUNS | $src_rate_sq leads/s ($src_sq s) | $src_rate_pg leads/s ($src_pg s) | $(py "round($src_rate_sq / max($src_rate_pg, 1), 2)")× | ≥ 50,000 leads/s |
| \`portal-export\` | $CUSTOMERS customers × 10 invoices, into tmpfs; best of $RUNS | $portal_sq s | $portal_pg s | $(ratio $portal_sq $portal_pg)× | ≤ 2 s, ≤ 64 MiB |
MD
echo "PostgreSQL $pg_version, fsync=$fsync, on 127.0.0.1 (SCRAM login, no TLS); pooler for the medians: $pooler" >&2
