//! Typed configuration, read from `KLAXON_*` environment variables or flags.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Klaxon: self-hosted incident management with signed outgoing webhooks.
///
/// Every setting can be given as a flag or as the environment variable shown.
#[derive(Debug, Clone, Parser)]
#[command(name = "klaxon", version, about, long_about = None)]
pub struct Config {
    /// Address and port the web server listens on.
    #[arg(long, env = "KLAXON_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Database: `sqlite://path`, a plain file path, or `postgres://user:pass@host/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/klaxon.db")]
    pub database_url: String,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "KLAXON_DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,

    /// Key that signs and encrypts session cookies (at least 64 characters). When unset, a key
    /// is generated on first start and kept in the database, so restarts keep people signed in.
    /// Set the same value on every instance that shares a database.
    #[arg(long, env = "KLAXON_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Mark the session cookie `Secure` (send it over HTTPS only). Turn on behind TLS.
    #[arg(long, env = "KLAXON_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// Comma-separated CIDR ranges of reverse proxies in front of Klaxon. A request whose
    /// connection comes from one of them is taken to be from the address its
    /// `X-Forwarded-For` names (sign-in throttling counts per address). Empty: the connection's.
    #[arg(long, env = "KLAXON_TRUSTED_PROXIES", value_delimiter = ',', num_args = 0..)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Log format on standard output.
    #[arg(long, env = "KLAXON_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Comma-separated CIDR ranges that webhooks may be sent to even though they are not public
    /// addresses, e.g. `10.0.0.0/8,fd00::/8` for on-premise receivers. Empty: public addresses only.
    #[arg(long, env = "KLAXON_WEBHOOK_ALLOWED_NETWORKS", value_delimiter = ',', num_args = 0..)]
    pub webhook_allowed_networks: Vec<ipnet::IpNet>,

    /// Run the webhook sender in this process. Turn off for instances that should only serve
    /// pages and the API (another instance on the same database then sends).
    #[arg(long, env = "KLAXON_WEBHOOK_SENDER", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_sender: bool,

    /// Events accepted per second per integration key (bursts up to ten times that); 0 turns
    /// the limit off. Over the limit the Events API answers 429 with `Retry-After`.
    #[arg(long, env = "KLAXON_EVENTS_RATE_LIMIT", default_value_t = 100)]
    pub events_rate_limit: u32,

    /// Token that `/metrics` requires as `Authorization: Bearer <token>`. When unset,
    /// `/metrics` answers anyone who reaches it.
    #[arg(long, env = "KLAXON_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// How many webhook requests may be in flight at once (per instance).
    #[arg(long, env = "KLAXON_WEBHOOK_CONCURRENCY", default_value_t = 32)]
    pub webhook_concurrency: usize,

    /// Seconds a webhook receiver has to answer one attempt.
    #[arg(long, env = "KLAXON_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,

    /// Seconds between looks for deliveries that became due without a wake-up (retries, and
    /// anything missed). New deliveries wake the sender at once.
    #[arg(long, env = "KLAXON_WEBHOOK_POLL_SECS", default_value_t = 1)]
    pub webhook_poll_secs: u64,

    /// Seconds to wait before each retry after a failed attempt (±20 % jitter); after the last
    /// one the delivery fails for good.
    #[arg(
        long,
        env = "KLAXON_WEBHOOK_RETRY_SCHEDULE",
        value_delimiter = ',',
        default_value = "5,300,1800,7200,18000,36000,36000"
    )]
    pub webhook_retry_schedule: Vec<u64>,

    /// Seconds in-flight webhook attempts get to finish on shutdown.
    #[arg(long, env = "KLAXON_SHUTDOWN_GRACE_SECS", default_value_t = 15)]
    pub shutdown_grace_secs: u64,

    /// SMTP server that sends notification emails: `smtp://host:25` (plain),
    /// `smtp://host:587?tls=required` (STARTTLS; `tls=opportunistic`: when offered),
    /// `smtps://user:pass@host:465` (TLS from the start).
    /// When unset, notifications are recorded as not sent and Settings warns owners.
    #[arg(long, env = "KLAXON_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender of notification emails, e.g. `Klaxon <klaxon@example.com>`.
    #[arg(
        long,
        env = "KLAXON_SMTP_FROM",
        default_value = "Klaxon <klaxon@localhost>"
    )]
    pub smtp_from: String,

    /// The address people open Klaxon at, for the links in emails.
    #[arg(
        long,
        env = "KLAXON_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,

    /// Seconds to wait before each retry of an email the SMTP server did not take (±20 %
    /// jitter); after the last one the notification fails for good.
    #[arg(
        long,
        env = "KLAXON_EMAIL_RETRY_SCHEDULE",
        value_delimiter = ',',
        default_value = "10,30,60,120,300"
    )]
    pub email_retry_schedule: Vec<u64>,

    /// Run the escalation worker and the email notifier in this process.
    #[arg(long, env = "KLAXON_PAGING_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub paging_worker: bool,

    /// Log filter in `tracing` syntax, e.g. `info` or `klaxon=debug,actix_web=info`.
    #[arg(long, env = "KLAXON_LOG", default_value = "info")]
    pub log_filter: String,
}

/// The command line: the settings, and optionally a command. Without one, Klaxon serves.
#[derive(Debug, Clone, Parser)]
#[command(name = "klaxon", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Write every table of the database at DATABASE_URL as one JSON document (to standard
    /// output unless --output is given), from one consistent snapshot.
    Export {
        /// Write to this file (created readable by its owner only) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Load a file written by `klaxon export` into the database at DATABASE_URL, which must
    /// hold no data yet. Ids are kept; nothing is written if anything fails.
    Import {
        /// The exported file; `-` reads standard input.
        file: PathBuf,
    },
}

/// Removes every setting's variable that is present but empty (`KLAXON_SECRET_KEY=` in a
/// `.env` file), so that it means "not set" and the default applies, as documented, instead of
/// being parsed as an empty value. Changing the environment is only sound while no other
/// thread runs: call it first thing in `main`.
pub fn unset_empty_settings() {
    for argument in Cli::command().get_arguments() {
        if let Some(name) = argument.get_env() {
            if std::env::var_os(name).is_some_and(|value| value.is_empty()) {
                std::env::remove_var(name);
            }
        }
    }
}

impl Config {
    /// Defaults with a given database, for tests and embedding.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        let mut config = Config::parse_from(["klaxon"]);
        config.database_url = database_url.into();
        config
    }
}
