//! Splitting an exec's argv+environment block (`FLAG_EXEC_BLOCK`, the BPF LSM
//! exec path) into argv and environment strings by the kernel's `argc` and
//! `envc`. The probe reads the block the kernel copied to the new stack in at
//! most two bulk reads instead of string by string, so a padded argv (many or
//! long strings) cannot push the environment out of the record: the env
//! section then holds the block's last bytes (`FLAG_EXEC_BLOCK_GAP`), and the
//! environment is the block's last `envc` strings.

/// argv and the environment recovered from a block.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Split {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub args_truncated: bool,
    pub env_truncated: bool,
}

/// The NUL-terminated strings of `bytes` and the unterminated rest, if any.
fn strings(bytes: &[u8]) -> (Vec<&[u8]>, Option<&[u8]>) {
    let mut whole: Vec<&[u8]> = bytes.split(|&b| b == 0).collect();
    // `split` yields one piece after the last NUL: empty when the bytes end with one.
    let rest = whole.pop().filter(|r| !r.is_empty());
    (whole, rest)
}

fn owned(v: &[&[u8]]) -> Vec<String> {
    v.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

/// Split a block: `head` is its first bytes (the args section), `tail` the env
/// section. Without `gap` the two are contiguous; with it, `tail[0]` is the
/// sentinel byte (NUL when `tail[1..]` starts with a whole string) and
/// `tail[1..]` ends where the environment ends.
pub(super) fn split(head: &[u8], tail: &[u8], argc: u16, envc: u16, gap: bool) -> Split {
    let (argc, envc) = (argc as usize, envc as usize);
    let joined;
    let first: &[u8] = if gap {
        head
    } else {
        joined = [head, tail].concat();
        &joined
    };
    let (whole, rest) = strings(first);
    let n_args = argc.min(whole.len());
    let mut argv = owned(&whole[..n_args]);
    let args_truncated = n_args < argc;
    if args_truncated {
        // The last argument read, cut where the record's space ended.
        argv.extend(rest.map(|r| String::from_utf8_lossy(r).into_owned()));
    }
    let mut env: Vec<&[u8]> = whole[n_args..].iter().take(envc).copied().collect();
    if gap {
        // The environment's last strings, from the end of the block backwards.
        let last = match tail.split_first() {
            Some((0, after)) => after,
            Some((_, after)) => after.iter().position(|&b| b == 0).map_or(&[][..], |i| &after[i + 1..]),
            None => &[],
        };
        let (ends, _) = strings(last);
        if ends.len() >= envc {
            // The whole environment is in the last bytes (a long argv before it).
            env = ends[ends.len() - envc..].to_vec();
        } else if !args_truncated {
            env.extend(ends);
        } else {
            env = ends;
        }
    }
    let env_truncated = env.len() < envc;
    Split { argv, env: owned(&env), args_truncated, env_truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn contiguous_block_splits_by_argc_and_envc() {
        let s = split(b"ls\0-l\0PATH=/bin\0", b"HOME=/\0", 2, 2, false);
        assert_eq!(
            s,
            Split {
                argv: v(&["ls", "-l"]),
                env: v(&["PATH=/bin", "HOME=/"]),
                args_truncated: false,
                env_truncated: false
            }
        );
        // An empty argument and an empty variable are strings too.
        let s = split(b"a\0\0X=\0\0", b"", 2, 2, false);
        assert_eq!((s.argv, s.env), (v(&["a", ""]), v(&["X=", ""])));
    }

    #[test]
    fn block_cut_inside_argv_or_env_is_truncated() {
        // The read stopped inside the second argument: no environment, argv cut.
        let s = split(b"cmd\0aaaa", b"", 3, 1, false);
        assert_eq!(s, Split { argv: v(&["cmd", "aaaa"]), env: vec![], args_truncated: true, env_truncated: true });
        // Stopped inside the environment: the whole variables only.
        let s = split(b"cmd\0A=1\0B=", b"", 1, 2, false);
        assert_eq!(s, Split { argv: v(&["cmd"]), env: v(&["A=1"]), args_truncated: false, env_truncated: true });
    }

    #[test]
    fn padded_argv_still_yields_the_whole_environment() {
        // argv longer than the head: its tail and the environment are in the last bytes,
        // after a sentinel that is not NUL (the window starts inside an argument).
        let s = split(b"sh\0-c\0xxxxxxxx", b"xxxxxx\0LD_PRELOAD=/tmp/x.so\0A=1\0", 3, 2, true);
        assert_eq!(s.env, v(&["LD_PRELOAD=/tmp/x.so", "A=1"]));
        assert!(!s.env_truncated);
        assert!(s.args_truncated);
        assert_eq!(s.argv, v(&["sh", "-c", "xxxxxxxx"]));
        // The window starts exactly at a string: the sentinel NUL keeps its first string.
        let s = split(b"sh\0-c\0xxxxxxxx", b"\0LD_PRELOAD=/tmp/x.so\0A=1\0", 3, 2, true);
        assert_eq!(s.env, v(&["LD_PRELOAD=/tmp/x.so", "A=1"]));
        // ... and a non-NUL sentinel drops the partial first string even when it looks whole.
        let s = split(b"sh\0", b"xLD_PRELOAD=/a\0A=1\0", 1, 2, true);
        assert_eq!((s.env, s.env_truncated), (v(&["A=1"]), true));
    }

    #[test]
    fn long_environment_keeps_both_ends() {
        // A short argv, an environment longer than both sections: its first variables
        // from the head, its last from the tail, the middle unread.
        let s = split(b"env\0A=1\0B=2\0CCC", b"CC\0Y=8\0Z=9\0", 1, 6, true);
        assert_eq!(
            s,
            Split {
                argv: v(&["env"]),
                env: v(&["A=1", "B=2", "Y=8", "Z=9"]),
                args_truncated: false,
                env_truncated: true
            }
        );
    }

    #[test]
    fn counts_larger_than_the_bytes_do_not_panic() {
        let s = split(b"a\0", b"\0", u16::MAX, u16::MAX, true);
        assert_eq!((s.argv, s.env), (v(&["a"]), vec![]));
        assert!(s.args_truncated && s.env_truncated);
        let s = split(b"", b"", 0, 0, false);
        assert_eq!(s, Split { argv: vec![], env: vec![], args_truncated: false, env_truncated: false });
    }
}
