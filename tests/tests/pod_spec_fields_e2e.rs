//! The container fields read from the pod spec and status, on the real
//! kube-apiserver of `xtask/kube/kube.sh up`: a pod with a privileged container
//! (`securityContext.privileged`, a hostPath mount of /proc, exec liveness and
//! readiness probes) and a plain one; processes run in each container's cgroup
//! (the probe commands exactly as the spec declares them, a child of the liveness
//! probe, an ordinary command) and every exec alert carries the exact
//! `container.privileged`, `container.start_ts`, `container.image.digest`,
//! `container.mount.dest[/proc*]` and the other `container.mount.*` fields (a
//! second, read-only HostToContainer hostPath mount), `proc.is_container_*` values, and the pod's
//! `container.host_pid` / `host_network` / `host_ipc` (`hostPID: true`, the
//! others unset), `container.ip` and `k8s.pod.ip` (`status.podIP`),
//! `k8s.pod.id` and `container.type` (the runtime the cgroup path names), and
//! `container.label[...]` / `container.labels` (the kubelet's CRI labels).
//!
//! Needs root (probes, cgroups) and the API server's run dir; skips saying why
//! otherwise.
use std::{process::Stdio, time::Duration};

use lanner_tests::{
    cgroup::{hex_id, FakeContainer},
    kube::Kube,
    triage::free_port,
};
use serde_json::{json, Value};

const IMAGE: &str = "registry.example/fields/app:3.1";
const DIGEST: &str = "sha256:4b5f0e6a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081";
/// 2026-12-03T10:00:00Z and 10:00:05Z in ns.
const APP_START: u64 = 1_796_292_000_000_000_000;
const SIDE_START: u64 = APP_START + 5_000_000_000;

fn rules(n: &str, cids: &[&str]) -> String {
    let ids = cids.iter().map(|c| &c[..12]).collect::<Vec<_>>().join(", ");
    format!(
        "- rule: Pod spec fields {n}\n  desc: e2e\n  condition: evt.type = execve and container.id in ({ids}) \
         and proc.args contains \"{n}\"\n  \
         output: \"lv=%proc.is_container_liveness_probe rd=%proc.is_container_readiness_probe \
         hc=%proc.is_container_healthcheck priv=%container.privileged start=%container.start_ts \
         digest=%container.image.digest mnt=%container.mount.dest[/proc*] name=%proc.name args=%proc.args \
         hpid=%container.host_pid hnet=%container.host_network hipc=%container.host_ipc ip=%container.ip \
         podip=%k8s.pod.ip podid=%k8s.pod.id ctype=%container.type \
         msrc=%container.mount.source[/host/etc] mrw=%container.mount.rdwr[/etc] mprop=%container.mount.propagation[1] \
         mmode=%container.mount.mode[0] m0=%container.mount[0] mounts=%container.mounts \
         cid=%container.id cname=%container.name tag=%container.image.tag ns=%k8s.ns.name poduid=%k8s.pod.uid \
         app=%k8s.pod.label[app] lns=%container.label[io.kubernetes.pod.namespace] \
         lcname=%container.label[io.kubernetes.container.name] labels=%container.labels\"\n  priority: NOTICE\n"
    )
}

/// Runs `argv` in the container; the failure text, if any (checked once the agent stopped).
fn run(ctr: &FakeContainer, argv: &[&str]) -> Option<String> {
    match ctr.command(argv[0]).args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::null()).status() {
        Ok(st) if st.success() => None,
        Ok(st) => Some(format!("{argv:?}: {st}")),
        Err(e) => Some(format!("{argv:?}: {e}")),
    }
}

fn alert<'a>(alerts: &'a [Value], n: &str, name: &str, args: &str) -> &'a Value {
    let found: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"] == format!("Pod spec fields {n}").as_str())
        .filter(|a| a["output_fields"]["proc.name"] == name && a["output_fields"]["proc.args"] == args)
        .collect();
    assert_eq!(found.len(), 1, "one exec of {name} {args}; alerts:\n{alerts:#?}");
    &found[0]["output_fields"]
}

#[test]
fn pod_spec_gives_privileged_start_digest_mounts_and_probes() {
    let test = "pod_spec_gives_privileged_start_digest_mounts_and_probes";
    let Some((k, scratch)) = Kube::scratch(test, "spec") else {
        return;
    };
    let (n, ns, node) = (scratch.n.clone(), scratch.ns.clone(), scratch.node.clone());
    let live_cmd = format!("/bin/true {n} live; :");
    let ready = [String::from("/bin/echo"), n.clone(), "ready".into()];
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "probed", "namespace": ns, "labels": {"app": "probed"}},
        "spec": {
            "nodeName": node,
            "hostPID": true,
            "volumes": [{"name": "hostproc", "hostPath": {"path": "/proc"}}, {"name": "scratch", "emptyDir": {}},
                        {"name": "hostetc", "hostPath": {"path": "/etc"}}],
            "containers": [{
                "name": "app", "image": IMAGE,
                "securityContext": {"privileged": true},
                "volumeMounts": [{"name": "hostproc", "mountPath": "/host/proc"}, {"name": "scratch", "mountPath": "/scratch"},
                                 {"name": "hostetc", "mountPath": "/host/etc", "readOnly": true,
                                  "mountPropagation": "HostToContainer"}],
                "livenessProbe": {"exec": {"command": ["/bin/sh", "-c", live_cmd]}},
                "readinessProbe": {"exec": {"command": ready}}
            }, {"name": "side", "image": "registry.example/fields/side:1", "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}]
        }
    });
    let uid = k
        .kubectl(&["create", "-o", "jsonpath={.metadata.uid}", "-f", "-"], Some(&pod.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    let (app_id, side_id) = (hex_id(&format!("{n}-app")), hex_id(&format!("{n}-side")));
    let status = json!({"status": {"phase": "Running", "podIP": "10.244.77.5", "containerStatuses": [
        {"name": "app", "image": IMAGE, "imageID": format!("registry.example/fields/app@{DIGEST}"), "ready": true,
         "restartCount": 0, "containerID": format!("containerd://{app_id}"),
         "state": {"running": {"startedAt": "2026-12-03T10:00:00Z"}}},
        {"name": "side", "image": "registry.example/fields/side:1", "imageID": "", "ready": true, "restartCount": 0,
         "containerID": format!("containerd://{side_id}"), "state": {"running": {"startedAt": "2026-12-03T10:00:05Z"}}}
    ]}});
    k.patch_status(&ns, "probed", &status.to_string());
    let app = FakeContainer::create(&uid, &app_id);
    let side = FakeContainer::create(&uid, &side_id);

    let dir = std::env::temp_dir().join(format!("lanner-spec-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("spec.yaml");
    std::fs::write(&file, rules(&n, &[&app_id, &side_id])).unwrap();
    let maddr = format!("127.0.0.1:{}", free_port());
    let agent = scratch.agent(&k, &file, &maddr);

    let failed: Vec<String> = [
        run(&app, &["/bin/sh", "-c", &live_cmd]), // the liveness probe, and its child /bin/true
        run(&app, &ready.iter().map(String::as_str).collect::<Vec<_>>()), // the readiness probe
        run(&app, &["/bin/sh", "-c", &format!("/bin/true {n} other; :")]), // no probe
        run(&side, &["/bin/sh", "-c", &live_cmd]), // the app's probe command, in a container without probes
    ]
    .into_iter()
    .flatten()
    .collect();
    std::thread::sleep(Duration::from_secs(1));
    let (_stderr, alerts) = agent.stop_with_alerts();
    drop((app, side));
    let _ = std::fs::remove_dir_all(&dir);
    scratch.remove(&k);
    assert!(failed.is_empty(), "{failed:?}");

    let app_alerts: Vec<Value> =
        alerts.iter().filter(|a| a["output_fields"]["container.id"] == app_id[..12]).cloned().collect();
    let side_alerts: Vec<Value> =
        alerts.iter().filter(|a| a["output_fields"]["container.id"] == side_id[..12]).cloned().collect();
    let probe_sh = alert(&app_alerts, &n, "sh", &format!("-c {live_cmd}"));
    let probe_child = alert(&app_alerts, &n, "true", &format!("{n} live"));
    let readiness = alert(&app_alerts, &n, "echo", &format!("{n} ready"));
    let plain_sh = alert(&app_alerts, &n, "sh", &format!("-c /bin/true {n} other; :"));
    let plain = alert(&app_alerts, &n, "true", &format!("{n} other"));
    for (a, lv, rd) in [
        (probe_sh, true, false),
        (probe_child, true, false),
        (readiness, false, true),
        (plain_sh, false, false),
        (plain, false, false),
    ] {
        assert_eq!(
            (&a["proc.is_container_liveness_probe"], &a["proc.is_container_readiness_probe"]),
            (&json!(lv), &json!(rd)),
            "{a}"
        );
        assert_eq!(a["proc.is_container_healthcheck"], false, "{a}");
        assert_eq!(a["container.privileged"], true, "{a}");
        assert_eq!(pod_wide(a), (json!(true), json!(false), json!(false), json!("10.244.77.5")), "{a}");
        assert_eq!((&a["k8s.pod.ip"], &a["k8s.pod.id"]), (&json!("10.244.77.5"), &json!(uid)), "{a}");
        assert_eq!(a["container.type"], "containerd", "{a}");
        assert_eq!(a["container.start_ts"], APP_START, "{a}");
        assert_eq!(a["container.image.digest"], DIGEST, "{a}");
        assert_eq!(a["container.mount.dest[/proc*]"], "/host/proc", "{a}");
        assert_eq!(mounts(a), ["/etc", "false", "rslave", "", "/proc:/host/proc::true:private"], "{a}");
        assert_eq!(a["container.mounts"], "/proc:/host/proc::true:private,/etc:/host/etc::false:rslave", "{a}");
        assert_eq!((&a["container.name"], &a["container.image.tag"]), (&json!("app"), &json!("3.1")), "{a}");
        assert_eq!(
            (&a["k8s.ns.name"], &a["k8s.pod.uid"], &a["k8s.pod.label[app]"]),
            (&json!(ns), &json!(uid), &json!("probed")),
            "{a}"
        );
        let labels = format!(
            "io.kubernetes.container.name:app, io.kubernetes.pod.name:probed, io.kubernetes.pod.namespace:{ns}, \
             io.kubernetes.pod.uid:{uid}"
        );
        assert_eq!(
            (&a["container.label[io.kubernetes.pod.namespace]"], &a["container.labels"]),
            (&json!(ns), &json!(labels)),
            "{a}"
        );
    }
    for (name, args) in [("sh", format!("-c {live_cmd}")), ("true", format!("{n} live"))] {
        let a = alert(&side_alerts, &n, name, &args);
        assert_eq!(a["container.name"], "side", "{a}");
        assert_eq!(a["container.label[io.kubernetes.container.name]"], "side", "{a}");
        assert_eq!(a["proc.is_container_liveness_probe"], false, "no probe in this container: {a}");
        assert_eq!(a["container.privileged"], false, "{a}");
        assert_eq!(pod_wide(a), (json!(true), json!(false), json!(false), json!("10.244.77.5")), "pod-wide: {a}");
        assert_eq!(a["container.start_ts"], SIDE_START, "{a}");
        assert_eq!(a["container.image.digest"], Value::Null, "{a}");
        assert_eq!(a["container.mount.dest[/proc*]"], Value::Null, "no hostPath mount: {a}");
        assert_eq!(a["container.mount.source[/host/etc]"], Value::Null, "{a}");
        assert_eq!(a["container.mounts"], "", "a pod spec without hostPath mounts for this container: {a}");
    }
}

/// The `container.mount.*` values of an alert's output (source by mount point,
/// rdwr and propagation by source glob and index, mode and the whole mount by index).
fn mounts(a: &Value) -> Vec<&str> {
    let keys = [
        "container.mount.source[/host/etc]",
        "container.mount.rdwr[/etc]",
        "container.mount.propagation[1]",
        "container.mount.mode[0]",
        "container.mount[0]",
    ];
    keys.iter().map(|k| a[*k].as_str().unwrap_or_else(|| panic!("{k} missing: {a}"))).collect()
}

/// `container.host_pid`, `host_network`, `host_ipc` and `container.ip` of an alert.
fn pod_wide(a: &Value) -> (Value, Value, Value, Value) {
    let f = |k: &str| a[k].clone();
    (f("container.host_pid"), f("container.host_network"), f("container.host_ipc"), f("container.ip"))
}
