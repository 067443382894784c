# Shared by the demo and smoke scripts: find or build hoss, make a sandbox,
# run a local trap that counts every TCP connection, and small assertions.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ -z "${HOSS_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --quiet)
  HOSS_BIN=$ROOT/target/debug/hoss
fi

SANDBOX=$(mktemp -d)
TRAP_PID=""
cleanup() { [ -n "$TRAP_PID" ] && kill "$TRAP_PID" 2>/dev/null; rm -rf "$SANDBOX"; }
trap cleanup EXIT
cd "$SANDBOX"

# A clean environment: only what the script sets, never the caller's secrets.
hoss() { env -i PATH="$PATH" HOME="$SANDBOX" HOSS_DB="$SANDBOX/hoss.db" HOSS_LOCK_DIR="$SANDBOX/locks" ${HOSS_ENV:-} "$HOSS_BIN" "$@"; }

# start_trap: listens on 127.0.0.1, counts connections into $SANDBOX/trap.count.
start_trap() {
  python3 - "$SANDBOX/trap.port" "$SANDBOX/trap.count" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
n = 0
open(sys.argv[2], "w").write("0")
while True:
    c, _ = s.accept(); n += 1
    open(sys.argv[2], "w").write(str(n)); c.close()
PY
  TRAP_PID=$!
  for _ in $(seq 100); do [ -s "$SANDBOX/trap.port" ] && break; sleep 0.05; done
  TRAP_PORT=$(cat "$SANDBOX/trap.port")
  TRAP_URL="http://127.0.0.1:$TRAP_PORT"
}

trap_connections() { sleep 0.3; cat "$SANDBOX/trap.count"; }

fail() { echo "FAIL: $*" >&2; exit 1; }
expect_in() { grep -qF -- "$1" "$2" || { echo "--- $2:"; cat "$2"; fail "expected '$1' in $2"; }; }
step() { echo "== $*"; }
