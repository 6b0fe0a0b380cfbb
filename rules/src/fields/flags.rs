//! Linux `open(2)` flags: names for YAML fixtures and rule literals
//! (`evt.arg.flags contains O_TRUNC`), and Falco's rendering (`O_WRONLY|O_CREAT`).

/// Open flag values (x86-64/aarch64 Linux) and their names, for YAML fixtures,
/// `evt.arg.flags` and output.
pub const OPEN_FLAGS: &[(&str, u32)] = &[
    ("O_WRONLY", 0o1),
    ("O_RDWR", 0o2),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("O_DSYNC", 0o10000),
    ("O_ASYNC", 0o20000),
    ("O_DIRECT", 0o40000),
    ("O_LARGEFILE", 0o100000),
    ("O_DIRECTORY", 0o200000),
    ("O_NOFOLLOW", 0o400000),
    ("O_NOATIME", 0o1000000),
    ("O_CLOEXEC", 0o2000000),
    ("O_SYNC", 0o4010000),
    ("O_PATH", 0o10000000),
    ("O_TMPFILE", 0o20200000),
];

/// Mask of the access mode bits.
pub const O_ACCMODE: u32 = 0o3;

/// Parse `O_RDONLY|O_CREAT` style flag names.
pub fn parse_open_flags(s: &str) -> Result<u32, String> {
    let mut v = 0;
    for part in s.split('|').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "O_RDONLY" {
            continue;
        }
        match OPEN_FLAGS.iter().find(|(n, _)| *n == part) {
            Some((_, bits)) => v |= bits,
            None => return Err(format!("unknown open flag '{part}'")),
        }
    }
    Ok(v)
}

/// Render flags the way Falco prints `evt.arg.flags`, e.g. `O_RDWR|O_CREAT|O_CLOEXEC`.
pub fn format_open_flags(flags: u32, out: &mut String) {
    let acc = match flags & O_ACCMODE {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        _ => "O_RDWR",
    };
    out.push_str(acc);
    for (name, bits) in OPEN_FLAGS.iter().skip(2) {
        // O_SYNC includes O_DSYNC and O_TMPFILE includes O_DIRECTORY: print the composite only.
        if flags & bits == *bits
            && !(*name == "O_DSYNC" && flags & 0o4010000 == 0o4010000)
            && !(*name == "O_DIRECTORY" && flags & 0o20200000 == 0o20200000)
        {
            out.push('|');
            out.push_str(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_roundtrip() {
        let f = parse_open_flags("O_WRONLY|O_CREAT|O_TRUNC").unwrap();
        assert_eq!(f, 0o1101);
        let mut s = String::new();
        format_open_flags(f, &mut s);
        assert_eq!(s, "O_WRONLY|O_CREAT|O_TRUNC");
        assert!(parse_open_flags("O_BOGUS").is_err());
        let mut s = String::new();
        format_open_flags(0o2000000, &mut s);
        assert_eq!(s, "O_RDONLY|O_CLOEXEC");
    }
}
