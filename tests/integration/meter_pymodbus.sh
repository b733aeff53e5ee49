#!/usr/bin/env bash
# gridmeter against a Modbus server not written here: Debian's python3-pymodbus
# serving a Carlo Gavazzi EM24 register layout (INT32, low word first, 0.1 kWh)
# whose counters rise every 50 ms.  gridmeter (maps/em24.conf, the test sink)
# must produce per-slot readings that are whole 100 Wh steps, committed once
# each, and continue the registers exactly from slot to slot.
source "$(dirname "$0")/meter_lib.bash" "$@"
PY=/usr/bin/python3   # Debian's python, where python3-pymodbus is installed
"$PY" -c 'import pymodbus' || { echo "python3-pymodbus missing (scripts/deps.d/meter.list)"; exit 1; }
PORT=$(free_port)
cat > "$T/server.py" <<PYEOF
import asyncio, logging, sys, time
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
from pymodbus.server import StartAsyncTcpServer
logging.disable(logging.CRITICAL)
ir = ModbusSequentialDataBlock(0, [0] * 0x60)
ctx = ModbusServerContext(slaves=ModbusSlaveContext(ir=ir, hr=ModbusSequentialDataBlock(0, [0] * 0x60), zero_mode=True), single=True)
def put_s32(addr, v):                      # EM24: INT32, least significant word first
    ir.setValues(addr, [v & 0xFFFF, (v >> 16) & 0xFFFF])
async def tick():
    # counters from elapsed time, not from a count of sleeps: a loaded machine
    # delays the updates but never slows the simulated energy flow
    t0 = time.monotonic()
    while True:
        n = int((time.monotonic() - t0) / 0.05)   # one 0.1 kWh step per 50 ms
        put_s32(0x34, 123456 + n); put_s32(0x4E, 7890 + n // 3)
        await asyncio.sleep(0.01)
async def main():
    asyncio.ensure_future(tick())
    await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", $PORT))
asyncio.run(main())
PYEOF
start_bg "$PY" "$T/server.py"
up=0
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && { up=1; break; }; sleep 0.1; done
[ $up = 1 ] || { echo "the pymodbus server did not start"; exit 1; }
write_conf "$T/gm.conf" em24.conf "node = mem:$T/sink.log" "port = $PORT" "poll_interval_ms = 100" \
  "slot_len_s = 2" "boundary_tolerance_ms = 400" "max_power_w = 1000000000" "timeout_ms = 1000"
start_bg "$GM" -c "$T/gm.conf" > "$T/gm.out" 2> "$T/gm.err"
GMPID=$LAST_PID
sleep 9
kill -TERM "$GMPID"; wait "$GMPID" 2>/dev/null || true
summary=$(check_readings "$T/gm.out" "$T/sink.log") || { cat "$T/gm.err"; exit 1; }
echo "$summary"
# at least three slots, at least two of them clean (the first starts mid-slot: gap)
python3 - "$T/gm.out" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("slot ")]
if len(rows) < 3:
    sys.exit("only %d readings in 9 s of 2 s slots" % len(rows))
clean = 0
for w in rows:
    d = dict(zip(w[2::2], w[3::2]))
    for k in ("import_wh", "export_wh", "cum_import_wh", "cum_export_wh"):
        if int(d[k]) % 100:
            sys.exit("%s=%s is not a whole 0.1 kWh register step" % (k, d[k]))
    if int(d["flags"]) & 3 == 0:   # no GAP, no REPLACED (a failed poll on a busy machine is fine)
        clean += 1
        imp = int(d["import_wh"])
        # 2 s at 100 Wh per 50 ms is 4000 Wh; polls every 100 ms shift the boundaries a little
        if not 3000 <= imp <= 5000:
            sys.exit("clean slot import %d Wh, expected about 4000" % imp)
if clean < 2:
    sys.exit("only %d clean slots" % clean)
print("pymodbus EM24: %d readings, %d complete, values in whole 100 Wh steps" % (len(rows), clean))
PY
no_sanitizer_reports
