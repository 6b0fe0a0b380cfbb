//! `cargo xtask secrets`: no private keys or tokens in the tracked tree.
//!
//! Every file `git ls-files` lists is read (binary files are skipped) and
//! searched for the shapes that leaked credentials take: PEM private-key
//! blocks, AWS access key ids, GitHub, Slack, Google and OpenAI-style API
//! tokens, Slack webhook URLs, JWTs; files named like keys (`id_rsa`, `*.pem`,
//! `*.key`, `*.p12`); and Kubernetes Secret manifests whose `data:` values
//! are not a `REPLACE-ME` placeholder or a Helm template. [`ALLOW`] names the
//! files that hold deliberately fake samples.
use std::path::Path;

use anyhow::{bail, Context as _, Result};

/// (path, finding kind, why it is fine): deliberately fake secrets.
const ALLOW: &[(&str, &str, &str)] = &[
    // One fake sample of every kind, read by this module's tests.
    ("xtask/src/secrets_fixture.txt", "*", "deliberately fake samples for the scanner's own tests"),
    // evtgen plants a key-shaped file ("lnr-evtgen fake" as its body) for the private-key search actions.
    ("xtask/src/evtgen/host.rs", "private-key", "a fake key header planted for evtgen's credential-access actions"),
    (
        "xtask/src/evtgen/falco/actions.rs",
        "private-key",
        "a fake key header planted in a /home user's .ssh for Falco's ssh rules",
    ),
];

#[derive(Debug, PartialEq)]
pub struct Finding {
    pub path: String,
    pub line: usize,
    pub kind: &'static str,
}

/// A token shape: kind, prefix, allowed characters after it, minimum count.
type Shape = (&'static str, &'static str, fn(char) -> bool, usize);

const TOKENS: &[Shape] = &[
    ("aws-access-key-id", "AKIA", upper_digit, 16),
    ("aws-access-key-id", "ASIA", upper_digit, 16),
    ("github-token", "ghp_", alnum, 36),
    ("github-token", "gho_", alnum, 36),
    ("github-token", "ghu_", alnum, 36),
    ("github-token", "ghs_", alnum, 36),
    ("github-token", "ghr_", alnum, 36),
    ("github-token", "github_pat_", word, 40),
    ("slack-token", "xoxb-", token, 20),
    ("slack-token", "xoxp-", token, 20),
    ("slack-token", "xoxa-", token, 20),
    ("slack-webhook", "hooks.slack.com/services/T", token_slash, 20),
    ("google-api-key", "AIza", token, 35),
    ("openai-style-key", "sk-", token, 40),
];

fn upper_digit(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}
fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}
fn word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}
fn token(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}
fn token_slash(c: char) -> bool {
    token(c) || c == '/'
}
fn base64url(c: char) -> bool {
    token(c)
}

/// The findings in one line.
fn scan_line(line: &str) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    if let Some(at) = line.find("-----BEGIN ") {
        let rest = &line[at..];
        if rest.contains("PRIVATE KEY-----") || rest.contains("PRIVATE KEY BLOCK-----") {
            kinds.push("private-key");
        }
    }
    for (kind, prefix, ok, min) in TOKENS {
        for (at, _) in line.match_indices(prefix) {
            let boundary = line[..at].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric());
            let run = line[at + prefix.len()..].chars().take_while(|c| ok(*c)).count();
            if boundary && run >= *min && !kinds.contains(kind) {
                kinds.push(*kind);
            }
        }
    }
    if is_jwt(line) {
        kinds.push("jwt");
    }
    kinds
}

/// `eyJ…` header, `.eyJ…` payload and a signature, each 10+ base64url characters.
fn is_jwt(line: &str) -> bool {
    line.match_indices("eyJ").any(|(at, _)| {
        let mut parts = line[at..].splitn(3, '.');
        let mut part = |json: bool| {
            parts.next().is_some_and(|p| {
                let n = p.chars().take_while(|c| base64url(*c)).count();
                n >= 10 && (!json || p.starts_with("eyJ"))
            })
        };
        part(true) && part(true) && part(false)
    })
}

/// A Kubernetes Secret's `data:`/`stringData:` values that are real-looking:
/// neither a Helm template nor a `REPLACE-ME` placeholder (plain or base64).
fn secret_manifest(text: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for (doc_start, doc) in documents(text) {
        if !doc.lines().any(|l| l.trim_end() == "kind: Secret") {
            continue;
        }
        let mut in_data = false;
        for (i, line) in doc.lines().enumerate() {
            if !line.starts_with(' ') {
                in_data = matches!(line.trim_end(), "data:" | "stringData:");
                continue;
            }
            let Some((_, value)) = line.split_once(':').filter(|_| in_data) else { continue };
            let value = value.trim().trim_matches('"').trim_matches('\'');
            if value.is_empty() || value.contains("{{") || value == "|" || value == ">" {
                continue;
            }
            let plain = decode_base64(value).unwrap_or_else(|| value.as_bytes().to_vec());
            if !plain.starts_with(b"REPLACE-ME") {
                found.push(doc_start + i + 1);
            }
        }
    }
    found
}

/// The YAML documents of `text` with the 0-based line each starts at.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = vec![(0, String::new())];
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" {
            docs.push((i + 1, String::new()));
        } else {
            let doc = &mut docs.last_mut().expect("one document").1;
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for b in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == b)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Files whose name says they hold a key.
fn key_file_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(name, "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519")
        || [".pem", ".key", ".p12", ".pfx", ".jks"].iter().any(|ext| name.ends_with(ext))
}

/// The findings in one file's text.
pub fn scan(path: &str, text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if key_file_name(path) {
        out.push(Finding { path: path.into(), line: 0, kind: "key-file-name" });
    }
    for (i, line) in text.lines().enumerate() {
        for kind in scan_line(line) {
            out.push(Finding { path: path.into(), line: i + 1, kind });
        }
    }
    for line in secret_manifest(text) {
        out.push(Finding { path: path.into(), line, kind: "kubernetes-secret-data" });
    }
    out
}

fn allowed(f: &Finding) -> bool {
    ALLOW.iter().any(|(path, kind, _)| *path == f.path && (*kind == "*" || *kind == f.kind))
}

/// The files `git ls-files` lists; outside a git checkout (a source export), every
/// file below `root` but `target/` and `.git/`.
fn tracked_files(root: &Path) -> Result<Vec<String>> {
    let out = std::process::Command::new("git").args(["ls-files", "-z"]).current_dir(root).output()?;
    if out.status.success() {
        let list = String::from_utf8(out.stdout).context("git ls-files: not UTF-8")?;
        return Ok(list.split('\0').filter(|p| !p.is_empty()).map(str::to_string).collect());
    }
    let not_git = String::from_utf8_lossy(&out.stderr).contains("not a git repository");
    if !not_git {
        bail!("git ls-files failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
            let p = e?.path();
            let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().into_owned();
            if rel == "target" || rel == ".git" || p.is_symlink() {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out)?;
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// Scan the tracked tree; fails on any finding not in [`ALLOW`].
pub fn run(root: &Path) -> Result<()> {
    let (mut files, mut allowed_n, mut bad) = (0, 0, Vec::new());
    for path in tracked_files(root)? {
        let path = path.as_str();
        let Ok(bytes) = std::fs::read(root.join(path)) else { continue };
        if bytes.contains(&0) {
            continue;
        }
        files += 1;
        for f in scan(path, &String::from_utf8_lossy(&bytes)) {
            if allowed(&f) {
                allowed_n += 1;
            } else {
                bad.push(f);
            }
        }
    }
    for f in &bad {
        eprintln!("xtask: secrets: {}:{}: {}", f.path, f.line, f.kind);
    }
    println!(
        "secrets: {files} tracked files scanned, {} findings, {allowed_n} allowlisted (deliberately fake)",
        bad.len()
    );
    if !bad.is_empty() {
        bail!(
            "{} possible secrets in the tracked tree (allowlist deliberately fake ones in xtask/src/secrets.rs)",
            bad.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("secrets_fixture.txt");
    const FIXTURE_PATH: &str = "xtask/src/secrets_fixture.txt";

    #[test]
    fn every_fake_sample_is_found() {
        let kinds: Vec<&str> = scan(FIXTURE_PATH, FIXTURE).iter().map(|f| f.kind).collect();
        for want in [
            "private-key",
            "aws-access-key-id",
            "github-token",
            "slack-token",
            "slack-webhook",
            "google-api-key",
            "openai-style-key",
            "jwt",
            "kubernetes-secret-data",
        ] {
            assert!(kinds.contains(&want), "{want} not found in the fixture: {kinds:?}");
        }
        assert!(scan(FIXTURE_PATH, FIXTURE).iter().all(allowed), "the fixture is allowlisted");
        assert!(!allowed(&Finding { path: "agent/src/main.rs".into(), line: 1, kind: "jwt" }));
    }

    #[test]
    fn ordinary_text_is_clean() {
        for line in [
            r#"or proc.args contains "BEGIN PRIVATE KEY" or proc.args contains "BEGIN EC PRIVATE""#,
            "let task = ask-for-something-else; // disk-usage-of-the-node",
            "AKIA is a prefix; so is ghp_ and xoxb-short",
            "header eyJhbGciOi only",
        ] {
            assert!(scan_line(line).is_empty(), "{line}: {:?}", scan_line(line));
        }
        let placeholder = "kind: Secret\ndata:\n  token: \"UkVQTEFDRS1NRS13aXRoLWEtcmFuZG9tLXRva2Vu\"\n";
        assert!(secret_manifest(placeholder).is_empty());
        let templated = "kind: Secret\ndata:\n  token: {{ .Values.token | b64enc | quote }}\n";
        assert!(secret_manifest(templated).is_empty());
        let config_map = "kind: ConfigMap\ndata:\n  token: c2VjcmV0LXZhbHVlLWhlcmU=\n";
        assert!(secret_manifest(config_map).is_empty());
        let real = "kind: ConfigMap\n---\nkind: Secret\ndata:\n  token: c2VjcmV0LXZhbHVlLWhlcmU=\n";
        assert_eq!(secret_manifest(real), vec![5]);
    }

    #[test]
    fn key_file_names() {
        assert!(key_file_name("deploy/tls/server.key") && key_file_name("id_rsa") && key_file_name("a/b.pem"));
        assert!(!key_file_name("docs/keys.md") && !key_file_name("agent/src/keyed.rs"));
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(decode_base64("UkVQTEFDRS1NRQ==").as_deref(), Some(&b"REPLACE-ME"[..]));
        assert_eq!(decode_base64("not base64!"), None);
    }
}
