//! The connection to the SMTP relay. lettre speaks the protocol; this module opens and pools the
//! connections itself so that each socket has `TCP_NODELAY` set. lettre 0.11 leaves Nagle's
//! algorithm on and writes a message's body and its closing `.` as two writes: the second one
//! waits for the relay's delayed ACK, about 40 ms on Linux, on every message of every
//! connection, so a burst of pages would leave at some 25 emails per second per connection.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::Message;
use percent_encoding::percent_decode_str;
use tokio::net::TcpStream;

/// How the connection is secured, as `KLAXON_SMTP_URL` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtp://`: plain text.
    Plain,
    /// `smtp://…?tls=opportunistic`: STARTTLS when the relay offers it.
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS, or no email.
    Required,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

/// Where and how to reach the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Relay {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<(String, String)>,
    hello: Option<String>,
}

impl Relay {
    /// Reads `smtp://[user:pass@]host[:port][/ehlo-name][?tls=required|opportunistic]` or
    /// `smtps://…`: the forms and default ports of lettre's `from_url`.
    fn parse(text: &str) -> Result<Relay, String> {
        let url = url::Url::parse(text.trim()).map_err(|error| error.to_string())?;
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("it names no host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let tls = url
            .query_pairs()
            .find(|(key, _)| key == "tls")
            .map(|(_, value)| value.into_owned());
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtp", None | Some("none")) => (Security::Plain, 25),
            ("smtp", Some("opportunistic")) => (Security::Opportunistic, 587),
            ("smtp", Some("required")) => (Security::Required, 587),
            ("smtps", _) => (Security::Implicit, 465),
            (scheme, tls) => {
                return Err(format!(
                    "unknown scheme {scheme:?} or tls={}; use smtp://host:25, \
                     smtp://host:587?tls=required or smtps://user:pass@host:465",
                    tls.unwrap_or_default()
                ))
            }
        };
        let decode = |text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| "its user name or password is not UTF-8 once decoded".to_owned())
        };
        let credentials = match url.password() {
            Some(password) => Some((decode(url.username())?, decode(password)?)),
            None => None,
        };
        let path = url.path().trim_matches('/');
        Ok(Relay {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
            hello: (!path.is_empty()).then(|| path.to_owned()),
        })
    }
}

/// Why a message was not handed over.
#[derive(Debug)]
pub struct SendError {
    /// The relay's reply code, when it replied.
    pub code: Option<i32>,
    /// A 5xx reply: sending the same message again would be refused again.
    pub permanent: bool,
    pub message: String,
}

impl SendError {
    fn network(message: String) -> SendError {
        SendError {
            code: None,
            permanent: false,
            message,
        }
    }
}

impl From<lettre::transport::smtp::Error> for SendError {
    fn from(error: lettre::transport::smtp::Error) -> SendError {
        SendError {
            code: error
                .status()
                .and_then(|code| code.to_string().parse().ok()),
            permanent: error.is_permanent(),
            message: error.to_string(),
        }
    }
}

/// An idle connection is checked with `NOOP` before reuse when it has waited this long: a relay
/// may have closed it meanwhile.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(5);
/// Idle connections older than this are closed rather than reused (lettre's pool default).
const MAX_IDLE: Duration = Duration::from_secs(60);

/// A pool of connections to one relay. Each send takes an idle connection or opens one; the
/// notifier's concurrency bounds how many are open at once.
pub struct SmtpPool {
    relay: Relay,
    timeout: Duration,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    max_idle: usize,
}

impl SmtpPool {
    pub fn from_url(url: &str, timeout: Duration, max_idle: usize) -> Result<SmtpPool, String> {
        let relay = Relay::parse(url)?;
        if relay.security != Security::Plain {
            // Checked now so that a bad host name is a start-up error, not a failed email.
            TlsParameters::new(relay.host.clone()).map_err(|error| error.to_string())?;
        }
        Ok(SmtpPool {
            relay,
            timeout,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    /// Hands `message` to the relay; the relay's reply on success.
    pub async fn send(&self, message: &Message) -> Result<Response, SendError> {
        let mut connection = self.connection().await?;
        let sent = tokio::time::timeout(
            self.timeout,
            connection.send(message.envelope(), &message.formatted()),
        )
        .await
        .map_err(|_| SendError::network(format!("no reply within {:?}", self.timeout)))?;
        match sent {
            Ok(response) => {
                self.put_back(connection);
                Ok(response)
            }
            // The connection is in an unknown state after a refusal: it is dropped, not reused.
            Err(error) => Err(error.into()),
        }
    }

    fn put_back(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < self.max_idle {
            idle.push((connection, Instant::now()));
        }
    }

    fn take_idle(&self) -> Option<(AsyncSmtpConnection, Instant)> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        idle.retain(|(_, since)| since.elapsed() < MAX_IDLE);
        idle.pop()
    }

    async fn connection(&self) -> Result<AsyncSmtpConnection, SendError> {
        while let Some((mut connection, since)) = self.take_idle() {
            if since.elapsed() < CHECK_AFTER_IDLE || connection.test_connected().await {
                return Ok(connection);
            }
        }
        tokio::time::timeout(self.timeout, self.connect())
            .await
            .map_err(|_| {
                SendError::network(format!(
                    "could not connect to {}:{} within {:?}",
                    self.relay.host, self.relay.port, self.timeout
                ))
            })?
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let relay = &self.relay;
        let hello = match &relay.hello {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        };
        let tls = || TlsParameters::new(relay.host.clone());
        let mut connection = if relay.security == Security::Implicit {
            // TLS must start before the greeting, and lettre offers no way to hand it a TLS
            // stream of ours: these connections keep Nagle's algorithm on.
            AsyncSmtpConnection::connect_tokio1(
                (relay.host.as_str(), relay.port),
                Some(self.timeout),
                &hello,
                Some(tls()?),
                None,
            )
            .await?
        } else {
            let socket = TcpStream::connect((relay.host.as_str(), relay.port))
                .await
                .map_err(|error| {
                    SendError::network(format!(
                        "could not connect to {}:{}: {error}",
                        relay.host, relay.port
                    ))
                })?;
            socket
                .set_nodelay(true)
                .map_err(|error| SendError::network(error.to_string()))?;
            AsyncSmtpConnection::connect_with_transport(Box::new(socket), &hello).await?
        };
        let upgrade = match relay.security {
            Security::Required => true,
            Security::Opportunistic => connection.can_starttls(),
            Security::Plain | Security::Implicit => false,
        };
        if upgrade {
            connection.starttls(tls()?, &hello).await?;
        }
        if let Some((user, password)) = &relay.credentials {
            let credentials = Credentials::new(user.clone(), password.clone());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await?;
        }
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_documented_forms_with_their_default_ports() {
        let plain = Relay::parse("smtp://mail.example.com").unwrap();
        assert_eq!(
            (plain.port, plain.security, plain.credentials),
            (25, Security::Plain, None)
        );
        let submission = Relay::parse("smtp://mail.example.com?tls=required").unwrap();
        assert_eq!(
            (submission.port, submission.security),
            (587, Security::Required)
        );
        let implicit = Relay::parse("smtps://alice:p%40ss%2Fword@mail.example.com").unwrap();
        assert_eq!(
            (implicit.port, implicit.security, implicit.credentials),
            (
                465,
                Security::Implicit,
                Some(("alice".to_owned(), "p@ss/word".to_owned()))
            )
        );
        let explicit = Relay::parse("smtp://127.0.0.1:2525/klaxon.example.com").unwrap();
        assert_eq!(
            (
                explicit.host.as_str(),
                explicit.port,
                explicit.hello.as_deref()
            ),
            ("127.0.0.1", 2525, Some("klaxon.example.com"))
        );
    }

    #[test]
    fn refuses_what_it_cannot_send_through() {
        for bad in [
            "mail.example.com",
            "http://mail.example.com",
            "smtp://mail.example.com?tls=always",
            "smtp://",
        ] {
            assert!(Relay::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
