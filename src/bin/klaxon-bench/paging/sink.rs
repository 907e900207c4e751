//! The paging workloads' SMTP server: plain SMTP on the loopback interface, every message
//! accepted with `250`, and for each one the moment it was accepted and its subject. No TLS, no
//! authentication, nothing stored but that: it stands for a relay that takes mail as fast as
//! Klaxon hands it over, so the figures are Klaxon's.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One message the sink accepted.
pub(crate) struct Arrival {
    pub(crate) at: Instant,
    pub(crate) subject: String,
}

#[derive(Clone, Default)]
pub(crate) struct Sink {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

impl Sink {
    /// Listens on 127.0.0.1 at a free port, a thread per connection; returns the sink and its
    /// `KLAXON_SMTP_URL`.
    pub(crate) fn start() -> std::io::Result<(Sink, String)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("smtp://{}", listener.local_addr()?);
        let sink = Sink::default();
        let accepting = sink.clone();
        std::thread::spawn(move || {
            for socket in listener.incoming().flatten() {
                let sink = accepting.clone();
                std::thread::spawn(move || {
                    let _ = sink.converse(socket);
                });
            }
        });
        Ok((sink, url))
    }

    pub(crate) fn count(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    /// Every message accepted so far, leaving none.
    pub(crate) fn take(&self) -> Vec<Arrival> {
        std::mem::take(&mut *self.arrivals.lock().unwrap())
    }

    fn converse(&self, socket: TcpStream) -> std::io::Result<()> {
        socket.set_nodelay(true)?;
        let mut reply = socket.try_clone()?;
        let mut lines = BufReader::new(socket);
        reply.write_all(b"220 klaxon-bench ESMTP\r\n")?;
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let verb = line
                .split([' ', ':', '\r', '\n'])
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let answer: &[u8] = match verb.as_str() {
                "EHLO" => b"250-klaxon-bench\r\n250 8BITMIME\r\n",
                "DATA" => {
                    reply.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                    let subject = read_message(&mut lines)?;
                    self.arrivals.lock().unwrap().push(Arrival {
                        at: Instant::now(),
                        subject,
                    });
                    b"250 2.0.0 Ok: queued\r\n"
                }
                "QUIT" => {
                    reply.write_all(b"221 2.0.0 Bye\r\n")?;
                    return Ok(());
                }
                "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 2.0.0 Ok\r\n",
                _ => b"502 5.5.2 Command not recognized\r\n",
            };
            reply.write_all(answer)?;
        }
    }
}

/// Reads a message up to the line with a single dot; returns its subject (folded lines joined).
fn read_message(lines: &mut impl BufRead) -> std::io::Result<String> {
    let (mut subject, mut in_subject, mut in_headers) = (String::new(), false, true);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 || line == ".\r\n" {
            return Ok(subject);
        }
        if !in_headers {
            continue;
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            in_headers = false;
        } else if in_subject && text.starts_with([' ', '\t']) {
            subject.push_str(text);
        } else if let Some(value) = text
            .split_once(':')
            .filter(|(name, _)| name.eq_ignore_ascii_case("subject"))
            .map(|(_, value)| value.trim())
        {
            subject = value.to_owned();
            in_subject = true;
        } else {
            in_subject = false;
        }
    }
}
