//! In-kernel pre-filter: tells the probes which events the loaded rules can
//! never match, so they are dropped before the stash and the ring buffer.
//!
//! The filter is an over-approximation of the rules' needs (a kept event may
//! still match nothing; a dropped one can match no rule), derived by
//! `lanner_rules::RuleSet::open_needs` for opens: event kinds no rule reads,
//! failed opens when no rule looks at them, and absolute paths outside every
//! rule's path prefixes and suffixes. `lanner_rules::OpenNeeds::passes` is the
//! same decision in userspace, and the fixtures and the e2e equivalence test
//! check that no alerting event is dropped. It is rewritten on every rule
//! reload: first the filter is opened (pass everything), then the tries are
//! replaced, then the new filter is switched on, so no event a new rule needs
//! is lost during the swap. `--no-prefilter` keeps it open.
use aya::maps::{lpm_trie::Key, Array, LpmTrie, MapData, MapError};
use lanner_common::{
    config::{EXEC_SKIP_ENV, EXEC_SKIP_NAMES, PREFIX_KEY_LEN},
    sys, EventKind, FilterConfig,
};
use lanner_rules::{ConnectNeeds, DupNeeds, KillNeeds, OpenNeeds, SocketNeeds, UnshareNeeds};

// The userspace model (`OpenNeeds::passes`) and the probes must agree on these.
const _: () = assert!(lanner_rules::kfilter::KEY_LEN == PREFIX_KEY_LEN);
const _: () = assert!(lanner_rules::kfilter::WRITE_FLAGS == lanner_common::pathscan::WRITE_FLAGS);
const _: () = assert!(lanner_rules::kfilter::TRUNCATED_AT == lanner_common::PATH_LEN - 1);

/// What the rules need from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFilter {
    pub open: bool,
    pub connect: bool,
    pub setuid: bool,
    /// Bit `lanner_common::sys::*` set: some rule needs that syscall's event type.
    pub syscalls: u64,
    pub opens: OpenNeeds,
    pub connects: ConnectNeeds,
    pub dups: DupNeeds,
    pub sockets: SocketNeeds,
    pub unshares: UnshareNeeds,
    pub kills: KillNeeds,
    /// `EXEC_SKIP_*` bits: parts of the exec record no rule reads.
    pub exec_skip: u32,
    /// A rule reads what the kernel learns about an opened file (`fd.ino`,
    /// `fd.dev*`, `evt.is_open_create`, `fd.is_*_layer`, `evt.args`): read it at open.
    pub open_file_facts: bool,
}

/// The fields read from an opened file's facts (`OpenEvent::facts`, `dev`, `ino`).
const OPEN_FACT_FIELDS: [lanner_rules::fields::FieldId; 8] = {
    use lanner_rules::fields::FieldId as F;
    // evt.args (and evt.info) prints an open's dev and ino.
    [
        F::FdIno,
        F::FdDev,
        F::FdDevMajor,
        F::FdDevMinor,
        F::EvtIsOpenCreate,
        F::FdIsUpperLayer,
        F::FdIsLowerLayer,
        F::EvtArgs,
    ]
};

/// The fields read from the exec record's environment block (`EXEC_SKIP_ENV`).
const ENV_FIELDS: [lanner_rules::fields::FieldId; 2] =
    [lanner_rules::fields::FieldId::ProcEnv, lanner_rules::fields::FieldId::ProcAenv];

/// Every syscall id of the file and sys records.
const ALL_SYSCALLS: u64 = ((1u64 << (sys::MAX + 1)) - 1) & !1;

/// The rule-engine type of a file/sys syscall id.
pub fn syscall_type(id: u16) -> Option<lanner_rules::EvtType> {
    sys::name(id).and_then(lanner_rules::EvtType::from_falco_name)
}

impl KernelFilter {
    /// What a rule set needs.
    pub fn for_rules(rules: &lanner_rules::RuleSet) -> Self {
        use lanner_rules::EvtType;
        Self {
            open: rules.rules_for_type(EvtType::Openat) > 0,
            connect: rules.rules_for_type(EvtType::Connect) > 0,
            setuid: rules.rules_for_type(EvtType::Setuid) > 0,
            syscalls: (1..=sys::MAX)
                .filter(|id| syscall_type(*id).is_some_and(|t| rules.rules_for_type(t) > 0))
                .fold(0, |m, id| m | 1 << id),
            opens: rules.open_needs(),
            connects: rules.connect_needs(),
            dups: rules.dup_needs(),
            sockets: rules.socket_needs(),
            unshares: rules.unshare_needs(),
            kills: rules.kill_needs(),
            exec_skip: exec_skip_for(rules) | exec_skip_env(),
            open_file_facts: OPEN_FACT_FIELDS.iter().any(|f| rules.uses_field(*f)),
        }
    }

    pub fn pass_all() -> Self {
        Self {
            open: true,
            connect: true,
            setuid: true,
            syscalls: ALL_SYSCALLS,
            opens: OpenNeeds::pass_all(),
            connects: ConnectNeeds::pass_all(),
            dups: DupNeeds::pass_all(),
            sockets: SocketNeeds::pass_all(),
            unshares: UnshareNeeds::pass_all(),
            kills: KillNeeds::pass_all(),
            exec_skip: exec_skip_env(),
            open_file_facts: true,
        }
    }

    pub fn to_config(&self) -> FilterConfig {
        let mut off = 0u32;
        for (on, kind) in
            [(self.open, EventKind::Open), (self.connect, EventKind::Connect), (self.setuid, EventKind::Setuid)]
        {
            if !on {
                off |= 1 << (kind as u32);
            }
        }
        FilterConfig {
            kinds_off: off,
            drop_failed_opens: u32::from(!self.opens.failed),
            open_prefix_filter: u32::from(self.opens.paths.is_some()),
            open_writes_always: u32::from(self.opens.writes_any_path),
            drop_failed_connects: u32::from(!self.connects.failed),
            drop_loopback_connects: u32::from(!self.connects.loopback),
            drop_unix_connects: u32::from(!self.connects.unix),
            exec_skip: self.exec_skip,
            sys_off: ALL_SYSCALLS & !self.syscalls,
            dup_res_keep: self.dups.results.unwrap_or(0),
            dup_res_filter: u32::from(self.dups.results.is_some()),
            socket_filter: u32::from(self.sockets.domains.is_some()),
            socket_domain_keep: self.sockets.domains.unwrap_or(0),
            unshare_filter: u32::from(self.unshares.any_of.is_some()),
            open_file_facts: u32::from(self.open_file_facts),
            unshare_flags_any: self.unshares.any_of.unwrap_or(0),
            kill_sig_keep: self.kills.signals.unwrap_or(0),
            kill_filter: u32::from(self.kills.signals.is_some()),
            _pad1: 0,
        }
    }

    /// One line for the log: what is filtered.
    pub fn describe(&self) -> String {
        let paths = match &self.opens.paths {
            Some(p) => format!("{} prefixes + {} suffixes", p.prefixes.len(), p.suffixes.len()),
            None => "any".into(),
        };
        let w = &self.opens.write_paths;
        let syscalls: Vec<&str> =
            (1..=sys::MAX).filter(|id| self.syscalls & (1 << id) != 0).filter_map(sys::name).collect();
        format!(
            "open={} connect={} setuid={} failed_opens={} open_paths={paths} write_paths={} prefixes + {} suffixes \
             writes_any_path={} connects(failed={} loopback={} unix={}) dup_results={} socket_domains={} unshare_flags={} kill_signals={} syscalls=[{}] \
             exec_skip={} open_file_facts={}",
            self.open,
            self.connect,
            self.setuid,
            self.opens.failed,
            w.prefixes.len(),
            w.suffixes.len(),
            self.opens.writes_any_path,
            self.connects.failed,
            self.connects.loopback,
            self.connects.unix,
            match self.dups.results {
                None => "any".to_string(),
                Some(m) => format!("{:?}", mask_bits(m).collect::<Vec<_>>()),
            },
            match self.sockets.domains {
                None => "any".to_string(),
                Some(m) => format!("{:?}", mask_bits(m).map(crate::evtargs::socket_domain).collect::<Vec<_>>()),
            },
            match self.unshares.any_of {
                None => "any".to_string(),
                Some(0) => "none".to_string(),
                Some(m) => lanner_rules::fields::argflags::flag_names(m, lanner_rules::fields::argflags::CLONE_FLAGS),
            },
            match self.kills.signals {
                None => "any".to_string(),
                Some(m) => format!(
                    "{:?}",
                    mask_bits(m)
                        .map(|s| lanner_rules::kfilter::signal_name(s as i64).map_or_else(|| s.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                ),
            },
            syscalls.join(","),
            exec_skip_names(self.exec_skip),
            self.open_file_facts
        )
    }
}

/// The values 0..63 whose bit is set in a kernel keep-mask (dup results, socket families).
fn mask_bits(m: u64) -> impl Iterator<Item = u64> {
    (0..64u64).filter(move |b| m & (1u64 << b) != 0)
}

/// The exec record's parts no rule of `rules` reads: the environment unless a
/// rule uses one of [`ENV_FIELDS`] (`prefilter_reads` checks that the list
/// names every field whose value comes from it).
fn exec_skip_for(rules: &lanner_rules::RuleSet) -> u32 {
    if ENV_FIELDS.iter().any(|f| rules.uses_field(*f)) {
        0
    } else {
        EXEC_SKIP_ENV
    }
}

/// Diagnostic: exec record parts to leave out (comma-separated `EXEC_SKIP_NAMES`),
/// how `cargo xtask bench` measures what each part of `sched_exec` costs. A
/// rule that reads a skipped part sees it missing. Not for production.
pub const EXEC_SKIP_VAR: &str = "LANNER_EXEC_SKIP";

/// The bits `LANNER_EXEC_SKIP` names; an unknown name is ignored with a warning.
pub fn exec_skip_env() -> u32 {
    let Ok(v) = std::env::var(EXEC_SKIP_VAR) else { return 0 };
    let (bits, unknown) = parse_exec_skip(&v);
    for u in unknown {
        tracing::warn!(var = EXEC_SKIP_VAR, unknown = %u, "unknown exec record part ignored");
    }
    bits
}

/// `env,cwd` → bits, and the names that are not exec record parts.
fn parse_exec_skip(v: &str) -> (u32, Vec<String>) {
    let mut unknown = Vec::new();
    let bits = v.split(',').map(str::trim).filter(|p| !p.is_empty()).fold(0, |m, p| {
        match EXEC_SKIP_NAMES.iter().find(|(n, _)| *n == p) {
            Some((_, b)) => m | b,
            None => {
                unknown.push(p.to_owned());
                m
            }
        }
    });
    (bits, unknown)
}

/// The names of the exec record parts in `bits`.
fn exec_skip_names(bits: u32) -> String {
    let v: Vec<&str> = EXEC_SKIP_NAMES.iter().filter(|(_, b)| bits & b != 0).map(|(n, _)| *n).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// LPM key for a path prefix: its first `PREFIX_KEY_LEN` bytes.
pub fn prefix_key(prefix: &str) -> Key<[u8; PREFIX_KEY_LEN]> {
    let b = prefix.as_bytes();
    let n = b.len().min(PREFIX_KEY_LEN);
    let mut data = [0u8; PREFIX_KEY_LEN];
    data[..n].copy_from_slice(&b[..n]);
    Key::new((n * 8) as u32, data)
}

/// LPM key for a path suffix: its last `PREFIX_KEY_LEN` bytes, reversed (the
/// kernel reverses the path's tail the same way).
pub fn suffix_key(suffix: &str) -> Key<[u8; PREFIX_KEY_LEN]> {
    let b = suffix.as_bytes();
    let n = b.len().min(PREFIX_KEY_LEN);
    let mut data = [0u8; PREFIX_KEY_LEN];
    for (i, c) in b.iter().rev().take(n).enumerate() {
        data[i] = *c;
    }
    Key::new((n * 8) as u32, data)
}

type Trie = LpmTrie<MapData, [u8; PREFIX_KEY_LEN], u8>;

/// The gate in front of the four tries: every prefix and every suffix they hold.
pub fn path_gate(
    open: &lanner_rules::PathSet,
    write: &lanner_rules::PathSet,
) -> Box<lanner_common::pathscan::PathGate> {
    lanner_common::pathscan::PathGate::build(&lanner_common::pathscan::GatePatterns {
        prefixes: &open.prefixes,
        suffixes: &open.suffixes,
        write_prefixes: &write.prefixes,
        write_suffixes: &write.suffixes,
    })
}

/// The maps, taken out of the loaded object.
pub struct Prefilter {
    filter: Array<MapData, FilterConfig>,
    prefixes: Trie,
    suffixes: Trie,
    write_prefixes: Trie,
    write_suffixes: Trie,
    gate: Array<MapData, lanner_common::pathscan::PathGate>,
    current: Option<KernelFilter>,
}

fn take(ebpf: &mut aya::Ebpf, name: &str) -> Result<aya::maps::Map, MapError> {
    ebpf.take_map(name).ok_or(MapError::InvalidName { name: name.into() })
}

fn refill(trie: &mut Trie, keys: impl Iterator<Item = Key<[u8; PREFIX_KEY_LEN]>>) -> Result<(), MapError> {
    let old: Vec<_> = trie.keys().filter_map(Result::ok).collect();
    for k in old {
        let _ = trie.remove(&k);
    }
    for k in keys {
        trie.insert(&k, 1, 0)?;
    }
    Ok(())
}

impl Prefilter {
    pub fn new(ebpf: &mut aya::Ebpf) -> Result<Self, MapError> {
        let filter = Array::try_from(take(ebpf, "FILTER")?)?;
        let prefixes = LpmTrie::try_from(take(ebpf, "OPEN_PREFIXES")?)?;
        let suffixes = LpmTrie::try_from(take(ebpf, "OPEN_SUFFIXES")?)?;
        let write_prefixes = LpmTrie::try_from(take(ebpf, "WRITE_PREFIXES")?)?;
        let write_suffixes = LpmTrie::try_from(take(ebpf, "WRITE_SUFFIXES")?)?;
        let gate = Array::try_from(take(ebpf, "PATH_GATE")?)?;
        Ok(Self { filter, prefixes, suffixes, write_prefixes, write_suffixes, gate, current: None })
    }

    /// Install `f` without a window in which a needed event could be dropped.
    pub fn apply(&mut self, f: &KernelFilter) -> Result<(), MapError> {
        if self.current.as_ref() == Some(f) {
            return Ok(());
        }
        self.filter.set(0, FilterConfig::PASS_ALL, 0)?;
        let paths = f.opens.paths.clone().unwrap_or_default();
        refill(&mut self.prefixes, paths.prefixes.iter().map(|p| prefix_key(p)))?;
        refill(&mut self.suffixes, paths.suffixes.iter().map(|p| suffix_key(p)))?;
        let w = &f.opens.write_paths;
        refill(&mut self.write_prefixes, w.prefixes.iter().map(|p| prefix_key(p)))?;
        refill(&mut self.write_suffixes, w.suffixes.iter().map(|p| suffix_key(p)))?;
        let gate = path_gate(&paths, w);
        self.gate.set(0, *gate, 0)?;
        self.filter.set(0, f.to_config(), 0)?;
        self.current = Some(f.clone());
        Ok(())
    }
}

#[cfg(test)]
#[path = "prefilter_reads.rs"]
mod prefilter_reads;

#[cfg(test)]
mod tests {
    use super::*;
    use lanner_rules::PathSet;

    #[test]
    fn config_bits() {
        let c = KernelFilter::pass_all().to_config();
        assert_eq!(c, FilterConfig::PASS_ALL);
        let f = KernelFilter {
            open: false,
            connect: true,
            setuid: false,
            syscalls: 1 << sys::PTRACE,
            opens: OpenNeeds {
                failed: false,
                paths: Some(PathSet::default()),
                writes_any_path: false,
                write_paths: PathSet::default(),
            },
            connects: ConnectNeeds::pass_all(),
            dups: DupNeeds { results: Some(0b101) },
            sockets: SocketNeeds { domains: Some(1 << 17) },
            unshares: UnshareNeeds { any_of: Some(0x1000_0000) },
            kills: KillNeeds { signals: Some(1 << 9 | 1 << 19) },
            exec_skip: EXEC_SKIP_ENV,
            open_file_facts: false,
        };
        let c = f.to_config();
        assert_eq!(c.open_file_facts, 0);
        assert_eq!(KernelFilter { open_file_facts: true, ..f.clone() }.to_config().open_file_facts, 1);
        assert_eq!(c.kinds_off, (1 << EventKind::Open as u32) | (1 << EventKind::Setuid as u32));
        assert_eq!((c.drop_failed_opens, c.open_prefix_filter, c.open_writes_always), (1, 1, 0));
        assert_eq!(c.sys_off, ALL_SYSCALLS & !(1 << sys::PTRACE), "only ptrace is emitted");
        assert_eq!((c.dup_res_filter, c.dup_res_keep), (1, 0b101), "dups with results 0 and 2 only");
        assert!(f.describe().contains("dup_results=[0, 2]"), "{}", f.describe());
        let any = KernelFilter { dups: DupNeeds::pass_all(), ..f.clone() }.to_config();
        assert_eq!((any.dup_res_filter, any.dup_res_keep), (0, 0), "any result: no filter");
        assert_eq!((c.socket_filter, c.socket_domain_keep), (1, 1 << 17), "packet sockets only");
        assert!(f.describe().contains("socket_domains=[\"AF_PACKET\"]"), "{}", f.describe());
        let any = KernelFilter { sockets: SocketNeeds::pass_all(), ..f.clone() }.to_config();
        assert_eq!((any.socket_filter, any.socket_domain_keep), (0, 0), "any family: no filter");
        assert_eq!((c.unshare_filter, c.unshare_flags_any), (1, 0x1000_0000), "new user namespaces only");
        assert!(f.describe().contains("unshare_flags=CLONE_NEWUSER"), "{}", f.describe());
        let any = KernelFilter { unshares: UnshareNeeds::pass_all(), ..f.clone() }.to_config();
        assert_eq!((any.unshare_filter, any.unshare_flags_any), (0, 0), "any flags: no filter");
        assert_eq!((c.kill_filter, c.kill_sig_keep), (1, 1 << 9 | 1 << 19), "SIGKILL and SIGSTOP only");
        assert!(f.describe().contains("kill_signals=[\"SIGKILL\", \"SIGSTOP\"]"), "{}", f.describe());
        let any = KernelFilter { kills: KillNeeds::pass_all(), ..f }.to_config();
        assert_eq!((any.kill_filter, any.kill_sig_keep), (0, 0), "any signal: no filter");
    }

    #[test]
    fn open_file_facts_follow_the_rules() {
        let rules = |cond: &str| {
            let yaml =
                format!("- rule: r\n  desc: d\n  condition: {cond}\n  output: \"%fd.name\"\n  priority: NOTICE\n");
            KernelFilter::for_rules(&lanner_rules::RuleSet::from_sources(&[("t.yaml", &yaml)]).expect("rules"))
        };
        let pack = KernelFilter::for_rules(&lanner_rules::RuleSet::default_pack().expect("default pack"));
        assert!(!pack.open_file_facts, "the default pack reads none of them");
        assert!(!rules("evt.type = openat and fd.name = /etc/shadow").open_file_facts);
        for f in ["fd.ino = 1", "fd.dev.minor = 0", "evt.is_open_create = true", "fd.is_upper_layer = true"] {
            assert!(rules(&format!("evt.type = openat and {f}")).open_file_facts, "{f}");
        }
        assert!(KernelFilter::pass_all().open_file_facts, "without the pre-filter everything is read");
    }

    #[test]
    fn exec_parts_follow_the_rules_and_the_diagnostic_names() {
        let pack = lanner_rules::RuleSet::default_pack().expect("default pack");
        assert_eq!(exec_skip_for(&pack), 0, "the default pack reads proc.env");
        let yaml = "- rule: r\n  desc: d\n  condition: evt.type = execve and proc.name = sh\n  output: \"%proc.cmdline\"\n  priority: NOTICE\n";
        let no_env = lanner_rules::RuleSet::from_sources(&[("t.yaml", yaml)]).expect("rules");
        assert_eq!(exec_skip_for(&no_env), EXEC_SKIP_ENV, "no rule reads the environment");
        let skip = |y: &str| exec_skip_for(&lanner_rules::RuleSet::from_sources(&[("t.yaml", y)]).expect("rules"));
        assert_eq!(skip(&yaml.replace("%proc.cmdline", "%proc.env[HOME]")), 0);
        assert_eq!(skip(&yaml.replace("proc.name = sh", "proc.env[LD_PRELOAD] exists")), 0);
        // An ancestor's environment comes from the same record part.
        assert_eq!(skip(&yaml.replace("%proc.cmdline", "%proc.aenv[HOME]")), 0);
        assert_eq!(parse_exec_skip("env, cwd"), (EXEC_SKIP_ENV | lanner_common::config::EXEC_SKIP_CWD, vec![]));
        assert_eq!(
            parse_exec_skip("exe_path,bogus"),
            (lanner_common::config::EXEC_SKIP_EXE_PATH, vec!["bogus".into()])
        );
        assert_eq!(exec_skip_names(0), "none");
        assert_eq!(exec_skip_names(EXEC_SKIP_ENV | lanner_common::config::EXEC_SKIP_ARGS), "env,args");
    }

    #[test]
    fn every_syscall_id_maps_to_its_own_event_type() {
        let mut seen = std::collections::HashSet::new();
        for id in 1..=sys::MAX {
            let t = syscall_type(id).unwrap_or_else(|| panic!("syscall id {id} has no event type"));
            assert_eq!(Some(t.as_str()), sys::name(id));
            assert!(seen.insert(t), "{t} twice");
        }
        assert_eq!(ALL_SYSCALLS.count_ones(), u32::from(sys::MAX));
    }

    #[test]
    fn default_rules_filter_opens_by_path_and_result() {
        let rules = lanner_rules::RuleSet::default_pack().expect("default pack");
        let f = KernelFilter::for_rules(&rules);
        let c = f.to_config();
        assert_eq!(c.kinds_off, 0, "the default pack has open, connect and setuid rules");
        assert_eq!((c.drop_failed_opens, c.open_prefix_filter), (1, 1), "{}", f.describe());
        assert_eq!((c.drop_failed_connects, c.drop_loopback_connects, c.drop_unix_connects), (1, 1, 1));
    }

    #[test]
    fn the_gate_opens_for_every_default_pattern_and_closes_for_common_paths() {
        let rules = lanner_rules::RuleSet::default_pack().expect("default pack");
        let f = KernelFilter::for_rules(&rules);
        let open = f.opens.paths.clone().expect("path filter on");
        let g = path_gate(&open, &f.opens.write_paths);
        assert!(g.prefix_k >= 2 && g.suffix_k >= 2, "keys {} {}", g.prefix_k, g.suffix_k);
        for set in [&open, &f.opens.write_paths] {
            for p in &set.prefixes {
                assert!(g.may_match(format!("{p}xyz").as_bytes(), false, true), "prefix {p}");
            }
            for sfx in &set.suffixes {
                assert!(g.may_match(format!("/abc{sfx}").as_bytes(), true, true), "suffix {sfx}");
            }
        }
        let common =
            ["/tmp/lanner-bench-7", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/dev/null", "/sys/fs/cgroup/memory.max"];
        let closed = common
            .iter()
            .filter(|p| !g.may_match(p.as_bytes(), false, false) && !g.may_match(p.as_bytes(), true, false));
        assert!(closed.count() == common.len(), "the gate should spare most common paths both walks");
    }

    #[test]
    fn kernel_dup_check_agrees_with_the_rules_model() {
        for results in [None, Some(0), Some(0b111), Some(1u64 << 63 | 1)] {
            let dups = DupNeeds { results };
            let c = KernelFilter { dups, ..KernelFilter::pass_all() }.to_config();
            for ret in [-9, -1, 0, 1, 2, 3, 62, 63, 64, 1 << 40] {
                assert_eq!(c.dup_kept(ret), dups.passes(ret), "results {results:?}, ret {ret}");
            }
        }
    }

    #[test]
    fn kernel_unshare_check_agrees_with_the_rules_model() {
        for any_of in [None, Some(0), Some(0x1000_0000), Some(0x7202_0000)] {
            let unshares = UnshareNeeds { any_of };
            let c = KernelFilter { unshares, ..KernelFilter::pass_all() }.to_config();
            for flags in [0, 0x200, 0x400 | 0x200, 0x2_0000, 0x1000_0000, 0x1000_0200, 0x80, u64::MAX] {
                assert_eq!(c.unshare_kept(flags), unshares.passes(flags), "any_of {any_of:?}, flags {flags:#x}");
            }
        }
    }

    #[test]
    fn kernel_kill_check_agrees_with_the_rules_model() {
        for signals in [None, Some(0), Some(1u64 << 9), Some(1u64 << 63 | 0b110)] {
            let kills = KillNeeds { signals };
            let c = KernelFilter { kills, ..KernelFilter::pass_all() }.to_config();
            for s in [0, 1, 9, 15, 19, 34, 63, 64, 65, u64::MAX] {
                assert_eq!(c.kill_kept(s), kills.passes(s), "signals {signals:?}, signal {s}");
            }
        }
    }

    #[test]
    fn kernel_socket_check_agrees_with_the_rules_model() {
        for domains in [None, Some(0), Some(1u64 << 17), Some(1u64 << 63 | 0b110)] {
            let sockets = SocketNeeds { domains };
            let c = KernelFilter { sockets, ..KernelFilter::pass_all() }.to_config();
            for d in [0, 1, 2, 10, 17, 45, 62, 63, 64, 65, 1 << 40, u64::MAX] {
                assert_eq!(c.socket_kept(d), sockets.passes(d), "domains {domains:?}, family {d}");
            }
        }
    }

    #[test]
    fn kernel_loopback_test_agrees_with_the_rules_model() {
        use std::net::IpAddr;
        for a in [
            "127.0.0.1",
            "127.255.0.9",
            "128.0.0.1",
            "10.0.0.1",
            "::1",
            "::2",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "fe80::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            let (family, bytes) = match ip {
                IpAddr::V4(v4) => {
                    let mut b = [0u8; 16];
                    b[..4].copy_from_slice(&v4.octets());
                    (lanner_common::AF_INET, b)
                }
                IpAddr::V6(v6) => (lanner_common::AF_INET6, v6.octets()),
            };
            assert_eq!(lanner_common::config::is_loopback(family, &bytes), ConnectNeeds::is_loopback(ip), "{a}");
        }
    }

    #[test]
    fn keys_are_cut_at_the_key_length() {
        let k = prefix_key("/etc/");
        assert_eq!(k.prefix_len(), 40);
        assert_eq!(&k.data()[..5], b"/etc/");
        let long = "/".repeat(100);
        assert_eq!(prefix_key(&long).prefix_len(), (PREFIX_KEY_LEN * 8) as u32);
        let k = suffix_key("/id_rsa");
        assert_eq!(k.prefix_len(), 56);
        assert_eq!(&k.data()[..7], b"asr_di/");
        let long = format!("{}/x", "a".repeat(100));
        let k = suffix_key(&long);
        assert_eq!(k.prefix_len(), (PREFIX_KEY_LEN * 8) as u32);
        assert_eq!(&k.data()[..3], b"x/a");
    }
}
