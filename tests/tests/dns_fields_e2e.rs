//! Privileged end-to-end test of `fd.sip.name`: the agent resolves the names rules
//! compare it with (getaddrinfo; only `localhost` and numeric names, so nothing leaves
//! the machine), a real connect to 127.0.0.1 fires `fd.sip.name = "localhost"` and
//! prints the name, a name that resolves elsewhere (`127.0.0.2`) does not fire, and a
//! rule reload that adds a name has it resolved and matching without a restart. The
//! resolutions show in /metrics.
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lanner_tests::triage::{free_port, scrape};
use lanner_tests::{nonce, require_root, Agent, Keep};
use serde_json::Value;

fn rule(name: &str, n: &str, port: u16, cond: &str) -> String {
    format!(
        "- rule: {name} {n}\n  desc: e2e\n  condition: evt.type = connect and fd.sport = {port} and {cond}\n  \
         output: \"sip.name=%fd.sip.name rip.name=%fd.rip.name sip=%fd.sip\"\n  priority: NOTICE\n"
    )
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse::<f64>().ok())).unwrap_or(0.0)
}

/// Wait until /metrics shows `series` at `want` or more.
fn wait_metric(addr: &str, series: &str, want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(addr);
        if metric(&text, series) >= want {
            return text;
        }
        assert!(Instant::now() < deadline, "{series} never reached {want}:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn connect(port: u16) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    drop(s);
}

#[test]
fn sip_name_matches_resolved_names() {
    if !require_root("sip_name_matches_resolved_names") {
        return;
    }
    let n = nonce();
    let dir = std::env::temp_dir().join(format!("lanner-dns-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let first = [
        rule("Localhost", &n, port, "fd.sip.name = \"localhost\""),
        rule("Elsewhere", &n, port, "fd.sip.name in (\"127.0.0.2\")"),
        rule("Not elsewhere", &n, port, "fd.sip.name != \"127.0.0.2\""),
    ]
    .concat();
    let file = dir.join("dns.yaml");
    std::fs::write(&file, &first).unwrap();
    let maddr = format!("127.0.0.1:{}", free_port());
    let agent = Agent::start(
        &["--no-k8s", "--metrics-addr", &maddr, "--rules", file.to_str().unwrap(), "--rules-poll-ms", "200"],
        Keep::All,
    );
    let text = wait_metric(&maddr, "lanner_dns_resolutions_total{result=\"success\"}", 2.0);
    assert_eq!(metric(&text, "lanner_dns_names"), 2.0, "{text}");
    connect(port);
    // Outputs are rendered when the alert is built: let it be, before the reload
    // registers 127.0.0.1 as a name too.
    std::thread::sleep(Duration::from_millis(1000));

    // A reload adds a name (numeric: resolves to itself): resolved at once, it matches.
    let second = format!("{first}{}", rule("Reloaded", &n, port, "fd.sip.name = \"127.0.0.1\""));
    std::fs::write(&file, second).unwrap();
    wait_metric(&maddr, "lanner_dns_names", 3.0);
    wait_metric(&maddr, "lanner_dns_resolutions_total{result=\"success\"}", 3.0);
    connect(port);
    std::thread::sleep(Duration::from_millis(300));

    let out = agent.stop();
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_accounting();
    let hits = |name: &str| -> Vec<&Value> {
        let rule = format!("{name} {n}");
        out.events.iter().filter(|e| e["rule"] == rule.as_str()).collect()
    };
    let local = hits("Localhost");
    assert_eq!(local.len(), 2, "both connects match localhost:\n{local:#?}");
    // Printed: the first registered name (alphabetically) the address resolved to.
    let o = &local[0]["output_fields"];
    assert_eq!(o["fd.sip.name"], "localhost", "{o}");
    assert_eq!(o["fd.sip"], "127.0.0.1", "{o}");
    let first_out = local[0]["output"].as_str().unwrap();
    assert!(first_out.contains("sip.name=localhost rip.name=localhost sip=127.0.0.1"), "{first_out}");
    assert_eq!(local[1]["output_fields"]["fd.sip.name"], "127.0.0.1", "after the reload 127.0.0.1 is a name too");
    assert!(hits("Elsewhere").is_empty(), "127.0.0.2 is not 127.0.0.1:\n{:#?}", hits("Elsewhere"));
    assert_eq!(hits("Not elsewhere").len(), 2);
    assert_eq!(hits("Reloaded").len(), 1, "the name added by the reload matches the second connect");
}
