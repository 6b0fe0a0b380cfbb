//! Extraction of the process fields read at exec from the kernel (executable
//! file facts, capability sets, session and pid-namespace ids, start times,
//! environment) and of the user/group names the agent resolves.

use crate::fields::{FieldId, Val};
use crate::runtime::event::{Event, Leader, Process};

fn s(v: &Option<String>) -> Val<'_> {
    v.as_deref().map_or(Val::Missing, |x| if x.is_empty() { Val::Missing } else { Val::Str(x) })
}

fn num<T: Into<i64>>(v: Option<T>) -> Val<'static> {
    v.map_or(Val::Missing, |n| Val::Num(n.into()))
}

fn boolean(v: Option<bool>) -> Val<'static> {
    v.map_or(Val::Missing, Val::Bool)
}

fn leader<'a>(l: &'a Option<std::sync::Arc<Leader>>, f: impl Fn(&'a Leader) -> &'a str) -> Val<'a> {
    match l.as_deref().map(f) {
        Some(x) if !x.is_empty() => Val::Str(x),
        _ => Val::Missing,
    }
}

/// Capability sets are shown even when empty (Falco prints an empty string).
fn caps(v: &Option<std::sync::Arc<str>>) -> Val<'_> {
    v.as_deref().map_or(Val::Missing, Val::Str)
}

fn ns(v: Option<u64>) -> Val<'static> {
    v.map_or(Val::Missing, |n| Val::Num(n as i64))
}

fn since(now: u64, start: Option<u64>) -> Val<'static> {
    start.map_or(Val::Missing, |s| Val::Num(now.saturating_sub(s) as i64))
}

/// `proc.aenv`: `[N]` the Nth ancestor's whole environment (`[0]` or no key: the
/// process's own), `[NAME]` the variable in the nearest ancestor, parent first,
/// that has it non-empty (as libsinsp, at most 20 levels up).
fn aenv<'a>(key: Option<&str>, ev: &'a Event) -> Val<'a> {
    let whole = |q: &'a Process| if q.env.is_empty() { Val::Missing } else { Val::Str(q.env()) };
    match key.map(|k| (k, k.parse::<usize>())) {
        None | Some((_, Ok(0))) => whole(&ev.proc),
        Some((_, Ok(n))) => ev.ancestors.get(n - 1).map_or(Val::Missing, |a| whole(a)),
        Some((name, Err(_))) => ev
            .ancestors
            .iter()
            .take(20)
            .find_map(|a| a.env_var(name).filter(|v| !v.is_empty()))
            .map_or(Val::Missing, Val::Str),
    }
}

/// The value of a process field of this module for `ev` (`key`: `proc.env[NAME]`).
pub(crate) fn extract<'a>(id: FieldId, key: Option<&str>, ev: &'a Event) -> Val<'a> {
    use FieldId as F;
    let p: &'a Process = &ev.proc;
    match id {
        F::ProcExeIno => ns(p.exe_ino),
        F::ProcExeInoCtime => ns(p.exe_ctime_ns),
        F::ProcExeInoMtime => ns(p.exe_mtime_ns),
        F::ProcExeInoCtimeDurationProcStart => match (p.start_ns, p.exe_ctime_ns) {
            (Some(start), Some(ctime)) => Val::Num(start as i64 - ctime as i64),
            _ => Val::Missing,
        },
        F::ProcIsExeFromMemfd => boolean(p.exe_from_memfd),
        F::ProcIsExeUpperLayer => boolean(p.exe_upper_layer),
        F::ProcIsExeLowerLayer => boolean(p.exe_lower_layer),
        F::ProcIsExeWritable => boolean(p.exe_writable),
        F::ProcAenv => aenv(key, ev),
        F::ProcCmdnargs => Val::Num(p.args.len() as i64),
        F::ProcCmdlenargs => Val::Num(p.args.iter().map(|a| a.len() as i64).sum()),
        F::ProcExeline => Val::Joined(&p.exe, ' ', p.args()),
        F::ProcLoginshellid => {
            let shell = |q: &&'a Process| q.name.len() >= 2 && q.name.ends_with("sh");
            let eldest = ev.ancestors.iter().rev().map(|a| &**a).find(shell);
            eldest.or(Some(p).filter(shell)).map_or(Val::Missing, |q| Val::Num(i64::from(q.pid)))
        }
        F::ThreadIsmain => Val::Bool(p.tid == p.pid),
        F::ThreadNametid => Val::NameNum(&p.name, i64::from(p.tid)),
        F::ProcEnv => match key {
            Some(k) => p.env_var(k).map_or(Val::Missing, Val::Str),
            None if p.env.is_empty() => Val::Missing,
            None => Val::Str(p.env()),
        },
        F::ProcSid => num(p.sid),
        F::ProcSname => leader(&p.session_leader, |l| &l.name),
        F::ProcSidExe => leader(&p.session_leader, |l| &l.exe),
        F::ProcSidExepath => leader(&p.session_leader, |l| &l.exepath),
        F::ProcPgid => num(p.pgid),
        F::ProcIsPgidLeader => p.pgid.map_or(Val::Missing, |g| Val::Bool(g == p.pid)),
        F::ProcVpgidName | F::ProcPgidName => leader(&p.group_leader, |l| &l.name),
        F::ProcVpgidExe | F::ProcPgidExe => leader(&p.group_leader, |l| &l.exe),
        F::ProcVpgidExepath | F::ProcPgidExepath => leader(&p.group_leader, |l| &l.exepath),
        F::ProcPvpid => num(ev.parent().and_then(|q| q.vpid)),
        F::ProcIsSidLeader => p.sid.map_or(Val::Missing, |sid| Val::Bool(sid == p.pid)),
        F::ProcVpid => num(p.vpid),
        F::ThreadVtid => num(p.vtid),
        F::ProcVpgid => num(p.vpgid),
        F::ProcFdlimit => num(p.fdlimit),
        F::ProcIsVpgidLeader => match (p.vpid, p.vpgid) {
            (Some(a), Some(b)) => Val::Bool(a == b),
            _ => Val::Missing,
        },
        F::ProcPidTs => ns(p.start_ns),
        F::ProcDuration => since(ev.time_ns, p.start_ns),
        F::ProcPpidTs => ns(ev.parent().and_then(|q| q.start_ns)),
        F::ProcPpidDuration => since(ev.time_ns, ev.parent().and_then(|q| q.start_ns)),
        F::ThreadCapEffective => caps(&p.cap_effective),
        F::ThreadCapPermitted => caps(&p.cap_permitted),
        F::ThreadCapInheritable => caps(&p.cap_inheritable),
        F::UserLoginname => s(&p.loginname),
        F::UserHomedir => s(&p.homedir),
        F::UserShell => s(&p.shell),
        F::GroupName => s(&p.group_name),
        _ => Val::Missing,
    }
}

#[cfg(test)]
mod tests {
    use crate::fields::Field;
    use crate::runtime::event::{Event, EvtType, Process};
    use std::sync::Arc;

    fn get(name: &str, arg: Option<&str>, e: &Event) -> String {
        let mut out = String::new();
        Field::resolve(name, arg).unwrap().render(e, &mut out);
        out
    }

    #[test]
    fn exec_facts_render() {
        let mut p = Process::new("x", "/memfd:x (deleted)", &[]);
        p.pid = 40;
        p.sid = Some(40);
        p.vpid = Some(1);
        p.vpgid = Some(1);
        p.pgid = Some(40);
        p.fdlimit = Some(1024);
        p.session_leader = Some(Arc::new(crate::runtime::event::Leader {
            name: "sshd".into(),
            exe: "sshd:".into(),
            exepath: "/usr/sbin/sshd".into(),
        }));
        p.start_ns = Some(1_000);
        p.exe_ctime_ns = Some(400);
        p.exe_from_memfd = Some(true);
        p.cap_effective = Some("".into());
        p.cap_permitted = Some("CAP_CHOWN CAP_KILL".into());
        p.env = crate::runtime::env::Env::new(["A=1", "PATH=/bin:/usr/bin", "A2=x=y"]);
        let mut parent = Process::new("sh", "/bin/sh", &[]);
        parent.start_ns = Some(100);
        let mut e = Event::new(EvtType::Execve, 5_000, Arc::new(p));
        e.ancestors = vec![Arc::new(parent)].into();
        assert_eq!(get("proc.fdlimit", None, &e), "1024");
        assert_eq!(get("proc.is_exe_from_memfd", None, &e), "true");
        assert_eq!(get("proc.is_exe_upper_layer", None, &e), "<NA>");
        assert_eq!(get("proc.is_sid_leader", None, &e), "true");
        assert_eq!(get("proc.is_vpgid_leader", None, &e), "true");
        assert_eq!(get("proc.duration", None, &e), "4000");
        assert_eq!(get("proc.ppid.duration", None, &e), "4900");
        assert_eq!(get("proc.exe_ino.ctime_duration_proc_start", None, &e), "600");
        assert_eq!(get("thread.cap_effective", None, &e), "");
        assert_eq!(get("thread.cap_permitted", None, &e), "CAP_CHOWN CAP_KILL");
        assert_eq!(get("thread.cap_inheritable", None, &e), "<NA>");
        assert_eq!(get("proc.env", Some("A"), &e), "1");
        assert_eq!(get("proc.env", Some("A2"), &e), "x=y");
        assert_eq!(get("proc.env", Some("PAT"), &e), "<NA>");
        assert_eq!(get("proc.env", None, &e), "A=1 PATH=/bin:/usr/bin A2=x=y");
        assert_eq!(get("user.shell", None, &e), "<NA>");
        assert_eq!(get("proc.sname", None, &e), "sshd");
        assert_eq!(get("proc.sid.exepath", None, &e), "/usr/sbin/sshd");
        assert_eq!(get("proc.vpgid.name", None, &e), "<NA>");
        assert_eq!(get("proc.is_pgid_leader", None, &e), "true");
    }

    #[test]
    fn lineage_and_command_line_fields() {
        let mut p = Process::new("true", "/usr/bin/true", &["a", "bcd"]);
        (p.pid, p.tid) = (50, 51);
        p.exe = "true".into();
        p.env = crate::runtime::env::Env::new(["V=own"]);
        let mut sh = Process::new("sh", "/bin/sh", &["-c", "true a bcd"]);
        sh.pid = 40;
        sh.env = crate::runtime::env::Env::new(["V=", "W=sh"]);
        let mut bash = Process::new("bash", "/bin/bash", &[]);
        bash.pid = 30;
        bash.env = crate::runtime::env::Env::new(["V=bash", "W=bash"]);
        let mut init = Process::new("systemd", "/usr/lib/systemd/systemd", &["--user"]);
        init.pid = 1;
        let mut e = Event::new(EvtType::Execve, 5_000, Arc::new(p));
        e.ancestors = vec![Arc::new(sh), Arc::new(bash), Arc::new(init)].into();
        assert_eq!(get("proc.cmdnargs", None, &e), "2");
        assert_eq!(get("proc.cmdlenargs", None, &e), "4");
        assert_eq!(get("proc.exeline", None, &e), "true a bcd");
        assert_eq!(get("thread.ismain", None, &e), "false");
        assert_eq!(get("thread.nametid", None, &e), "true51");
        assert_eq!(get("proc.loginshellid", None, &e), "30", "bash is the eldest shell");
        assert_eq!(get("proc.aargs", Some("0"), &e), "a bcd");
        assert_eq!(get("proc.aargs", Some("1"), &e), "-c true a bcd");
        assert_eq!(get("proc.aargs", Some("4"), &e), "<NA>");
        assert_eq!(get("proc.aargs", None, &e), "-c true a bcd --user", "every ancestor's, empty ones left out");
        // [NAME]: the nearest ancestor with a non-empty value (sh's V is empty).
        assert_eq!(get("proc.aenv", Some("V"), &e), "bash");
        assert_eq!(get("proc.aenv", Some("W"), &e), "sh");
        assert_eq!(get("proc.aenv", Some("X"), &e), "<NA>");
        assert_eq!(get("proc.aenv", None, &e), "V=own");
        assert_eq!(get("proc.aenv", Some("0"), &e), "V=own");
        assert_eq!(get("proc.aenv", Some("2"), &e), "V=bash W=bash");
        assert_eq!(get("proc.aenv", Some("3"), &e), "<NA>", "init's environment is empty");
        // No shell at all.
        let lone = Event::new(EvtType::Execve, 5_000, Arc::new(Process::new("true", "/usr/bin/true", &[])));
        assert_eq!(get("proc.loginshellid", None, &lone), "<NA>");
        assert_eq!(get("proc.aargs", None, &lone), "<NA>");
    }
}
