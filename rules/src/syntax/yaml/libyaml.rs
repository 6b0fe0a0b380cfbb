//! The event parser: libyaml, through `unsafe-libyaml`, behind a safe interface.
//!
//! Falco reads rule files with yaml-cpp; its rule files parse with libyaml (PyYAML) but
//! not with the YAML 1.2 parsers `yaml-rust2`/`saphyr`, which reject, for example, a
//! flow list whose closing `]` sits at its key's indentation ("invalid indentation"), as
//! in Falco's sandbox rules. So Lanner parses with libyaml and accepts what it accepts.
//!
//! `unsafe-libyaml` is libyaml 0.2.5 transpiled to Rust (the parser serde_yaml 0.9 was
//! built on): same grammar, same errors, same marks, no C toolchain. Its API is libyaml's
//! C API, so this file holds the only unsafe code of the YAML layer: [`Parser`] owns a
//! heap-allocated `yaml_parser_t` reading a borrowed `&str` and hands out owned
//! [`Event`]s whose positions are byte offsets into that string. (`libyaml-safer`, a
//! safe port, panics on a block scalar that ends the file without a newline and on a
//! tag followed by `,` in a flow list, so it is not used.)

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use unsafe_libyaml as unsafe_sys;

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// A node's anchor and whether it has a tag (the tag itself is not used).
#[derive(Debug, Default)]
pub(super) struct Props {
    pub anchor: Option<String>,
    pub tagged: bool,
}

impl Props {
    pub fn any(&self) -> bool {
        self.anchor.is_some() || self.tagged
    }
}

#[derive(Debug)]
pub(super) enum EventKind {
    Scalar {
        value: String,
        style: ScalarStyle,
        props: Props,
    },
    SequenceStart(Props),
    SequenceEnd,
    MappingStart(Props),
    MappingEnd,
    Alias(String),
    /// Stream start, document start and end.
    Boundary,
    StreamEnd,
}

/// One parser event; `start` is the byte offset in the text where libyaml marks it
/// (a node with an anchor or tag starts at its first property).
#[derive(Debug)]
pub(super) struct Event {
    pub kind: EventKind,
    pub start: usize,
}

/// A libyaml error: its problem at a byte offset, and the construct being parsed.
#[derive(Debug)]
pub(super) struct Error {
    pub problem: String,
    pub offset: usize,
    pub context: Option<(String, usize)>,
}

/// libyaml's event parser over `text`.
pub(super) struct Parser<'a> {
    sys: Box<MaybeUninit<unsafe_sys::yaml_parser_t>>,
    /// Length of a UTF-8 byte-order mark at the start of `text`: libyaml skips it and
    /// counts its marks from the byte after it.
    bom: usize,
    /// Set after the stream end or an error: libyaml must not be asked for more.
    done: bool,
    _text: PhantomData<&'a str>,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Result<Parser<'a>, Error> {
        let mut sys = Box::new(MaybeUninit::<unsafe_sys::yaml_parser_t>::uninit());
        let p = sys.as_mut_ptr();
        // SAFETY: `p` points to writable memory for a parser; libyaml initialises it (and
        // frees what it allocated if it fails, in which case we never touch it again).
        if unsafe { unsafe_sys::yaml_parser_initialize(p) }.fail {
            return Err(Error { problem: "cannot initialise the YAML parser".into(), offset: 0, context: None });
        }
        // SAFETY: the parser is initialised; libyaml keeps a pointer to `text`, which
        // outlives the parser ('a), and a pointer to the parser itself, which is boxed
        // and so never moves.
        unsafe { unsafe_sys::yaml_parser_set_input_string(p, text.as_ptr(), text.len() as _) };
        let bom = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
        Ok(Parser { sys, bom, done: false, _text: PhantomData })
    }

    /// The next event. After [`EventKind::StreamEnd`] or an error it keeps returning
    /// [`EventKind::StreamEnd`].
    pub fn next_event(&mut self) -> Result<Event, Error> {
        if self.done {
            return Ok(Event { kind: EventKind::StreamEnd, start: 0 });
        }
        let p = self.sys.as_mut_ptr();
        let mut raw = MaybeUninit::<unsafe_sys::yaml_event_t>::uninit();
        // SAFETY: the parser is initialised and its input is alive; on success libyaml
        // fills the event.
        if unsafe { unsafe_sys::yaml_parser_parse(p, raw.as_mut_ptr()) }.fail {
            self.done = true;
            return Err(self.error());
        }
        // SAFETY: `yaml_parser_parse` succeeded, so the event is initialised; it is
        // read once, then freed with `yaml_event_delete` and not used afterwards.
        let event = unsafe {
            let ev = raw.as_mut_ptr();
            let event = self.convert(&*ev);
            unsafe_sys::yaml_event_delete(ev);
            event
        };
        if matches!(event.kind, EventKind::StreamEnd) {
            self.done = true;
        }
        Ok(event)
    }

    /// Copy what we need out of a libyaml event.
    ///
    /// # Safety
    /// `ev` must be an event filled by `yaml_parser_parse` and not yet deleted.
    unsafe fn convert(&self, ev: &unsafe_sys::yaml_event_t) -> Event {
        let start = self.offset(ev.start_mark);
        let kind = match ev.type_ {
            unsafe_sys::YAML_SCALAR_EVENT => {
                let s = ev.data.scalar;
                let style = match s.style {
                    unsafe_sys::YAML_SINGLE_QUOTED_SCALAR_STYLE => ScalarStyle::SingleQuoted,
                    unsafe_sys::YAML_DOUBLE_QUOTED_SCALAR_STYLE => ScalarStyle::DoubleQuoted,
                    unsafe_sys::YAML_LITERAL_SCALAR_STYLE => ScalarStyle::Literal,
                    unsafe_sys::YAML_FOLDED_SCALAR_STYLE => ScalarStyle::Folded,
                    _ => ScalarStyle::Plain,
                };
                let value = if s.value.is_null() || s.length == 0 {
                    String::new()
                } else {
                    let bytes = std::slice::from_raw_parts(s.value, s.length as usize);
                    String::from_utf8_lossy(bytes).into_owned()
                };
                EventKind::Scalar { value, style, props: props(s.anchor, s.tag) }
            }
            unsafe_sys::YAML_SEQUENCE_START_EVENT => {
                let s = ev.data.sequence_start;
                EventKind::SequenceStart(props(s.anchor, s.tag))
            }
            unsafe_sys::YAML_MAPPING_START_EVENT => {
                let m = ev.data.mapping_start;
                EventKind::MappingStart(props(m.anchor, m.tag))
            }
            unsafe_sys::YAML_SEQUENCE_END_EVENT => EventKind::SequenceEnd,
            unsafe_sys::YAML_MAPPING_END_EVENT => EventKind::MappingEnd,
            unsafe_sys::YAML_ALIAS_EVENT => EventKind::Alias(c_string(ev.data.alias.anchor).unwrap_or_default()),
            unsafe_sys::YAML_STREAM_END_EVENT => EventKind::StreamEnd,
            _ => EventKind::Boundary,
        };
        Event { kind, start }
    }

    /// Byte offset in the text of a libyaml mark.
    fn offset(&self, mark: unsafe_sys::yaml_mark_t) -> usize {
        (mark.index as usize).saturating_add(self.bom)
    }

    /// The parser's error after a failed `yaml_parser_parse`.
    fn error(&self) -> Error {
        // SAFETY: the parser was initialised in `new` and is not freed before drop.
        let parser = unsafe { self.sys.assume_init_ref() };
        // SAFETY: libyaml's problem and context are null or static C strings.
        let problem = unsafe { c_string(parser.problem.cast()) }.unwrap_or_else(|| "invalid YAML".into());
        if parser.error == unsafe_sys::YAML_READER_ERROR {
            // Reader errors carry a byte offset in the raw input (byte-order mark
            // included) and the offending character instead of a mark.
            let problem = match u32::try_from(parser.problem_value) {
                Ok(v) => format!("{problem} (#x{v:x})"),
                Err(_) => problem,
            };
            return Error { problem, offset: parser.problem_offset as usize, context: None };
        }
        // SAFETY: as above.
        let context = unsafe { c_string(parser.context.cast()) }.map(|c| (c, self.offset(parser.context_mark)));
        Error { problem, offset: self.offset(parser.problem_mark), context }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: the parser was initialised in `new` (a `Parser` only exists if that
        // succeeded) and is deleted exactly once, here.
        unsafe { unsafe_sys::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

/// Anchor and tag of a node event.
///
/// # Safety
/// Both pointers must be null or point to NUL-terminated strings.
unsafe fn props(anchor: *const u8, tag: *const u8) -> Props {
    Props { anchor: c_string(anchor), tagged: !tag.is_null() }
}

/// An owned copy of a NUL-terminated string, `None` for a null pointer.
///
/// # Safety
/// `ptr` must be null or point to a NUL-terminated string.
unsafe fn c_string(ptr: *const u8) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    Some(CStr::from_ptr(ptr.cast::<c_char>()).to_string_lossy().into_owned())
}
