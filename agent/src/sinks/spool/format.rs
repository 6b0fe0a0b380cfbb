//! On-disk record format of the spool segments: `magic "LNRS" | u32 BE body
//! length | u32 BE crc32(body) | body`, and the scanner that reads a segment
//! image back, skipping corrupt regions by resynchronising on the next magic.
pub const MAGIC: [u8; 4] = *b"LNRS";
pub const HEADER: usize = 12;

pub(super) fn header(body: &[u8]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&(body.len() as u32).to_be_bytes());
    h[8..].copy_from_slice(&crc32fast::hash(body).to_be_bytes());
    h
}

/// `(offset, body)` of valid records and `(offset, reason)` of corrupt regions.
pub type Scan<'a> = (Vec<(usize, &'a [u8])>, Vec<(usize, String)>);

/// Parse the records of a segment image; each corrupt region is skipped by
/// resynchronising on the next magic.
pub fn scan(buf: &[u8], max_record: usize) -> Scan<'_> {
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        let why = if rest.len() < HEADER {
            Some(format!("truncated header ({} bytes)", rest.len()))
        } else if rest[..4] != MAGIC {
            Some("bad magic".to_owned())
        } else {
            let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let crc = u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
            if len > max_record {
                Some(format!("length {len} over the {max_record}-byte limit"))
            } else if rest.len() < HEADER + len {
                Some(format!("truncated body ({} of {len} bytes)", rest.len() - HEADER))
            } else if crc32fast::hash(&rest[HEADER..HEADER + len]) != crc {
                Some("checksum mismatch".to_owned())
            } else {
                ok.push((off, &rest[HEADER..HEADER + len]));
                off += HEADER + len;
                None
            }
        };
        if let Some(why) = why {
            bad.push((off, why));
            // Resynchronise on the next magic after this offset.
            off = buf[off + 1..].windows(4).position(|w| w == MAGIC).map_or(buf.len(), |p| off + 1 + p);
        }
    }
    (ok, bad)
}
