# meter_lib.bash -- shared by tests/integration/meter_*.sh (sourced, not a test).
# Usage: source meter_lib.bash GRIDMETER GRIDMETER_SIM
# Gives $T (a temp dir, removed on exit), start_bg (remembers pids, all killed
# on exit), free_port, write_conf, and readings.py helpers via $LIBPY.
set -euo pipefail
GM=$1
SIM=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/gl-meter-XXXXXX")
PIDS=()
# Under the ASan/UBSan build a report in any log fails the test.
no_sanitizer_reports() {
  if grep -lE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T"/*.err 2>/dev/null; then
    grep -hE -A5 'AddressSanitizer|LeakSanitizer|runtime error:' "$T"/*.err | head -40
    exit 1
  fi
}
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
start_bg() { "$@" & PIDS+=($!); LAST_PID=$!; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# wait_line FILE REGEX [SECONDS]: wait until FILE has a line matching REGEX
wait_line() {
  local n=$(( ${3:-10} * 10 ))
  for _ in $(seq "$n"); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timeout waiting for /$2/ in $1" >&2; cat "$1" >&2 || true; return 1
}
# write_conf FILE MAP extra lines...: a gridmeter config in $T with a fresh key.
write_conf() {
  local f=$1 map=$2; shift 2
  [ -f "$T/key.hex" ] || "$GM" keygen "$T/key.hex" > "$T/key.pub"
  {
    echo "chain_id = gl-test"
    echo "key_file = $T/key.hex"
    echo "queue_dir = $T/queue"
    echo "map = $SRC/meterbridge/maps/$map"
    for l in "$@"; do echo "$l"; done
  } > "$f"
}
# check_readings GRIDMETER_STDOUT SINK_LOG: every printed reading was committed with
# the same values, one reading per slot, nonces 0..n-1 in slot order, clean slots
# continue the register.  Prints a summary line.
check_readings() {
  python3 - "$1" "$2" "$HERE" <<'PY'
import sys
sys.path.insert(0, sys.argv[3])
from meter_fake_node import fields
printed = {}
for line in open(sys.argv[1]):
    w = line.split()
    if w and w[0] == "slot":
        d = dict(zip(w[2::2], w[3::2]))
        slot = int(w[1])
        rec = (int(d["import_wh"]), int(d["export_wh"]), int(d["cum_import_wh"]), int(d["cum_export_wh"]), int(d["flags"]))
        if slot in printed and printed[slot] != rec:
            sys.exit("slot %d printed twice with different values" % slot)
        printed[slot] = rec
committed, nonces = {}, []
for line in open(sys.argv[2]):
    tx = bytes.fromhex(line.strip())
    env = fields(tx)
    body = fields(env[1][0])
    r = fields(body[4][0])
    g = lambda k: r.get(k, [0])[0]
    slot = g(2)
    if slot in committed:
        sys.exit("slot %d committed twice" % slot)
    committed[slot] = (g(3), g(4), g(5), g(6), g(7))
    nonces.append((body.get(2, [0])[0], slot))
if [n for n, _ in nonces] != list(range(len(nonces))):
    sys.exit("nonces are not 0..n-1 in commit order")
if [s for _, s in nonces] != sorted(committed):
    sys.exit("slots not in nonce order")
for s, rec in printed.items():
    if committed.get(s) != rec:
        sys.exit("slot %d printed %r but committed %r" % (s, rec, committed.get(s)))
prev = None
for s in sorted(committed):
    rec = committed[s]
    if prev is not None and prev[0] + 1 == s and rec[4] == 0:
        if rec[2] - rec[0] != prev[1][2] or rec[3] - rec[1] != prev[1][3]:
            sys.exit("clean slot %d does not continue slot %d's registers" % (s, prev[0]))
    prev = (s, rec)
clean = sum(1 for r in committed.values() if r[4] == 0)
print("readings: %d committed, %d printed, %d clean, flags seen %s" % (
    len(committed), len(printed), clean, sorted({r[4] for r in committed.values()})))
PY
}
