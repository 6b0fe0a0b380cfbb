//! Extraction of the socket-state fields (`fd.connected`, `fd.is_server`,
//! `fd.nameraw`) and of the container facts read from the pod spec and status
//! (`container.privileged`, `container.start_ts`, hostPath mounts, the kubelet's
//! container labels, the exec probes behind `proc.is_container_*_probe`).

use crate::fields::glob::Glob;
use crate::fields::{FieldId, Val};
use crate::runtime::container::Mount;
use crate::runtime::event::{Container, Event, EvtType, FdKind, ProbeKind, Process};

/// `-EINPROGRESS`: a non-blocking connect under way, which Falco counts as connected.
const EINPROGRESS: i64 = -115;

/// The value of a field of this module for `ev` (`key`: `container.mount.dest[glob]`).
pub(crate) fn extract<'a>(id: FieldId, key: Option<&str>, ev: &'a Event) -> Val<'a> {
    use FieldId as F;
    let fd = ev.fd.as_ref();
    let c = ev.container.as_deref();
    match id {
        F::FdNameraw => match fd.map(|f| f.name_raw()) {
            Some(n) if !n.is_empty() => Val::Str(n),
            _ => Val::Missing,
        },
        F::FdConnected => match (fd.map(|f| f.kind()), ev.evt_type) {
            (None, _) => Val::Missing,
            (Some(FdKind::File { .. }), _) => Val::Bool(false),
            (Some(_), EvtType::Connect) => Val::Bool(ev.res >= 0 || ev.res == EINPROGRESS),
            _ => Val::Missing,
        },
        F::FdIsServer => match (fd.map(|f| f.kind()), ev.evt_type) {
            (None, _) => Val::Missing,
            (Some(FdKind::File { .. }), _) | (Some(_), EvtType::Connect) => Val::Bool(false),
            _ => Val::Missing,
        },
        F::ContainerPrivileged => c.and_then(|c| c.privileged).map_or(Val::Missing, Val::Bool),
        F::ContainerHostNetwork => c.and_then(|c| c.host_network).map_or(Val::Missing, Val::Bool),
        F::ContainerHostPid => c.and_then(|c| c.host_pid).map_or(Val::Missing, Val::Bool),
        F::ContainerHostIpc => c.and_then(|c| c.host_ipc).map_or(Val::Missing, Val::Bool),
        F::ContainerIp => c.map_or(Val::Missing, |c| Val::non_empty(&c.ip)),
        F::K8sPodIp | F::K8smetaPodIp => c.filter(|c| c.k8s.is_some()).map_or(Val::Missing, |c| Val::non_empty(&c.ip)),
        F::ContainerType => c.map_or(Val::Missing, |c| Val::non_empty(&c.runtime)),
        F::ContainerStartTs => c.and_then(|c| c.start_ns).map_or(Val::Missing, |n| Val::Num(n as i64)),
        F::ContainerDuration => match c.and_then(|c| c.start_ns) {
            Some(s) => Val::Num(ev.time_ns.saturating_sub(s) as i64),
            None => Val::Missing,
        },
        F::ContainerImageDigest => c.map_or(Val::Missing, |c| Val::non_empty(&c.image_digest)),
        F::ContainerMountDest => mount_by(c, key, By::Source).map_or(Val::Missing, |m| Val::Str(&m.dest)),
        F::ContainerMountSource => mount_by(c, key, By::Dest).map_or(Val::Missing, |m| Val::Str(&m.source)),
        F::ContainerMountRdwr => mount_by(c, key, By::Source).map_or(Val::Missing, |m| Val::Str(bool_str(m.rdwr))),
        F::ContainerMountMode => mount_by(c, key, By::Source).map_or(Val::Missing, |_| Val::Str("")),
        F::ContainerMountPropagation => mount_by(c, key, By::Source).map_or(Val::Missing, |m| Val::Str(&m.propagation)),
        F::ContainerMount => mount_by(c, key, By::Source).map_or(Val::Missing, |m| Val::Str(m.falco_string())),
        // Known only with the pod spec (like container.privileged): empty when it has no hostPath mount.
        F::ContainerMounts => {
            c.filter(|c| c.privileged.is_some()).map_or(Val::Missing, |c| Val::Str(c.mounts.falco_string()))
        }
        F::ContainerLabel => c.zip(key).and_then(|(c, k)| c.label(k)).map_or(Val::Missing, Val::Str),
        F::ContainerLabels => c.and_then(Container::labels_text).map_or(Val::Missing, Val::Str),
        F::ProcIsContainerHealthcheck => Val::Bool(probe_of(ev) == Some(ProbeKind::Healthcheck)),
        F::ProcIsContainerLivenessProbe => Val::Bool(probe_of(ev) == Some(ProbeKind::Liveness)),
        F::ProcIsContainerReadinessProbe => Val::Bool(probe_of(ev) == Some(ProbeKind::Readiness)),
        _ => Val::Missing,
    }
}

/// What a `container.mount.*` key that is not an index is matched against.
enum By {
    Source,
    Dest,
}

/// The hostPath mount a `container.mount.*[key]` names, as Falco reads the key:
/// a number is an index (0-based, the pod spec's order), anything else a glob
/// on the host path (`By::Source`) or, for `container.mount.source`, on the
/// mount point.
fn mount_by<'a>(c: Option<&'a Container>, key: Option<&str>, by: By) -> Option<&'a Mount> {
    let (c, key) = (c?, key?);
    if let Ok(i) = key.trim().parse::<usize>() {
        return c.mounts.get(i);
    }
    let mut mounts = c.mounts.iter().peekable();
    mounts.peek()?;
    with_glob(key, |g| {
        mounts.find(|m| {
            g.is_match(match by {
                By::Source => &m.source,
                By::Dest => &m.dest,
            })
        })
    })?
}

/// Globs by key text, compiled once per matching thread: a rule's
/// `container.mount.*[glob]` key is the same text on every event, and the
/// match path must not compile (allocate) per event. Bounded: past
/// `GLOB_CACHE` keys (more than any rule set names) the oldest is replaced.
const GLOB_CACHE: usize = 64;

thread_local! {
    static GLOBS: std::cell::RefCell<Vec<(Box<str>, Option<Glob>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `f` on the glob for `key` (`None`: not a valid glob).
fn with_glob<R>(key: &str, f: impl FnOnce(&Glob) -> R) -> Option<R> {
    GLOBS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let i = match cache.iter().position(|(k, _)| **k == *key) {
            Some(i) => i,
            None => {
                if cache.len() >= GLOB_CACHE {
                    cache.remove(0);
                }
                cache.push((key.into(), Glob::new(key, false).ok()));
                cache.len() - 1
            }
        };
        cache[i].1.as_ref().map(f)
    })
}

/// Falco's rendering of a boolean CHARBUF field.
fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// The container's init process (pid 1 of its own pid namespace, not the host's init).
fn is_container_init(p: &Process) -> bool {
    p.vpid == Some(1) && p.pid != 1
}

/// Which probe the process runs, as Falco decides it: the first of the process and
/// its ancestors whose `proc.exe` and arguments equal an exec probe's command, unless
/// a process at or above it is the container's init (a command run inside the
/// container's own process tree is not the kubelet's probe).
fn probe_of(ev: &Event) -> Option<ProbeKind> {
    let c = ev.container.as_deref()?;
    if c.probes.is_empty() {
        return None;
    }
    let chain = std::iter::once(&*ev.proc).chain(ev.ancestors.iter().map(|a| &**a));
    let mut found = None;
    for p in chain {
        if is_container_init(p) {
            return None;
        }
        if found.is_none() {
            found = c.probes.iter().find(|pr| pr.exe == p.exe && pr.args == p.args).map(|pr| pr.kind);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::fields::Field;
    use crate::runtime::event::{
        Container, Event, EvtType, Fd, HealthProbe, L4Proto, Mount, Mounts, ProbeKind, Process,
    };

    fn get(name: &str, arg: Option<&str>, e: &Event) -> String {
        let mut s = String::new();
        Field::resolve(name, arg).unwrap().render(e, &mut s);
        s
    }

    fn probe_event(chain: &[(&str, &[&str], Option<u32>)]) -> Event {
        let procs: Vec<Arc<Process>> = chain
            .iter()
            .enumerate()
            .map(|(i, (exe, args, vpid))| {
                let mut p = Process::new(exe.rsplit('/').next().unwrap(), exe, args);
                p.pid = 100 + i as u32;
                p.vpid = *vpid;
                Arc::new(p)
            })
            .collect();
        let mut e = Event::new(EvtType::Execve, 0, procs[0].clone());
        e.ancestors = procs[1..].into();
        e.container = Some(Arc::new(Container {
            id: "c".repeat(64),
            probes: vec![
                HealthProbe { kind: ProbeKind::Liveness, exe: "/bin/sh".into(), args: vec!["-c".into(), "ok".into()] },
                HealthProbe { kind: ProbeKind::Readiness, exe: "/bin/cat".into(), args: vec!["/tmp/ready".into()] },
            ],
            ..Default::default()
        }));
        e
    }

    #[test]
    fn probes_follow_falco() {
        // The probe itself, run by the runtime (parents outside the container's pid namespace).
        let e = probe_event(&[("/bin/sh", &["-c", "ok"], Some(7)), ("runc", &[], None)]);
        assert_eq!(get("proc.is_container_liveness_probe", None, &e), "true");
        assert_eq!(get("proc.is_container_readiness_probe", None, &e), "false");
        assert_eq!(get("proc.is_container_healthcheck", None, &e), "false");
        // A child of the probe inherits it.
        let e = probe_event(&[("/bin/true", &[], Some(8)), ("/bin/sh", &["-c", "ok"], Some(7)), ("runc", &[], None)]);
        assert_eq!(get("proc.is_container_liveness_probe", None, &e), "true");
        let e = probe_event(&[("/bin/cat", &["/tmp/ready"], Some(9))]);
        assert_eq!(get("proc.is_container_readiness_probe", None, &e), "true");
        // The same command inside the container's own tree (below its init) is no probe.
        let e = probe_event(&[("/bin/sh", &["-c", "ok"], Some(7)), ("/sbin/init", &[], Some(1))]);
        assert_eq!(get("proc.is_container_liveness_probe", None, &e), "false");
        // Other arguments: no probe.
        let e = probe_event(&[("/bin/sh", &["-c", "ok2"], Some(7))]);
        assert_eq!(get("proc.is_container_liveness_probe", None, &e), "false");
    }

    #[test]
    fn socket_state_and_container_facts() {
        let mut e = Event::new(EvtType::Connect, 5_000, Arc::new(Process::default()));
        e.fd = Some(Fd::inet("10.0.0.1".parse().unwrap(), 80, Some(("10.0.0.2".parse().unwrap(), 4000)), L4Proto::Tcp));
        assert_eq!(get("fd.connected", None, &e), "true");
        e.res = -115;
        assert_eq!(get("fd.connected", None, &e), "true");
        e.res = -111;
        assert_eq!(get("fd.connected", None, &e), "false");
        assert_eq!(get("fd.is_server", None, &e), "false");
        assert_eq!(get("fd.nameraw", None, &e), "10.0.0.2:4000->10.0.0.1:80");
        e.evt_type = EvtType::Openat;
        e.fd = Some(Fd::file("/etc/shadow", 0, 0).with_raw_name("../../etc/shadow"));
        assert_eq!(get("fd.nameraw", None, &e), "../../etc/shadow");
        assert_eq!(get("fd.name", None, &e), "/etc/shadow");
        assert_eq!(get("fd.connected", None, &e), "false");
        assert_eq!(get("container.privileged", None, &e), "<NA>");
        assert_eq!(get("container.host_pid", None, &e), "<NA>");
        assert_eq!(get("container.mounts", None, &e), "<NA>");
        e.container = Some(Arc::new(Container::default()));
        assert_eq!(
            (get("container.host_network", None, &e), get("container.ip", None, &e)),
            ("<NA>".into(), "<NA>".into())
        );
        e.container = Some(Arc::new(Container {
            privileged: Some(true),
            host_network: Some(true),
            host_pid: Some(true),
            host_ipc: Some(false),
            ip: "10.244.0.7".into(),
            runtime: "cri-o".into(),
            start_ns: Some(1_000),
            image_digest: "sha256:ab".into(),
            mounts: Mounts::from(vec![
                Mount::from_spec("/proc", "/host/proc", false, None),
                Mount::from_spec("/var/run/docker.sock", "/d.sock", true, Some("HostToContainer")),
            ]),
            ..Default::default()
        }));
        assert_eq!(get("container.privileged", None, &e), "true");
        assert_eq!(get("container.host_network", None, &e), "true");
        assert_eq!(get("container.host_pid", None, &e), "true");
        assert_eq!(get("container.host_ipc", None, &e), "false");
        assert_eq!(get("container.ip", None, &e), "10.244.0.7");
        assert_eq!(get("k8s.pod.ip", None, &e), "<NA>", "no pod known");
        assert_eq!(get("container.type", None, &e), "cri-o");
        assert_eq!(get("container.start_ts", None, &e), "1000");
        assert_eq!(get("container.duration", None, &e), "4000");
        assert_eq!(get("container.image.digest", None, &e), "sha256:ab");
        assert_eq!(get("container.mount.dest", Some("/proc*"), &e), "/host/proc");
        assert_eq!(get("container.mount.dest", Some("/var/run/docker.sock"), &e), "/d.sock");
        assert_eq!(get("container.mount.dest", Some("/etc"), &e), "<NA>");
        // By index (the pod spec's order) or by glob; source is looked up by mount point.
        assert_eq!(get("container.mount.dest", Some("1"), &e), "/d.sock");
        assert_eq!(get("container.mount.dest", Some("2"), &e), "<NA>");
        assert_eq!(get("container.mount.source", Some("/host/*"), &e), "/proc");
        assert_eq!(get("container.mount.source", Some("/proc"), &e), "<NA>", "a host path is not a mount point");
        assert_eq!(get("container.mount.rdwr", Some("/proc"), &e), "true");
        assert_eq!(get("container.mount.rdwr", Some("/var/run/*.sock"), &e), "false");
        assert_eq!(get("container.mount.propagation", Some("0"), &e), "private");
        assert_eq!(get("container.mount.propagation", Some("1"), &e), "rslave");
        assert_eq!(get("container.mount.mode", Some("0"), &e), "");
        assert_eq!(get("container.mount.mode", Some("9"), &e), "<NA>");
        assert_eq!(
            get("container.mount", Some("/var/run/docker.sock"), &e),
            "/var/run/docker.sock:/d.sock::false:rslave"
        );
        assert_eq!(
            get("container.mounts", None, &e),
            "/proc:/host/proc::true:private,/var/run/docker.sock:/d.sock::false:rslave"
        );
        assert_eq!(get("container.labels", None, &e), "<NA>", "no pod: no kubelet labels");
        assert_eq!(get("container.label", Some("io.kubernetes.pod.name"), &e), "<NA>");
    }

    #[test]
    fn container_labels_are_the_kubelets() {
        let pod = |name: &str| crate::runtime::event::Pod {
            ns: "prod".into(),
            name: name.into(),
            uid: "6d1a".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            ..Default::default()
        };
        let mut e = Event::new(EvtType::Openat, 0, Arc::new(Process::default()));
        e.container = Some(Arc::new(Container { name: "nginx".into(), k8s: Some(pod("web-1")), ..Default::default() }));
        assert_eq!(
            get("container.labels", None, &e),
            "io.kubernetes.container.name:nginx, io.kubernetes.pod.name:web-1, io.kubernetes.pod.namespace:prod, \
             io.kubernetes.pod.uid:6d1a"
        );
        assert_eq!(get("container.label", Some("io.kubernetes.pod.namespace"), &e), "prod");
        assert_eq!(get("container.label", Some("io.kubernetes.container.name"), &e), "nginx");
        assert_eq!(get("container.label", Some("app"), &e), "<NA>", "pod labels are k8s.pod.label's");
        // A value over 100 bytes is not reported, as the container plugin's label_max_len.
        let long = "p".repeat(101);
        e.container = Some(Arc::new(Container { name: "nginx".into(), k8s: Some(pod(&long)), ..Default::default() }));
        assert_eq!(get("container.label", Some("io.kubernetes.pod.name"), &e), "<NA>");
        assert!(!get("container.labels", None, &e).contains("pod.name:"), "{}", get("container.labels", None, &e));
    }
}
