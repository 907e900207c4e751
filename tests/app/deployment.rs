//! The files that run Klaxon in containers (Dockerfile, docker-compose.yml, the proxy's
//! Caddyfile), checked against the binary's own settings since no Docker engine runs here; and
//! the client address behind a trusted reverse proxy.

use std::collections::BTreeSet;

use clap::{CommandFactory, Parser};
use klaxon::config::Config;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    behind_proxy, sign_in_from, spawn_klaxon, Backend, TestApp, TestDatabase, OWNER_EMAIL,
    OWNER_PASSWORD,
};

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every environment variable the binary reads, from its command-line definition.
fn settings() -> BTreeSet<String> {
    Config::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_str().unwrap().to_owned())
        .collect()
}

/// The flag that sets the same thing as an environment variable.
fn flag_of(env: &str) -> String {
    let command = Config::command();
    let arg = command
        .get_arguments()
        .find(|arg| arg.get_env().is_some_and(|e| e == env))
        .unwrap_or_else(|| panic!("{env} is not a setting"));
    format!("--{}", arg.get_long().unwrap())
}

fn default_of(env: &str) -> String {
    let command = Config::command();
    let arg = command
        .get_arguments()
        .find(|arg| arg.get_env().is_some_and(|e| e == env))
        .unwrap();
    arg.get_default_values()[0].to_str().unwrap().to_owned()
}

fn port_of(bind: &str) -> &str {
    bind.rsplit(':').next().unwrap()
}

/// A compose value with `${NAME:-default}` in it, as Compose fills it in when NAME is unset.
fn with_defaults(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').expect("closing brace");
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map_or("", |(_, default)| default));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

struct Instruction {
    stage: usize,
    keyword: String,
    args: String,
}

/// The Dockerfile's instructions, continuation lines joined, numbered by build stage.
fn dockerfile() -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    let mut stage = 0;
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let (keyword, args) = pending.split_once(' ').unwrap();
        let keyword = keyword.to_uppercase();
        if keyword == "FROM" {
            stage += 1;
        }
        instructions.push(Instruction {
            stage,
            keyword,
            args: args.split_whitespace().collect::<Vec<_>>().join(" "),
        });
        pending.clear();
    }
    instructions
}

#[test]
fn the_dockerfile_builds_in_one_stage_and_runs_the_binary_alone_as_a_user() {
    let instructions = dockerfile();
    let find = |stage: usize, keyword: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|i| i.stage == stage && i.keyword == keyword)
            .map(|i| i.args.as_str())
            .collect()
    };
    let stages = instructions.iter().map(|i| i.stage).max().unwrap();
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    let build_from = find(1, "FROM")[0];
    let runtime_from = find(2, "FROM")[0];
    let (build_image, build_name) = build_from.split_once(" AS ").unwrap();
    assert!(build_image.starts_with("rust:"), "{build_from}");
    assert!(runtime_from.starts_with("debian:") && runtime_from.contains("-slim"));
    // The binary is linked against the build image's C library: same Debian release.
    let release = build_image.rsplit('-').next().unwrap();
    assert!(
        runtime_from.starts_with(&format!("debian:{release}-")),
        "{build_from} / {runtime_from}"
    );
    assert!(find(1, "RUN")
        .iter()
        .any(|run| run.contains("cargo build --release --locked")));
    assert!(find(2, "COPY")
        .iter()
        .any(|copy| copy.starts_with(&format!("--from={build_name} "))
            && copy.contains("/target/release/klaxon ")));

    let user = find(2, "USER");
    assert_eq!(user.len(), 1);
    let (uid, gid) = user[0].split_once(':').unwrap();
    assert!(uid != "0" && uid != "root", "USER {}", user[0]);
    assert!(gid != "0" && gid != "root", "USER {}", user[0]);
    assert!(
        find(2, "RUN")
            .iter()
            .any(|run| run.contains(&format!("useradd --uid {uid} --gid {gid} "))),
        "the user exists in the image"
    );

    // Every ENV is a setting the binary reads; the port it listens on is the one exposed and
    // the one the health check asks.
    let known = settings();
    let mut env = std::collections::BTreeMap::new();
    for line in find(2, "ENV") {
        for pair in line.split_whitespace() {
            let (name, value) = pair.split_once('=').unwrap();
            assert!(known.contains(name), "ENV {name} is not a Klaxon setting");
            env.insert(name, value);
        }
    }
    let port = port_of(env["KLAXON_BIND"]);
    assert!(env["KLAXON_BIND"].starts_with("0.0.0.0:"));
    assert_eq!(find(2, "EXPOSE"), vec![port]);
    let healthcheck = find(2, "HEALTHCHECK");
    assert_eq!(healthcheck.len(), 1);
    assert!(
        healthcheck[0].contains(&format!("\"http://127.0.0.1:{port}/healthz\"")),
        "{}",
        healthcheck[0]
    );
    assert!(healthcheck[0].contains(" CMD [\"curl\", \"--fail\""));
    assert!(find(2, "RUN")[0].contains(" curl "), "curl is installed");
    // SQLite's file, without a DATABASE_URL from outside, is in the folder the user owns.
    assert!(find(2, "RUN")[0].contains("install -d -o klaxon -g klaxon"));
    assert_eq!(
        env["DATABASE_URL"],
        "sqlite:///var/lib/klaxon/data/klaxon.db"
    );
    assert_eq!(find(2, "ENTRYPOINT"), vec![r#"["/usr/local/bin/klaxon"]"#]);

    let ignored = read(".dockerignore");
    for path in ["target", ".git", "data"] {
        assert!(ignored.lines().any(|line| line == path), "{path} stays out");
    }
}

#[test]
fn compose_runs_postgres_and_scalable_instances_behind_the_proxy() {
    let compose: Value = serde_norway::from_str(&read("docker-compose.yml")).expect("YAML");
    let services = compose["services"].as_object().unwrap();
    assert_eq!(
        services.keys().collect::<Vec<_>>(),
        ["db", "klaxon", "mailpit", "proxy"]
    );
    for (name, service) in services {
        assert_eq!(service["restart"], "unless-stopped", "{name}");
        assert!(
            service.get("container_name").is_none(),
            "{name}: a fixed name forbids scaling"
        );
    }

    let db = &services["db"];
    assert!(db["image"].as_str().unwrap().starts_with("postgres:"));
    let test = db["healthcheck"]["test"].as_array().unwrap();
    assert_eq!(test[0], "CMD");
    assert_eq!(test[1], "pg_isready");
    let volume = db["volumes"][0].as_str().unwrap();
    let (name, path) = volume.split_once(':').unwrap();
    assert_eq!(path, "/var/lib/postgresql/data");
    assert!(compose["volumes"].as_object().unwrap().contains_key(name));

    let klaxon = &services["klaxon"];
    assert_eq!(klaxon["build"], ".");
    assert_eq!(klaxon["depends_on"]["db"]["condition"], "service_healthy");
    assert!(
        klaxon.get("ports").is_none(),
        "no host port: instances are reached through the proxy"
    );

    // The environment names exactly the settings the binary has.
    let env = klaxon["environment"].as_object().unwrap();
    let named: BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(named, settings(), "compose sets every setting and no other");
    // Values set here parse as the binary parses them; the rest pass through from `.env`.
    let mut args = vec!["klaxon".to_owned()];
    for (name, value) in env {
        match value {
            Value::String(value) => {
                args.push(flag_of(name));
                args.push(with_defaults(value));
            }
            Value::Null => {}
            other => panic!("{name}: {other} is not a string; Compose wants strings"),
        }
    }
    let config = Config::try_parse_from(&args).expect("the binary takes these values");
    assert!(
        config
            .database_url
            .starts_with("postgres://klaxon:klaxon@db:5432/klaxon"),
        "{}",
        config.database_url
    );
    let password = db["environment"]["POSTGRES_PASSWORD"].as_str().unwrap();
    assert!(env["DATABASE_URL"]
        .as_str()
        .unwrap()
        .contains(&format!(":{password}@")));
    assert_eq!(db["environment"]["POSTGRES_USER"].as_str(), Some("klaxon"));
    assert!(config
        .trusted_proxies
        .contains(&"172.16.0.0/12".parse().unwrap()));
    // Out of the box, paging emails land in Mailpit, whose SMTP port is the one named.
    assert_eq!(config.smtp_url.as_deref(), Some("smtp://mailpit:1025"));
    assert!(services["mailpit"]["image"]
        .as_str()
        .unwrap()
        .starts_with("axllent/mailpit:"));
    let port = port_of(&config.bind).to_owned();
    assert_eq!(klaxon["expose"], serde_json::json!([port]));
    let grace: u64 = klaxon["stop_grace_period"]
        .as_str()
        .unwrap()
        .strip_suffix('s')
        .unwrap()
        .parse()
        .unwrap();
    let shutdown: u64 = default_of("KLAXON_SHUTDOWN_GRACE_SECS").parse().unwrap();
    assert!(
        grace > shutdown,
        "Docker waits for the webhook grace period"
    );

    // The proxy publishes the one host port and spreads requests over every instance.
    let proxy = &services["proxy"];
    assert_eq!(
        proxy["depends_on"]["klaxon"]["condition"],
        "service_healthy"
    );
    let mount = proxy["volumes"][0].as_str().unwrap();
    assert_eq!(mount, "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro");
    let published = proxy["ports"][0].as_str().unwrap();
    let listen = published.rsplit(':').next().unwrap();
    let caddyfile = read("deploy/Caddyfile");
    assert!(
        caddyfile.contains(&format!("\n:{listen} {{\n")),
        "{caddyfile}"
    );
    assert!(
        caddyfile.contains(&format!("dynamic a klaxon {port} {{")),
        "{caddyfile}"
    );
    // /metrics has no sign-in; the proxy keeps it inside the Compose network.
    assert!(
        caddyfile.contains("\n\trespond /metrics 404\n"),
        "{caddyfile}"
    );
}

#[test]
fn the_readme_documents_every_setting() {
    let readme = read("README.md");
    for name in settings() {
        assert!(readme.contains(&format!("| `{name}` |")), "{name}");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_failures_count_for_the_forwarded_address() {
    use klaxon::domain::accounts::MAX_FAILURES_PER_ADDRESS;
    let database = TestDatabase::create(Backend::Sqlite);
    let app = TestApp::start_with(&database, behind_proxy).await;
    app.create_owner().await;
    // A client that writes its own header cannot pick its address: the proxy's hop is last.
    for attempt in 0..MAX_FAILURES_PER_ADDRESS {
        let forwarded = format!("198.51.100.{attempt}, 203.0.113.7");
        let status =
            sign_in_from(&app, &forwarded, &format!("u{attempt}@example.com"), "nope").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = sign_in_from(&app, "203.0.113.7", OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "that client waits");
    let status = sign_in_from(&app, "203.0.113.8, 127.0.0.1", OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "everyone else behind the proxy signs in"
    );
    app.stop().await;

    // Not trusted (the default): the header is ignored, the connection's address counts.
    let database = TestDatabase::create(Backend::Sqlite);
    let app = TestApp::start(&database).await;
    app.create_owner().await;
    for attempt in 0..MAX_FAILURES_PER_ADDRESS {
        let forwarded = format!("203.0.113.{attempt}");
        let status =
            sign_in_from(&app, &forwarded, &format!("u{attempt}@example.com"), "nope").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = sign_in_from(&app, "203.0.113.99", OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

/// `.env` files and orchestrators often set a variable to nothing to mean "not set"; the
/// binary then uses the default instead of refusing an empty value.
#[tokio::test]
async fn an_empty_setting_counts_as_not_set() {
    let database = TestDatabase::create(Backend::Sqlite);
    let (mut child, address) = spawn_klaxon(
        &database.url,
        &[
            ("KLAXON_SECRET_KEY", ""),
            ("KLAXON_WEBHOOK_ALLOWED_NETWORKS", ""),
            ("KLAXON_WEBHOOK_CONCURRENCY", ""),
            ("KLAXON_TRUSTED_PROXIES", ""),
        ],
    );
    let health = reqwest::get(format!("{address}/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    child.kill().unwrap();
    child.wait().unwrap();
}
