//! A task's `comm` (at most 15 bytes) held inline: decoding an event's header
//! allocates nothing for it. Most events never use it (their process is
//! known), so a `String` per event was an allocation and a free for nothing.
use core::{fmt, ops::Deref};

use crate::event::COMM_LEN;

/// UTF-8 text of at most [`COMM_LEN`] bytes, derefs to `&str`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Comm {
    len: u8,
    bytes: [u8; COMM_LEN],
}

impl Comm {
    /// The kernel's bytes up to the first NUL; invalid UTF-8 is replaced and
    /// the result cut at a character boundary to fit.
    pub fn from_kernel(raw: &[u8]) -> Comm {
        Comm::from(crate::decode::text_until_nul(raw).as_ref())
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: only whole UTF-8 characters are ever stored (`From<&str>`).
        unsafe { core::str::from_utf8_unchecked(&self.bytes[..self.len as usize]) }
    }
}

impl From<&str> for Comm {
    fn from(s: &str) -> Comm {
        let mut n = s.len().min(COMM_LEN);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        let mut bytes = [0u8; COMM_LEN];
        bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        Comm { len: n as u8, bytes }
    }
}

impl Deref for Comm {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Comm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_bytes_stop_at_the_nul_and_bad_utf8_is_replaced_within_the_size() {
        assert_eq!(Comm::from_kernel(b"bash\0\0junk\0\0\0\0\0\0\0").as_str(), "bash");
        assert_eq!(Comm::from_kernel(b"0123456789abcdef").as_str(), "0123456789abcdef", "no NUL: all 16");
        // 14 ASCII bytes then an invalid byte: U+FFFD (3 bytes) does not fit whole.
        let c = Comm::from_kernel(b"abcdefghijklmn\xff\0");
        assert_eq!(c.as_str(), "abcdefghijklmn");
        assert_eq!(Comm::from_kernel(b"x\xffy\0").as_str(), "x\u{fffd}y");
        assert_eq!(serde_json::to_string(&Comm::from("sh")).expect("json"), "\"sh\"");
    }
}
