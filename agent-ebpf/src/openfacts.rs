//! What a successful open's record says about the file it returned, read at the
//! open's exit while a rule needs it (`FilterConfig::open_file_facts`): the
//! file's device and inode number, whether this open created it
//! (`FMODE_CREATED` in `f_mode`) and, on overlayfs, its layer (the same test as
//! the executable's: an upper dentry means written in the container). Shared by
//! the three open exits (`openat_regs`, `openat_fexit`, `openat_exit`).
//!
//! The exit-only programs call it BEFORE `fill_open` decides on the path, on
//! the scratch record `fill_open` then completes, and every value goes to map
//! memory as soon as it is known: the verifier then carries no register that
//! differs between the facts' branches into the path filter's many paths (with
//! the facts read after the filter, its paths times the facts' branches made
//! `openat_regs` take tens of seconds to verify here and over five minutes
//! under the kernel matrix's TCG guests). The price: while a rule needs the
//! facts, an open the path filter then drops has read them too.
use lanner_common::{
    exe::OVERLAYFS_SUPER_MAGIC, OpenEvent, OPEN_FACTS_READ, OPEN_FACT_CREATED, OPEN_FACT_LOWER, OPEN_FACT_UPPER,
};

use crate::{
    common::{conf, read_at},
    fdinfo::file_of,
};

/// `FMODE_CREATED` (include/linux/fs.h, bit 20 since 4.19; Falco's drivers test the same bit).
const FMODE_CREATED: u32 = 0x10_0000;

/// Fill `ev.facts`, `dev` and `ino` for the open that returned `ret`; all zero
/// when the open failed, no rule needs them (`wanted` false) or the fd cannot be
/// read. `ev` is map memory (the scratch record or the stash entry); each value
/// is stored there as soon as it is read (see the module's note).
#[inline(always)]
pub fn read_open_facts(ev: *mut OpenEvent, ret: i64, wanted: bool) {
    macro_rules! put {
        ($f:ident, $v:expr) => {
            unsafe { core::ptr::write_volatile(&raw mut (*ev).$f, $v) }
        };
    }
    macro_rules! add {
        ($bit:expr) => {
            unsafe {
                core::ptr::write_volatile(&raw mut (*ev).facts, core::ptr::read_volatile(&raw const (*ev).facts) | $bit)
            }
        };
    }
    put!(facts, 0);
    put!(dev, 0);
    put!(ino, 0);
    if ret < 0 || !wanted {
        return;
    }
    let file = file_of(ret);
    if file.is_null() {
        return;
    }
    put!(facts, OPEN_FACTS_READ);
    let mode: u32 = read_at(file, conf!(sock.file_f_mode)).unwrap_or(0);
    if mode & FMODE_CREATED != 0 {
        add!(OPEN_FACT_CREATED);
    }
    let inode: *const u8 = read_at(file, conf!(exe.file_f_inode)).unwrap_or(core::ptr::null());
    if inode.is_null() {
        return;
    }
    put!(ino, read_at(inode, conf!(exe.inode_i_ino)).unwrap_or(0));
    let sb: *const u8 = read_at(inode, conf!(exe.inode_i_sb)).unwrap_or(core::ptr::null());
    put!(dev, read_at(sb, conf!(exe.sb_s_dev)).unwrap_or(0));
    let magic: u64 = read_at(sb, conf!(exe.sb_s_magic)).unwrap_or(0);
    if magic == OVERLAYFS_SUPER_MAGIC {
        // `container_of(inode, struct ovl_inode, vfs_inode)->__upperdentry`.
        let upper: u64 = read_at(inode, conf!(exe.ovl_upperdentry)).unwrap_or(0);
        add!(if upper == 0 { OPEN_FACT_LOWER } else { OPEN_FACT_UPPER });
    }
}

/// While a rule needs them (`wanted`), the facts of the open that returned
/// `ret`, read into the scratch record `fill_open` then completes
/// (`maps::OPEN_SCRATCH`). Without such a rule it does nothing, so an open the
/// path filter drops costs no scratch lookup or store here; the kept record
/// then gets zero facts from [`clear_unwanted_facts`].
#[inline(always)]
pub fn scratch_with_facts(ret: i64, wanted: bool) -> Result<(), i64> {
    if !wanted {
        return Ok(());
    }
    let ev = crate::maps::OPEN_SCRATCH.get_ptr_mut(0).ok_or(0i64)?;
    read_open_facts(ev, ret, true);
    Ok(())
}

/// On a record `fill_open` kept: zero facts when no rule wanted them (the
/// scratch record still holds an earlier open's otherwise). `wanted` is
/// `FilterConfig::open_file_facts` (0 or 1), applied as a mask, not a
/// branch: a branch here would double every kept path the path filter
/// returns, and `openat_regs` then exceeds the verifier's million
/// instructions.
#[inline(always)]
pub fn clear_unwanted_facts(ev: &mut OpenEvent, wanted: u32) {
    let mask = (wanted as u64 & 1).wrapping_neg();
    ev.facts &= mask as u16;
    ev.dev &= mask as u32;
    ev.ino &= mask;
}
