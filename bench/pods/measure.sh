# Measurements both pod benchmarks take (sourced by run.sh and scale.sh; they set $seconds).

now_us() { echo $(($(date +%s%N) / 1000)); }

percentile() {  # percentile P < microseconds, printed in ms
  sort -n | awk -v p="$1" '{v[NR]=$1} END {i=int((NR-1)*p/100)+1; printf "%.1f", v[i]/1000}'
}

# TCP from one netns to a server in another for $seconds, the client pinned to CPU 0; Gbit/s received.
tcp_gbps() {  # tcp_gbps CLIENT_NS SERVER_NS SERVER_IP
  ip netns exec "$2" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  sleep 0.5
  ip netns exec "$1" taskset -c 0 iperf3 -c "$3" -p 5201 -t "$seconds" -J |
    python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'
  wait
}
