//! The real `klaxon` binary as a child process, for what only a process shows: being killed,
//! signals, several instances on one database, settings read from the environment.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Starts `klaxon` as a child process on the database, with quick webhook timeouts and
/// retries plus `settings`, and returns it with its address.
pub fn spawn_klaxon(database_url: &str, settings: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .env("DATABASE_URL", database_url)
        .env("KLAXON_BIND", "127.0.0.1:0")
        .env("KLAXON_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("KLAXON_WEBHOOK_TIMEOUT_SECS", "2")
        .env("KLAXON_WEBHOOK_RETRY_SCHEDULE", "1,1,1")
        .env("KLAXON_LOG", "warn")
        .envs(settings.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start klaxon");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let address = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(
        address.starts_with("http://127.0.0.1:"),
        "unexpected first line: {line:?}"
    );
    (child, address)
}
