//! The checks in front of everything served on the page's TCP address, in order: the Host
//! header names this server (a DNS-rebinding page names its own host), an Origin header,
//! when there is one, is the page's own (cross-site requests are refused), and every `/v1/`
//! call carries the token as `Authorization: Bearer TOKEN` (a cookie would ride along with
//! cross-site requests; a header does not). Refusals are counted in
//! `weft_messages_rejected_total{kind="web"}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use weft_proto::api::ApiError;

use super::token::Tokens;
use crate::metrics::{Metrics, RejectLabels};

/// What the checks need: the Host values that name this server, the token, the counters.
#[derive(Clone)]
pub struct Guard {
    /// Accepted `Host` values, lower case.
    hosts: Arc<[String]>,
    /// Any IP literal with this port names the server too (it listens on every address).
    any_ip_port: Option<u16>,
    tokens: Tokens,
    metrics: Metrics,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// The Host header names another server, or is missing.
    Host,
    /// The Origin header is another site's.
    Origin,
    /// A `/v1/` call without the token, or with another.
    Token,
}

impl Guard {
    /// Checks for a server bound to `addr`.
    pub fn new(addr: SocketAddr, tokens: Tokens, metrics: Metrics) -> Guard {
        let port = addr.port();
        let mut hosts = vec![addr.to_string()];
        if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            hosts.extend([
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
                format!("[::1]:{port}"),
            ]);
        }
        // On port 80 a browser names the host without the port.
        if port == 80 {
            let bare: Vec<String> = hosts
                .iter()
                .filter_map(|h| h.strip_suffix(":80").map(str::to_string))
                .collect();
            hosts.extend(bare);
        }
        Guard {
            hosts: hosts.into(),
            any_ip_port: addr.ip().is_unspecified().then_some(port),
            tokens,
            metrics,
        }
    }

    /// The first check `headers` fail for a request to `path`, if any.
    fn refusal(&self, headers: &HeaderMap, path: &str) -> Option<Refusal> {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(host) = text(header::HOST).map(str::to_ascii_lowercase) else {
            return Some(Refusal::Host);
        };
        if !self.names_this_server(&host) {
            return Some(Refusal::Host);
        }
        if headers.contains_key(header::ORIGIN)
            && text(header::ORIGIN).map(str::to_ascii_lowercase) != Some(format!("http://{host}"))
        {
            return Some(Refusal::Origin);
        }
        if path == "/v1" || path.starts_with("/v1/") {
            let token = text(header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer "));
            if !token.is_some_and(|t| self.tokens.admits(t.as_bytes())) {
                return Some(Refusal::Token);
            }
        }
        None
    }

    fn names_this_server(&self, host: &str) -> bool {
        if self.hosts.iter().any(|h| h == host) {
            return true;
        }
        // Listening on every address: the page may be opened by any of the machine's IP
        // addresses. An IP literal cannot be re-pointed by DNS, so it is safe to accept.
        self.any_ip_port
            .is_some_and(|port| host.parse::<SocketAddr>().is_ok_and(|a| a.port() == port))
    }
}

/// The middleware: passes a request that meets every check, refuses the rest.
pub async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let Some(refusal) = guard.refusal(request.headers(), request.uri().path()) else {
        return next.run(request).await;
    };
    let (status, reason, error) = match refusal {
        Refusal::Host => (
            StatusCode::FORBIDDEN,
            "host",
            "the Host header does not name this node's web page; open the URL `weft web` prints",
        ),
        Refusal::Origin => (
            StatusCode::FORBIDDEN,
            "origin",
            "requests from other sites are refused",
        ),
        Refusal::Token => (
            StatusCode::UNAUTHORIZED,
            "token",
            "this call needs the page's access token; open the URL `weft web` prints",
        ),
    };
    guard
        .metrics
        .rejected
        .get_or_create(&RejectLabels {
            kind: "web".into(),
            reason: reason.into(),
        })
        .inc();
    tracing::debug!(reason, path = request.uri().path(), "web request refused");
    let body = Json(ApiError {
        error: error.into(),
    });
    if refusal == Refusal::Token {
        (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
    } else {
        (status, body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn guard(addr: &str) -> (Guard, String) {
        let dir = tempfile::tempdir().unwrap();
        let tokens = Tokens::open(dir.path()).unwrap();
        let token = tokens.current().expose().to_string();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Metrics::new(&mut registry);
        (Guard::new(addr.parse().unwrap(), tokens, metrics), token)
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn host_origin_and_token_are_each_checked() {
        let (g, token) = guard("127.0.0.1:7480");
        let bearer = format!("Bearer {token}");
        let ok = |h: &[(header::HeaderName, &str)], path| g.refusal(&headers(h), path);
        assert_eq!(ok(&[(header::HOST, "127.0.0.1:7480")], "/"), None);
        assert_eq!(ok(&[(header::HOST, "LOCALHOST:7480")], "/app.js"), None);
        assert_eq!(ok(&[], "/"), Some(Refusal::Host));
        assert_eq!(
            ok(&[(header::HOST, "evil.example:7480")], "/"),
            Some(Refusal::Host)
        );
        assert_eq!(
            ok(&[(header::HOST, "127.0.0.1:7481")], "/"),
            Some(Refusal::Host)
        );
        let host = (header::HOST, "127.0.0.1:7480");
        let auth = (header::AUTHORIZATION, bearer.as_str());
        assert_eq!(ok(&[host.clone(), auth.clone()], "/v1/status"), None);
        assert_eq!(
            ok(
                &[
                    host.clone(),
                    auth.clone(),
                    (header::ORIGIN, "http://127.0.0.1:7480")
                ],
                "/v1/status"
            ),
            None
        );
        for origin in ["http://evil.example", "null", "http://localhost:7480"] {
            assert_eq!(
                ok(
                    &[host.clone(), auth.clone(), (header::ORIGIN, origin)],
                    "/v1/status"
                ),
                Some(Refusal::Origin),
                "{origin}"
            );
        }
        assert_eq!(
            ok(std::slice::from_ref(&host), "/v1/status"),
            Some(Refusal::Token)
        );
        assert_eq!(
            ok(
                &[host.clone(), (header::AUTHORIZATION, "Bearer 00")],
                "/v1/status"
            ),
            Some(Refusal::Token)
        );
        assert_eq!(
            ok(&[host, (header::AUTHORIZATION, token.as_str())], "/v1"),
            Some(Refusal::Token),
            "the scheme is part of it"
        );
    }

    #[test]
    fn on_port_80_the_host_may_come_without_its_port() {
        let (g, _) = guard("127.0.0.1:80");
        let refusal = |host| g.refusal(&headers(&[(header::HOST, host)]), "/");
        assert_eq!(refusal("localhost"), None);
        assert_eq!(refusal("127.0.0.1:80"), None);
        assert_eq!(refusal("evil.example"), Some(Refusal::Host));
        let (g, _) = guard("127.0.0.1:7480");
        assert_eq!(
            g.refusal(&headers(&[(header::HOST, "localhost")]), "/"),
            Some(Refusal::Host)
        );
    }

    #[test]
    fn a_server_on_every_address_takes_ip_literals_but_no_names() {
        let (g, _) = guard("0.0.0.0:7480");
        let refusal = |host| g.refusal(&headers(&[(header::HOST, host)]), "/");
        assert_eq!(refusal("192.0.2.7:7480"), None);
        assert_eq!(refusal("[2001:db8::1]:7480"), None);
        assert_eq!(refusal("localhost:7480"), None);
        assert_eq!(refusal("192.0.2.7:80"), Some(Refusal::Host));
        assert_eq!(refusal("rebound.example:7480"), Some(Refusal::Host));
    }
}
