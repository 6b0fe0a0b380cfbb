//! Extraction of the fields that describe an event rather than its process or
//! file, as libsinsp derives them from its event table and the capture:
//! `evt.category`, `evt.type.is.<type>`, the `evt.count*` counters, the time
//! since the capture started (`evt.reltime*`) and `evt.outputtime`; and the
//! chained fd identities (`fd.containername`, `fd.containerdirectory`,
//! `fd.uid`). Kept apart from `extract.rs`, which holds the per-event hot
//! fields.

use crate::fields::{Field, FieldId, Val};
use crate::runtime::event::{Event, EvtType, FdKind};

/// The category Falco's event table gives the exit event of each captured
/// type (`driver/event_table.c`, without the `EC_SYSCALL`/`EC_TRACEPOINT`
/// bits); `None` for the I/O category (`EC_IO_OTHER`: dup, dup2, dup3), whose
/// name comes from the fd, as libsinsp's `get_category` does.
fn table_category(t: EvtType) -> Option<&'static str> {
    use EvtType as T;
    Some(match t {
        T::Execve
        | T::Execveat
        | T::Clone
        | T::Procexit
        | T::Ptrace
        | T::Unshare
        | T::Setns
        | T::Capset
        | T::Prctl
        | T::Chroot => "process",
        T::Kill => "signal",
        T::Openat
        | T::Creat
        | T::Symlink
        | T::Symlinkat
        | T::Link
        | T::Linkat
        | T::Unlink
        | T::Unlinkat
        | T::Rename
        | T::Renameat
        | T::Renameat2
        | T::Mkdir
        | T::Mkdirat
        | T::Rmdir
        | T::Chmod
        | T::Fchmod
        | T::Fchmodat
        | T::Chown
        | T::Lchown
        | T::Fchown
        | T::Fchownat
        | T::Mount
        | T::Umount2
        | T::Userfaultfd
        | T::OpenByHandleAt => "file",
        T::Connect | T::Socket | T::Bind | T::Listen | T::Accept | T::Accept4 => "net",
        T::Setuid | T::Setgid | T::Setresgid => "user",
        T::MemfdCreate => "memory",
        T::InitModule | T::FinitModule | T::DeleteModule | T::Bpf => "other",
        T::ProcessVmReadv | T::ProcessVmWritev => "ipc",
        // EC_IO_OTHER like dup; the io_uring fd is an anonymous inode: "unknown".
        T::Dup | T::Dup2 | T::Dup3 | T::IoUringSetup => return None,
    })
}

/// What an event's fd is, for the I/O category and the per-kind error counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FdClass {
    File,
    Net,
    Ipc,
    None,
}

fn fd_class(ev: &Event) -> FdClass {
    match ev.fd.as_ref().map(|f| f.kind()) {
        Some(FdKind::File { .. }) => FdClass::File,
        Some(FdKind::Inet { .. }) => FdClass::Net,
        Some(FdKind::Unix | FdKind::Pipe) => FdClass::Ipc,
        None => FdClass::None,
    }
}

/// libsinsp's error count: 1 if the syscall failed, 0 if not; missing for an
/// event without a return value (procexit).
fn error_count(ev: &Event) -> Val<'static> {
    if ev.evt_type == EvtType::Procexit {
        Val::Missing
    } else {
        Val::Num(i64::from(ev.res < 0))
    }
}

/// Which per-kind error count an event belongs to (libsinsp: by the fd's type
/// when the event has one, else by event type). Unix sockets count as `net`,
/// as libsinsp's `evt.count.error.net` does.
fn error_kind(ev: &Event) -> FieldId {
    use EvtType as T;
    let fd = ev.fd.as_ref().map(|f| f.kind());
    match (fd, ev.evt_type) {
        (_, T::MemfdCreate) => FieldId::EvtCountErrorMemory,
        (Some(FdKind::File { .. }), _) | (None, T::Openat | T::Creat) => FieldId::EvtCountErrorFile,
        (Some(FdKind::Inet { .. } | FdKind::Unix), _) | (None, T::Connect | T::Accept | T::Accept4) => {
            FieldId::EvtCountErrorNet
        }
        _ => FieldId::EvtCountErrorOther,
    }
}

/// `O_CREAT`, and the bit only `O_TMPFILE` sets (`__O_TMPFILE`; `O_TMPFILE` also
/// carries `O_DIRECTORY`).
const O_CREAT: u32 = 0o100;
const O_TMPFILE_BIT: u32 = 0o20000000;

/// libsinsp's `evt.is_open_exec`: an open that may create the file with an
/// execute bit in its mode, or a creat with one.
fn open_exec(ev: &Event) -> bool {
    const EXEC_BITS: u32 = 0o111;
    match (ev.evt_type, ev.fd.as_ref().map(|f| f.kind())) {
        (EvtType::Openat, Some(FdKind::File { flags, mode })) => {
            flags & (O_CREAT | O_TMPFILE_BIT) != 0 && mode & EXEC_BITS != 0
        }
        (EvtType::Creat, _) => ev.arg("mode").and_then(|a| a.raw).is_some_and(|m| m as u32 & EXEC_BITS != 0),
        _ => false,
    }
}

/// libsinsp's `evt.abspath` (`dst`: `.dst`): the dirfd-relative path argument of
/// the *at syscalls, which the agent already made absolute (`EvtArg::path`);
/// the opened path for the open family.
fn abspath(dst: bool, ev: &Event) -> Val<'_> {
    use EvtType as T;
    let arg = match ev.evt_type {
        T::Renameat | T::Renameat2 | T::Linkat if dst => "newpath",
        T::Renameat | T::Renameat2 | T::Linkat => "oldpath",
        T::Symlinkat => "linkpath",
        T::Unlinkat => "name",
        T::Mkdirat => "path",
        T::Fchmodat => "filename",
        T::Fchownat => "pathname",
        T::Openat => return ev.fd.as_ref().map_or(Val::Missing, |f| Val::non_empty(f.name())),
        _ => return Val::Missing,
    };
    ev.arg(arg).map_or(Val::Missing, |a| Val::non_empty(&a.text))
}

/// The value of a field of this module for `ev` (`key`: the type of `evt.type.is.<type>`).
pub(crate) fn extract<'a>(id: FieldId, key: Option<&str>, ev: &'a Event) -> Val<'a> {
    use FieldId as F;
    let get = |id: FieldId| Field { id, index: None, key: None }.extract(ev);
    match id {
        F::EvtCategory => match table_category(ev.evt_type) {
            Some(c) => Val::Str(c),
            None => Val::Str(match fd_class(ev) {
                FdClass::File => "file",
                FdClass::Net => "net",
                FdClass::Ipc => "ipc",
                FdClass::None => "unknown",
            }),
        },
        F::EvtTypeIs => {
            let is = key.and_then(EvtType::from_falco_name) == Some(ev.evt_type);
            Val::Num(i64::from(is))
        }
        F::EvtCount => Val::Num(1),
        F::EvtCountError => error_count(ev),
        F::EvtCountErrorFile | F::EvtCountErrorNet | F::EvtCountErrorMemory | F::EvtCountErrorOther => {
            if ev.evt_type != EvtType::Procexit && error_kind(ev) == id {
                error_count(ev)
            } else {
                Val::Missing
            }
        }
        F::EvtCountExit => match ev.evt_type {
            EvtType::Procexit => Val::Missing,
            _ => Val::Num(1),
        },
        F::EvtReltime | F::EvtReltimeS | F::EvtReltimeNs => match crate::runtime::host::capture_start() {
            Some(start) => {
                let rel = ev.time_ns.saturating_sub(start);
                Val::Num(match id {
                    F::EvtReltimeS => rel / 1_000_000_000,
                    F::EvtReltimeNs => rel % 1_000_000_000,
                    _ => rel,
                } as i64)
            }
            None => Val::Missing,
        },
        F::EvtOutputtime => Val::Time(ev.time_ns),
        F::EvtIsOpenExec => Val::Bool(open_exec(ev)),
        F::EvtIsOpenCreate => match (ev.evt_type, ev.fd.as_ref()) {
            (EvtType::Openat, Some(f)) => {
                let tmpfile = f.flags().is_some_and(|fl| fl & O_TMPFILE_BIT != 0) && ev.res >= 0;
                Val::Bool(tmpfile || f.facts().is_some_and(|x| x.created))
            }
            _ => Val::Missing,
        },
        F::FdIno | F::FdDev | F::FdDevMajor | F::FdDevMinor | F::FdIsUpperLayer | F::FdIsLowerLayer => {
            match ev.fd.as_ref().and_then(|f| f.facts()) {
                Some(x) => match id {
                    F::FdIno => Val::Num(x.ino as i64),
                    F::FdDev => Val::Num(x.dev as i64),
                    F::FdDevMajor => Val::Num(x.major() as i64),
                    F::FdDevMinor => Val::Num(x.minor() as i64),
                    F::FdIsUpperLayer => Val::Bool(x.upper_layer),
                    _ => Val::Bool(x.lower_layer),
                },
                None => Val::Missing,
            }
        }
        F::EvtAbspath | F::EvtAbspathSrc | F::EvtAbspathDst => abspath(id == F::EvtAbspathDst, ev),
        // Falco's event table flags (EF_READS_FROM_FD, EF_WRITES_TO_FD, EF_WAITS) of the
        // captured types' exit events: only finit_module reads from an fd.
        F::EvtIsIo | F::EvtIsIoRead => Val::Bool(ev.evt_type == EvtType::FinitModule),
        F::EvtIsIoWrite | F::EvtIsWait | F::EvtIsSyslog => Val::Bool(false),
        F::EvtIoDir => match ev.evt_type {
            EvtType::FinitModule => Val::Str("read"),
            _ => Val::Missing,
        },
        F::FdContainername | F::FdContainerdirectory => {
            let part = get(if id == F::FdContainername { F::FdName } else { F::FdDirectory });
            match (get(F::ContainerId), part) {
                (Val::Str(c), Val::Str(p)) => Val::Joined(c, ':', p),
                _ => Val::Missing,
            }
        }
        F::FdUid => match get(F::FdNum) {
            Val::Num(fd) => Val::Digits(i64::from(ev.proc.tid), fd),
            _ => Val::Missing,
        },
        _ => Val::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::fd::Fd;
    use crate::runtime::event::Process;
    use std::sync::Arc;

    fn ev(t: EvtType, res: i64, fd: Option<Fd>) -> Event {
        let mut p = Process::new("cat", "/usr/bin/cat", &[]);
        p.pid = 40;
        p.tid = 42;
        let mut e = Event::new(t, 5_000_000_123, Arc::new(p));
        e.res = res;
        e.fd = fd;
        e
    }

    fn text(name: &str, e: &Event) -> String {
        let (n, arg) = match name.split_once('[') {
            Some((n, a)) => (n, Some(a.trim_end_matches(']'))),
            None => (name, None),
        };
        let f = Field::resolve(n, arg).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut s = String::new();
        f.render(e, &mut s);
        s
    }

    #[test]
    fn category_follows_falcos_event_table_and_the_fd_for_dup() {
        assert_eq!(text("evt.category", &ev(EvtType::Execve, 0, None)), "process");
        assert_eq!(text("evt.category", &ev(EvtType::Openat, 3, Some(Fd::file("/etc/shadow", 0, 0)))), "file");
        assert_eq!(text("evt.category", &ev(EvtType::Connect, 0, None)), "net");
        assert_eq!(text("evt.category", &ev(EvtType::Setuid, 0, None)), "user");
        assert_eq!(text("evt.category", &ev(EvtType::MemfdCreate, 3, None)), "memory");
        assert_eq!(text("evt.category", &ev(EvtType::Bpf, 3, None)), "other");
        assert_eq!(text("evt.category", &ev(EvtType::Procexit, 0, None)), "process");
        assert_eq!(text("evt.category", &ev(EvtType::Dup2, 1, Some(Fd::file("/tmp/x", 0, 0)))), "file");
        assert_eq!(text("evt.category", &ev(EvtType::Dup2, 1, Some(Fd::pipe("pipe:[7]")))), "ipc");
        assert_eq!(text("evt.category", &ev(EvtType::Dup2, 1, None)), "unknown");
        // Every captured type has a category.
        for t in EvtType::ALL {
            assert_ne!(text("evt.category", &ev(t, 0, None)), "<NA>", "{t:?}");
        }
    }

    #[test]
    fn type_is_takes_the_names_evt_type_accepts() {
        let open = ev(EvtType::Openat, 3, Some(Fd::file("/etc/shadow", 0, 0)));
        assert_eq!(text("evt.type.is.openat", &open), "1");
        assert_eq!(text("evt.type.is.open", &open), "1", "open is reported as openat");
        assert_eq!(text("evt.type.is.execve", &open), "0");
        assert_eq!(text("evt.type.is.sendto", &open), "0", "a type Falco has and Lanner does not capture");
        let e = Field::resolve("evt.type.is.opne", None).unwrap_err();
        assert_eq!(e.to_string(), "unknown field 'evt.type.is.opne' (no event type 'opne')");
        assert_eq!(Field::resolve("evt.type.is.open", None).unwrap().display_name(), "evt.type.is.open");
    }

    #[test]
    fn counts_split_errors_by_what_the_event_works_on() {
        let failed_open = ev(EvtType::Openat, -13, Some(Fd::file("/etc/shadow", 0, 0)));
        let ok_connect = ev(EvtType::Connect, 0, None);
        let failed_bpf = ev(EvtType::Bpf, -1, None);
        let memfd = ev(EvtType::MemfdCreate, 3, None);
        let exit = ev(EvtType::Procexit, 0, None);
        let row = |e: &Event| {
            ["evt.count", "evt.count.error", "evt.count.error.file", "evt.count.error.net", "evt.count.error.memory"]
                .iter()
                .chain(&["evt.count.error.other", "evt.count.exit"])
                .map(|n| text(n, e))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(row(&failed_open), "1 1 1 <NA> <NA> <NA> 1");
        assert_eq!(row(&ok_connect), "1 0 <NA> 0 <NA> <NA> 1");
        assert_eq!(row(&failed_bpf), "1 1 <NA> <NA> <NA> 1 1");
        assert_eq!(row(&memfd), "1 0 <NA> <NA> 0 <NA> 1");
        assert_eq!(row(&exit), "1 <NA> <NA> <NA> <NA> <NA> <NA>");
    }

    #[test]
    fn chained_fd_identities() {
        let open = ev(EvtType::Openat, 7, Some(Fd::file("/etc/shadow", 0, 0)));
        assert_eq!(text("fd.containername", &open), "host:/etc/shadow");
        assert_eq!(text("fd.containerdirectory", &open), "host:/etc");
        assert_eq!(text("fd.uid", &open), "427");
        let exec = ev(EvtType::Execve, 0, None);
        for f in ["fd.containername", "fd.containerdirectory", "fd.uid"] {
            assert_eq!(text(f, &exec), "<NA>", "{f}");
        }
        let sock = ev(EvtType::Connect, 0, Some(Fd::unix("/run/docker.sock").with_num(4)));
        assert_eq!(text("fd.containername", &sock), "host:/run/docker.sock");
        assert_eq!(text("fd.containerdirectory", &sock), "<NA>", "not a file");
        assert_eq!(text("fd.uid", &sock), "424");
    }

    #[test]
    fn io_flags_follow_the_event_table() {
        let finit = ev(EvtType::FinitModule, 0, None);
        let open = ev(EvtType::Openat, 3, Some(Fd::file("/etc/shadow", 0, 0)));
        let row = |e: &Event| {
            ["evt.is_io", "evt.is_io_read", "evt.is_io_write", "evt.io_dir", "evt.is_wait", "evt.is_syslog"]
                .map(|n| text(n, e))
                .join(" ")
        };
        assert_eq!(row(&finit), "true true false read false false");
        assert_eq!(row(&open), "false false false <NA> false false");
    }

    #[test]
    fn abspath_takes_the_dirfd_relative_argument() {
        use crate::runtime::event::EvtArg;
        let mut e = ev(EvtType::Renameat, 0, None);
        e.args = vec![EvtArg::path("oldpath", "/d/a", "a"), EvtArg::path("newpath", "/d/b", "b")];
        let row = |e: &Event| ["evt.abspath", "evt.abspath.src", "evt.abspath.dst"].map(|n| text(n, e)).join(" ");
        assert_eq!(row(&e), "/d/a /d/a /d/b");
        e.evt_type = EvtType::Rename;
        assert_eq!(row(&e), "<NA> <NA> <NA>", "rename takes no dirfd");
        let mut m = ev(EvtType::Mkdirat, 0, None);
        m.args = vec![EvtArg::path("path", "/d/x", "x")];
        assert_eq!(row(&m), "/d/x /d/x /d/x");
        let open = ev(EvtType::Openat, 3, Some(Fd::file("/etc/shadow", 0, 0)));
        assert_eq!(row(&open), "/etc/shadow /etc/shadow /etc/shadow");
    }

    #[test]
    fn open_exec_needs_a_creating_open_with_an_execute_bit() {
        let open = |flags: u32, mode: u32| ev(EvtType::Openat, 3, Some(Fd::file("/tmp/x", flags, mode)));
        assert_eq!(text("evt.is_open_exec", &open(0o1101, 0o755)), "true", "O_CREAT|O_TRUNC|O_WRONLY, 0755");
        assert_eq!(text("evt.is_open_exec", &open(0o20200002, 0o700)), "true", "O_TMPFILE");
        assert_eq!(text("evt.is_open_exec", &open(0o1101, 0o644)), "false", "no execute bit");
        assert_eq!(text("evt.is_open_exec", &open(0o2, 0o755)), "false", "cannot create");
        assert_eq!(text("evt.is_open_exec", &open(0o200000, 0o755)), "false", "O_DIRECTORY is not O_TMPFILE");
        let mut creat = ev(EvtType::Creat, 3, None);
        creat.args = vec![crate::runtime::event::EvtArg::named("mode", 0o750, "0750")];
        assert_eq!(text("evt.is_open_exec", &creat), "true");
        assert_eq!(text("evt.is_open_exec", &ev(EvtType::Execve, 0, None)), "false");
    }

    #[test]
    fn file_facts_from_the_kernel() {
        use crate::fields::fd::FileFacts;
        let dev = FileFacts::kernel_dev((259 << 20) | 3);
        let facts = FileFacts { dev, ino: 1234, created: true, upper_layer: true, lower_layer: false };
        let open = ev(EvtType::Openat, 3, Some(Fd::file("/tmp/x", 0o101, 0o644).with_facts(facts)));
        let row = |e: &Event| {
            ["fd.ino", "fd.dev", "fd.dev.major", "fd.dev.minor", "fd.is_upper_layer", "fd.is_lower_layer"]
                .iter()
                .chain(&["evt.is_open_create"])
                .map(|n| text(n, e))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(row(&open), format!("1234 {dev} 259 3 true false true"));
        assert_eq!(dev, (259 << 8) | 3, "st_dev's encoding");
        // Not read (no rule needed it, or a failed open): missing, and no creation seen.
        let plain = ev(EvtType::Openat, 3, Some(Fd::file("/tmp/x", 0o101, 0o644)));
        assert_eq!(row(&plain), "<NA> <NA> <NA> <NA> <NA> <NA> false");
        let tmp = ev(EvtType::Openat, 3, Some(Fd::file("/tmp", 0o20200002, 0o600)));
        assert_eq!(text("evt.is_open_create", &tmp), "true", "O_TMPFILE");
        assert_eq!(text("evt.is_open_create", &ev(EvtType::Execve, 0, None)), "<NA>");
        // A large device number round-trips through glibc's encoding.
        let big = FileFacts { dev: FileFacts::kernel_dev((4095 << 20) | 70000), ..FileFacts::default() };
        assert_eq!((big.major(), big.minor()), (4095, 70000));
    }

    #[test]
    fn outputtime_prints_as_evt_time() {
        let e = ev(EvtType::Execve, 0, None);
        assert_eq!(text("evt.outputtime", &e), text("evt.time", &e));
    }
}
