{{/*
Names, labels, and the one place that knows the command lines of the image's programs and the paths
inside the containers.
*/}}

{{/* The objects' name: the release's, with "dpcni" added unless it holds it already. */}}
{{- define "dpcni.fullname" -}}
{{- if contains "dpcni" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-dpcni" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dpcni.selectorLabels" -}}
app.kubernetes.io/name: dpcni
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dpcni.labels" -}}
{{ include "dpcni.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: dpcni
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- /*
The image tag. `--set image.tag=8061649` (a git short hash of digits) gives a number, not a string,
and `helm upgrade --reuse-values` hands it back as a float (8.061649e+06): a whole number is written
as its digits again. A number with a fraction (`1.10`) has lost its digits already, so it is refused
with the fix.
*/ -}}
{{- define "dpcni.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if kindIs "string" $tag -}}
{{- else if and (kindIs "float64" $tag) (ne $tag (floor $tag)) -}}
{{- fail (printf "image.tag %v was read as a number: pass it with --set-string image.tag=..." $tag) -}}
{{- else if or (kindIs "float64" $tag) (kindIs "int64" $tag) (kindIs "int" $tag) -}}
{{- $tag = printf "%d" (int64 $tag) -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository (toString $tag) -}}
{{- end -}}

{{/*
Paths inside the containers. The node's side of each is in .Values.hostPaths; the netns directory is
the exception, mounted at its node path (the agent opens the paths the runtime gives the plugin).
*/}}
{{- define "dpcni.path.config" -}}/etc/dpcni{{- end -}}
{{- define "dpcni.path.socketDir" -}}/run/dpcni{{- end -}}
{{- define "dpcni.path.socket" -}}{{ include "dpcni.path.socketDir" . }}/dpcni.sock{{- end -}}
{{- define "dpcni.path.stateDir" -}}/var/lib/dpcni{{- end -}}
{{- define "dpcni.path.cniBinDir" -}}/host/cni/bin{{- end -}}
{{- define "dpcni.path.cniConfDir" -}}/host/cni/net.d{{- end -}}
{{/* Where the image keeps the plugin (tools/image/build.sh): not on PATH, it is the runtime's to run. */}}
{{- define "dpcni.path.plugin" -}}/usr/libexec/dpcni/dpcni{{- end -}}

{{/* dpcni-k8s's command line (k8s/). */}}
{{- define "dpcni.k8s.command" -}}
- dpcni-k8s
- --agent-socket={{ include "dpcni.path.socket" . }}
- --cni-conf-source={{ include "dpcni.path.config" . }}/{{ .Values.cni.confName }}
- --cni-conf-dir={{ include "dpcni.path.cniConfDir" . }}
- --cni-conf-name={{ .Values.cni.confName }}
- --cni-bin-dir={{ include "dpcni.path.cniBinDir" . }}
{{- with .Values.k8s.healthPort }}
- --health-address=127.0.0.1:{{ . }}
{{- end }}
{{- if .Values.k8s.uninstallRemovesPlugin }}
- --uninstall-remove-plugin
{{- end }}
{{- if not .Values.remoteNodes.enabled }}
- --remote-nodes=false
{{- end }}
{{- end -}}

{{/*
The pods' MTU: mtu.pod, or mtu.node less the 50 bytes of a VXLAN header when a remote node may be
reached through VXLAN.
*/}}
{{- define "dpcni.podMtu" -}}
{{- $mtu := int .Values.mtu.pod -}}
{{- if eq $mtu 0 -}}
{{- $mtu = int .Values.mtu.node -}}
{{- if and .Values.remoteNodes.enabled (ne .Values.remoteNodes.mode "host-gw") -}}
{{- $mtu = sub $mtu 50 -}}
{{- end -}}
{{- end -}}
{{- if or (lt $mtu 576) (gt $mtu 9000) -}}
{{- fail (printf "the pod MTU %d (mtu.pod, or mtu.node %v less 50 for VXLAN) is outside 576..9000, what the agent takes" $mtu .Values.mtu.node) -}}
{{- end -}}
{{- if and (eq .Values.agent.backend "tap") (gt $mtu 1500) -}}
{{- fail (printf "the pod MTU %d is above 1500, which agent.backend tap cannot carry: set mtu.pod" $mtu) -}}
{{- end -}}
{{- $mtu -}}
{{- end -}}

{{/* dpcni-agent's command line. */}}
{{- define "dpcni.agent.command" -}}
- dpcni-agent
- --config={{ include "dpcni.path.config" . }}/agent.yaml
{{- end -}}

{{/* A probe of the agent through its socket: `dpcnictl probe live|ready` exits 0 when it holds. */}}
{{- define "dpcni.agent.probe" -}}
exec:
  command:
    - dpcnictl
    - --socket={{ include "dpcni.path.socket" .root }}
    - probe
    - {{ .check }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}

{{/*
The init container's installation of the plugin: copied under a temporary name in the same directory,
then renamed over the old one. rename(2) replaces the file atomically, so the runtime executes
either the old plugin or the new one, never a half-written file; and copying over a plugin being
executed would fail with ETXTBSY ("Text file busy") where the rename does not. The temporary name is
mktemp's, unique even if an old and a new pod overlap (maxSurge). No "$$" in the script: Kubernetes
expands $(VAR) in a container's command and turns "$$" into "$" before the shell sees it.
*/}}
{{- define "dpcni.installPlugin.command" -}}
- /bin/sh
- -ec
- |
  dir={{ include "dpcni.path.cniBinDir" . }}
  tmp=$(mktemp "$dir/.dpcni.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  cp {{ include "dpcni.path.plugin" . }} "$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$dir/dpcni"
  echo "installed $dir/dpcni"
{{- end -}}

{{/*
agent.yaml: the values, then agent.extraConfig merged over them. Keys whose value the chart owns are
refused in extraConfig with the value to set instead.
*/}}
{{- define "dpcni.agent.config" -}}
{{- $extra := deepCopy .Values.agent.extraConfig -}}
{{- range $key, $instead := dict "pod_cidrs" "nothing: they come from the Node's spec.podCIDRs" "socket" "hostPaths.socketDir" "state_dir" "hostPaths.stateDir" "cluster_cidrs" "clusterCIDRs" "pod_mtu" "mtu.pod (or mtu.node)" "remote_nodes" "remoteNodes.mode, remoteNodes.vxlanPort and remoteNodes.vni" -}}
{{- if hasKey $extra $key -}}
{{- fail (printf "agent.extraConfig.%s is set by the chart: set %s instead" $key $instead) -}}
{{- end -}}
{{- end -}}
{{- $config := dict "socket" (include "dpcni.path.socket" .) "state_dir" (include "dpcni.path.stateDir" .) -}}
{{- $_ := set $config "backend" .Values.agent.backend -}}
{{- $_ := set $config "max_pods" (int .Values.agent.maxPods) -}}
{{- $_ := set $config "masquerade" .Values.agent.masquerade -}}
{{- with .Values.clusterCIDRs -}}
{{- $_ := set $config "cluster_cidrs" . -}}
{{- end -}}
{{- with .Values.agent.metricsAddress -}}
{{- $_ := set $config "metrics_address" . -}}
{{- end -}}
{{- with .Values.agent.ealMemoryMB -}}
{{- $_ := set $config "eal" (dict "memory_mb" (int .)) -}}
{{- end -}}
{{- if not (has .Values.agent.logLevel (list "error" "warning" "info" "debug")) -}}
{{- fail (printf "agent.logLevel %q is none of error, warning, info, debug" .Values.agent.logLevel) -}}
{{- end -}}
{{- $_ := set $config "log_level" .Values.agent.logLevel -}}
{{- $_ := set $config "pod_mtu" (include "dpcni.podMtu" . | int) -}}
{{- $remote := .Values.remoteNodes -}}
{{- if not (has $remote.mode (list "auto" "host-gw" "vxlan")) -}}
{{- fail (printf "remoteNodes.mode %q is none of auto, host-gw, vxlan" $remote.mode) -}}
{{- end -}}
{{- if and (ne $remote.mode "auto") (not (hasKey $extra "uplink")) -}}
{{- fail (printf "remoteNodes.mode %s needs an uplink (agent.extraConfig.uplink): without one the agent routes other nodes' pods through the node's kernel; use auto" $remote.mode) -}}
{{- end -}}
{{- $port := int $remote.vxlanPort -}}
{{- if or (lt $port 1) (gt $port 65535) -}}
{{- fail (printf "remoteNodes.vxlanPort %v is outside 1..65535" $remote.vxlanPort) -}}
{{- end -}}
{{- $vni := int64 $remote.vni -}}
{{- if or (lt $vni 0) (gt $vni 16777215) -}}
{{- fail (printf "remoteNodes.vni %v is outside 0..16777215 (24 bits)" $remote.vni) -}}
{{- end -}}
{{- $_ := set $config "remote_nodes" (dict "mode" $remote.mode "vxlan_port" $port "vni" $vni) -}}
{{- toYaml (mustMergeOverwrite $config $extra) -}}
{{- end -}}

{{/* The conflist dpcni-k8s installs. The plugin runs on the node: its socket path is the node's. */}}
{{- define "dpcni.cni.conflist" -}}
{{- $plugins := list (dict "type" "dpcni" "agentSocket" (printf "%s/dpcni.sock" (trimSuffix "/" .Values.hostPaths.socketDir))) -}}
{{- if .Values.cni.portmap -}}
{{- $plugins = append $plugins (dict "type" "portmap" "capabilities" (dict "portMappings" true)) -}}
{{- end -}}
{{- toPrettyJson (dict "cniVersion" .Values.cni.version "name" .Values.cni.networkName "plugins" $plugins) -}}
{{- end -}}
