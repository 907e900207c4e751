//! A real SMTP server on port 0 for the tests: it speaks the protocol (greeting, EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT) over TCP, keeps every message it accepts, and can be told to
//! refuse recipients with a given reply, as a mail relay in trouble would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent: headers, blank line, body.
    pub data: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> String {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        // Folded header lines continue with whitespace.
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded
            .lines()
            .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
            .unwrap_or_default()
    }

    /// The decoded subject (lettre encodes non-ASCII subjects; the tests' are ASCII).
    pub fn subject(&self) -> String {
        self.header("Subject")
    }

    /// The body of the part with this content type (`text/plain`, `text/html`), decoded.
    pub fn part(&self, content_type: &str) -> Option<String> {
        let start = self
            .data
            .to_ascii_lowercase()
            .find(&format!("content-type: {content_type}"))?;
        let part = &self.data[start..];
        let (head, rest) = part.split_once("\r\n\r\n")?;
        let body = rest.split("\r\n--").next().unwrap_or(rest);
        let encoding = head.to_ascii_lowercase();
        Some(if encoding.contains("content-transfer-encoding: base64") {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .expect("base64 part"),
            )
            .expect("UTF-8 part")
        } else if encoding.contains("content-transfer-encoding: quoted-printable") {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        })
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if let Some(hex) = joined.get(i + 1..i + 3) {
                if let Ok(byte) = u8::from_str_radix(hex, 16) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 part")
}

/// How the server answers RCPT TO.
#[derive(Debug, Clone)]
pub enum Recipients {
    Accept,
    /// Refuse every recipient with this reply, e.g. `(550, "5.1.1 mailbox unavailable")`.
    Refuse(u16, String),
}

pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    recipients: Arc<Mutex<Recipients>>,
    _task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let recipients = Arc::new(Mutex::new(Recipients::Accept));
        let (kept, rule) = (mails.clone(), recipients.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (kept, rule) = (kept.clone(), rule.clone());
                tokio::spawn(async move {
                    let _ = converse(socket, kept, rule).await;
                });
            }
        });
        SmtpServer {
            port,
            mails,
            recipients,
            _task: task,
        }
    }

    /// `KLAXON_SMTP_URL` for this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn answer_recipients(&self, rule: Recipients) {
        *self.recipients.lock().unwrap() = rule;
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits until at least `count` messages arrived, and returns them all.
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} emails within {limit:?}, got {}: {:?}",
                mails.len(),
                mails.iter().map(Mail::subject).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn converse(
    socket: tokio::net::TcpStream,
    kept: Arc<Mutex<Vec<Mail>>>,
    rule: Arc<Mutex<Recipients>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 test.invalid ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-test.invalid\r\n250-8BITMIME\r\n250 SMTPUTF8".to_owned(),
            "HELO" => "250 test.invalid".to_owned(),
            "MAIL" => {
                from = address_in(&command);
                to.clear();
                "250 2.1.0 Ok".to_owned()
            }
            "RCPT" => match rule.lock().unwrap().clone() {
                Recipients::Accept => {
                    to.push(address_in(&command));
                    "250 2.1.5 Ok".to_owned()
                }
                Recipients::Refuse(code, text) => format!("{code} {text}"),
            },
            "DATA" if to.is_empty() => "554 5.5.1 No valid recipients".to_owned(),
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // Dot-stuffing: a line starting with a dot was sent with one more.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                kept.lock().unwrap().push(Mail {
                    from: from.clone(),
                    to: std::mem::take(&mut to),
                    data,
                });
                "250 2.0.0 Ok: queued".to_owned()
            }
            "RSET" => {
                to.clear();
                "250 2.0.0 Ok".to_owned()
            }
            "NOOP" => "250 2.0.0 Ok".to_owned(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognized".to_owned(),
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

fn address_in(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}
