//! Privileged test of the reader's recovery from a lost wake-up.
//!
//! The ring buffer's fd is edge-triggered and the kernel re-checks for data
//! when it reports the edge, so a probe's wake-up is lost when the reader
//! drains that record first. The probe has lowered `READER_IDLE` by then, so
//! no later probe wakes the sleeping reader again. Before the fix the agent
//! stayed in that state for good, every alert waiting for the 50 ms
//! housekeeping tick (CI's evtgen saw ~33 ms per alert). The race itself is
//! a matter of microseconds; this test puts the agent in its aftermath
//! directly (reader asleep, flag lowered, no wake-up coming) by lowering the
//! real map's flag from outside, and checks that the reader raises it again
//! within a few housekeeping ticks and counts the recovery.
use std::time::{Duration, Instant};

use aya::maps::{Array, Map, MapData, MapInfo};
use lanner_tests::{nonce, require_root, Agent, Keep};

/// One exec rule: no rule needs the bpf syscall, so the agent attaches no
/// probe that sees this test's own map reads and writes (each would be an
/// event that wakes the reader and lowers the flag).
const RULES: &str = "- rule: reader wake test
  desc: never matches
  condition: evt.type = execve and proc.name = NONCE
  output: \"NONCE %proc.name\"
  priority: WARNING
";

/// The id of the BPF map called `name` among `pid`'s open fds.
fn agent_map_id(pid: u32, name: &str) -> u32 {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).expect("read the agent's fdinfo");
    for fd in fds.flatten() {
        let Ok(info) = std::fs::read_to_string(fd.path()) else { continue };
        let Some(id) = info.lines().find_map(|l| l.strip_prefix("map_id:")) else { continue };
        let id: u32 = id.trim().parse().expect("map_id is a number");
        if MapInfo::from_id(id).ok().and_then(|m| m.name_as_str().map(|n| n == name)) == Some(true) {
            return id;
        }
    }
    panic!("no map named {name} among the fds of pid {pid}");
}

fn read_flag(flag: &Array<MapData, u32>) -> u32 {
    flag.get(&0, 0).expect("read READER_IDLE")
}

/// Wait up to `limit` for the flag to read `want`; how long it took.
fn wait_flag(flag: &Array<MapData, u32>, want: u32, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if read_flag(flag) == want {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

#[test]
fn an_idle_reader_whose_wake_up_was_lost_recovers_on_its_tick() {
    if !require_root("an_idle_reader_whose_wake_up_was_lost_recovers_on_its_tick") {
        return;
    }
    let n = nonce();
    let dir = std::env::temp_dir().join(format!("{n}-reader-wake"));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULES.replace("NONCE", &n)).unwrap();
    let args = ["--no-k8s", "--metrics-addr", "off", "--poll-ms", "50", "--rules", rules.to_str().unwrap()];
    let agent = Agent::start(&args, Keep::Count(n.clone()));
    let id = agent_map_id(agent.pid(), "READER_IDLE");
    let mut flag: Array<MapData, u32> =
        Array::try_from(Map::Array(MapData::from_id(id).expect("open READER_IDLE"))).expect("an array of u32");
    let mut recovered = 0;
    for round in 0..5 {
        // The reader raises the flag once it has polled a few times for nothing.
        // Events from elsewhere on the machine may keep it busy for a while.
        wait_flag(&flag, 1, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("round {round}: the reader never went idle (READER_IDLE stayed 0 for 10 s)"));
        // What a probe does when it wakes the reader, without the wake-up.
        flag.set(0, 0, 0).expect("lower READER_IDLE");
        // Within a tick (50 ms) plus three 1 ms polls the reader must be
        // idle again with its flag up: a reader that never noticed keeps the
        // flag down, since only the reader raises it.
        let took = wait_flag(&flag, 1, Duration::from_millis(500));
        eprintln!("round {round}: flag raised again after {took:?}");
        assert!(took.is_some(), "round {round}: the reader slept on with READER_IDLE lowered for 500 ms");
        recovered += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = agent.stop();
    let rewakes = out.final_counters["userspace"]["reader_rewakes"].as_u64().expect("reader_rewakes counter");
    eprintln!("recovered {recovered} of 5 lowered flags; reader_rewakes {rewakes}");
    // A flag lowered by a real event in between wakes the reader properly and
    // is not counted, so at least one (not necessarily five) must be.
    assert!(rewakes >= 1, "no recovery counted:\n{}", out.stderr.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
