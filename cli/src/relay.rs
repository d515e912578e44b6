//! Talking to a relay: URLs, tokens, and errors shown as one clear line.

use serde_json::Value as Json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// Where the relay is and which token to present.
#[derive(Debug, Clone)]
pub struct Relay {
    /// Base URL without a trailing slash: `http://127.0.0.1:8787`.
    pub base: String,
    /// Bearer token (admin or subscriber, depending on the command).
    pub token: String,
}

/// A failure talking to the relay, displayed as one line.
#[derive(Debug)]
pub enum RelayError {
    /// The relay could not be reached.
    Connect(String),
    /// The relay answered with an error status and a `{code, message}` body.
    Status {
        /// HTTP status.
        status: u16,
        /// The body's `code`.
        code: String,
        /// The body's `message`.
        message: String,
        /// The whole body, for commands that show more (trigger errors).
        body: Json,
    },
    /// The relay answered something this tool does not understand.
    Protocol(String),
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::Connect(m) => write!(f, "cannot reach the relay: {m}"),
            RelayError::Status {
                status,
                code,
                message,
                ..
            } => {
                let hint = match status {
                    401 => " (check the token: --token or the environment variable)",
                    _ => "",
                };
                write!(f, "relay answered {status} {code}: {message}{hint}")
            }
            RelayError::Protocol(m) => write!(f, "unexpected answer from the relay: {m}"),
        }
    }
}

impl RelayError {
    /// `code: message` of an error the relay wrote into a stream (a
    /// WebSocket message or an NDJSON line) after its answer had started.
    pub fn in_stream(v: &Json) -> String {
        format!(
            "{}: {}",
            v["code"].as_str().unwrap_or("error"),
            v["message"].as_str().unwrap_or("")
        )
    }
}

impl Relay {
    /// Builds a client from `--relay` and `--token`, or else the first of
    /// the environment variables `envs` that is set and not empty.
    pub fn new(base: Option<&str>, token: Option<&str>, envs: &[&str]) -> Result<Relay, String> {
        let base = base
            .ok_or("--relay URL is required (e.g. --relay http://127.0.0.1:8787)")?
            .trim_end_matches('/')
            .to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--relay must be an http:// or https:// URL, got {base:?}"
            ));
        }
        let token = match token {
            Some(t) => t.to_owned(),
            None => envs
                .iter()
                .find_map(|env| std::env::var(env).ok().filter(|t| !t.is_empty()))
                .ok_or_else(|| format!("no token: pass --token or set {}", envs.join(" or ")))?,
        };
        Ok(Relay { base, token })
    }

    fn agent() -> ureq::Agent {
        ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
    }

    /// Sends a request with the bearer token; a 2xx answer as it is, any
    /// other as [`RelayError::Status`] with the relay's `{code, message}`.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<ureq::Response, RelayError> {
        let req = Self::agent()
            .request(method, &format!("{}{}", self.base, path))
            .set("Authorization", &format!("Bearer {}", self.token));
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        match result {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let body: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
                Err(RelayError::Status {
                    status,
                    code: body["code"].as_str().unwrap_or("http_error").to_owned(),
                    message: body["message"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| snippet(&text)),
                    body,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(RelayError::Connect(t.to_string())),
        }
    }

    /// Sends a request with the bearer token and returns the JSON body of a 2xx answer.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<Json, RelayError> {
        let text = self
            .send(method, path, body)?
            .into_string()
            .map_err(|e| RelayError::Protocol(e.to_string()))?;
        serde_json::from_str(&text).map_err(|_| RelayError::Protocol(snippet(&text)))
    }

    /// Sends a request and returns the body of a 2xx answer as it arrives
    /// (for streamed answers: NDJSON lines as the relay writes them).
    pub fn stream(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<impl std::io::BufRead, RelayError> {
        let resp = self.send(method, path, body)?;
        Ok(std::io::BufReader::new(resp.into_reader()))
    }

    /// Opens a WebSocket to `path` (query included) on the relay; reads give up
    /// after `read_timeout` when one is set.
    pub fn websocket(
        &self,
        path: &str,
        read_timeout: Option<Duration>,
    ) -> Result<WebSocket, RelayError> {
        use tungstenite::client::IntoClientRequest;
        let url = format!("{}{}", self.base.replacen("http", "ws", 1), path);
        let request = url
            .as_str()
            .into_client_request()
            .map_err(|e| RelayError::Connect(e.to_string()))?;
        let uri = request.uri().clone();
        let host = uri.host().unwrap_or("localhost").to_owned();
        let tls = uri.scheme_str() == Some("wss");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .map_err(|e| RelayError::Connect(format!("{host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(read_timeout)
            .map_err(|e| RelayError::Connect(e.to_string()))?;
        let stream: Box<dyn ReadWrite> = if tls {
            let roots =
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| RelayError::Connect(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| RelayError::Connect(e.to_string()))?;
            let conn = rustls::ClientConnection::new(Arc::new(config), name)
                .map_err(|e| RelayError::Connect(e.to_string()))?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        } else {
            Box::new(tcp)
        };
        match tungstenite::client::client(request, stream) {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                let status = resp.status().as_u16();
                let text = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                let body: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
                Err(RelayError::Status {
                    status,
                    code: body["code"].as_str().unwrap_or("http_error").to_owned(),
                    message: body["message"].as_str().unwrap_or("").to_owned(),
                    body,
                })
            }
            Err(e) => Err(RelayError::Connect(e.to_string())),
        }
    }
}

/// A byte stream a WebSocket can run over (plain TCP or TLS).
pub trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// A client WebSocket to the relay.
pub type WebSocket = tungstenite::WebSocket<Box<dyn ReadWrite>>;

fn snippet(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t
    }
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Parses a relay command's `argv` against `spec` and connects with
/// `--relay` and a token from `--token` or `envs`; `Err(exit code)` when the
/// command is done (help, or a usage mistake, already reported).
pub fn open(
    argv: &[String],
    spec: &crate::args::Spec,
    envs: &[&str],
) -> Result<(crate::args::Args, Relay), u8> {
    let opts = crate::args::parse(argv, spec)?;
    let relay =
        Relay::new(opts.get("--relay"), opts.get("--token"), envs).map_err(|e| spec.usage(&e))?;
    Ok((opts, relay))
}
