//! The load generator's HTTP client: one keep-alive HTTP/1.1 connection per goose user, on
//! hyper's connection API (TLS through hyper-rustls). goose still schedules the users and
//! counts the transactions; its own reqwest client costs about twice the CPU per request
//! (a pooled client, URL parsing, a metrics message per request), which on one core halved
//! the load the harness could generate (`make bench-harness`).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use hyper::{HeaderMap, Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::Url;
use tower::ServiceExt;

use crate::plan::Request as RequestSpec;

/// A request gets this long, connection included, before it counts as a transport failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connecting (TCP or TLS) failed.
    #[error("connect: {0}")]
    Connect(String),
    /// The exchange failed after connecting.
    #[error("{0}")]
    Http(#[from] hyper::Error),
    /// No response within [`REQUEST_TIMEOUT`].
    #[error("no response within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
}

impl TransportError {
    /// The kind of failure as reports name it: `refused`, `reset`, `closed`, `timeout`, `tls`,
    /// `connect` or `http`.
    pub fn kind(&self) -> &'static str {
        use std::io::ErrorKind;
        match self {
            Self::Timeout => "timeout",
            Self::Connect(message) if message.to_ascii_lowercase().contains("refused") => "refused",
            Self::Connect(message) if message.contains("timed out") => "timeout",
            Self::Connect(message) if message.to_ascii_lowercase().contains("certificate") => "tls",
            Self::Connect(_) => "connect",
            Self::Http(error) => {
                let io = std::iter::successors(std::error::Error::source(error), |e| e.source())
                    .find_map(|e| e.downcast_ref::<std::io::Error>());
                match io.map(std::io::Error::kind) {
                    Some(ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => "reset",
                    Some(ErrorKind::ConnectionRefused) => "refused",
                    Some(ErrorKind::TimedOut) => "timeout",
                    _ if error.is_incomplete_message() || error.is_closed() || error.is_canceled() => "closed",
                    _ if error.is_timeout() => "timeout",
                    _ => "http",
                }
            }
        }
    }
}

/// Where a phase's users connect: the target's scheme and authority, and a connector.
#[derive(Clone)]
pub struct Endpoint {
    base: Url,
    origin: Uri,
    connector: HttpsConnector<HttpConnector>,
}

impl Endpoint {
    /// The endpoint for a base URL such as `http://127.0.0.1:8080`.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let base = Url::parse(base)?;
        let origin: Uri = base.origin().ascii_serialization().parse()?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self { base, origin, connector })
    }

    /// Prepares a scenario request once, so each send only clones it.
    pub fn prepare(&self, spec: &RequestSpec) -> anyhow::Result<Prepared> {
        let mut url = self.base.join(&spec.path)?;
        if !spec.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&spec.query);
        }
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let mut headers = HeaderMap::new();
        let authority = self.origin.authority().map_or("", |a| a.as_str());
        headers.insert(HOST, HeaderValue::from_str(authority)?);
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("gauntlet-harness/", env!("CARGO_PKG_VERSION"))));
        let body = match &spec.body {
            Some(json) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Bytes::from(serde_json::to_vec(json)?)
            }
            None => Bytes::new(),
        };
        for (name, value) in &spec.headers {
            headers.insert(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
        }
        Ok(Prepared {
            method: Method::from_bytes(spec.method.to_uppercase().as_bytes())?,
            uri: path_and_query.parse()?,
            headers,
            body,
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let io = self
            .connector
            .clone()
            .oneshot(self.origin.clone())
            .await
            .map_err(|e| TransportError::Connect(chain(&*e)))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

/// An error and its causes, `outer: inner: root`.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let causes: Vec<String> = std::iter::successors(Some(error), |e| e.source()).map(ToString::to_string).collect();
    causes.join(": ")
}

/// A request ready to send: method, origin-form URI, headers and body.
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Prepared {
    fn to_request(&self, traceparent: Option<&HeaderValue>) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        if let Some(value) = traceparent {
            request.headers_mut().insert(crate::trace::HEADER, value.clone());
        }
        request
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body, read to the end (so the connection can be reused).
    pub body: Bytes,
}

/// One user's connection, opened on first use and again after a failure.
#[derive(Default)]
pub struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// A copy opens a connection of its own.
impl Clone for Connection {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Connection {
    /// Sends `request`, with a `traceparent` when given, and reads the whole response, within
    /// [`REQUEST_TIMEOUT`].
    pub async fn send(
        &mut self,
        endpoint: &Endpoint,
        request: &Prepared,
        traceparent: Option<&HeaderValue>,
    ) -> Result<Reply, TransportError> {
        let exchange = self.exchange(endpoint, request, traceparent);
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout),
        };
        if result.is_err() {
            self.sender = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        endpoint: &Endpoint,
        request: &Prepared,
        traceparent: Option<&HeaderValue>,
    ) -> Result<Reply, TransportError> {
        loop {
            let reused = self.sender.as_ref().is_some_and(|s| !s.is_closed());
            let sender = match self.sender.as_mut() {
                Some(sender) if reused => sender,
                _ => self.sender.insert(endpoint.connect().await?),
            };
            if sender.ready().await.is_err() && reused {
                self.sender = None;
                continue;
            }
            match sender.try_send_request(request.to_request(traceparent)).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = body.collect().await?.to_bytes();
                    return Ok(Reply { status: parts.status.as_u16(), headers: parts.headers, body });
                }
                // A kept-alive connection the server closed before it took the request: the
                // request was never sent, so send it again on a new connection.
                Err(error) if reused && error.message().is_some() => self.sender = None,
                Err(error) => return Err(error.into_error().into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn spec(yaml: &str) -> RequestSpec {
        serde_yaml::from_str(yaml).expect("request spec")
    }

    #[test]
    fn prepare_encodes_the_query_and_sets_host_and_the_json_body() {
        let endpoint = Endpoint::new("http://127.0.0.1:9999/ignored/base").unwrap();
        let prepared = endpoint
            .prepare(&spec("{method: post, path: /things, query: {q: a b&c}, headers: {x-id: '7'}, body: {n: 1}}"))
            .unwrap();
        assert_eq!(prepared.method, Method::POST);
        assert_eq!(prepared.uri, "/things?q=a+b%26c");
        assert_eq!(prepared.headers[HOST], "127.0.0.1:9999");
        assert_eq!(prepared.headers[CONTENT_TYPE], "application/json");
        assert_eq!(prepared.headers["x-id"], "7");
        assert_eq!(prepared.body, Bytes::from_static(br#"{"n":1}"#));
    }

    #[test]
    fn prepare_rejects_a_header_that_cannot_be_sent() {
        let endpoint = Endpoint::new("http://127.0.0.1:9999").unwrap();
        let mut bad = spec("{path: /}");
        bad.headers = BTreeMap::from([("x-bad".to_owned(), "line\nbreak".to_owned())]);
        assert!(endpoint.prepare(&bad).is_err());
    }

    /// A server that answers one request per connection and then closes it, without saying
    /// so: every reuse of a kept-alive connection meets a closed socket.
    async fn one_answer_per_connection() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
            }
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_reopened_without_losing_the_request() {
        let endpoint = Endpoint::new(&one_answer_per_connection().await).unwrap();
        let request = endpoint.prepare(&spec("{path: /}")).unwrap();
        let mut connection = Connection::default();
        for attempt in 0..5 {
            let reply = connection.send(&endpoint, &request, None).await;
            let reply = reply.unwrap_or_else(|error| panic!("request {attempt}: {error}"));
            assert_eq!((reply.status, &reply.body[..]), (200, &b"ok"[..]));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_dead_port_is_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let endpoint = Endpoint::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let request = endpoint.prepare(&spec("{path: /}")).unwrap();
        let error = Connection::default().send(&endpoint, &request, None).await.unwrap_err();
        assert!(matches!(error, TransportError::Connect(_)), "{error}");
        assert_eq!(error.kind(), "refused", "{error}");
    }

    #[tokio::test]
    async fn a_connection_closed_without_an_answer_is_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
            }
        });
        let endpoint = Endpoint::new(&format!("http://{address}")).unwrap();
        let request = endpoint.prepare(&spec("{path: /}")).unwrap();
        let error = Connection::default().send(&endpoint, &request, None).await.unwrap_err();
        assert_eq!(error.kind(), "closed", "{error}");
    }
}
