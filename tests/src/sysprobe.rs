//! Helpers of the syscall-probe e2e tests: raw syscalls with the kernel's result
//! (`-errno` on failure), the workload's results by name, one agent run with a rule
//! file written for the test, and assertions on kernel records and on the
//! `evt.arg.*`/`fd.*` values of alerts.
use std::{collections::BTreeMap, ffi::CString};

use serde_json::Value;

use crate::{Agent, Keep, Stopped};

/// Rules that need none of the syscall tests' event types (only an exec that never
/// runs): their probes must not even attach.
pub const EXEC_ONLY: &str = r#"
- rule: e2e exec only
  desc: nothing this test's syscalls can match
  condition: evt.type = execve and proc.name = never-run-PID
  output: "exec %proc.name"
  priority: WARNING
"#;

pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The syscall's result as the kernel reports it: the value, or -errno.
pub fn ret(r: libc::c_long) -> i64 {
    if r < 0 {
        -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap())
    } else {
        r
    }
}

/// `libc::syscall` returning the kernel's result (see [`ret`]).
#[macro_export]
macro_rules! sys {
    ($nr:expr $(, $a:expr)*) => {
        $crate::sysprobe::ret(unsafe { libc::syscall($nr $(, $a)*) })
    };
}

/// `-errno`.
pub fn e(errno: i32) -> i64 {
    -i64::from(errno)
}

/// Results of the workload by name.
#[derive(Default, Debug)]
pub struct Results {
    r: BTreeMap<String, i64>,
}

impl Results {
    pub fn set(&mut self, k: &str, v: i64) {
        self.r.insert(k.to_string(), v);
    }
    pub fn get(&self, k: &str) -> i64 {
        *self.r.get(k).unwrap_or_else(|| panic!("no result '{k}' in {:?}", self.r))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Run `workload` under an agent loading `rules` (`PID` replaced by this process id)
/// with `--events` when `events` (which prints every record and opens the pre-filter).
pub fn run(rules: &str, dir: &str, events: bool, workload: impl FnOnce(&mut Results)) -> (Stopped, Results) {
    run_env(rules, dir, events, &[], workload)
}

/// The probes as the agent loads them here, or every enter+exit pair in place of
/// the exit-only register-reading programs (their fallback before 5.15 or off x86_64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probes {
    AsLoaded,
    Pairs,
}

impl Probes {
    /// The agent's environment for this choice.
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Probes::AsLoaded => &[],
            Probes::Pairs => &[("LANNER_SKIP_PROBES", "*_regs")],
        }
    }

    /// Check the agent really used this path: `program` attached (the pair's
    /// half under `Pairs`; either under `AsLoaded`), no `*_regs` under `Pairs`.
    pub fn assert_used(self, out: &Stopped, pair_half: &str, regs: &str) {
        let attached =
            |p: &str| out.stderr.iter().any(|l| l.contains("probe attached") && l.contains(&format!("\"{p}\"")));
        match self {
            Probes::Pairs => {
                assert!(attached(pair_half), "{pair_half} not attached under LANNER_SKIP_PROBES=*_regs");
                assert!(!attached(regs), "{regs} attached under LANNER_SKIP_PROBES=*_regs");
            }
            Probes::AsLoaded => {
                assert!(attached(pair_half) || attached(regs), "neither {pair_half} nor {regs} attached")
            }
        }
    }
}

/// [`run`] with extra agent environment (see [`Probes::env`]).
pub fn run_env(
    rules: &str,
    dir: &str,
    events: bool,
    env: &[(&str, &str)],
    workload: impl FnOnce(&mut Results),
) -> (Stopped, Results) {
    let rules_dir = format!("{dir}-rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(format!("{rules_dir}/e2e.yaml"), rules.replace("PID", &std::process::id().to_string())).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["--no-k8s", "--rules", &rules_dir, "--metrics-addr", &addr];
    if events {
        args.push("--events");
    }
    let agent = Agent::start_env(&args, Keep::All, env);
    let mut x = Results::default();
    workload(&mut x);
    let out = agent.stop();
    let _ = std::fs::remove_dir_all(&rules_dir);
    out.assert_accounting();
    (out, x)
}

pub fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or(i64::MIN)
}

/// The one kernel record of type `ty` (`file`, `sys`) for `syscall` by process `pid`
/// with result `ret`.
pub fn record<'a>(out: &'a Stopped, ty: &str, syscall: &str, pid: i64, ret: i64) -> &'a Value {
    out.one(ty, &format!("{syscall} = {ret} by {pid}"), |e| {
        e["syscall"] == syscall && i(&e["pid"]) == pid && i(&e["ret"]) == ret
    })
}

/// The one alert of `rule` whose output contains `needle`.
pub fn alert(out: &Stopped, rule: &str, needle: &str) -> BTreeMap<String, Value> {
    let found: Vec<&Value> = out
        .events
        .iter()
        .filter(|e| e["rule"] == rule && e["output"].as_str().is_some_and(|o| o.contains(needle)))
        .collect();
    assert_eq!(found.len(), 1, "one alert of '{rule}' with '{needle}', got {found:#?}");
    serde_json::from_value(found[0]["output_fields"].clone()).unwrap()
}

/// How many alerts `rule` raised.
pub fn fired(out: &Stopped, rule: &str) -> usize {
    out.events.iter().filter(|e| e["rule"] == rule).count()
}

/// Assert output fields: `evt.arg.<k>` for a bare `k`, else the field named; `None`
/// means `<NA>`.
pub fn args(f: &BTreeMap<String, Value>, want: &[(&str, Option<&str>)]) {
    for (k, v) in want {
        let key = if k.contains('.') { k.to_string() } else { format!("evt.arg.{k}") };
        let got = f.get(&key).unwrap_or_else(|| panic!("no {key} in {f:#?}"));
        let got = match got {
            Value::String(s) => s.clone(),
            Value::Null => "<NA>".into(),
            other => other.to_string(),
        };
        assert_eq!(got, v.unwrap_or("<NA>"), "{key} in {f:#?}");
    }
}

/// Fork, run `f` in the child (its return value is the exit status), wait; returns
/// the child's pid after asserting it exited 0.
pub fn in_child(what: &str, f: impl FnOnce() -> bool) -> i64 {
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok = f();
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    assert!(pid > 0, "fork");
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{what} child: {status:#x}");
    pid.into()
}
