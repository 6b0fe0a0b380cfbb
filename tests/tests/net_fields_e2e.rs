//! Privileged end-to-end test of `fd.l4proto` on connects: the socket's type is
//! read in the kernel from the connecting fd, so a real TCP connect reports
//! `tcp` and a real UDP connect `udp` (exact values in the alerts' `output_fields`).
use std::net::{TcpListener, TcpStream, UdpSocket};

use lanner_tests::{nonce, require_root, Agent, Keep, Stopped};
use serde_json::Value;

fn rules(n: &str, tcp: u16, udp: u16) -> String {
    format!(
        "- rule: Connect fields {n}\n  desc: e2e\n  condition: evt.type = connect and fd.sport in ({tcp}, {udp})\n  \
         output: \"proto=%fd.l4proto port=%fd.sport sip=%fd.sip type=%fd.type name=%fd.name\"\n  priority: NOTICE\n"
    )
}

fn alert<'a>(out: &'a Stopped, n: &str, port: u16) -> &'a Value {
    let rule = format!("Connect fields {n}");
    let hits: Vec<&Value> =
        out.events.iter().filter(|e| e["rule"] == rule.as_str() && e["output_fields"]["fd.sport"] == port).collect();
    assert_eq!(hits.len(), 1, "one connect to port {port}; alerts:\n{hits:#?}");
    &hits[0]["output_fields"]
}

#[test]
fn connects_report_their_l4_protocol() {
    if !require_root("connects_report_their_l4_protocol") {
        return;
    }
    let n = nonce();
    let dir = std::env::temp_dir().join(format!("lanner-net-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap().port();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = server.local_addr().unwrap().port();
    let file = dir.join("net.yaml");
    std::fs::write(&file, rules(&n, tcp, udp)).unwrap();
    let agent = Agent::start(&["--no-k8s", "--rules", file.to_str().unwrap()], Keep::All);

    let s = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.connect(("127.0.0.1", udp)).unwrap();
    drop((s, c, listener, server));

    let out = agent.stop();
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_accounting();
    let t = alert(&out, &n, tcp);
    assert_eq!(t["fd.l4proto"], "tcp");
    assert_eq!(t["fd.type"], "ipv4");
    assert_eq!(t["fd.sip"], "127.0.0.1");
    let u = alert(&out, &n, udp);
    assert_eq!(u["fd.l4proto"], "udp");
    assert_eq!(u["fd.name"], format!("127.0.0.1:{udp}").as_str(), "no client side known: {u}");
}
