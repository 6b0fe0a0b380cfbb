//! The flag tables of the `flags`-like arguments of the captured event types other
//! than the opens (`evt.arg.flags` of unlinkat is `AT_REMOVEDIR`, of unshare
//! `CLONE_NEWUSER|CLONE_NEWNS`), kept here so the agent renders with the same names the
//! rule compiler accepts: `evt.arg.flags contains CLONE_NEWUSER` is valid because some
//! event type's flags argument has that name ([`types_with_flag`]). Names, order and
//! (for clone flags) the raw value follow Falco's flag tables (libs `flags_table.c`).
use crate::runtime::event::{EvtType, TypeMask};

/// `(bit, name)`: the kernel's bit and Falco's name for it.
pub type FlagTable = &'static [(u64, &'static str)];

pub const LINKAT_FLAGS: FlagTable = &[(0x400, "AT_SYMLINK_FOLLOW"), (0x1000, "AT_EMPTY_PATH")];
pub const UNLINKAT_FLAGS: FlagTable = &[(0x200, "AT_REMOVEDIR")];
pub const RENAMEAT2_FLAGS: FlagTable = &[(1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT")];
pub const FINIT_MODULE_FLAGS: FlagTable =
    &[(1, "MODULE_INIT_IGNORE_MODVERSIONS"), (2, "MODULE_INIT_IGNORE_VERMAGIC"), (4, "MODULE_INIT_COMPRESSED_FILE")];
pub const DELETE_MODULE_FLAGS: FlagTable = &[(0o1000, "O_TRUNC"), (0o4000, "O_NONBLOCK")];
pub const MEMFD_FLAGS: FlagTable =
    &[(1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB"), (8, "MFD_NOEXEC_SEAL"), (0x10, "MFD_EXEC")];
/// mount flags (`MS_*`, Falco's `mount_flags`).
pub const MOUNT_FLAGS: FlagTable = &[
    (1, "RDONLY"),
    (2, "NOSUID"),
    (4, "NODEV"),
    (8, "NOEXEC"),
    (16, "SYNCHRONOUS"),
    (32, "REMOUNT"),
    (64, "MANDLOCK"),
    (128, "DIRSYNC"),
    (1 << 10, "NOATIME"),
    (1 << 11, "NODIRATIME"),
    (1 << 12, "BIND"),
    (1 << 13, "MOVE"),
    (1 << 14, "REC"),
    (1 << 15, "SILENT"),
    (1 << 16, "POSIXACL"),
    (1 << 17, "UNBINDABLE"),
    (1 << 18, "PRIVATE"),
    (1 << 19, "SLAVE"),
    (1 << 20, "SHARED"),
    (1 << 21, "RELATIME"),
    (1 << 22, "KERNMOUNT"),
    (1 << 23, "I_VERSION"),
    (1 << 24, "STRICTATIME"),
    (1 << 25, "LAZYTIME"),
];
/// umount2 flags (Falco's `umount_flags`).
pub const UMOUNT_FLAGS: FlagTable = &[(1, "FORCE"), (2, "DETACH"), (4, "EXPIRE"), (8, "NOFOLLOW")];
/// fchownat flags.
pub const FCHOWNAT_FLAGS: FlagTable = &[(0x100, "AT_SYMLINK_NOFOLLOW"), (0x1000, "AT_EMPTY_PATH")];
/// The file flags dup3, accept4 and userfaultfd take.
pub const FD_FLAGS: FlagTable = &[(0o4000, "O_NONBLOCK"), (0o2000000, "O_CLOEXEC")];

/// Clone flags (unshare's `flags`, setns's `nstype`) in the order of Falco's
/// `clone_flags` table, which is the order Falco prints them in; the kernel bits
/// Falco's driver does not translate (CLONE_NEWTIME, CLONE_PIDFD...) have no name.
pub const CLONE_FLAGS: FlagTable = &[
    (0x400, "CLONE_FILES"),
    (0x200, "CLONE_FS"),
    (0x8000_0000, "CLONE_IO"),
    (0x0800_0000, "CLONE_NEWIPC"),
    (0x4000_0000, "CLONE_NEWNET"),
    (0x2_0000, "CLONE_NEWNS"),
    (0x2000_0000, "CLONE_NEWPID"),
    (0x0400_0000, "CLONE_NEWUTS"),
    (0x8000, "CLONE_PARENT"),
    (0x10_0000, "CLONE_PARENT_SETTID"),
    (0x2000, "CLONE_PTRACE"),
    (0x800, "CLONE_SIGHAND"),
    (0x4_0000, "CLONE_SYSVSEM"),
    (0x1_0000, "CLONE_THREAD"),
    (0x80_0000, "CLONE_UNTRACED"),
    (0x100, "CLONE_VM"),
    (0x1000_0000, "CLONE_NEWUSER"),
    (0x20_0000, "CLONE_CHILD_CLEARTID"),
    (0x100_0000, "CLONE_CHILD_SETTID"),
    (0x8_0000, "CLONE_SETTLS"),
    (0x4000, "CLONE_VFORK"),
    (0x0200_0000, "CLONE_NEWCGROUP"),
];
/// Falco's `PPM_CL_*` bit of each [`CLONE_FLAGS`] entry (same index): its
/// `evt.rawarg.flags` is this translation, not the kernel value.
const CLONE_PPM_BITS: [u8; 22] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 23, 24, 25, 27, 28];

/// io_uring_setup's setup flags (kernel bits) by Falco's names (`io_uring_setup_flags`,
/// including its spelling `IORING_SETUP_ATTACH_RW` of `IORING_SETUP_ATTACH_WQ`).
pub const IO_URING_SETUP_FLAGS: FlagTable = &[
    (1 << 0, "IORING_SETUP_IOPOLL"),
    (1 << 1, "IORING_SETUP_SQPOLL"),
    (1 << 2, "IORING_SETUP_SQ_AFF"),
    (1 << 3, "IORING_SETUP_CQSIZE"),
    (1 << 4, "IORING_SETUP_CLAMP"),
    (1 << 5, "IORING_SETUP_ATTACH_RW"),
    (1 << 6, "IORING_SETUP_R_DISABLED"),
];
/// Falco's `PPM_IORING_SETUP_*` bit of each [`IO_URING_SETUP_FLAGS`] entry (bit 2
/// is its `IORING_SQ_NEED_WAKEUP`, which is no setup flag).
const IO_URING_PPM_BITS: [u8; 7] = [0, 1, 3, 4, 5, 6, 7];
/// io_uring's feature bits (same values in the kernel and Falco) by Falco's names.
pub const IO_URING_FEATURES: FlagTable = &[
    (1 << 0, "IORING_FEAT_SINGLE_MMAP"),
    (1 << 1, "IORING_FEAT_NODROP"),
    (1 << 2, "IORING_FEAT_SUBMIT_STABLE"),
    (1 << 3, "IORING_FEAT_RW_CUR_POS"),
    (1 << 4, "IORING_FEAT_CUR_PERSONALITY"),
    (1 << 5, "IORING_FEAT_FAST_POLL"),
    (1 << 6, "IORING_FEAT_POLL_32BITS"),
    (1 << 7, "IORING_FEAT_SQPOLL_NONFIXED"),
    (1 << 8, "IORING_FEAT_ENTER_EXT_ARG"),
    (1 << 9, "IORING_FEAT_NATIVE_WORKERS"),
    (1 << 10, "IORING_FEAT_RSRC_TAGS"),
];

/// Kernel io_uring setup flags as Falco's raw value (`PPM_IORING_SETUP_*` bits;
/// flags Falco has no name for are dropped, as its driver does).
pub fn io_uring_setup_to_falco(v: u64) -> u64 {
    IO_URING_SETUP_FLAGS.iter().zip(IO_URING_PPM_BITS).filter(|((b, _), _)| v & b != 0).fold(0, |m, (_, p)| m | 1 << p)
}

/// Kernel clone flags as Falco's raw value (`PPM_CL_*` bits; untranslated bits dropped).
pub fn clone_to_falco(v: u64) -> u64 {
    CLONE_FLAGS.iter().zip(CLONE_PPM_BITS).filter(|((b, _), _)| v & b != 0).fold(0, |m, (_, p)| m | 1 << p)
}

/// Falco's clone flags (`PPM_CL_*`) back to the kernel's bits.
pub fn clone_from_falco(v: u64) -> u64 {
    CLONE_FLAGS.iter().zip(CLONE_PPM_BITS).filter(|(_, p)| v & (1 << p) != 0).fold(0, |m, ((b, _), _)| m | b)
}

/// Flag names of `v` joined by `|` in the table's order; the decimal value when none
/// is set (Falco's rendering of a flags argument).
pub fn flag_names(v: u64, table: &[(u64, &str)]) -> String {
    let names: Vec<&str> = table.iter().filter(|(b, _)| v & b != 0).map(|(_, n)| *n).collect();
    if names.is_empty() {
        v.to_string()
    } else {
        names.join("|")
    }
}

/// The table of the `flags` argument (`evt.arg.flags`) of an event type, when it has
/// one rendered as text (the opens' flags are typed: see `fields::flags`).
pub fn flags_of(t: EvtType) -> Option<FlagTable> {
    Some(match t {
        EvtType::Linkat => LINKAT_FLAGS,
        EvtType::Unlinkat => UNLINKAT_FLAGS,
        EvtType::Renameat2 => RENAMEAT2_FLAGS,
        EvtType::FinitModule => FINIT_MODULE_FLAGS,
        EvtType::DeleteModule => DELETE_MODULE_FLAGS,
        EvtType::MemfdCreate => MEMFD_FLAGS,
        EvtType::Mount => MOUNT_FLAGS,
        EvtType::Umount2 => UMOUNT_FLAGS,
        EvtType::Fchownat => FCHOWNAT_FLAGS,
        EvtType::Unshare => CLONE_FLAGS,
        EvtType::Userfaultfd | EvtType::Dup3 | EvtType::Accept4 => FD_FLAGS,
        EvtType::IoUringSetup => IO_URING_SETUP_FLAGS,
        _ => return None,
    })
}

/// The event types whose text `flags` argument can hold `name` (0: none).
pub fn types_with_flag(name: &str) -> TypeMask {
    EvtType::ALL
        .iter()
        .filter(|t| flags_of(**t).is_some_and(|tab| tab.iter().any(|(_, n)| *n == name)))
        .fold(0, |m, t| m | t.bit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_flags_render_in_falcos_order_with_its_raw_value() {
        let v = 0x1000_0000 | 0x2000_0000 | 0x2_0000; // NEWUSER | NEWPID | NEWNS
        assert_eq!(flag_names(v, CLONE_FLAGS), "CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWUSER");
        assert_eq!(clone_to_falco(v), (1 << 5) | (1 << 6) | (1 << 20));
        assert_eq!(clone_from_falco(clone_to_falco(v)), v);
        // CLONE_NEWTIME (0x80) has no Falco name: dropped, as Falco's driver does.
        assert_eq!(clone_to_falco(0x80), 0);
        assert_eq!(flag_names(clone_from_falco(clone_to_falco(0x80)), CLONE_FLAGS), "0");
        let mut bits: Vec<u64> = CLONE_FLAGS.iter().map(|(b, _)| *b).collect();
        bits.sort_unstable();
        bits.dedup();
        assert_eq!(bits.len(), CLONE_FLAGS.len(), "one kernel bit per name");
    }

    #[test]
    fn io_uring_setup_flags_render_with_falcos_names_and_raw_bits() {
        let v = (1 << 1) | (1 << 2) | (1 << 8); // SQPOLL | SQ_AFF | COOP_TASKRUN (no Falco name)
        assert_eq!(flag_names(v, IO_URING_SETUP_FLAGS), "IORING_SETUP_SQPOLL|IORING_SETUP_SQ_AFF");
        assert_eq!(io_uring_setup_to_falco(v), (1 << 1) | (1 << 3));
        assert_eq!(io_uring_setup_to_falco(1 << 5), 1 << 6, "ATTACH_WQ is Falco's bit 6");
        assert_eq!(types_with_flag("IORING_SETUP_SQPOLL"), EvtType::IoUringSetup.bit());
    }

    #[test]
    fn flag_names_map_to_the_types_that_carry_them() {
        assert_eq!(types_with_flag("CLONE_NEWUSER"), EvtType::Unshare.bit());
        assert_eq!(types_with_flag("AT_REMOVEDIR"), EvtType::Unlinkat.bit());
        assert_eq!(types_with_flag("AT_EMPTY_PATH"), EvtType::Linkat.bit() | EvtType::Fchownat.bit());
        assert_eq!(types_with_flag("CLONE_BOGUS"), 0);
        assert_eq!(types_with_flag("O_CREAT"), 0);
    }
}
