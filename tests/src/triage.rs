//! Harness for the triage worker's end-to-end tests: run `lanner triage`
//! (serve or `eval`) as a black box, speak the agent ↔ worker protocol to it
//! over its unix socket, and scrape its `/metrics`.
//!
//! The protocol's frames are MessagePack maps (`rmp_serde::to_vec_named` of
//! `Frame<Alert>`, externally tagged), so a small encoder/decoder for JSON
//! values is all a client needs; the test crate stays free of the agent's
//! dependencies and checks the wire format as another implementation would.
//!
//! Real dependencies (the LLM, the API server) must be up: tests fail with a
//! clear message unless `LANNER_SKIP_REAL=1`.
use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Map, Value};

/// `true` (after saying why) when a missing real dependency may skip the test.
pub fn skip_real(test: &str, what: &str) -> bool {
    if std::env::var("LANNER_SKIP_REAL").is_ok_and(|v| v == "1") {
        eprintln!("SKIP {test}: {what} (LANNER_SKIP_REAL=1)");
        return true;
    }
    panic!("{test}: {what}; start it or set LANNER_SKIP_REAL=1 to skip real-dependency tests");
}

/// Base URL of the local LLM (`xtask/llm/llm.sh up`) when it answers.
pub fn llm_url() -> Option<String> {
    let url = std::env::var("LANNER_LLM_URL").unwrap_or_else(|_| "http://127.0.0.1:8087/v1".into());
    let ok = Command::new("curl")
        .args(["-sf", "--max-time", "5"])
        .arg(format!("{url}/models"))
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(url)
}

pub fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `lanner triage eval …`: (exit success, stdout, stderr).
pub fn eval(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(crate::lanner_bin())
        .args(["triage", "eval"])
        .args(args)
        .env_remove("LANNER_LLM_URL")
        .envs(env.iter().copied())
        .output()
        .expect("run lanner triage eval");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---- MessagePack (the subset the protocol uses) -----------------------------------------------

pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                out.push(0xcf);
                out.extend_from_slice(&u.to_be_bytes());
            } else if let Some(i) = n.as_i64() {
                out.push(0xd3);
                out.extend_from_slice(&i.to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_be_bytes());
            }
        }
        Value::String(s) => {
            out.push(0xdb);
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(a) => {
            out.push(0xdd);
            out.extend_from_slice(&(a.len() as u32).to_be_bytes());
            a.iter().for_each(|x| encode(x, out));
        }
        Value::Object(m) => {
            out.push(0xdf);
            out.extend_from_slice(&(m.len() as u32).to_be_bytes());
            for (k, x) in m {
                encode(&Value::String(k.clone()), out);
                match (k.as_str(), x.as_str().and_then(uuid_bytes)) {
                    // `Uuid` in a non-human-readable format (rmp-serde) is 16 raw bytes.
                    ("uuid", Some(b)) => {
                        out.extend_from_slice(&[0xc4, 16]);
                        out.extend_from_slice(&b);
                    }
                    _ => encode(x, out),
                }
            }
        }
    }
}

fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || s.len() != 36 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, x) in b.iter_mut().enumerate() {
        *x = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(b)
}

pub fn decode(b: &[u8], i: &mut usize) -> Value {
    let take = |i: &mut usize, n: usize| {
        let s = &b[*i..*i + n];
        *i += n;
        s
    };
    let be = |s: &[u8]| s.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
    let m = take(i, 1)[0];
    let str_of = |i: &mut usize, n: usize| Value::String(String::from_utf8_lossy(take(i, n)).into_owned());
    let arr = |i: &mut usize, n: usize| Value::Array((0..n).map(|_| decode(b, i)).collect());
    let map = |i: &mut usize, n: usize| {
        let mut o = Map::new();
        for _ in 0..n {
            let k = decode(b, i);
            let v = decode(b, i);
            o.insert(k.as_str().map(str::to_owned).unwrap_or_else(|| k.to_string()), v);
        }
        Value::Object(o)
    };
    match m {
        0x00..=0x7f => Value::from(m),
        0x80..=0x8f => map(i, usize::from(m & 0x0f)),
        0x90..=0x9f => arr(i, usize::from(m & 0x0f)),
        0xa0..=0xbf => str_of(i, usize::from(m & 0x1f)),
        0xc0 => Value::Null,
        0xc2 => Value::Bool(false),
        0xc3 => Value::Bool(true),
        0xc4 => {
            let n = usize::from(take(i, 1)[0]);
            Value::Array(take(i, n).iter().map(|x| Value::from(*x)).collect())
        }
        0xcc => Value::from(take(i, 1)[0]),
        0xcd => Value::from(be(take(i, 2))),
        0xce => Value::from(be(take(i, 4))),
        0xcf => Value::from(be(take(i, 8))),
        0xd9 => {
            let n = usize::from(take(i, 1)[0]);
            str_of(i, n)
        }
        0xda => {
            let n = be(take(i, 2)) as usize;
            str_of(i, n)
        }
        0xdb => {
            let n = be(take(i, 4)) as usize;
            str_of(i, n)
        }
        0xdc => {
            let n = be(take(i, 2)) as usize;
            arr(i, n)
        }
        0xde => {
            let n = be(take(i, 2)) as usize;
            map(i, n)
        }
        0xe0..=0xff => Value::from(i64::from(m as i8)),
        other => panic!("msgpack marker {other:#x} not supported by this test client"),
    }
}

/// A protocol client over the worker's unix socket.
pub struct Client {
    s: UnixStream,
}

impl Client {
    pub fn connect(sock: &Path, token: &str) -> Result<Client, String> {
        let s = UnixStream::connect(sock).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Client { s };
        c.send(
            &serde_json::json!({"Hello": {"version": 1, "token": token, "agent_id": "e2e-agent", "node": "e2e-node"}}),
        );
        let r = c.recv();
        if r.get("HelloOk").is_none() {
            return Err(format!("handshake refused: {r}"));
        }
        Ok(c)
    }

    pub fn send(&mut self, frame: &Value) {
        let mut body = Vec::new();
        encode(frame, &mut body);
        self.s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
        self.s.write_all(&body).unwrap();
    }

    pub fn recv(&mut self) -> Value {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).expect("frame length");
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut body).expect("frame body");
        decode(&body, &mut 0)
    }

    /// Send one alert and wait for its ack; returns the seconds it took.
    pub fn alert(&mut self, seq: u64, alert: &Value) -> f64 {
        let t = Instant::now();
        self.send(&serde_json::json!({"Alert": {"seq": seq, "alert": alert}}));
        let r = self.recv();
        assert_eq!(r["Ack"]["seq"], seq, "expected the ack of {seq}, got {r}");
        t.elapsed().as_secs_f64()
    }
}

/// A Falco-format alert about `ns/pod`.
pub fn alert(rule: &str, priority: &str, ns: &str, pod: &str, container: &str, uuid: &str) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    serde_json::json!({
        "output": format!("12:00:00.000000000: {priority} {rule}"), "priority": priority, "rule": rule,
        "time": rfc3339(now), "source": "syscall", "tags": ["T1059", "mitre_execution"], "hostname": "e2e-node", "uuid": uuid,
        "output_fields": {"k8s.ns.name": ns, "k8s.pod.name": pod, "container.id": container, "proc.name": "sh", "proc.pname": "bash", "proc.cmdline": "sh -i"}
    })
}

fn rfc3339(d: Duration) -> String {
    let out =
        Command::new("date").args(["-u", "-d", &format!("@{}", d.as_secs()), "+%Y-%m-%dT%H:%M:%S"]).output().unwrap();
    format!("{}.{:09}Z", String::from_utf8_lossy(&out.stdout).trim(), d.subsec_nanos())
}

/// A running `lanner triage`, killed on drop.
pub struct Worker {
    pub child: Child,
}

impl Worker {
    pub fn start(args: &[&str], env: &[(&str, &str)], sock: &Path) -> Worker {
        let child = Command::new(crate::lanner_bin())
            .arg("triage")
            .args(args)
            // No LLM unless a test passes --llm-url: the serve path stays fast and deterministic.
            .env_remove("LANNER_LLM_URL")
            .envs(env.iter().copied())
            .env("LANNER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn lanner triage");
        let mut w = Worker { child };
        let t = Instant::now();
        while !sock.exists() {
            if let Ok(Some(st)) = w.child.try_wait() {
                panic!("lanner triage exited ({st}) before listening");
            }
            assert!(t.elapsed() < Duration::from_secs(30), "lanner triage not listening after 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        w
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let st = self.child.wait().expect("wait");
        std::mem::forget(self);
        st
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET http://addr/metrics.
pub fn scrape(addr: &str) -> String {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "5"])
        .arg(format!("http://{addr}/metrics"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
