//! Linux errno names, for `evt.res` (Falco shows a failed syscall's result as the errno
//! name, e.g. `ENOENT`, and a successful one as `SUCCESS`). Static strings, so the
//! matcher borrows them without allocating.

const NAMES: [&str; 134] = [
    "SUCCESS",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "EWOULDBLOCK",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "EDEADLOCK",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "EHWPOISON",
];

/// `evt.res` for a syscall return value: `SUCCESS` for `res >= 0`, the errno name for
/// `-errno`, `EUNKNOWN` outside the table.
pub fn res_name(res: i64) -> &'static str {
    if res >= 0 {
        return "SUCCESS";
    }
    let e = res.unsigned_abs();
    if e < NAMES.len() as u64 {
        NAMES[e as usize]
    } else {
        "EUNKNOWN"
    }
}

/// Every `evt.res` value of a failed syscall (`res < 0`).
pub(crate) fn failure_names() -> impl Iterator<Item = &'static str> {
    NAMES[1..].iter().copied().chain(std::iter::once("EUNKNOWN"))
}

/// Whether `s` is a name `evt.res` can take (used to validate rule literals).
pub fn is_known(s: &str) -> bool {
    s == "EUNKNOWN" || s == "EAGAIN" || NAMES.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(res_name(0), "SUCCESS");
        assert_eq!(res_name(7), "SUCCESS");
        assert_eq!(res_name(-2), "ENOENT");
        assert_eq!(res_name(-13), "EACCES");
        assert_eq!(res_name(-115), "EINPROGRESS");
        assert_eq!(res_name(-1), "EPERM");
        assert_eq!(res_name(-133), "EHWPOISON");
        assert_eq!(res_name(-4000), "EUNKNOWN");
        assert!(is_known("ENOENT") && !is_known("ENOPE"));
    }
}
