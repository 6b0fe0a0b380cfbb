//! In-kernel pre-filter: tells the probes which events the loaded rules can
//! never match, so they are dropped before the stash and the ring buffer.
//!
//! The filter is an over-approximation of the rules' needs (a kept event may
//! still match nothing; a dropped one can match no rule). It is rewritten on
//! every rule reload: first the filter is opened (pass everything), then the
//! prefix trie is replaced, then the new filter is switched on, so no event a
//! new rule needs is lost during the swap. `--no-prefilter` keeps it open.
use aya::maps::{lpm_trie::Key, Array, LpmTrie, MapData, MapError};
use lanner_common::{config::PREFIX_KEY_LEN, EventKind, FilterConfig};

/// What the rules need from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFilter {
    pub open: bool,
    pub connect: bool,
    pub setuid: bool,
    /// Some rule looks at failed opens (`evt.res`, `evt.rawres`, or no constraint).
    pub failed_opens: bool,
    /// Absolute-path prefixes that open rules can match; `None` = any path.
    pub open_prefixes: Option<Vec<String>>,
    /// Some rule matches writes regardless of path.
    pub open_writes_always: bool,
}

impl KernelFilter {
    /// What a rule set needs: event types with no rule are not emitted. (Open
    /// path prefixes and failed-open dropping stay off until rule conditions
    /// are analysed for them: over-approximating is always safe.)
    pub fn for_rules(rules: &lanner_rules::RuleSet) -> Self {
        use lanner_rules::EvtType;
        Self {
            open: rules.rules_for_type(EvtType::Openat) > 0,
            connect: rules.rules_for_type(EvtType::Connect) > 0,
            setuid: rules.rules_for_type(EvtType::Setuid) > 0,
            ..Self::pass_all()
        }
    }

    pub fn pass_all() -> Self {
        Self {
            open: true,
            connect: true,
            setuid: true,
            failed_opens: true,
            open_prefixes: None,
            open_writes_always: false,
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
            drop_failed_opens: u32::from(!self.failed_opens),
            open_prefix_filter: u32::from(self.open_prefixes.is_some()),
            open_writes_always: u32::from(self.open_writes_always),
        }
    }
}

/// LPM key for a prefix: its bytes, cut at `PREFIX_KEY_LEN`.
pub fn prefix_key(prefix: &str) -> Key<[u8; PREFIX_KEY_LEN]> {
    let b = prefix.as_bytes();
    let n = b.len().min(PREFIX_KEY_LEN);
    let mut data = [0u8; PREFIX_KEY_LEN];
    data[..n].copy_from_slice(&b[..n]);
    Key::new((n * 8) as u32, data)
}

/// The two maps, taken out of the loaded object.
pub struct Prefilter {
    filter: Array<MapData, FilterConfig>,
    prefixes: LpmTrie<MapData, [u8; PREFIX_KEY_LEN], u8>,
    current: Option<KernelFilter>,
}

impl Prefilter {
    pub fn new(ebpf: &mut aya::Ebpf) -> Result<Self, MapError> {
        let filter = Array::try_from(ebpf.take_map("FILTER").ok_or(MapError::InvalidName { name: "FILTER".into() })?)?;
        let prefixes = LpmTrie::try_from(
            ebpf.take_map("OPEN_PREFIXES").ok_or(MapError::InvalidName { name: "OPEN_PREFIXES".into() })?,
        )?;
        Ok(Self { filter, prefixes, current: None })
    }

    /// Install `f` without a window in which a needed event could be dropped.
    pub fn apply(&mut self, f: &KernelFilter) -> Result<(), MapError> {
        if self.current.as_ref() == Some(f) {
            return Ok(());
        }
        self.filter.set(0, FilterConfig::PASS_ALL, 0)?;
        let old: Vec<_> = self.prefixes.keys().filter_map(Result::ok).collect();
        for k in old {
            let _ = self.prefixes.remove(&k);
        }
        for p in f.open_prefixes.iter().flatten() {
            self.prefixes.insert(&prefix_key(p), 1, 0)?;
        }
        self.filter.set(0, f.to_config(), 0)?;
        self.current = Some(f.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bits() {
        let c = KernelFilter::pass_all().to_config();
        assert_eq!(c, FilterConfig::PASS_ALL);
        let f = KernelFilter {
            open: false,
            connect: true,
            setuid: false,
            failed_opens: false,
            open_prefixes: Some(vec![]),
            open_writes_always: false,
        };
        let c = f.to_config();
        assert_eq!(c.kinds_off, (1 << EventKind::Open as u32) | (1 << EventKind::Setuid as u32));
        assert_eq!((c.drop_failed_opens, c.open_prefix_filter, c.open_writes_always), (1, 1, 0));
    }

    #[test]
    fn prefix_keys_are_cut_at_the_key_length() {
        let k = prefix_key("/etc/");
        assert_eq!(k.prefix_len(), 40);
        assert_eq!(&k.data()[..5], b"/etc/");
        let long = "/".repeat(100);
        assert_eq!(prefix_key(&long).prefix_len(), (PREFIX_KEY_LEN * 8) as u32);
    }
}
