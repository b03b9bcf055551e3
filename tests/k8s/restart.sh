#!/usr/bin/env bash
# Runs a node daemon the way a real node's service manager does (kubeadm's kubelet unit says
# Restart=always): when it exits on its own, it is started again, after a second. Unlike systemd,
# the restarts are few: a daemon that keeps exiting is a defect the lane must report, and once
# MAX_RESTARTS are used up this script exits with the daemon's status, so that check_daemons names
# it and shows its log's tail.
#
# Why the lanes need it: kubelet 1.34's start-up can crash on a race of its own ("concurrent map
# iteration and map write" in containerManagerImpl.GetCapacity, kubernetes/kubernetes#119637); once
# it did on node 2 of the two-node lane, and the lane failed for it. Each exit is written to the
# daemon's log, so a restart is never silent.
#
# A TERM or INT (the lanes stop a kubelet by its pid file, which holds this script's pid) is passed
# on to the daemon, and the script exits once the daemon has: nothing is started after a stop.
#
#   restart.sh MAX_RESTARTS COMMAND [ARGS...]
set -uo pipefail
max_restarts=$1
shift
name=$(basename "$1")
child=0
stopping=0

stop() {
  stopping=1
  [ "$child" -ne 0 ] && kill -TERM "$child" 2>/dev/null
}
trap stop TERM INT

restarts=0
while :; do
  "$@" &
  child=$!
  # A stop that came before $! was known has not reached the daemon yet.
  [ "$stopping" -eq 1 ] && kill -TERM "$child" 2>/dev/null
  # A trapped signal ends `wait` early (status over 128) after running stop(): wait until the
  # daemon itself has gone, then once more for its status, which bash keeps until then.
  wait "$child"
  while kill -0 "$child" 2>/dev/null; do
    wait "$child"
  done
  wait "$child"
  status=$?
  child=0
  [ "$stopping" -eq 1 ] && exit "$status"
  if [ "$restarts" -ge "$max_restarts" ]; then
    echo "restart.sh: $name exited with status $status, after $restarts restarts: giving up" >&2
    exit "$status"
  fi
  restarts=$((restarts + 1))
  echo "restart.sh: $name exited with status $status; starting it again" \
    "(restart $restarts of $max_restarts)" >&2
  sleep 1 &
  child=$!
  wait "$child"
  child=0
  [ "$stopping" -eq 1 ] && exit "$status"
done
