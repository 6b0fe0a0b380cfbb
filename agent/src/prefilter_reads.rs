//! Tests that the kernel reads the pre-filter turns off while no rule needs
//! them (the open facts, the exec record's environment) are turned on by every field whose value comes from them. Each field
//! of the catalogue is rendered on events with and without what the read
//! provides: a field whose value changes must be in the list that turns the
//! read on, or a rule reading only that field would see it silently missing
//! (as a rule reading only `proc.aenv` did until 2026-12-05). And each listed
//! field must depend on its read, so the lists hold nothing stale.
use std::sync::Arc;

use lanner_rules::event::{Event, EvtType, Fd, FileFacts, Process};
use lanner_rules::fields::{Field, FieldId, FIELDS};
use lanner_rules::runtime::env::Env;

use super::{ENV_FIELDS, OPEN_FACT_FIELDS};

/// Every catalogue field, resolved bare or with the first typical argument it takes.
fn fields() -> Vec<(FieldId, Field)> {
    FIELDS
        .iter()
        .filter_map(|info| {
            [None, Some("HOME"), Some("1"), Some("0")]
                .iter()
                .find_map(|a| Field::resolve(info.name, *a).ok())
                .map(|f| (info.id, f))
        })
        .collect()
}

fn render(f: &Field, e: &Event) -> String {
    let mut s = String::new();
    f.render(e, &mut s);
    s
}

/// The fields whose value on one of `with` differs from theirs on `without`.
fn depending(with: &[Event], without: &Event) -> Vec<FieldId> {
    let mut ids: Vec<FieldId> = fields()
        .into_iter()
        .filter(|(_, f)| with.iter().any(|w| render(f, w) != render(f, without)))
        .map(|(id, _)| id)
        .collect();
    ids.dedup();
    ids
}

fn check(read: &str, depending: &[FieldId], listed: &[FieldId]) {
    for id in depending {
        assert!(listed.contains(id), "{id:?} reads {read} but does not turn that read on");
    }
    for id in listed {
        assert!(depending.contains(id), "{id:?} turns {read} on but its value does not come from it");
    }
}

fn exec(p: Process, parent: Process) -> Event {
    let mut e = Event::new(EvtType::Execve, 1_000_000_000, Arc::new(p));
    e.ancestors = vec![Arc::new(parent)].into();
    e
}

#[test]
fn every_field_read_from_the_open_facts_turns_them_on() {
    let open = |facts: Option<FileFacts>| {
        let mut e = Event::new(EvtType::Openat, 1, Arc::new(Process::new("cat", "/usr/bin/cat", &[])));
        e.res = 3;
        let fd = Fd::file("/tmp/x", 0o102, 0o755); // O_RDWR | O_CREAT
        e.fd = Some(match facts {
            Some(f) => fd.with_facts(f),
            None => fd,
        });
        e
    };
    let dev = FileFacts::kernel_dev((259 << 20) | 3);
    let upper = FileFacts { dev, ino: 42, created: true, upper_layer: true, lower_layer: false };
    let lower = FileFacts { dev, ino: 43, created: false, upper_layer: false, lower_layer: true };
    check("the open facts", &depending(&[open(Some(upper)), open(Some(lower))], &open(None)), &OPEN_FACT_FIELDS);
}

#[test]
fn every_field_read_from_the_environment_turns_it_on() {
    let with_env = |env: &[&str]| {
        let mut p = Process::new("true", "/usr/bin/true", &[]);
        let mut parent = Process::new("sh", "/bin/sh", &[]);
        p.env = Env::new(env);
        parent.env = Env::new(env);
        exec(p, parent)
    };
    let env = ["HOME=/root", "LD_PRELOAD=/tmp/x.so"];
    check("the environment", &depending(&[with_env(&env)], &with_env(&[])), &ENV_FIELDS);
}
