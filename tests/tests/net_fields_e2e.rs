//! Privileged end-to-end test of the fd fields of connects and opens: the socket's
//! type and its local address are read in the kernel from the connecting fd, so a
//! real TCP connect reports `tcp`, a real UDP connect `udp`, and both carry their
//! client side (`fd.lip`/`fd.lport`, `fd.name` as `cip:cport->sip:sport`); a refused
//! connect is not `fd.connected`; an open of a relative `../` path keeps the path as
//! passed in `fd.nameraw` (exact values in the alerts' `output_fields`).
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};

use lanner_tests::{nonce, require_root, Agent, Keep, Stopped};
use serde_json::Value;

fn rules(n: &str, tcp: u16, udp: u16, refused: u16, dir: &str) -> String {
    format!(
        "- rule: Connect fields {n}\n  desc: e2e\n  condition: evt.type = connect and fd.port in ({tcp}, {udp}, {refused}) \
         and fd.rnet in (127.0.0.0/8) and (fd.lnet in (127.0.0.0/8) or evt.res != SUCCESS)\n  \
         output: \"proto=%fd.l4proto port=%fd.sport sip=%fd.sip type=%fd.type name=%fd.name lip=%fd.lip \
         lport=%fd.lport cip=%fd.cip cport=%fd.cport rip=%fd.rip rport=%fd.rport connected=%fd.connected \
         server=%fd.is_server nameraw=%fd.nameraw res=%evt.res\"\n  priority: NOTICE\n\
         - rule: Traversal {n}\n  desc: e2e\n  condition: evt.type = openat and fd.nameraw contains \"../\" \
         and fd.name startswith {dir}/\n  \
         output: \"name=%fd.name nameraw=%fd.nameraw connected=%fd.connected server=%fd.is_server proc=%proc.name\"\n  priority: NOTICE\n"
    )
}

fn alert<'a>(out: &'a Stopped, n: &str, port: u16) -> &'a Value {
    let rule = format!("Connect fields {n}");
    let hits: Vec<&Value> =
        out.events.iter().filter(|e| e["rule"] == rule.as_str() && e["output_fields"]["fd.sport"] == port).collect();
    let all: Vec<&Value> = out.events.iter().filter(|e| e["rule"] == rule.as_str()).collect();
    assert_eq!(hits.len(), 1, "one connect to port {port}; alerts of the rule:\n{all:#?}");
    &hits[0]["output_fields"]
}

#[test]
fn connects_report_their_l4_protocol_and_client_side() {
    if !require_root("connects_report_their_l4_protocol_and_client_side") {
        return;
    }
    let n = nonce();
    let dir = std::env::temp_dir().join(format!("lanner-net-{n}"));
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    std::fs::write(dir.join("secret"), b"x").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap().port();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = server.local_addr().unwrap().port();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = closed.local_addr().unwrap().port();
    drop(closed);
    let file = dir.join("net.yaml");
    std::fs::write(&file, rules(&n, tcp, udp, refused, dir.to_str().unwrap())).unwrap();
    let maddr = format!("127.0.0.1:{}", lanner_tests::triage::free_port());
    let agent = Agent::start(&["--no-k8s", "--metrics-addr", &maddr, "--rules", file.to_str().unwrap()], Keep::All);

    let s = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    let tcp_client = s.local_addr().unwrap();
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.connect(("127.0.0.1", udp)).unwrap();
    let udp_client = c.local_addr().unwrap();
    let refused_ok = TcpStream::connect(("127.0.0.1", refused)).is_err();
    drop((s, c, listener, server));
    // The shell opens `../../secret` from a/b and lives on, so its /proc/PID/cwd resolves;
    // cat is gone at once, and its directory read in the kernel at exec stands in.
    let st =
        Command::new("/bin/sh").current_dir(dir.join("a/b")).args(["-c", "exec 3< ../../secret; sleep 0.5"]).status();
    let st2 = Command::new("/bin/cat").current_dir(dir.join("a/b")).arg("../../secret").stdout(Stdio::null()).status();

    let out = agent.stop();
    assert!(refused_ok, "nothing listens on {refused}");
    assert!(st.unwrap().success());
    assert!(st2.unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_accounting();
    let t = alert(&out, &n, tcp);
    assert_eq!(t["fd.l4proto"], "tcp");
    assert_eq!(t["fd.type"], "ipv4");
    assert_eq!(t["fd.sip"], "127.0.0.1");
    assert_eq!(t["fd.rip"], "127.0.0.1");
    assert_eq!(t["fd.rport"], tcp);
    assert_eq!(t["fd.lip"], tcp_client.ip().to_string().as_str());
    assert_eq!(t["fd.lport"], tcp_client.port());
    assert_eq!(t["fd.cport"], tcp_client.port());
    assert_eq!(t["fd.name"], format!("{tcp_client}->127.0.0.1:{tcp}").as_str());
    assert_eq!(t["fd.nameraw"], t["fd.name"]);
    assert_eq!(t["fd.connected"], true);
    assert_eq!(t["fd.is_server"], false);
    let u = alert(&out, &n, udp);
    assert_eq!(u["fd.l4proto"], "udp");
    assert_eq!(u["fd.name"], format!("{udp_client}->127.0.0.1:{udp}").as_str());
    assert_eq!(u["fd.cip"], "127.0.0.1");
    assert_eq!(u["fd.connected"], true);
    let r = alert(&out, &n, refused);
    assert_eq!(r["evt.res"], "ECONNREFUSED");
    assert_eq!(r["fd.connected"], false);

    let rule = format!("Traversal {n}");
    let all: Vec<&Value> = out.events.iter().filter(|e| e["rule"] == rule.as_str()).collect();
    for opener in ["sh", "cat"] {
        let hits: Vec<&&Value> = all.iter().filter(|e| e["output_fields"]["proc.name"] == opener).collect();
        assert_eq!(hits.len(), 1, "one traversal open by {opener}; alerts:\n{all:#?}");
        let o = &hits[0]["output_fields"];
        assert_eq!(o["fd.nameraw"], "../../secret", "{o}");
        assert_eq!(o["fd.name"], dir.join("secret").to_str().unwrap(), "{o}");
        assert_eq!(o["fd.connected"], false, "{o}");
        assert_eq!(o["fd.is_server"], false, "{o}");
    }
}
