#!/usr/bin/env bash
# tests/k8s/restart.sh, which the cluster lanes run kubelet under: a daemon that exits is started
# again, up to the limit; past it the script exits with the daemon's status; a TERM reaches the
# daemon and nothing is started after it. Needs no root.
#
#   restart_test.sh RESTART_SH
set -euo pipefail
restart=$1
tmp=$(mktemp -d)
supervisor=0
cleanup() {
  [ "$supervisor" -eq 0 ] || kill -KILL "$supervisor" 2>/dev/null || true
  pkill -KILL -f "$tmp/daemon" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "restart_test: $*" >&2
  [ -f "$tmp/log" ] && sed 's/^/  log: /' "$tmp/log" >&2
  exit 1
}
wait_until() {  # WHAT COMMAND...: up to 10 s
  local what=$1
  shift
  for _ in $(seq 1 100); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out waiting for $what"
}

# The daemon: counts its starts, exits with status 3 for the first FAILURES starts, then stays up
# and writes "terminated" when a TERM ends it.
cat >"$tmp/daemon" <<'EOF'
#!/usr/bin/env bash
dir=$(dirname "$0")
echo x >>"$dir/starts"
[ "$(wc -l <"$dir/starts")" -le "$(cat "$dir/failures")" ] && exit 3
trap 'echo terminated >"$dir/ended"; exit 0' TERM
# Short sleeps: the trap runs within 0.1 s, and no sleep outlives the test for long.
while :; do sleep 0.1; done
EOF
chmod +x "$tmp/daemon"
starts() { [ -f "$tmp/starts" ] && wc -l <"$tmp/starts" || echo 0; }
reset() {
  rm -f "$tmp/starts" "$tmp/ended" "$tmp/log"
  echo "$1" >"$tmp/failures"
}

# 1. Two early exits are restarted; the third start stays up; a TERM stops it for good.
reset 2
"$restart" 3 "$tmp/daemon" 2>"$tmp/log" &
supervisor=$!
has_three_starts() { [ "$(starts)" -eq 3 ]; }
wait_until "the daemon's third start" has_three_starts
[ "$(grep -c 'exited with status 3; starting it again' "$tmp/log")" -eq 2 ] ||
  fail "expected two restarts in the log"
sleep 0.3  # the third start has set its TERM trap
kill -TERM "$supervisor"
supervisor_gone() { ! kill -0 "$supervisor" 2>/dev/null; }
wait_until "the supervisor to exit after a TERM" supervisor_gone
status=0
wait "$supervisor" || status=$?
supervisor=0
[ "$status" -eq 0 ] || fail "a stopped supervisor exited with $status, not the daemon's 0"
[ "$(cat "$tmp/ended" 2>/dev/null)" = terminated ] || fail "the TERM did not reach the daemon"
sleep 1.5
[ "$(starts)" -eq 3 ] || fail "the daemon was started again after the stop ($(starts) starts)"
echo "ok: restarted twice, then stopped with its daemon"

# 2. A daemon that keeps exiting: two restarts, then the supervisor exits with its status.
reset 1000
status=0
"$restart" 2 "$tmp/daemon" 2>"$tmp/log" || status=$?
[ "$status" -eq 3 ] || fail "gave up with status $status, not the daemon's 3"
[ "$(starts)" -eq 3 ] || fail "expected 3 starts before giving up, saw $(starts)"
grep -q 'exited with status 3, after 2 restarts: giving up' "$tmp/log" ||
  fail "the log does not say it gave up"
echo "ok: gave up after 2 restarts with the daemon's status"

# 3. A TERM during the pause before a restart: nothing is started again.
reset 1000
"$restart" 5 "$tmp/daemon" 2>"$tmp/log" &
supervisor=$!
has_one_start() { [ "$(starts)" -ge 1 ] && grep -q 'starting it again' "$tmp/log"; }
wait_until "the first exit" has_one_start
kill -TERM "$supervisor"
wait_until "the supervisor to exit after a TERM" supervisor_gone
wait "$supervisor" || true
supervisor=0
sleep 1.5
[ "$(starts)" -eq 1 ] || fail "the daemon was started again after a stop in the pause"
echo "ok: a stop in the pause starts nothing"
