# Measurements and plumbing the pod benchmarks share (sourced by run.sh, scale.sh, cross_node.sh;
# they set $seconds).

now_us() { echo $(($(date +%s%N) / 1000)); }

percentile() {  # percentile P < microseconds, printed in ms
  sort -n | awk -v p="$1" '{v[NR]=$1} END {i=int((NR-1)*p/100)+1; printf "%.1f", v[i]/1000}'
}

# TCP from one netns to a server in another for $seconds, the client pinned to CPU 0; Gbit/s received.
# iperf3's summary line of the receiver, in Mbit/s (awk: the vhost-net lane's guest has no python).
tcp_gbps() {  # tcp_gbps CLIENT_NS SERVER_NS SERVER_IP
  ip netns exec "$2" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  sleep 0.5
  ip netns exec "$1" taskset -c 0 iperf3 -c "$3" -p 5201 -t "$seconds" -f m |
    awk '/ receiver$/ && $(NF-1) == "Mbits/sec" { printf "%.2f\n", $(NF-2) / 1000; found = 1 }
         END { exit !found }'
  wait
}

ping_avg_ms() {  # ping_avg_ms NS IP: 200 pings 5 ms apart, the average round trip in ms
  ip netns exec "$1" ping -q -c 200 -i 0.005 "$2" | awk -F/ '/^rtt/ {print $5}'
}

pod_ip() { sed -n 's/.*"address": *"\([0-9.]*\)\/.*/\1/p' | head -1; }  # from a CNI result on stdin

# A plugin invoked as the runtime does, for a pod whose netns is /var/run/netns/$pod_netns_prefix$POD
# (the caller sets pod_netns_prefix and bridge_plugins, the CNI_PATH of the reference plugins).
cni() {  # cni PLUGIN NETCONF_FILE COMMAND POD [exec-netns]
  local run=()
  [ -n "${5:-}" ] && run=(ip netns exec "$5")
  CNI_COMMAND=$3 CNI_CONTAINERID="$pod_netns_prefix$4" CNI_NETNS="/var/run/netns/$pod_netns_prefix$4" \
    CNI_IFNAME=eth0 CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=$4" \
    CNI_PATH="$bridge_plugins" "${run[@]}" "$1" <"$2"
}
