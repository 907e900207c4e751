//! The HTTP side of a delivery: one shared client that connects only to permitted addresses,
//! follows no redirects, and reads at most 4 KiB of any answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::destination::DestinationPolicy;

/// How much of a response body is kept.
pub const BODY_EXCERPT_BYTES: usize = 4096;

/// Why an attempt failed, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Timeout,
    Connect,
    Dns,
    HttpStatus,
    RefusedDestination,
    /// Nothing was sent: the integration was disabled or deleted after the delivery was queued.
    NotSent,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::HttpStatus => "http_status",
            ErrorKind::RefusedDestination => "refused_destination",
            ErrorKind::NotSent => "not_sent",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to addresses Klaxon does not send to ({address})")]
struct RefusedDestination {
    host: String,
    address: IpAddr,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}: {reason}")]
struct DnsFailure {
    host: String,
    reason: String,
}

/// Resolves names and hands the connector only the addresses the policy permits, so the
/// request goes to exactly the addresses that were checked (no DNS rebinding in between).
struct CheckedResolver {
    policy: DestinationPolicy,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| {
                    Box::new(DnsFailure {
                        host: host.clone(),
                        reason: e.to_string(),
                    }) as Box<dyn std::error::Error + Send + Sync>
                })?
                .collect();
            let permitted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            match (permitted.is_empty(), resolved.first()) {
                (false, _) => Ok(Box::new(permitted.into_iter()) as Addrs),
                (true, Some(first)) => Err(Box::new(RefusedDestination {
                    host,
                    address: first.ip(),
                }) as _),
                (true, None) => Err(Box::new(DnsFailure {
                    host,
                    reason: "no addresses".into(),
                }) as _),
            }
        })
    }
}

/// The result of one attempt.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub duration: Duration,
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    pub body_excerpt: String,
    pub error: Option<(ErrorKind, String)>,
    pub retry_after: Option<Duration>,
}

impl AttemptResult {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: DestinationPolicy,
}

impl WebhookClient {
    pub fn new(policy: DestinationPolicy, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            // Through a proxy the connection would go to the proxy, not to the address the
            // destination check approved (and reqwest would read proxy settings per request).
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver {
                policy: policy.clone(),
            }))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .user_agent(concat!("Klaxon-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(WebhookClient { http, policy })
    }

    /// POSTs `body` to `url` with `headers`; never fails, the result says what happened.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: String,
    ) -> AttemptResult {
        let started = Instant::now();
        let failed = |kind: ErrorKind, message: String| AttemptResult {
            duration: started.elapsed(),
            status: None,
            response_headers: Vec::new(),
            body_excerpt: String::new(),
            error: Some((kind, message)),
            retry_after: None,
        };
        let parsed = match url::Url::parse(url) {
            Ok(parsed) => parsed,
            Err(e) => return failed(ErrorKind::Connect, format!("invalid URL: {e}")),
        };
        // An address written in the URL never reaches the resolver: check it here.
        if let Some(ip) = literal_ip(&parsed) {
            if !self.policy.permits(ip) {
                return failed(
                    ErrorKind::RefusedDestination,
                    format!("{ip} is not an address Klaxon sends to"),
                );
            }
        }
        let mut request = self.http.post(parsed).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let (kind, message) = classify(&error);
                return failed(kind, message);
            }
        };
        let status = response.status();
        let response_headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut excerpt = Vec::new();
        let mut body_error = None;
        while excerpt.len() < BODY_EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(
                    &chunk[..chunk.len().min(BODY_EXCERPT_BYTES - excerpt.len())],
                ),
                Ok(None) => break,
                Err(error) => {
                    body_error = Some(classify(&error));
                    break;
                }
            }
        }
        let error = if !status.is_success() {
            Some((
                ErrorKind::HttpStatus,
                format!("the receiver answered {status}"),
            ))
        } else {
            // A 2xx whose body broke off still counts: the receiver accepted the request.
            let _ = body_error;
            None
        };
        AttemptResult {
            duration: started.elapsed(),
            status: Some(status.as_u16()),
            response_headers,
            body_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
            error,
            retry_after,
        }
    }
}

fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

fn classify(error: &reqwest::Error) -> (ErrorKind, String) {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<RefusedDestination>() {
            return (ErrorKind::RefusedDestination, refused.to_string());
        }
        if let Some(dns) = current.downcast_ref::<DnsFailure>() {
            return (ErrorKind::Dns, dns.to_string());
        }
        source = current.source();
    }
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connect
    };
    (kind, full_message(error))
}

fn full_message(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
