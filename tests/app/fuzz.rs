//! A standing fuzz test: thousands of random and hostile requests to every route, as every kind
//! of user, checking that the server never answers 5xx, never panics, keeps API errors in
//! `{"detail": …}`, and that no request of a user changes the data of a team they are not in.
//!
//! Seeded: the seed is printed (shown when the test fails); `KLAXON_FUZZ_SEED=<n>` replays it,
//! `KLAXON_FUZZ_REQUESTS=<n>` changes how many requests each backend gets (default 2500),
//! `KLAXON_FUZZ_TALLY=1` prints how each route answered (with `--nocapture`).
//! Each user's request sequence follows from the seed; the users run at once, so the order in
//! which their requests reach the server may differ between runs.
//!
//! Adding a route: add it to `ROUTES` below. The test reads the routes that `src/web/pages` and
//! `src/web/api` register (their `#[get("…")]`/`#[post("…")]` attributes and the `"/api/…"`
//! paths with their `web::get()`… methods) and fails when one is missing here, or when one here
//! is not registered any more. A path parameter needs a pool of values in `World::values_for`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, Once};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    self, add_integration, behind_proxy, configured_webhook, create_api_key_as, create_service,
    csrf_token, default_team, for_each_backend_with, location, signed_in_browser, submit_with,
    trigger, TestApp, OWNER_EMAIL, OWNER_PASSWORD,
};

/// Every route the app registers: method and path pattern.
const ROUTES: &[(&str, &str)] = &[
    // src/web/pages/health.rs, assets.rs
    ("GET", "/metrics"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/static/style.css"),
    ("GET", "/static/live.js"),
    ("GET", "/static/keys.js"),
    ("GET", "/static/confirm.js"),
    ("GET", "/static/zone.js"),
    ("GET", "/static/favicon.svg"),
    ("GET", "/favicon.ico"),
    // session_pages.rs
    ("GET", "/"),
    ("GET", "/setup"),
    ("POST", "/setup"),
    ("GET", "/signin"),
    ("POST", "/signin"),
    ("POST", "/signout"),
    // users.rs
    ("GET", "/settings"),
    ("POST", "/settings/name"),
    ("POST", "/settings/email"),
    ("POST", "/settings/time-zone"),
    ("POST", "/settings/password"),
    ("POST", "/settings/sign-out-everywhere"),
    ("GET", "/settings/users"),
    ("GET", "/settings/users/new"),
    ("POST", "/settings/users"),
    ("GET", "/settings/users/{username}/password"),
    ("POST", "/settings/users/{username}/password"),
    ("GET", "/settings/users/{username}/disable"),
    ("POST", "/settings/users/{username}/{action}"),
    // contacts.rs
    ("POST", "/settings/contact-methods"),
    ("POST", "/settings/contact-methods/{id}/resend"),
    ("POST", "/settings/contact-methods/{id}/remove"),
    ("POST", "/settings/notification-rules"),
    ("POST", "/settings/notification-rules/{id}/remove"),
    ("POST", "/settings/resolved-emails"),
    ("GET", "/contact-methods/confirm/{token}"),
    ("POST", "/contact-methods/confirm/{token}"),
    // ack_links.rs
    ("GET", "/ack/{notification}/{signature}"),
    ("POST", "/ack/{notification}/{signature}"),
    // api_keys.rs
    ("GET", "/settings/api-keys"),
    ("POST", "/settings/api-keys"),
    ("GET", "/settings/api-keys/{id}/revoke"),
    ("POST", "/settings/api-keys/{id}/revoke"),
    // incidents.rs
    ("GET", "/incidents"),
    ("GET", "/incidents/changes"),
    ("GET", "/incidents/{number}/changes"),
    ("GET", "/incidents/new"),
    ("POST", "/incidents"),
    ("GET", "/incidents/{number}"),
    ("POST", "/incidents/{number}/acknowledge"),
    ("POST", "/incidents/{number}/resolve"),
    ("POST", "/incidents/bulk"),
    ("POST", "/incidents/{number}/escalate"),
    ("POST", "/incidents/{number}/reassign"),
    ("POST", "/incidents/{number}/notes"),
    ("POST", "/incidents/{number}/assign"),
    // teams.rs
    ("GET", "/teams"),
    ("GET", "/teams/new"),
    ("POST", "/teams"),
    ("GET", "/teams/{team}"),
    ("POST", "/teams/{team}/members"),
    ("POST", "/teams/{team}/members/{username}/role"),
    ("GET", "/teams/{team}/members/{username}/remove"),
    ("POST", "/teams/{team}/members/{username}/remove"),
    // schedules.rs
    ("GET", "/teams/{team}/schedules"),
    ("GET", "/teams/{team}/schedules/new"),
    ("POST", "/teams/{team}/schedules"),
    ("GET", "/teams/{team}/schedules/{schedule}"),
    ("GET", "/teams/{team}/schedules/{schedule}/history"),
    ("GET", "/teams/{team}/schedules/{schedule}/edit"),
    ("POST", "/teams/{team}/schedules/{schedule}/edit"),
    ("GET", "/teams/{team}/schedules/{schedule}/delete"),
    ("POST", "/teams/{team}/schedules/{schedule}/delete"),
    ("GET", "/teams/{team}/schedules/{schedule}/layers/new"),
    ("POST", "/teams/{team}/schedules/{schedule}/layers"),
    (
        "GET",
        "/teams/{team}/schedules/{schedule}/layers/{layer}/edit",
    ),
    (
        "POST",
        "/teams/{team}/schedules/{schedule}/layers/{layer}/edit",
    ),
    (
        "POST",
        "/teams/{team}/schedules/{schedule}/layers/{layer}/remove",
    ),
    (
        "POST",
        "/teams/{team}/schedules/{schedule}/layers/{layer}/move",
    ),
    ("POST", "/teams/{team}/schedules/{schedule}/overrides"),
    (
        "POST",
        "/teams/{team}/schedules/{schedule}/overrides/{override_id}/remove",
    ),
    // services.rs
    ("GET", "/services"),
    ("GET", "/services/new"),
    ("POST", "/services"),
    ("GET", "/services/{service}"),
    ("GET", "/services/{service}/edit"),
    ("POST", "/services/{service}/edit"),
    ("GET", "/services/{service}/delete"),
    ("POST", "/services/{service}/delete"),
    // integrations.rs
    ("GET", "/services/{service}/integrations"),
    ("GET", "/services/{service}/integrations/new"),
    ("POST", "/services/{service}/integrations"),
    ("GET", "/services/{service}/integrations/{integration}"),
    ("POST", "/services/{service}/integrations/{integration}"),
    (
        "GET",
        "/services/{service}/integrations/{integration}/rotate-secret",
    ),
    (
        "POST",
        "/services/{service}/integrations/{integration}/rotate-secret",
    ),
    (
        "GET",
        "/services/{service}/integrations/{integration}/disable",
    ),
    (
        "POST",
        "/services/{service}/integrations/{integration}/enabled",
    ),
    (
        "GET",
        "/services/{service}/integrations/{integration}/delete",
    ),
    (
        "POST",
        "/services/{service}/integrations/{integration}/delete",
    ),
    (
        "GET",
        "/services/{service}/integrations/{integration}/alerts",
    ),
    // deliveries.rs
    (
        "GET",
        "/services/{service}/integrations/{integration}/deliveries",
    ),
    ("GET", "/deliveries/{webhook_id}"),
    ("POST", "/deliveries/{webhook_id}/redeliver"),
    (
        "POST",
        "/services/{service}/integrations/{integration}/test-event",
    ),
    // escalation_policies.rs
    ("GET", "/oncall"),
    ("GET", "/teams/{team}/escalation-policies"),
    ("GET", "/teams/{team}/escalation-policies/new"),
    ("POST", "/teams/{team}/escalation-policies"),
    ("GET", "/teams/{team}/escalation-policies/{policy}"),
    ("GET", "/teams/{team}/escalation-policies/{policy}/edit"),
    ("POST", "/teams/{team}/escalation-policies/{policy}/edit"),
    ("POST", "/teams/{team}/escalation-policies/{policy}/rules"),
    (
        "POST",
        "/teams/{team}/escalation-policies/{policy}/rules/{rule}/delay",
    ),
    (
        "POST",
        "/teams/{team}/escalation-policies/{policy}/rules/{rule}/move",
    ),
    (
        "POST",
        "/teams/{team}/escalation-policies/{policy}/rules/{rule}/remove",
    ),
    (
        "POST",
        "/teams/{team}/escalation-policies/{policy}/rules/{rule}/targets",
    ),
    (
        "POST",
        "/teams/{team}/escalation-policies/{policy}/rules/{rule}/targets/remove",
    ),
    ("GET", "/teams/{team}/escalation-policies/{policy}/delete"),
    ("POST", "/teams/{team}/escalation-policies/{policy}/delete"),
    // src/web/api/events.rs
    ("POST", "/api/events/{integration_key}/"),
    ("POST", "/api/events/{integration_key}"),
    // api/teams.rs
    ("GET", "/api/account/teams/"),
    ("POST", "/api/account/teams/"),
    ("GET", "/api/account/teams/{team}/"),
    ("GET", "/api/account/teams/{team}/members/"),
    ("POST", "/api/account/teams/{team}/members/"),
    ("GET", "/api/account/teams/{team}/members/{member}/"),
    ("PUT", "/api/account/teams/{team}/members/{member}/"),
    ("PATCH", "/api/account/teams/{team}/members/{member}/"),
    ("DELETE", "/api/account/teams/{team}/members/{member}/"),
    // api/services.rs
    ("GET", "/api/account/teams/{team}/services/"),
    ("POST", "/api/account/teams/{team}/services/"),
    ("GET", "/api/account/teams/{team}/services/{service}/"),
    ("PUT", "/api/account/teams/{team}/services/{service}/"),
    ("PATCH", "/api/account/teams/{team}/services/{service}/"),
    ("DELETE", "/api/account/teams/{team}/services/{service}/"),
    // api/escalation_policies.rs
    ("GET", "/api/account/teams/{team}/escalation_policies/"),
    ("POST", "/api/account/teams/{team}/escalation_policies/"),
    (
        "GET",
        "/api/account/teams/{team}/escalation_policies/{policy}/",
    ),
    (
        "PUT",
        "/api/account/teams/{team}/escalation_policies/{policy}/",
    ),
    (
        "PATCH",
        "/api/account/teams/{team}/escalation_policies/{policy}/",
    ),
    (
        "DELETE",
        "/api/account/teams/{team}/escalation_policies/{policy}/",
    ),
    ("GET", "/api/account/teams/{team}/oncall/"),
    // api/schedules.rs
    ("GET", "/api/account/teams/{team}/schedules/"),
    ("POST", "/api/account/teams/{team}/schedules/"),
    ("GET", "/api/account/teams/{team}/schedules/{schedule}/"),
    ("PUT", "/api/account/teams/{team}/schedules/{schedule}/"),
    ("PATCH", "/api/account/teams/{team}/schedules/{schedule}/"),
    ("DELETE", "/api/account/teams/{team}/schedules/{schedule}/"),
    (
        "GET",
        "/api/account/teams/{team}/schedules/{schedule}/overrides/",
    ),
    (
        "POST",
        "/api/account/teams/{team}/schedules/{schedule}/overrides/",
    ),
    (
        "DELETE",
        "/api/account/teams/{team}/schedules/{schedule}/overrides/{override_id}/",
    ),
    // api/integrations.rs
    (
        "GET",
        "/api/account/teams/{team}/services/{service}/integrations/",
    ),
    (
        "POST",
        "/api/account/teams/{team}/services/{service}/integrations/",
    ),
    (
        "GET",
        "/api/account/teams/{team}/services/{service}/integrations/{integration}/",
    ),
    // api/incidents.rs
    ("GET", "/api/incidents/"),
    ("POST", "/api/incidents/"),
    ("POST", "/api/incidents/filter/"),
    ("GET", "/api/incidents/{incident}/"),
    ("PUT", "/api/incidents/{incident}/"),
    ("PATCH", "/api/incidents/{incident}/"),
    ("GET", "/api/incidents/{incident}/note/"),
    ("POST", "/api/incidents/{incident}/note/"),
    ("GET", "/api/incidents/{incident}/alerts/"),
];

/// What a valid value of a field looks like (a shaped body is mostly valid, so that requests
/// get past the first check and into the use case).
#[derive(Clone, Copy)]
enum Valid {
    Text,
    TimeZone,
    Email,
    Password,
    Role,
    TeamRole,
    Team,
    Service,
    ServiceIds,
    Username,
    Assignee,
    Urgency,
    ServiceStatus,
    IncidentStatus,
    Minutes,
    Collation,
    CreateFor,
    Url,
    Direction,
    Slug,
    ApplicationId,
    Enabled,
    Bool,
    AlertType,
    Entity,
    Page,
    Object,
    Links,
}

/// The fields each route reads, with what a valid value is.
fn shape(method: &str, pattern: &str) -> &'static [(&'static str, Valid)] {
    use Valid::*;
    const SERVICE_FORM: &[(&str, Valid)] = &[
        ("team", Team),
        ("name", Text),
        ("summary", Text),
        ("description", Text),
        ("status", ServiceStatus),
        ("auto_resolve_timeout", Minutes),
        ("acknowledgement_timeout", Minutes),
        ("collation", Collation),
        ("collation_time", Minutes),
    ];
    const SERVICE_JSON: &[(&str, Valid)] = &[
        ("name", Text),
        ("summary", Text),
        ("description", Text),
        ("status", ServiceStatus),
        ("auto_resolve_timeout", Minutes),
        ("acknowledgement_timeout", Minutes),
        ("collation", Collation),
        ("collation_time", Minutes),
        ("under_maintenance", Bool),
    ];
    match (method, pattern) {
        ("POST", "/setup") => &[
            ("first_name", Text),
            ("last_name", Text),
            ("email", Email),
            ("password", Password),
        ],
        ("POST", "/signin") => &[("email", Email), ("password", Password), ("next", Text)],
        // Never the actor's own password: the fuzz signs its users in again with it.
        ("POST", "/settings/password") => &[("current_password", Text), ("new_password", Password)],
        ("POST", "/settings/name") => &[("first_name", Text), ("last_name", Text)],
        // Never the actor's own password either: their email stays the one they sign in with.
        ("POST", "/settings/email") => &[("email", Email), ("email_password", Text)],
        ("POST", "/settings/time-zone") => &[("time_zone", TimeZone)],
        ("POST", "/settings/users/{username}/password") => &[("new_password", Password)],
        ("POST", "/teams/{team}/members/{username}/role") => &[("role", TeamRole)],
        ("POST", "/settings/users") => &[
            ("first_name", Text),
            ("last_name", Text),
            ("email", Email),
            ("password", Password),
            ("role", Role),
        ],
        ("POST", "/settings/contact-methods") => &[("address", Email)],
        ("POST", "/settings/notification-rules") => &[
            ("contact_method", Text),
            ("urgency", Text),
            ("delay", Minutes),
        ],
        ("POST", "/settings/resolved-emails") => &[("notify_on_resolve", Text)],
        ("POST", "/settings/api-keys") | ("POST", "/teams") | ("POST", "/api/account/teams/") => {
            &[("name", Text)]
        }
        ("POST", "/incidents") => &[
            ("service", Service),
            ("title", Text),
            ("summary", Text),
            ("urgency", Urgency),
            ("assignee", Assignee),
        ],
        ("POST", "/incidents/{number}/notes") | ("POST", "/api/incidents/{incident}/note/") => {
            &[("note", Text)]
        }
        ("POST", "/incidents/{number}/assign") => &[("assignee", Assignee)],
        ("POST", "/teams/{team}/members") => &[("username", Username), ("role", TeamRole)],
        (
            "POST" | "PUT" | "PATCH",
            "/teams/{team}/escalation-policies"
            | "/teams/{team}/escalation-policies/{policy}/edit"
            | "/api/account/teams/{team}/escalation_policies/"
            | "/api/account/teams/{team}/escalation_policies/{policy}/",
        ) => &[
            ("name", Text),
            ("summary", Text),
            ("description", Text),
            ("repeat_policy", Collation),
        ],
        (
            "POST",
            "/teams/{team}/escalation-policies/{policy}/rules"
            | "/teams/{team}/escalation-policies/{policy}/rules/{rule}/delay",
        ) => &[("delay", Minutes), ("target", Text)],
        ("POST", "/services") | ("POST", "/services/{service}/edit") => SERVICE_FORM,
        ("POST", "/services/{service}/integrations") => {
            &[("direction", Direction), ("application", Slug)]
        }
        ("POST", "/services/{service}/integrations/{integration}") => {
            &[("name", Text), ("url", Url)]
        }
        ("POST", "/services/{service}/integrations/{integration}/enabled") => {
            &[("enabled", Enabled)]
        }
        (
            "POST" | "PUT" | "PATCH",
            "/api/account/teams/{team}/services/" | "/api/account/teams/{team}/services/{service}/",
        ) => SERVICE_JSON,
        ("POST", "/api/account/teams/{team}/services/{service}/integrations/") => &[
            ("name", Text),
            ("summary", Text),
            ("application", ApplicationId),
            ("default_urgency", Urgency),
            ("create_incidents_for", CreateFor),
            ("is_enabled", Bool),
        ],
        ("POST", "/api/incidents/") => &[
            ("title", Text),
            ("service", Service),
            ("summary", Text),
            ("urgency", Urgency),
            ("assigned_to", Assignee),
        ],
        ("PUT" | "PATCH", "/api/incidents/{incident}/") => &[
            ("title", Text),
            ("summary", Text),
            ("status", IncidentStatus),
        ],
        ("POST", "/incidents/{number}/acknowledge" | "/incidents/{number}/resolve") => {
            &[("back", Text)]
        }
        ("POST", "/incidents/bulk") => &[
            ("action", Text),
            ("incident", Page),
            ("incident", Page),
            ("back", Text),
        ],
        ("POST", "/api/incidents/filter/") => &[
            ("status", IncidentStatus),
            ("service_ids", ServiceIds),
            ("page", Page),
            ("page_size", Page),
        ],
        ("POST", "/api/events/{integration_key}/" | "/api/events/{integration_key}") => &[
            ("message", Text),
            ("summary", Text),
            ("alert_type", AlertType),
            ("entity_id", Entity),
            ("suppressed", Bool),
            ("payload", Object),
            ("urls", Links),
        ],
        _ => &[],
    }
}

/// Field names the forms and JSON bodies read (and a few they do not).
#[rustfmt::skip]
const FIELDS: &[&str] = &[
    "name", "summary", "description", "team", "status", "auto_resolve_timeout",
    "acknowledgement_timeout", "collation", "collation_time", "under_maintenance", "title",
    "service", "urgency", "assignee", "assigned_to", "note", "url", "enabled", "direction",
    "application", "first_name", "last_name", "email", "password", "role", "username", "next",
    "default_urgency", "create_incidents_for", "is_enabled", "page", "page_size", "service_ids",
    "message", "alert_type", "entity_id", "suppressed", "payload", "urls", "escalation_policy",
    "repeat_policy", "move_to_next", "rules", "delay", "target", "time_zone", "email_password",
    "new_password",
    "id", "__proto__", "",
];

#[rustfmt::skip]
const QUERY_NAMES: &[&str] = &[
    "page", "page_size", "status", "service", "urgency", "state", "event", "direction", "timeline",
    "next", "q",
];

/// Text values that have broken parsers before, or could.
#[rustfmt::skip]
const HOSTILE: &[&str] = &[
    "", " ", "0", "1", "2", "3", "4", "5", "-1", "-0", "+1", "01", "1.0", "1e3", "2147483647",
    "2147483648", "-2147483649", "4294967297", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "99999999999999999999999999", "NaN", "inf",
    "0x10", "１", "true", "false", "null", "on", "enable", "disable", "incoming", "outgoing", "api",
    "outgoing-webhooks", "triggered", "acknowledged", "resolved", "all", "open", "high", "low",
    "critical", "info", "\0", "a\0b", "\u{202e}gnp.exe", "é", "💥", "\u{feff}", "\r\n", "\t",
    "<script>alert(1)</script>", "\"'><img src=x>", "' OR 1=1 --", "'; DROP TABLE users; --",
    "../../../etc/passwd", "%", "%00", "%ff", "{{ 7*7 }}", "${jndi:ldap://x}", "http://127.0.0.1/",
    "http://[::1]:80/", "http://[::ffff:0:7f00:1]/", "https://1.1.1.1/hook", "javascript:alert(1)",
    "//evil.example", "/\\evil.example", "mailto:x@y", "a@b", "@", "x@example.com",
    "aa1dbb12-9901-4369-a384-017d5e5d5b89", "fd20e292-2d23-4208-80e3-54e5954ea52b",
    "00000000-0000-0000-0000-000000000000",
];

/// Path segments for parameters, besides real ids.
#[rustfmt::skip]
const HOSTILE_SEGMENTS: &[&str] = &[
    "0", "-1", "1", "2", "3", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "99999999999999999999", "1.5", "1e9", "%00", "%ff", "%2F", "%2e%2e", "..", ".", "a%20b",
    "%F0%9F%92%A5", "null", "undefined", "new", "changes", "edit",
    "00000000-0000-0000-0000-000000000000", "aa1dbb12-9901-4369-a384-017d5e5d5b89",
];

/// Panics anywhere but on a test's own thread (the server's workers, the blocking pool, the
/// database threads), with their thread names.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static WATCH: Once = Once::new();

fn watch_panics() {
    WATCH.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>");
            // libtest names test threads after their test (`module::name`), or runs on `main`.
            if !name.contains("::") && name != "main" {
                PANICS
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(format!("thread {name}: {info}"));
            }
            previous(info);
        }));
    });
}

fn panics_so_far() -> Vec<String> {
    PANICS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Owner,
    Admin,
    /// A plain user, manager of the fuzzed team.
    Manager,
    /// A plain user, a user of the fuzzed team.
    Member,
}

impl Kind {
    fn privileged(self) -> bool {
        matches!(self, Kind::Owner | Kind::Admin)
    }
}

/// One user the fuzz acts as: a browser with its session, and an API key.
struct Actor {
    kind: Kind,
    email: String,
    password: String,
    browser: reqwest::Client,
    csrf: String,
    api_key: String,
    /// Sign-ins this actor made again (each from an address of its own, see `recover`).
    sign_ins: u32,
}

/// Ids the fuzz aims at: the fuzzed team's, and the other team's.
#[derive(Default, Clone)]
struct Ids {
    paths: Vec<[String; 3]>,
    teams: Vec<String>,
    services: Vec<String>,
    integrations: Vec<String>,
    integration_keys: Vec<String>,
    incident_numbers: Vec<String>,
    incident_ids: Vec<String>,
    deliveries: Vec<String>,
    policies: Vec<String>,
    rules: Vec<String>,
    schedules: Vec<String>,
    members: Vec<String>,
    layers: Vec<String>,
    overrides: Vec<String>,
}

struct World {
    own: Ids,
    other: Ids,
    /// (team, service, integration) that belong together, for nested paths.
    own_paths: Vec<[String; 3]>,
    other_paths: Vec<[String; 3]>,
    /// Everyone in the fuzzed team, who incidents may be assigned to.
    assignees: Vec<String>,
    /// A plain user the owner and admin may disable, enable and move between teams.
    victim: String,
    /// The other team's manager.
    outsider: String,
    /// Strings that name the other team's things: a privileged user (who may change any team)
    /// never gets them, so the other team must come out unchanged whoever acts.
    forbidden: BTreeSet<String>,
}

impl World {
    fn values_for(&self, parameter: &str, kind: Kind) -> Vec<String> {
        let plain = !kind.privileged();
        let pick = |own: &Vec<String>, other: &Vec<String>| -> Vec<String> {
            let mut values = own.clone();
            if plain {
                values.extend(other.iter().cloned());
            }
            values
        };
        match parameter {
            "team" => pick(&self.own.teams, &self.other.teams),
            "service" => pick(&self.own.services, &self.other.services),
            "integration" => pick(&self.own.integrations, &self.other.integrations),
            "number" => pick(&self.own.incident_numbers, &self.other.incident_numbers),
            "incident" => {
                let mut values = pick(&self.own.incident_numbers, &self.other.incident_numbers);
                values.extend(pick(&self.own.incident_ids, &self.other.incident_ids));
                values
            }
            "webhook_id" => pick(&self.own.deliveries, &self.other.deliveries),
            "policy" => pick(&self.own.policies, &self.other.policies),
            "rule" => pick(&self.own.rules, &self.other.rules),
            "schedule" => pick(&self.own.schedules, &self.other.schedules),
            "member" => pick(&self.own.members, &self.other.members),
            "layer" => pick(&self.own.layers, &self.other.layers),
            "override_id" => pick(&self.own.overrides, &self.other.overrides),
            // The other team's key would let anyone post alerts to it: that is what a key is.
            "integration_key" => self.own.integration_keys.clone(),
            "username" => {
                let mut values = vec![self.victim.clone()];
                if plain {
                    values.push(self.outsider.clone());
                }
                values
            }
            "action" => vec!["enable".into(), "disable".into()],
            // No test email was sent: every link is one nobody was given.
            "notification" => vec![
                "00000000-0000-4000-8000-000000000000".into(),
                "1".into(),
                "%00".into(),
            ],
            "signature" => vec!["AAAA".into(), "not-base64!".into(), "x".repeat(300)],
            // No confirmation email was sent either.
            "token" => vec!["AAAA".into(), "%00".into(), "x".repeat(300)],
            "id" => (1..=8).map(|n| n.to_string()).collect(),
            other => panic!(
                "no values for the path parameter {{{other}}}: add them in World::values_for"
            ),
        }
    }

    fn paths_for(&self, kind: Kind) -> Vec<[String; 3]> {
        let mut paths = self.own_paths.clone();
        if !kind.privileged() {
            paths.extend(self.other_paths.iter().cloned());
        }
        paths
    }

    /// Real ids that may go in bodies (service, team, assignee…).
    fn body_ids(&self, kind: Kind) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for parameter in ["team", "service", "integration", "number", "username"] {
            values.extend(self.values_for(parameter, kind));
        }
        values
    }
}

struct Fuzzer {
    rng: StdRng,
    kind: Kind,
}

impl Fuzzer {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn one<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn text(&mut self, world: &World) -> String {
        match self.rng.random_range(0..20) {
            0..=9 => (*self.one(HOSTILE)).to_owned(),
            10..=12 => {
                let ids = world.body_ids(self.kind);
                self.one(&ids).clone()
            }
            13 => "a".repeat(self.rng.random_range(250..300)),
            14 => "x".repeat(self.rng.random_range(9_990..10_010)),
            15 => "💥".repeat(self.rng.random_range(1..3_000)),
            16 => format!("{}@example.com", self.word()),
            17 => self.rng.random::<i64>().to_string(),
            18 => (0..self.rng.random_range(1..40))
                .map(|_| char::from_u32(self.rng.random_range(0..0x11_0000)).unwrap_or('\u{fffd}'))
                .collect(),
            _ => self.word(),
        }
    }

    fn word(&mut self) -> String {
        (0..self.rng.random_range(1..12))
            .map(|_| (b'a' + self.rng.random_range(0..26)) as char)
            .collect()
    }

    fn number(&mut self) -> Value {
        match self.rng.random_range(0..14) {
            0 => json!(i64::MAX),
            1 => json!(i64::MIN),
            2 => json!(u64::MAX),
            3 => json!(4_294_967_297_i64),
            4 => json!(-4_294_967_295_i64),
            5 => json!(2_147_483_648_i64),
            6 => json!(1.5),
            7 => json!(-0.0),
            8 => json!(1e308),
            9 => json!(-1),
            10 => json!(0),
            _ => json!(self.rng.random_range(-2..6)),
        }
    }

    fn value(&mut self, world: &World, depth: u32) -> Value {
        match self.rng.random_range(0..12) {
            0 => Value::Null,
            1 => json!(self.chance(0.5)),
            2..=4 => self.number(),
            5..=8 => json!(self.text(world)),
            9 if depth < 3 => {
                let len = if self.chance(0.05) {
                    12_000
                } else {
                    self.rng.random_range(0..5)
                };
                Value::Array((0..len).map(|_| self.value(world, depth + 4)).collect())
            }
            10 if depth < 3 => self.object(world, depth + 1),
            _ => json!(self.text(world)),
        }
    }

    fn object(&mut self, world: &World, depth: u32) -> Value {
        let mut map = serde_json::Map::new();
        for _ in 0..self.rng.random_range(0..8) {
            let name = if self.chance(0.9) {
                (*self.one(FIELDS)).to_owned()
            } else {
                self.text(world)
            };
            map.insert(name, self.value(world, depth));
        }
        Value::Object(map)
    }

    /// A valid value for a field, as form text and as JSON.
    fn valid(&mut self, world: &World, valid: Valid) -> Value {
        let from = |fuzz: &mut Self, values: Vec<String>| -> Value {
            if values.is_empty() {
                Value::Null
            } else {
                json!(fuzz.one(&values).clone())
            }
        };
        match valid {
            Valid::Text => json!(format!("fuzz {}", self.word())),
            Valid::TimeZone => json!(*self.one(&["UTC", "Europe/Berlin", "Asia/Kolkata"])),
            Valid::Email => json!(format!("{}@example.com", self.word())),
            Valid::Password => json!("a long enough password"),
            Valid::Role => json!(self.rng.random_range(1..=3).to_string()),
            Valid::TeamRole => json!(self.rng.random_range(1..=2).to_string()),
            Valid::Team => from(self, world.values_for("team", self.kind)),
            Valid::Service => from(self, world.values_for("service", self.kind)),
            Valid::ServiceIds => {
                let values = world.values_for("service", self.kind);
                json!(values)
            }
            Valid::Username => from(self, world.values_for("username", self.kind)),
            Valid::Assignee => from(self, world.assignees.clone()),
            Valid::Urgency => json!(self.rng.random_range(0..=1)),
            Valid::ServiceStatus => json!(self.rng.random_range(0..=4)),
            Valid::IncidentStatus => json!(self.rng.random_range(1..=3)),
            Valid::Minutes => json!(self.rng.random_range(0..=120)),
            Valid::Collation => json!(self.rng.random_range(0..=1)),
            Valid::CreateFor => json!(self.rng.random_range(0..=3)),
            Valid::Url => json!(format!("https://1.1.1.1/{}", self.word())),
            Valid::Direction => json!(*self.one(&["incoming", "outgoing"])),
            Valid::Slug => json!(*self.one(&["api", "outgoing-webhooks"])),
            Valid::ApplicationId => json!(*self.one(&[
                "aa1dbb12-9901-4369-a384-017d5e5d5b89",
                "fd20e292-2d23-4208-80e3-54e5954ea52b"
            ])),
            Valid::Enabled => json!(*self.one(&["true", "false"])),
            Valid::Bool => json!(self.chance(0.5)),
            Valid::AlertType => json!(*self.one(&[
                "critical",
                "error",
                "warning",
                "info",
                "acknowledged",
                "resolved"
            ])),
            Valid::Entity => json!(format!("entity-{}", self.rng.random_range(0..4))),
            Valid::Page => json!(self.rng.random_range(1..=3)),
            Valid::Object => json!({"host": self.word(), "n": self.rng.random_range(0..9)}),
            Valid::Links => {
                json!([{"link_url": format!("https://example.com/{}", self.word()), "link_text": self.word()}])
            }
        }
    }

    /// Fields of the route's shape, mostly valid, a few hostile, sometimes one more.
    fn shaped(&mut self, world: &World, fields: &[(&'static str, Valid)]) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (name, valid) in fields {
            if !self.chance(0.85) {
                continue;
            }
            let value = if self.chance(0.85) {
                self.valid(world, *valid)
            } else {
                self.value(world, 0)
            };
            out.push(((*name).to_owned(), value));
        }
        if self.chance(0.2) {
            let name = (*self.one(FIELDS)).to_owned();
            let value = self.value(world, 0);
            out.push((name, value));
        }
        out
    }

    /// A JSON body, or bytes that are not one.
    fn json_body(&mut self, world: &World, fields: &[(&'static str, Valid)]) -> Vec<u8> {
        if !fields.is_empty() && self.chance(0.6) {
            let object: serde_json::Map<String, Value> =
                self.shaped(world, fields).into_iter().collect();
            return serde_json::to_vec(&object).unwrap();
        }
        match self.rng.random_range(0..20) {
            0 => Vec::new(),
            1 => b"\xff\xfe{\"name\": \"\xc3\x28\"}".to_vec(),
            2 => b"{\"message\": \"truncated".to_vec(),
            3 => {
                let depth = self.rng.random_range(100..20_000);
                let mut body = "[".repeat(depth);
                body.push_str(&"]".repeat(depth));
                body.into_bytes()
            }
            4 => {
                let depth = self.rng.random_range(100..20_000);
                let mut body = "{\"payload\":".repeat(depth);
                body.push('1');
                body.push_str(&"}".repeat(depth));
                body.into_bytes()
            }
            5 => serde_json::to_vec(&self.value(world, 0)).unwrap(),
            6 => b"{\"message\": \"a\\u0000b\", \"title\": \"\\ud800\"}".to_vec(),
            7 => b"{\"status\": 1, \"status\": \"x\"}".to_vec(),
            8 => vec![0; self.rng.random_range(1..64)],
            _ => serde_json::to_vec(&self.object(world, 0)).unwrap(),
        }
    }

    /// A url-encoded form body with the session's CSRF token first (so the handler is reached),
    /// then random fields; sometimes bytes that do not decode.
    fn form_body(
        &mut self,
        world: &World,
        csrf: &str,
        fields: &[(&'static str, Valid)],
    ) -> Vec<u8> {
        let mut body = format!("csrf_token={}", encode(csrf)).into_bytes();
        if !fields.is_empty() && self.chance(0.6) {
            for (name, value) in self.shaped(world, fields) {
                let value = match value {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                body.extend_from_slice(format!("&{}={}", encode(&name), encode(&value)).as_bytes());
            }
            return body;
        }
        for _ in 0..self.rng.random_range(0..9) {
            let name = if self.chance(0.9) {
                (*self.one(FIELDS)).to_owned()
            } else {
                self.text(world)
            };
            body.push(b'&');
            body.extend_from_slice(encode(&name).as_bytes());
            body.push(b'=');
            match self.rng.random_range(0..25) {
                0 => body.extend_from_slice(b"%ff%fe%C3%28"),
                1 => body.extend_from_slice(b"\xff\xfe raw"),
                2 => body.extend_from_slice(b"%"),
                3 => body.extend_from_slice(b"a&&&==&"),
                _ => {
                    let value = self.text(world);
                    body.extend_from_slice(encode(&value).as_bytes());
                }
            }
        }
        body
    }

    fn query(&mut self, world: &World) -> String {
        if self.chance(0.4) {
            return String::new();
        }
        let mut parts = Vec::new();
        for _ in 0..self.rng.random_range(1..5) {
            let name = *self.one(QUERY_NAMES);
            let value = match self.rng.random_range(0..10) {
                0 => "%ff%00".to_owned(),
                1 => "%zz".to_owned(),
                // Long, but within what a URL may hold (reqwest refuses 64 KiB).
                _ => clip(&encode(&self.text(world)), 4_000),
            };
            parts.push(format!("{name}={value}"));
        }
        format!("?{}", parts.join("&"))
    }

    /// The pattern with each `{parameter}` filled from its pool or with a hostile segment.
    fn path(&mut self, world: &World, pattern: &str) -> String {
        let mut out = String::new();
        let mut rest = pattern;
        // Nested paths mostly name a team, service and integration that belong together.
        let paths = world.paths_for(self.kind);
        let together =
            (pattern.contains("{service}") && self.chance(0.7)).then(|| self.one(&paths).clone());
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = start + rest[start..].find('}').unwrap();
            let parameter = &rest[start + 1..end];
            let position = ["team", "service", "integration"]
                .iter()
                .position(|p| *p == parameter);
            if let (Some(together), Some(position)) = (&together, position) {
                out.push_str(&together[position]);
                rest = &rest[end + 1..];
                continue;
            }
            let segment = loop {
                let candidate = match self.rng.random_range(0..10) {
                    0..=6 => {
                        let values = world.values_for(parameter, self.kind);
                        let value: &String = self.one(&values);
                        encode_segment(value)
                    }
                    7 => clip(&encode_segment(&self.text(world)), 4_000),
                    _ => (*self.one(HOSTILE_SEGMENTS)).to_owned(),
                };
                if !(self.kind.privileged() && world.forbidden.contains(&candidate)) {
                    break candidate;
                }
            };
            out.push_str(&segment);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn encode_segment(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What one request was, to show when it fails.
fn describe(method: &Method, path: &str, body: &[u8]) -> String {
    let shown = clip(&String::from_utf8_lossy(&body[..body.len().min(300)]), 300);
    format!(
        "{method} {} body ({} bytes) {shown:?}",
        clip(path, 400),
        body.len()
    )
}

/// An answer in short: a page's title, or the start of the text.
fn gist(text: &str) -> String {
    match (text.find("<title>"), text.find("</title>")) {
        (Some(start), Some(end)) if start < end => text[start + 7..end].to_owned(),
        _ => clip(text, 300),
    }
}

/// At most `n` characters of `text`.
fn clip(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

#[tokio::test]
async fn every_route_survives_hostile_input_from_every_kind_of_user() {
    watch_panics();
    let seed = std::env::var("KLAXON_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(rand::random);
    let requests: usize = std::env::var("KLAXON_FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2500);
    println!("fuzz seed {seed} (replay: KLAXON_FUZZ_SEED={seed}), {requests} requests per backend");
    the_fuzz_list_covers_every_registered_route();
    // Sign-ins of the fuzz's own users come from addresses of their own (the fuzz's wrong
    // passwords throttle 127.0.0.1), named in X-Forwarded-For.
    for_each_backend_with(behind_proxy, |app| async move {
        let backend = app.backend();
        let started = std::time::Instant::now();
        let (world, actors, other_team) = build_world(&app).await;
        let before = other_team_snapshot(&app, &other_team).await;
        for (table, rows) in &before {
            assert!(
                !rows.is_empty() || matches!(*table, "alerts" | "delivery_attempts"),
                "the other team has {table}"
            );
        }
        let panics_before = panics_so_far().len();
        let per_actor = requests / actors.len();
        let runs = actors.into_iter().enumerate().map(|(index, actor)| {
            let rng = StdRng::seed_from_u64(
                seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            fuzz_as(&app, &world, actor, rng, per_actor)
        });
        let results = futures_util::future::join_all(runs).await;
        let mut failures: Vec<String> = Vec::new();
        let mut tally = Tally::new();
        for (failed, counted) in results {
            failures.extend(failed);
            for (key, n) in counted {
                *tally.entry(key).or_default() += n;
            }
        }
        if std::env::var_os("KLAXON_FUZZ_TALLY").is_some() {
            for ((method, pattern, status), n) in &tally {
                println!("{n:5} {status} {method} {pattern}");
            }
        }
        let panics: Vec<String> = panics_so_far().split_off(panics_before);
        let after = other_team_snapshot(&app, &other_team).await;
        println!(
            "{backend:?}: {requests} requests in {:?}",
            started.elapsed()
        );
        // The summary comes last: a CI log is read from its end, and it names the seed to replay.
        assert!(
            failures.is_empty() && panics.is_empty(),
            "{}\n{}\n{backend:?}, seed {seed} (replay: KLAXON_FUZZ_SEED={seed}): {} failures, {} panics",
            first_ten(&failures),
            first_ten(&panics),
            failures.len(),
            panics.len(),
        );
        let changed = changed_rows(&before, &after);
        assert!(
            changed.is_empty(),
            "{}\n{backend:?}, seed {seed} (replay: KLAXON_FUZZ_SEED={seed}): the other team's data changed",
            changed.join("\n")
        );
    })
    .await;
}

/// The first ten of `lines`, each clipped, one per line.
fn first_ten(lines: &[String]) -> String {
    lines
        .iter()
        .take(10)
        .map(|line| clip(line, 600))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rows of each table that differ between two snapshots, each shown before and after.
fn changed_rows(
    before: &BTreeMap<&'static str, Vec<Value>>,
    after: &BTreeMap<&'static str, Vec<Value>>,
) -> Vec<String> {
    let mut changed = Vec::new();
    for (table, rows) in before {
        let rows_after = after.get(table).cloned().unwrap_or_default();
        if rows.len() != rows_after.len() {
            changed.push(format!(
                "{table}: {} rows before, {} after",
                rows.len(),
                rows_after.len()
            ));
        }
        for row in rows.iter().filter(|row| !rows_after.contains(row)) {
            changed.push(format!("{table}: before {}", clip(&row.to_string(), 600)));
        }
        for row in rows_after.iter().filter(|row| !rows.contains(row)) {
            changed.push(format!("{table}: after {}", clip(&row.to_string(), 600)));
        }
    }
    changed
}

/// What the requests were answered, by route and status: to see that handlers are reached.
type Tally = BTreeMap<(String, &'static str, u16), usize>;

/// Sends `count` requests as `actor`; returns what went wrong, and the tally.
async fn fuzz_as(
    app: &TestApp,
    world: &World,
    mut actor: Actor,
    rng: StdRng,
    count: usize,
) -> (Vec<String>, Tally) {
    let mut fuzz = Fuzzer {
        rng,
        kind: actor.kind,
    };
    let mut failures = Vec::new();
    let mut tally = Tally::new();
    let extra_methods = [Method::DELETE, Method::PUT, Method::OPTIONS, Method::HEAD];
    for _ in 0..count {
        let (method, pattern) = *fuzz.one(ROUTES);
        let mut method: Method = method.parse().unwrap();
        let api = pattern.starts_with("/api/");
        if api && fuzz.chance(0.03) {
            method = fuzz.one(&extra_methods).clone();
        }
        let path = format!("{}{}", fuzz.path(world, pattern), fuzz.query(world));
        let mut request = actor
            .browser
            .request(method.clone(), app.url(&path))
            .timeout(Duration::from_secs(60));
        let mut body = Vec::new();
        if api {
            if !pattern.starts_with("/api/events/") || fuzz.chance(0.3) {
                request = request.header("authorization", format!("Token {}", actor.api_key));
            }
            if method != Method::GET {
                body = fuzz.json_body(world, shape(method.as_str(), pattern));
                request = request.header("content-type", "application/json");
            }
        } else if method == Method::POST {
            body = fuzz.form_body(world, &actor.csrf, shape(method.as_str(), pattern));
            // Forms are read whatever the content type says.
            let content_type = match fuzz.rng.random_range(0..10) {
                0 => "text/plain",
                1 => "application/json",
                _ => "application/x-www-form-urlencoded",
            };
            request = request.header("content-type", content_type);
        }
        let shown = describe(&method, &path, &body);
        let response = match request.body(body).send().await {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!("{:?}: {shown}: no answer: {error}", actor.kind));
                continue;
            }
        };
        let status = response.status();
        *tally
            .entry((method.to_string(), pattern, status.as_u16()))
            .or_default() += 1;
        let redirect = location(&response);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        if status.is_server_error()
            && !(pattern == "/readyz" && status == StatusCode::SERVICE_UNAVAILABLE)
        {
            failures.push(format!(
                "{:?}: {shown}: {status} {}",
                actor.kind,
                gist(&text)
            ));
        }
        if api && status.is_client_error() && method != Method::HEAD {
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned));
            if detail.is_none() || !content_type.starts_with("application/json") {
                failures.push(format!(
                    "{:?}: {shown}: {status} without a JSON detail ({content_type}): {}",
                    actor.kind,
                    gist(&text)
                ));
            }
        }
        // Keep the actor able to act: signed in, with the current CSRF token and a live key.
        let session_may_have_changed = redirect.starts_with("/signin")
            || status == StatusCode::FORBIDDEN
            || matches!(pattern, "/signin" | "/signout" | "/setup");
        if session_may_have_changed {
            recover_session(app, &mut actor).await;
        }
        if api && status == StatusCode::UNAUTHORIZED && !pattern.starts_with("/api/events/") {
            actor.api_key = create_api_key_as(&actor.browser, app, "fuzz again").await;
        }
    }
    (failures, tally)
}

/// Signs the actor in again when its session ended, and reads the session's CSRF token.
async fn recover_session(app: &TestApp, actor: &mut Actor) {
    let response = actor
        .browser
        .get(app.url("/settings"))
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::OK {
        actor.sign_ins += 1;
        let signin = actor.browser.get(app.url("/signin")).send().await.unwrap();
        let token = csrf_token(&signin.text().await.unwrap()).expect("sign-in form");
        let response = actor
            .browser
            .post(app.url("/signin"))
            .header(
                "x-forwarded-for",
                format!("198.51.100.{}", actor.sign_ins % 250 + 1),
            )
            .form(&[
                ("csrf_token", token.as_str()),
                ("email", &actor.email),
                ("password", &actor.password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{:?} signs in again",
            actor.kind
        );
    }
    let page = actor
        .browser
        .get(app.url("/settings"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "{:?} is signed in",
        actor.kind
    );
    actor.csrf = csrf_token(&page.text().await.unwrap()).expect("a form on /settings");
}

/// Adds a user through the users page (as the owner).
async fn add_user(app: &TestApp, email: &str, role: &str) {
    let response = helpers::add_user(app, ("Fuzz", email), email, OWNER_PASSWORD, role).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "add {email}");
}

async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    signed_in_browser(app, email, OWNER_PASSWORD).await
}

/// Posts a form from `browser` and checks that it was accepted (a redirect, or a page shown
/// again with a warning).
async fn post_form(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) {
    let response = submit_with(browser, &app.address, page, action, fields).await;
    assert!(
        response.status() == StatusCode::SEE_OTHER || response.status() == StatusCode::OK,
        "{action}: {}",
        response.status()
    );
}

/// The whole database as `klaxon export` writes it.
async fn export(app: &TestApp) -> Value {
    let db = app.db().await;
    let bytes = db
        .run(|conn| {
            let mut out = Vec::new();
            klaxon::db::transfer::export(conn, &mut out)
                .map_err(|e| klaxon::db::DbError::Worker(e.to_string()))?;
            Ok::<_, klaxon::db::DbError>(out)
        })
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn rows<'a>(export: &'a Value, table: &str) -> &'a Vec<Value> {
    export["tables"][table]
        .as_array()
        .unwrap_or_else(|| panic!("table {table} in the export"))
}

fn text_of(row: &Value, column: &str) -> String {
    match &row[column] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows of `table` whose `column` is one of `ids`.
fn rows_in(export: &Value, table: &str, column: &str, ids: &BTreeSet<i64>) -> Vec<Value> {
    rows(export, table)
        .iter()
        .filter(|row| row[column].as_i64().is_some_and(|id| ids.contains(&id)))
        .cloned()
        .collect()
}

fn ids_of(rows: &[Value]) -> BTreeSet<i64> {
    rows.iter().filter_map(|row| row["id"].as_i64()).collect()
}

/// Ids of a team's things in an export.
fn ids_in_team(export: &Value, team_uid: &str) -> Ids {
    let team_id = rows(export, "teams")
        .iter()
        .find(|t| t["unique_id"] == team_uid)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let services = rows_in(export, "services", "team_id", &BTreeSet::from([team_id]));
    let integrations = rows_in(export, "integrations", "service_id", &ids_of(&services));
    let incidents = rows_in(export, "incidents", "service_id", &ids_of(&services));
    let deliveries = rows_in(
        export,
        "deliveries",
        "integration_id",
        &ids_of(&integrations),
    );
    let policies = rows_in(
        export,
        "escalation_policies",
        "team_id",
        &BTreeSet::from([team_id]),
    );
    let rules = rows_in(export, "escalation_rules", "policy_id", &ids_of(&policies));
    let schedules = rows_in(export, "schedules", "team_id", &BTreeSet::from([team_id]));
    let members = rows_in(
        export,
        "team_members",
        "team_id",
        &BTreeSet::from([team_id]),
    );
    let layers = rows_in(
        export,
        "schedule_layers",
        "schedule_id",
        &ids_of(&schedules),
    );
    let overrides = rows_in(
        export,
        "schedule_overrides",
        "schedule_id",
        &ids_of(&schedules),
    );
    let texts = |rows: &[Value], column: &str| -> Vec<String> {
        rows.iter()
            .map(|row| text_of(row, column))
            .filter(|s| s != "null")
            .collect()
    };
    let paths = integrations
        .iter()
        .map(|integration| {
            let service = services
                .iter()
                .find(|s| s["id"] == integration["service_id"])
                .unwrap();
            [
                team_uid.to_owned(),
                text_of(service, "unique_id"),
                text_of(integration, "unique_id"),
            ]
        })
        .collect();
    Ids {
        paths,
        teams: vec![team_uid.to_owned()],
        services: texts(&services, "unique_id"),
        integrations: texts(&integrations, "unique_id"),
        integration_keys: texts(&integrations, "integration_key"),
        incident_numbers: texts(&incidents, "incident_number"),
        incident_ids: texts(&incidents, "unique_id"),
        deliveries: texts(&deliveries, "unique_id"),
        policies: texts(&policies, "unique_id"),
        rules: texts(&rules, "unique_id"),
        schedules: texts(&schedules, "unique_id"),
        members: texts(&members, "unique_id"),
        layers: texts(&layers, "unique_id"),
        overrides: texts(&overrides, "unique_id"),
    }
}

/// Everything of the other team, its members' accounts included, as rows from an export.
async fn other_team_snapshot(app: &TestApp, team_uid: &str) -> BTreeMap<&'static str, Vec<Value>> {
    let export = export(app).await;
    let teams: Vec<Value> = rows(&export, "teams")
        .iter()
        .filter(|t| t["unique_id"] == team_uid)
        .cloned()
        .collect();
    let team_ids = ids_of(&teams);
    let members = rows_in(&export, "team_members", "team_id", &team_ids);
    let member_ids: BTreeSet<i64> = members
        .iter()
        .filter_map(|m| m["user_id"].as_i64())
        .collect();
    let users: Vec<Value> = rows(&export, "users")
        .iter()
        .filter(|u| u["id"].as_i64().is_some_and(|id| member_ids.contains(&id)))
        .cloned()
        .map(|mut user| {
            // A member who fuzzes may change their own preferences and name: they are theirs
            // to change.
            if let Some(user) = user.as_object_mut() {
                for own in ["notify_on_resolve", "first_name", "last_name", "time_zone"] {
                    user.remove(own);
                }
            }
            user
        })
        .collect();
    let services = rows_in(&export, "services", "team_id", &team_ids);
    let service_ids = ids_of(&services);
    let integrations = rows_in(&export, "integrations", "service_id", &service_ids);
    let integration_ids = ids_of(&integrations);
    let audit = rows_in(&export, "integration_audit", "service_id", &service_ids);
    let incidents = rows_in(&export, "incidents", "service_id", &service_ids);
    let incident_ids = ids_of(&incidents);
    let notes = rows_in(&export, "incident_notes", "incident_id", &incident_ids);
    let timeline = rows_in(&export, "timeline_entries", "incident_id", &incident_ids);
    let mut alerts = rows_in(&export, "alerts", "integration_id", &integration_ids);
    alerts.extend(rows_in(&export, "alerts", "incident_id", &incident_ids));
    let mut deliveries = rows_in(&export, "deliveries", "integration_id", &integration_ids);
    deliveries.extend(rows_in(&export, "deliveries", "incident_id", &incident_ids));
    let attempts = rows_in(
        &export,
        "delivery_attempts",
        "delivery_id",
        &ids_of(&deliveries),
    );
    let schedules = rows_in(&export, "schedules", "team_id", &team_ids);
    let schedule_ids = ids_of(&schedules);
    let layers = rows_in(&export, "schedule_layers", "schedule_id", &schedule_ids);
    let layer_ids = ids_of(&layers);
    let layer_users = rows_in(&export, "schedule_layer_users", "layer_id", &layer_ids);
    let restrictions = rows_in(&export, "schedule_restrictions", "layer_id", &layer_ids);
    let overrides = rows_in(&export, "schedule_overrides", "schedule_id", &schedule_ids);
    let on_call_audit = rows_in(&export, "on_call_audit", "team_id", &team_ids);
    BTreeMap::from([
        ("teams", teams),
        ("schedules", schedules),
        ("schedule_layers", layers),
        ("schedule_layer_users", layer_users),
        ("schedule_restrictions", restrictions),
        ("schedule_overrides", overrides),
        ("on_call_audit", on_call_audit),
        ("team_members", members),
        ("users", users),
        ("services", services),
        ("integrations", integrations),
        ("integration_audit", audit),
        ("incidents", incidents),
        ("incident_notes", notes),
        ("timeline_entries", timeline),
        ("alerts", alerts),
        ("deliveries", deliveries),
        ("delivery_attempts", attempts),
    ])
}

/// A schedule in the team with a layer and an override of `member`, made by `browser` (one of
/// the team's managers) through the pages.
async fn schedule_with_layer_and_override(
    app: &TestApp,
    browser: &reqwest::Client,
    team: &str,
    member: &str,
) {
    let response = submit_with(
        browser,
        &app.address,
        &format!("/teams/{team}/schedules/new"),
        &format!("/teams/{team}/schedules"),
        &[("name", "Rota"), ("time_zone", "Europe/Berlin")],
    )
    .await;
    let schedule = location(&response);
    assert!(schedule.contains("/schedules/"), "schedule created");
    post_form(
        app,
        browser,
        &format!("{schedule}/layers/new"),
        &format!("{schedule}/layers"),
        &[
            ("name", "Weekly"),
            ("shift_count", "1"),
            ("shift_unit", "weeks"),
            ("rotation_start_time", "2026-01-05T09:00"),
            ("restriction_type", "1"),
            ("window_start_day", "0"),
            ("window_start_time", "08:00"),
            ("window_end_day", "0"),
            ("window_end_time", "20:00"),
            ("users", member),
        ],
    )
    .await;
    post_form(
        app,
        browser,
        &schedule,
        &format!("{schedule}/overrides"),
        &[
            ("user", member),
            ("start_time", "2030-01-01T09:00"),
            ("end_time", "2030-01-02T09:00"),
        ],
    )
    .await;
}

/// The fuzzed team (the owner's default team: the owner, a manager, a user; the admin is in no
/// team) with two services, their integrations, incidents and deliveries; and another team of
/// an outsider with the same, none of the fuzzing users in it.
async fn build_world(app: &TestApp) -> (World, Vec<Actor>, String) {
    app.create_owner().await;
    for (email, role) in [
        ("admin@example.com", "2"),
        ("manager@example.com", "3"),
        ("member@example.com", "3"),
        ("victim@example.com", "3"),
        ("outsider@example.com", "3"),
    ] {
        add_user(app, email, role).await;
    }
    let export_now = export(app).await;
    let username = |email: &str| -> String {
        text_of(
            rows(&export_now, "users")
                .iter()
                .find(|u| u["email"] == email)
                .unwrap(),
            "username",
        )
    };
    let own_team = default_team(app).await;
    let team_page = format!("/teams/{own_team}");
    for (email, role) in [("manager@example.com", "1"), ("member@example.com", "2")] {
        post_form(
            app,
            &app.client,
            &team_page,
            &format!("{team_page}/members"),
            &[("username", &username(email)), ("role", role)],
        )
        .await;
    }

    // The fuzzed team's things, made by the owner.
    for name in ["Checkout", "Search"] {
        let service = create_service(app, name).await;
        add_integration(app, &service, "incoming", "api").await;
        configured_webhook(app, &service, "https://1.1.1.1/hook").await;
        let number = trigger(app, &service, &format!("{name} is down")).await;
        post_form(
            app,
            &app.client,
            &format!("/incidents/{number}"),
            &format!("/incidents/{number}/notes"),
            &[("note", "looking")],
        )
        .await;
    }

    // The other team: its own manager, service, integrations, incident (with a delivery). Only
    // owners and admins create teams: the owner makes it and the outsider its manager.
    let response = submit_with(
        &app.client,
        &app.address,
        "/teams/new",
        "/teams",
        &[("name", "Elsewhere")],
    )
    .await;
    let other_team = location(&response)
        .strip_prefix("/teams/")
        .expect("team created")
        .to_owned();
    let other_team_page = format!("/teams/{other_team}");
    post_form(
        app,
        &app.client,
        &other_team_page,
        &format!("{other_team_page}/members"),
        &[
            ("username", &username("outsider@example.com")),
            ("role", "1"),
        ],
    )
    .await;
    let outsider = signed_in(app, "outsider@example.com").await;
    let response = submit_with(
        &outsider,
        &app.address,
        "/services/new",
        "/services",
        &[("team", &other_team), ("name", "Private"), ("status", "1")],
    )
    .await;
    let other_service = location(&response)
        .strip_prefix("/services/")
        .expect("service created")
        .to_owned();
    let tab = format!("/services/{other_service}/integrations");
    for (direction, application) in [("incoming", "api"), ("outgoing", "outgoing-webhooks")] {
        post_form(
            app,
            &outsider,
            &format!("{tab}/new?direction={direction}"),
            &tab,
            &[("direction", direction), ("application", application)],
        )
        .await;
    }
    let created = export(app).await;
    let other_service_id = rows(&created, "services")
        .iter()
        .find(|s| s["unique_id"] == other_service.as_str())
        .unwrap()["id"]
        .clone();
    for integration in rows(&created, "integrations")
        .iter()
        .filter(|i| i["service_id"] == other_service_id && i["integration_type"] == 1)
    {
        let configure = format!("{tab}/{}", text_of(integration, "unique_id"));
        post_form(
            app,
            &outsider,
            &configure,
            &configure,
            &[("name", "Theirs"), ("url", "https://1.1.1.1/theirs")],
        )
        .await;
    }
    let response = submit_with(
        &outsider,
        &app.address,
        "/incidents/new",
        "/incidents",
        &[
            ("service", &other_service),
            ("title", "Theirs"),
            ("urgency", "1"),
        ],
    )
    .await;
    let number = location(&response)
        .strip_prefix("/incidents/")
        .expect("incident triggered")
        .to_owned();
    post_form(
        app,
        &outsider,
        &format!("/incidents/{number}"),
        &format!("/incidents/{number}/notes"),
        &[("note", "ours")],
    )
    .await;

    schedule_with_layer_and_override(app, &app.client, &own_team, &username(OWNER_EMAIL)).await;
    schedule_with_layer_and_override(
        app,
        &outsider,
        &other_team,
        &username("outsider@example.com"),
    )
    .await;

    let snapshot = export(app).await;
    let own = ids_in_team(&snapshot, &own_team);
    let other = ids_in_team(&snapshot, &other_team);
    assert!(
        !other.deliveries.is_empty() && !own.deliveries.is_empty(),
        "deliveries to aim at"
    );
    assert_eq!(other.incident_numbers.len(), 1);
    let mut forbidden: BTreeSet<String> = BTreeSet::new();
    for list in [
        &other.teams,
        &other.services,
        &other.integrations,
        &other.integration_keys,
        &other.incident_numbers,
        &other.incident_ids,
        &other.deliveries,
        &other.schedules,
        &other.layers,
        &other.overrides,
    ] {
        forbidden.extend(list.iter().cloned());
    }
    forbidden.insert(username("outsider@example.com"));
    let mut assignees: Vec<String> = [
        "manager@example.com",
        "member@example.com",
        "victim@example.com",
    ]
    .iter()
    .map(|e| username(e))
    .collect();
    assignees.push(username(OWNER_EMAIL));
    let world = World {
        own_paths: own.paths.clone(),
        other_paths: other.paths.clone(),
        assignees,
        own,
        other,
        victim: username("victim@example.com"),
        outsider: username("outsider@example.com"),
        forbidden,
    };

    let mut actors = Vec::new();
    for (kind, email) in [
        (Kind::Owner, OWNER_EMAIL),
        (Kind::Admin, "admin@example.com"),
        (Kind::Manager, "manager@example.com"),
        (Kind::Member, "member@example.com"),
    ] {
        let browser = if kind == Kind::Owner {
            app.client.clone()
        } else {
            signed_in(app, email).await
        };
        let api_key = create_api_key_as(&browser, app, "fuzz").await;
        let mut actor = Actor {
            kind,
            email: email.to_owned(),
            password: OWNER_PASSWORD.to_owned(),
            browser,
            csrf: String::new(),
            api_key,
            sign_ins: 0,
        };
        recover_session(app, &mut actor).await;
        actors.push(actor);
    }
    (world, actors, other_team)
}

/// The routes `src/web/pages` and `src/web/api` register, read from their source.
fn registered_routes() -> BTreeSet<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut found = BTreeSet::new();
    for (folder, api) in [("src/web/pages", false), ("src/web/api", true)] {
        let mut files: Vec<_> = std::fs::read_dir(format!("{root}/{folder}"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            if api {
                found.extend(api_routes(&source));
            } else {
                for method in ["get", "post", "put", "patch", "delete"] {
                    let marker = format!("#[{method}(\"");
                    for (at, _) in source.match_indices(&marker) {
                        let rest = &source[at + marker.len()..];
                        let path = &rest[..rest.find('"').unwrap()];
                        found.insert((method.to_uppercase(), path.to_owned()));
                    }
                }
            }
        }
    }
    found
}

/// In an API module: each `"/api/…"` literal, with the `web::get()`… calls that follow it up
/// to the next literal (literals without any share those of the next: `for path in [..]`).
fn api_routes(source: &str) -> Vec<(String, String)> {
    let mut marks: Vec<(usize, Result<String, String>)> = Vec::new();
    for (at, _) in source.match_indices("\"/api/") {
        let rest = &source[at + 1..];
        marks.push((at, Ok(rest[..rest.find('"').unwrap()].to_owned())));
    }
    for method in ["get", "post", "put", "patch", "delete"] {
        for (at, _) in source.match_indices(&format!("web::{method}()")) {
            marks.push((at, Err(method.to_uppercase())));
        }
    }
    marks.sort_by_key(|(at, _)| *at);
    let mut routes = Vec::new();
    let mut group: Vec<String> = Vec::new();
    let mut after_method = true;
    for (_, mark) in marks {
        match mark {
            Ok(path) => {
                if after_method {
                    group.clear();
                }
                group.push(path);
                after_method = false;
            }
            Err(method) => {
                routes.extend(group.iter().map(|path| (method.clone(), path.clone())));
                after_method = true;
            }
        }
    }
    routes
}

fn the_fuzz_list_covers_every_registered_route() {
    let registered = registered_routes();
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = registered.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&registered).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "tests/app/fuzz.rs ROUTES is out of date: add {missing:?}, remove {stale:?}"
    );
}
