//! The value a field yields ([`Val`], borrowed from the event) and how it
//! prints (`<NA>` when missing, Falco's time formats, the chained values), for
//! outputs, `output_fields` and the string tests that read a value which is not
//! stored as text. Kept apart from the extraction (`extract.rs`).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use crate::runtime::event::{format_open_flags, Event, EvtType, Process};

/// A borrowed field value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val<'a> {
    Missing,
    Str(&'a str),
    Num(i64),
    Bool(bool),
    Ip(IpAddr),
    Type(EvtType),
    Flags(u32),
    Time(u64),
    /// A time as Falco's text fields print it (`evt.time.s`, `evt.datetime`,
    /// `evt.datetime.s`); string tests see that text.
    TimeText(u64, TimeText),
    /// One `key:value` item of a label list.
    KV(&'a str, &'a str),
    /// Two texts chained with a separator (`fd.containername`: `CONTAINER_ID:FD_NAME`;
    /// `proc.exeline`: argv[0], a space, the arguments).
    Joined(&'a str, char, &'a str),
    /// Two numbers chained as decimal digits (`fd.uid`: tid then fd number).
    Digits(i64, i64),
    /// A text and a number chained (`thread.nametid`: name then tid).
    NameNum(&'a str, i64),
    /// Every ancestor's arguments, parent first, joined with spaces (bare `proc.aargs`).
    AncestorArgs(Lineage<'a>),
    /// The event's parameters as Falco prints them (`evt.args`), rendered when read.
    EvtArgs(EventRef<'a>),
}

/// An event as a value (compared by identity).
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'a>(pub &'a Event);

impl PartialEq for EventRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

/// A process's ancestors, parent first, as a value (compared by identity).
#[derive(Clone, Copy, Debug)]
pub struct Lineage<'a>(pub &'a [Arc<Process>]);

impl PartialEq for Lineage<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

/// The text forms of a time (UTC, like `evt.time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeText {
    /// `HH:MM:SS`
    Clock,
    /// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn`
    Date,
    /// `YYYY-MM-DD HH:MM:SS`
    DateSecs,
}

impl<'a> Val<'a> {
    /// `Str(s)`, or `Missing` for an empty string (a field the event does not fill).
    pub fn non_empty(s: &'a str) -> Self {
        if s.is_empty() {
            Val::Missing
        } else {
            Val::Str(s)
        }
    }
}

/// Append a value's text. `iso` selects RFC 3339 for times (else Falco's `HH:MM:SS.ns`).
pub fn render_val(v: Val<'_>, iso: bool, out: &mut String) {
    match v {
        Val::Missing => out.push_str("<NA>"),
        Val::Str(s) => out.push_str(s),
        Val::Num(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Val::Ip(ip) => {
            let _ = write!(out, "{ip}");
        }
        Val::Type(t) => out.push_str(t.as_str()),
        Val::Flags(f) => format_open_flags(f, out),
        Val::Time(ns) if iso => write_civil(ns, 'T', true, out),
        Val::TimeText(ns, TimeText::Date) => write_civil(ns, ' ', false, out),
        Val::TimeText(ns, TimeText::DateSecs) => {
            write_civil(ns, ' ', false, out);
            out.truncate(out.len() - 10);
        }
        Val::TimeText(ns, TimeText::Clock) => {
            let secs = ns / 1_000_000_000;
            let _ = write!(out, "{:02}:{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        }
        Val::Time(ns) => {
            let secs = ns / 1_000_000_000;
            let _ = write!(
                out,
                "{:02}:{:02}:{:02}.{:09}",
                (secs / 3600) % 24,
                (secs / 60) % 60,
                secs % 60,
                ns % 1_000_000_000
            );
        }
        Val::KV(k, v) => {
            let _ = write!(out, "{k}:{v}");
        }
        Val::Joined(a, sep, b) => {
            let _ = write!(out, "{a}{sep}{b}");
        }
        Val::NameNum(a, n) => {
            let _ = write!(out, "{a}{n}");
        }
        Val::AncestorArgs(l) => {
            for (i, a) in l.0.iter().map(|p| p.args()).filter(|a| !a.is_empty()).enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(a);
            }
        }
        Val::Digits(a, b) => {
            let _ = write!(out, "{a}{b}");
        }
        Val::EvtArgs(e) => crate::runtime::evt_args::render(e.0, out),
    }
}

/// `2026-11-23T12:00:00.123456789Z` for unix nanoseconds.
pub fn rfc3339_nanos(ns: u64) -> String {
    let mut s = String::with_capacity(30);
    write_civil(ns, 'T', true, &mut s);
    s
}

/// Append `YYYY-MM-DD{sep}HH:MM:SS.nnnnnnnnn` (UTC) for unix nanoseconds,
/// with a trailing `Z` when `z`; no allocation beyond `out`'s growth.
fn write_civil(ns: u64, sep: char, z: bool, out: &mut String) {
    let secs = ns / 1_000_000_000;
    let nanos = ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z_days = days + 719_468;
    let era = z_days.div_euclid(146_097);
    let doe = z_days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}.{nanos:09}", rem / 3600, (rem / 60) % 60, rem % 60);
    if z {
        out.push('Z');
    }
}
