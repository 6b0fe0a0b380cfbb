//! docs/detections.md: the evtgen run's action table and the ATT&CK for Containers
//! matrix (tactic × technique → rules), generated from the default pack's tags.
//!
//! The pack is read line by line (`- rule:`, `priority:`, `tags: [...]`, the layout of
//! `rules/default/*.yaml`); a rule without tags fails the load, so a layout change
//! cannot silently empty the matrix.
use std::{collections::BTreeMap, path::Path, process::Command};

use anyhow::{bail, Context as _, Result};

use super::Row;

pub(crate) struct PackRule {
    pub(crate) name: String,
    pub(crate) priority: String,
    pub(crate) tags: Vec<String>,
    pub(crate) file: String,
}

pub(crate) fn load_pack(dir: &Path) -> Result<Vec<PackRule>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut out: Vec<PackRule> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        let file = f.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for (i, l) in text.lines().enumerate() {
            if let Some(name) = l.strip_prefix("- rule: ") {
                out.push(PackRule {
                    name: name.trim().to_string(),
                    priority: String::new(),
                    tags: vec![],
                    file: file.clone(),
                });
            } else if let Some(p) = l.strip_prefix("  priority: ") {
                if let Some(r) = out.last_mut() {
                    r.priority = p.trim().to_string();
                }
            } else if let Some(t) = l.strip_prefix("  tags: ") {
                let t = t.trim();
                let Some(inner) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
                    bail!("{}:{}: tags must be a one-line flow list", f.display(), i + 1);
                };
                if let Some(r) = out.last_mut() {
                    r.tags = inner.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                }
            }
        }
    }
    if let Some(r) = out.iter().find(|r| r.tags.is_empty() || r.priority.is_empty()) {
        bail!("rule '{}' ({}): no tags or priority found", r.name, r.file);
    }
    for r in &out {
        for t in r.tags.iter().filter(|t| is_technique(t)) {
            tactics_of(t, &r.tags).with_context(|| format!("rule '{}' ({})", r.name, r.file))?;
        }
    }
    if out.len() < 60 {
        bail!("only {} rules read from {}", out.len(), dir.display());
    }
    Ok(out)
}

fn is_technique(t: &str) -> bool {
    t.len() >= 5 && t.starts_with('T') && t[1..5].bytes().all(|b| b.is_ascii_digit())
}

/// ATT&CK for Containers tactics in matrix order, as the pack tags them.
const TACTICS: &[(&str, &str)] = &[
    ("mitre_initial_access", "Initial Access"),
    ("mitre_execution", "Execution"),
    ("mitre_persistence", "Persistence"),
    ("mitre_privilege_escalation", "Privilege Escalation"),
    ("mitre_defense_evasion", "Defense Evasion"),
    ("mitre_credential_access", "Credential Access"),
    ("mitre_discovery", "Discovery"),
    ("mitre_lateral_movement", "Lateral Movement"),
    ("mitre_command_and_control", "Command and Control"),
    ("mitre_exfiltration", "Exfiltration"),
    ("mitre_impact", "Impact"),
];

pub(crate) fn action_table(rows: &[Row], pack: &[PackRule]) -> String {
    let mut s = String::from(
        "| # | action | rule | priority | technique | detected | latency ms |\n|---|---|---|---|---|---|---|\n",
    );
    for (i, r) in rows.iter().enumerate() {
        let prio = pack.iter().find(|p| p.name == r.rule).map(|p| p.priority.as_str()).unwrap_or("?");
        let det = match (&r.skipped, r.problem.is_empty()) {
            (Some(why), _) => format!("not observable here: {why}"),
            (None, true) => "yes".to_string(),
            (None, false) => format!("**no**: {}", r.problem),
        };
        let lat = r.latency_ms.map(|l| format!("{l:.1}")).unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            i + 1,
            r.action,
            r.rule,
            prio,
            r.technique,
            det,
            lat
        ));
    }
    s
}

/// Actions per tactic (an action counts for every tactic its rule is tagged with).
fn per_tactic(rows: &[Row], pack: &[PackRule]) -> String {
    let mut s = String::from("| tactic | actions | rules |\n|---|---|---|\n");
    for (tag, name) in TACTICS {
        let rules: Vec<&PackRule> = pack.iter().filter(|r| r.tags.iter().any(|t| t == tag)).collect();
        let actions = rows.iter().filter(|a| rules.iter().any(|r| r.name == a.rule)).count();
        s.push_str(&format!("| {name} | {actions} | {} |\n", rules.len()));
    }
    s
}

/// The ATT&CK tactics of each technique the pack uses (by base id): a rule's technique is
/// placed under the tactics it belongs to in ATT&CK that the rule is also tagged with (all
/// its ATT&CK tactics when the rule tags none of them). A technique missing here fails
/// the run, so the table grows with the pack.
const TECHNIQUE_TACTICS: &[(&str, &[&str])] = &[
    ("T1003", &["mitre_credential_access"]),
    ("T1014", &["mitre_defense_evasion"]),
    ("T1016", &["mitre_discovery"]),
    ("T1020", &["mitre_exfiltration"]),
    ("T1021", &["mitre_lateral_movement"]),
    ("T1027", &["mitre_defense_evasion"]),
    ("T1033", &["mitre_discovery"]),
    ("T1036", &["mitre_defense_evasion"]),
    ("T1037", &["mitre_persistence", "mitre_privilege_escalation"]),
    ("T1040", &["mitre_credential_access", "mitre_discovery"]),
    ("T1046", &["mitre_discovery"]),
    ("T1048", &["mitre_exfiltration"]),
    ("T1053", &["mitre_execution", "mitre_persistence", "mitre_privilege_escalation"]),
    ("T1055", &["mitre_defense_evasion", "mitre_privilege_escalation"]),
    ("T1057", &["mitre_discovery"]),
    ("T1059", &["mitre_execution"]),
    ("T1068", &["mitre_privilege_escalation"]),
    ("T1070", &["mitre_defense_evasion"]),
    ("T1071", &["mitre_command_and_control"]),
    ("T1072", &["mitre_execution", "mitre_lateral_movement"]),
    ("T1082", &["mitre_discovery"]),
    ("T1083", &["mitre_discovery"]),
    ("T1090", &["mitre_command_and_control"]),
    ("T1095", &["mitre_command_and_control"]),
    ("T1098", &["mitre_persistence", "mitre_privilege_escalation"]),
    ("T1105", &["mitre_command_and_control"]),
    ("T1136", &["mitre_persistence"]),
    ("T1140", &["mitre_defense_evasion"]),
    ("T1190", &["mitre_initial_access"]),
    ("T1204", &["mitre_execution"]),
    ("T1222", &["mitre_defense_evasion"]),
    ("T1485", &["mitre_impact"]),
    ("T1486", &["mitre_impact"]),
    ("T1496", &["mitre_impact"]),
    ("T1505", &["mitre_persistence"]),
    ("T1528", &["mitre_credential_access"]),
    ("T1543", &["mitre_persistence", "mitre_privilege_escalation"]),
    ("T1546", &["mitre_persistence", "mitre_privilege_escalation"]),
    ("T1547", &["mitre_persistence", "mitre_privilege_escalation"]),
    ("T1548", &["mitre_privilege_escalation", "mitre_defense_evasion"]),
    ("T1552", &["mitre_credential_access"]),
    ("T1555", &["mitre_credential_access"]),
    ("T1557", &["mitre_credential_access"]),
    ("T1562", &["mitre_defense_evasion"]),
    ("T1564", &["mitre_defense_evasion"]),
    ("T1567", &["mitre_exfiltration"]),
    ("T1570", &["mitre_lateral_movement"]),
    ("T1571", &["mitre_command_and_control"]),
    ("T1572", &["mitre_command_and_control"]),
    ("T1574", &["mitre_persistence", "mitre_privilege_escalation", "mitre_defense_evasion"]),
    ("T1609", &["mitre_execution"]),
    ("T1611", &["mitre_privilege_escalation"]),
    ("T1613", &["mitre_discovery"]),
    ("T1620", &["mitre_defense_evasion"]),
    ("T1622", &["mitre_defense_evasion"]),
];

/// The matrix tactics of `technique` for a rule tagged `tags`.
pub(crate) fn tactics_of(technique: &str, tags: &[String]) -> Result<Vec<&'static str>> {
    let base = technique.split('.').next().unwrap_or(technique);
    let Some((_, all)) = TECHNIQUE_TACTICS.iter().find(|(t, _)| *t == base) else {
        bail!("technique {technique} is not in evtgen/matrix.rs TECHNIQUE_TACTICS: add its ATT&CK tactics");
    };
    let tagged: Vec<&'static str> = all.iter().copied().filter(|t| tags.iter().any(|x| x == t)).collect();
    Ok(if tagged.is_empty() { all.to_vec() } else { tagged })
}

/// Tactic × technique → rules, from the tags: each technique tag of a rule under its
/// ATT&CK tactics (see [`TECHNIQUE_TACTICS`]).
pub(crate) fn attack_matrix(pack: &[PackRule]) -> Result<String> {
    let mut s = String::from("| tactic | technique | rules |\n|---|---|---|\n");
    for (tag, name) in TACTICS {
        let mut by_tech: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for r in pack {
            for t in r.tags.iter().filter(|t| is_technique(t)) {
                if tactics_of(t, &r.tags)?.contains(tag) {
                    by_tech.entry(t.as_str()).or_default().push(r.name.as_str());
                }
            }
        }
        for (tech, rules) in by_tech {
            s.push_str(&format!("| {name} | {tech} | {} |\n", rules.join("; ")));
        }
    }
    Ok(s)
}

pub(crate) fn write_doc(table: &str, summary: &str, rows: &[Row], pack: &[PackRule]) -> Result<()> {
    let date = Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output()?.stdout;
    let kernel = Command::new("uname").arg("-r").output()?.stdout;
    let doc = format!(
        "# Detections: the default pack against real behaviour\n\n\
         Generated by `cargo xtask evtgen` (as root; do not edit). Every rule of the default pack\n\
         (`rules/default/*.yaml`, {} rules) has at least one action below; each action performs the real\n\
         behaviour inside a kubelet-like pod (its cgroup, and its own network namespace for anything\n\
         network-facing) while `lanner run` watches, and passes when the expected rule fires for the pod\n\
         (`k8s.pod.name`), carries its technique and a `mitre_*` tactic tag, arrives within the latency bound,\n\
         and no other alert above Notice fires for the pod during the action. A benign phase (package-manager-like\n\
         writes, a `make` build and test run, curl/wget health checks, logrotate-like rotation, a tar backup)\n\
         must stay at Notice or below. \"Remote\" hosts (the C2 host 10.231.78.1, the public-looking\n\
         198.51.100.7, the metadata service 169.254.169.254 and the API server's ClusterIP 10.96.0.1) are addresses of a network namespace on the\n\
         other end of a veth pair: no traffic leaves the machine. Tools the host lacks (nc, socat, nmap, chisel,\n\
         xmrig, insmod, modprobe) are copies of `/bin/true` installed under their names before the agent starts,\n\
         as an image would ship them; the detection is the real execve with that name and command line.\n\n\
         ## How to run\n\n```\ncargo build --release -p lanner   # if not built yet\ncargo xtask evtgen                # as root\n```\n\n\
         Adding an action: one row in `xtask/src/evtgen/{{execution,escalation,access}}.rs` and a small function;\n\
         the command fails when a pack rule has no action or an action names a missing rule or tag.\n\n\
         ## Latest run\n\n{}, kernel {}.\n\n{table}\n{summary}\n\
         ## Actions per tactic\n\n{}\n\
         ## ATT&CK for Containers coverage\n\nGenerated from the rule tags (`mitre_*` tactic × `Txxxx` technique).\n\n{}",
        pack.len(),
        String::from_utf8_lossy(&date).trim(),
        String::from_utf8_lossy(&kernel).trim(),
        per_tactic(rows, pack),
        attack_matrix(pack)?
    );
    std::fs::write(crate::root().join("docs/detections.md"), doc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_reads_and_techniques_sit_under_their_attack_tactics() {
        let pack = load_pack(&crate::root().join("rules/default")).unwrap();
        assert!(pack.iter().all(|r| r.tags.iter().any(|t| t.starts_with("mitre_"))));
        let m = attack_matrix(&pack).unwrap();
        assert!(m.contains("| Privilege Escalation | T1611 | Container escape via cgroup release_agent;"), "{m}");
        assert!(m.contains("| Initial Access | T1190 | Web server spawned a shell"), "{m}");
        // T1190 is Initial Access only, although its rule is also tagged persistence.
        assert!(!m.contains("| Persistence | T1190 |"), "{m}");
        assert!(m.contains("| Persistence | T1505.003 | Web server spawned a shell |"), "{m}");
        let unknown = vec!["mitre_execution".to_string(), "T9999".to_string()];
        assert!(tactics_of("T9999", &unknown).is_err());
    }
}
