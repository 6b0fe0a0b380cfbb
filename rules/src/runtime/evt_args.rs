//! `evt.args` (and `evt.info`): the event's parameters as one string, as Falco's outputs
//! print them (`socket_info=%evt.args` in Falco's packet-socket rule): `name=value` pairs
//! in the order of Falco's event table, a number that has a name as `17(AF_PACKET)`, a
//! failed result as `-2(ENOENT)`, an fd with what it refers to, `3(<f>/etc/shadow)`.
//! Parameters Lanner does not capture are left out rather than printed empty. Nothing is
//! computed until a rule reads or prints the field (`Val::EvtArgs`).
use std::fmt::Write as _;

use super::event::Event;
use super::evt_type::EvtType;
use crate::fields::{errno, falco, flags::format_open_flags};

/// Append the parameters of `ev` (nothing when none is known).
pub(crate) fn render(ev: &Event, out: &mut String) {
    let Some(e) = falco::falco_event(ev.evt_type.as_str()) else { return };
    let start = out.len();
    for p in e.params {
        let mark = out.len();
        if mark > start {
            out.push(' ');
        }
        out.push_str(p);
        out.push('=');
        if !param(ev, p, out) {
            out.truncate(mark);
        }
    }
}

/// Append parameter `p`'s value; false when the event does not carry it.
fn param(ev: &Event, p: &str, out: &mut String) -> bool {
    if p == "res" {
        res(ev.res, out);
        return true;
    }
    if let Some(a) = ev.arg(p) {
        match a.raw {
            // A number with a name of its own (flags, an enum, a user).
            Some(n) if a.text.parse::<i64>().ok() != Some(n) => {
                let _ = write!(out, "{n}({})", a.text);
            }
            _ => out.push_str(&a.text),
        }
        return true;
    }
    captured(ev, p, out)
}

/// `-2(ENOENT)` for a failure, the number otherwise.
fn res(r: i64, out: &mut String) {
    if r < 0 {
        let _ = write!(out, "{r}({})", errno::res_name(r));
    } else {
        let _ = write!(out, "{r}");
    }
}

/// The parameters of the event types whose facts live outside `Event::args`: an open's
/// file, a connect's tuple, an exec's image, a setuid's target.
fn captured(ev: &Event, p: &str, out: &mut String) -> bool {
    let proc = &ev.proc;
    match (ev.evt_type, p) {
        (EvtType::Openat | EvtType::Creat, "fd") if ev.res >= 0 => {
            let name = ev.fd.as_ref().map_or("", |f| f.name());
            let _ = write!(out, "{}(<f>{name})", ev.res);
        }
        (EvtType::Openat | EvtType::Creat, "fd") => res(ev.res, out),
        (EvtType::Openat, "name") | (EvtType::Connect, "tuple") => match ev.fd.as_ref().map(|f| f.name()) {
            Some(n) if !n.is_empty() => out.push_str(n),
            _ => return false,
        },
        (EvtType::Openat, "flags") => match ev.fd.as_ref().and_then(|f| f.flags()) {
            Some(fl) => {
                let _ = write!(out, "{fl}(");
                format_open_flags(fl, out);
                out.push(')');
            }
            None => return false,
        },
        // Falco prints the mode in octal (`%#o`) and the device in upper-case hex.
        (EvtType::Openat | EvtType::Creat, "mode") => match ev.fd.as_ref().and_then(|f| f.mode()) {
            Some(0) => out.push('0'),
            Some(m) => {
                let _ = write!(out, "0{m:o}");
            }
            None => return false,
        },
        (EvtType::Openat | EvtType::Creat, "dev") => match ev.fd.as_ref().and_then(|f| f.facts()) {
            Some(x) => {
                let _ = write!(out, "{:X}", x.dev);
            }
            None => return false,
        },
        (EvtType::Openat | EvtType::Creat, "ino") => match ev.fd.as_ref().and_then(|f| f.facts()) {
            Some(x) => {
                let _ = write!(out, "{}", x.ino);
            }
            None => return false,
        },
        (EvtType::Connect, "fd") => match ev.fd.as_ref().and_then(|f| f.num()) {
            Some(n) => {
                let _ = write!(out, "{n}");
            }
            None => return false,
        },
        (EvtType::Execve | EvtType::Execveat, "exe") => out.push_str(&proc.exe),
        (EvtType::Execve | EvtType::Execveat, "args") => out.push_str(proc.args()),
        (EvtType::Execve | EvtType::Execveat | EvtType::Clone, "tid") => {
            let _ = write!(out, "{}", proc.tid);
        }
        (EvtType::Execve | EvtType::Execveat | EvtType::Clone, "pid") => {
            let _ = write!(out, "{}", proc.pid);
        }
        (EvtType::Execve | EvtType::Execveat | EvtType::Clone, "ptid") => {
            let _ = write!(out, "{}", proc.ppid);
        }
        (EvtType::Execve | EvtType::Execveat, "cwd") => match proc.cwd.as_deref() {
            Some(c) if !c.is_empty() => out.push_str(c),
            _ => return false,
        },
        (EvtType::Setuid, "uid") => match (ev.setuid_target, ev.setuid_target_name.as_deref()) {
            (Some(u), Some(n)) => {
                let _ = write!(out, "{u}({n})");
            }
            (Some(u), None) => {
                let _ = write!(out, "{u}");
            }
            _ => return false,
        },
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::event::{EvtArg, Process};
    use crate::Fd;

    fn text(ev: &Event) -> String {
        let mut s = String::new();
        render(ev, &mut s);
        s
    }

    fn ev(t: EvtType, res: i64) -> Event {
        let mut e = Event::new(t, 1, Arc::new(Process::new("x", "/usr/bin/x", &["-a", "b"])));
        e.res = res;
        e
    }

    #[test]
    fn named_numbers_show_both_and_uncaptured_parameters_are_left_out() {
        let mut e = ev(EvtType::Socket, 3);
        e.args = vec![EvtArg::named("domain", 17, "AF_PACKET"), EvtArg::num("type", 3), EvtArg::num("proto", 768)];
        // Falco's socket: fd, domain, type, proto, flags; Lanner has no fd argument here.
        assert_eq!(text(&e), "domain=17(AF_PACKET) type=3 proto=768");
        let mut u = ev(EvtType::Unlinkat, -2);
        u.args = vec![EvtArg::text("name", "/usr/bin/x"), EvtArg::named("flags", 0, "0")];
        assert_eq!(text(&u), "res=-2(ENOENT) name=/usr/bin/x flags=0");
    }

    #[test]
    fn opens_execs_and_setuids_read_their_own_facts() {
        let mut o = ev(EvtType::Openat, 3);
        o.fd = Some(Fd::file("/etc/shadow", 0o2000000, 0));
        assert_eq!(text(&o), "fd=3(<f>/etc/shadow) name=/etc/shadow flags=524288(O_RDONLY|O_CLOEXEC) mode=0");
        let mut failed = ev(EvtType::Openat, -13);
        failed.fd = Some(Fd::file("/etc/shadow", 1, 0));
        assert_eq!(text(&failed), "fd=-13(EACCES) name=/etc/shadow flags=1(O_WRONLY) mode=0");
        // A created file: its mode in octal; the device (hex) and inode where the kernel read them.
        let facts = crate::fields::fd::FileFacts { dev: 0xfd01, ino: 4242, ..Default::default() };
        let mut c = ev(EvtType::Openat, 4);
        c.fd = Some(Fd::file("/tmp/x", 0o101, 0o644).with_facts(facts));
        assert_eq!(text(&c), "fd=4(<f>/tmp/x) name=/tmp/x flags=65(O_WRONLY|O_CREAT) mode=0644 dev=FD01 ino=4242");
        let x = ev(EvtType::Execve, 0);
        assert_eq!(text(&x), "res=0 exe=/usr/bin/x args=-a b tid=0 pid=0 ptid=0");
        let mut s = ev(EvtType::Setuid, 0);
        (s.setuid_target, s.setuid_target_name) = (Some(0), Some("root".into()));
        assert_eq!(text(&s), "res=0 uid=0(root)");
    }
}
