//! The agent ↔ triage-worker protocol (docs/protocol.md): framing in
//! `codec.rs`, transports (unix socket or TCP) and the shared-secret token
//! here, the reusable worker side in `server.rs`. The agent side is the
//! triage sink (`sinks/triage.rs`).
// Until run.rs wires this module in (and for API kept for the triage worker).
#![allow(dead_code)]

pub mod codec;
pub mod server;

use std::{
    fmt,
    path::{Path, PathBuf},
    pin::Pin,
    str::FromStr,
};

use tokio::io::{AsyncRead, AsyncWrite};

pub use codec::{
    BadFrameReason, CodecError, ErrorCode, Frame, FrameCodec, RawFrame, DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION,
};

/// Where the worker listens: `unix:///run/lanner/triage.sock` or `tcp://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("address {0:?}: expected unix:///absolute/path or tcp://host:port")]
    Scheme(String),
    #[error("address {0:?}: the unix socket path must be absolute")]
    RelativeUnix(String),
    #[error("address {0:?}: tcp address needs host:port")]
    TcpHostPort(String),
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, AddressError> {
        if let Some(p) = s.strip_prefix("unix://") {
            if !p.starts_with('/') {
                return Err(AddressError::RelativeUnix(s.to_owned()));
            }
            Ok(Address::Unix(PathBuf::from(p)))
        } else if let Some(hp) = s.strip_prefix("tcp://") {
            let ok = hp.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(AddressError::TcpHostPort(s.to_owned()));
            }
            Ok(Address::Tcp(hp.to_owned()))
        } else {
            Err(AddressError::Scheme(s.to_owned()))
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Tcp(hp) => write!(f, "tcp://{hp}"),
        }
    }
}

/// A byte stream of either transport.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// An established connection and a printable peer address for logs.
pub struct Conn {
    pub stream: Pin<Box<dyn Stream>>,
    pub peer: String,
}

impl Address {
    /// Connect (no timeout: callers wrap it).
    pub async fn connect(&self) -> std::io::Result<Conn> {
        match self {
            Address::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p).await?;
                Ok(Conn { stream: Box::pin(s), peer: self.to_string() })
            }
            Address::Tcp(hp) => {
                let s = tokio::net::TcpStream::connect(hp.as_str()).await?;
                s.set_nodelay(true)?;
                let peer = s.peer_addr().map(|a| format!("tcp://{a}")).unwrap_or_else(|_| self.to_string());
                Ok(Conn { stream: Box::pin(s), peer })
            }
        }
    }
}

/// The worker's listening socket.
pub enum Listener {
    Unix { listener: tokio::net::UnixListener, path: PathBuf },
    Tcp(tokio::net::TcpListener),
}

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("creating socket directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotSocket { path: PathBuf },
    #[error("binding {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

impl Listener {
    /// Bind `addr`. A stale unix socket file is replaced; the socket is made
    /// `0660` so only the owner and group (the agent) can connect.
    pub async fn bind(addr: &Address) -> Result<Listener, ListenError> {
        match addr {
            Address::Unix(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| ListenError::Dir { path: dir.into(), source })?;
                }
                remove_stale_socket(path)?;
                let listener = tokio::net::UnixListener::bind(path)
                    .map_err(|source| ListenError::Bind { addr: addr.to_string(), source })?;
                use std::os::unix::fs::PermissionsExt as _;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660));
                Ok(Listener::Unix { listener, path: path.clone() })
            }
            Address::Tcp(hp) => {
                let l = tokio::net::TcpListener::bind(hp.as_str())
                    .await
                    .map_err(|source| ListenError::Bind { addr: addr.to_string(), source })?;
                Ok(Listener::Tcp(l))
            }
        }
    }

    /// The bound address (for TCP with port 0, the real port).
    pub fn local_addr(&self) -> Address {
        match self {
            Listener::Unix { path, .. } => Address::Unix(path.clone()),
            Listener::Tcp(l) => Address::Tcp(l.local_addr().map(|a| a.to_string()).unwrap_or_default()),
        }
    }

    pub async fn accept(&self) -> std::io::Result<Conn> {
        match self {
            Listener::Unix { listener, path } => {
                let (s, _) = listener.accept().await?;
                // Unix peers are anonymous: name them by credentials when available.
                let peer = match s.peer_cred() {
                    Ok(c) => format!("unix://{} (pid {:?} uid {})", path.display(), c.pid(), c.uid()),
                    Err(_) => format!("unix://{}", path.display()),
                };
                Ok(Conn { stream: Box::pin(s), peer })
            }
            Listener::Tcp(l) => {
                let (s, a) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Conn { stream: Box::pin(s), peer: format!("tcp://{a}") })
            }
        }
    }
}

fn remove_stale_socket(path: &Path) -> Result<(), ListenError> {
    use std::os::unix::fs::FileTypeExt as _;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            let _ = std::fs::remove_file(path);
            Ok(())
        }
        Ok(_) => Err(ListenError::NotSocket { path: path.into() }),
        Err(_) => Ok(()),
    }
}

/// The shared secret of the `Hello` frame. Never printed; compared in
/// constant time (only the length can leak).
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Self {
        Token(s.into())
    }

    /// Read a token file (trailing newline trimmed), e.g. a mounted Secret.
    pub fn from_file(path: &Path) -> std::io::Result<Token> {
        Ok(Token(std::fs::read_to_string(path)?.trim_end_matches(['\n', '\r']).to_owned()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, other: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(other.as_bytes()).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_parsing() {
        assert_eq!(
            "unix:///run/lanner/triage.sock".parse::<Address>().unwrap(),
            Address::Unix("/run/lanner/triage.sock".into())
        );
        assert_eq!("tcp://127.0.0.1:7700".parse::<Address>().unwrap(), Address::Tcp("127.0.0.1:7700".into()));
        assert_eq!("tcp://[::1]:7700".parse::<Address>().unwrap(), Address::Tcp("[::1]:7700".into()));
        for bad in ["unix://rel.sock", "tcp://host", "tcp://:80", "http://x:1", "/run/x.sock"] {
            assert!(bad.parse::<Address>().is_err(), "{bad} accepted");
        }
        assert_eq!(Address::Unix("/a/b".into()).to_string(), "unix:///a/b");
    }

    #[test]
    fn token_compare_and_redaction() {
        let t = Token::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3creT"));
        assert!(!t.matches("s3cre"));
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.sock");
        std::fs::write(&p, b"data").unwrap();
        let r = Listener::bind(&Address::Unix(p.clone())).await;
        assert!(matches!(r, Err(ListenError::NotSocket { .. })));
        std::fs::remove_file(&p).unwrap();
        let l = Listener::bind(&Address::Unix(p.clone())).await.unwrap();
        drop(l);
        // A stale socket left behind is replaced.
        Listener::bind(&Address::Unix(p)).await.unwrap();
    }
}
