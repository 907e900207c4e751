//! Integrations of a service: incoming ("API", which monitoring tools post alerts to) and
//! outgoing ("Outgoing Webhooks", which receive every incident state change).

use base64::Engine;
use chrono::{Duration, NaiveDateTime};

use super::access;
use super::services::{self, Service};
use super::users::User;
use super::validation::{required_text, FieldErrors};
use super::{ids, DomainError};
use crate::db::integrations::{AuditEntryRow, IntegrationRow, NewIntegrationRow};
use crate::db::{self, deliveries, integrations, Db, DbConn};

pub const INCOMING: i32 = 0;
pub const OUTGOING: i32 = 1;
pub const MAX_URL_CHARS: usize = 2048;
/// After "Rotate secret", the old secret keeps signing beside the new one this long.
pub const SECRET_OVERLAP_HOURS: i64 = 24;

/// The applications one can add, with Zenduty's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Application {
    Api,
    OutgoingWebhooks,
}

impl Application {
    pub const ALL: [Application; 2] = [Application::Api, Application::OutgoingWebhooks];

    pub fn name(self) -> &'static str {
        match self {
            Application::Api => "API",
            Application::OutgoingWebhooks => "Outgoing Webhooks",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Application::Api => "api",
            Application::OutgoingWebhooks => "outgoing-webhooks",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Application::Api => {
                "Monitoring tools and scripts post alerts to a URL with this integration's key."
            }
            Application::OutgoingWebhooks => {
                "Klaxon POSTs every incident state change, signed, to a URL you choose."
            }
        }
    }

    pub fn integration_type(self) -> i32 {
        match self {
            Application::Api => INCOMING,
            Application::OutgoingWebhooks => OUTGOING,
        }
    }

    /// A fixed id per application, as Zenduty's API names applications.
    pub fn unique_id(self) -> &'static str {
        match self {
            Application::Api => "aa1dbb12-9901-4369-a384-017d5e5d5b89",
            Application::OutgoingWebhooks => "fd20e292-2d23-4208-80e3-54e5954ea52b",
        }
    }

    pub fn from_unique_id(id: &str) -> Option<Application> {
        Application::ALL.into_iter().find(|a| a.unique_id() == id)
    }

    pub fn from_name(name: &str) -> Option<Application> {
        Application::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn from_slug(slug: &str) -> Option<Application> {
        Application::ALL.into_iter().find(|a| a.slug() == slug)
    }

    pub fn for_direction(direction: Direction) -> Vec<Application> {
        Application::ALL
            .into_iter()
            .filter(|a| a.integration_type() == direction.integration_type())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Incoming,
    Outgoing,
}

impl Direction {
    pub fn parse(value: &str) -> Option<Direction> {
        match value {
            "incoming" => Some(Direction::Incoming),
            "outgoing" => Some(Direction::Outgoing),
            _ => None,
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }

    pub fn heading(self) -> &'static str {
        match self {
            Direction::Incoming => "Incoming Integrations",
            Direction::Outgoing => "Outgoing Integrations",
        }
    }

    fn integration_type(self) -> i32 {
        match self {
            Direction::Incoming => INCOMING,
            Direction::Outgoing => OUTGOING,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Integration {
    pub row: IntegrationRow,
}

impl From<IntegrationRow> for Integration {
    fn from(row: IntegrationRow) -> Self {
        Integration { row }
    }
}

impl Integration {
    /// The integration as someone who may not change it sees it: without its integration key
    /// (which lets anyone post alerts) and signing secrets (which let anyone forge webhooks).
    /// What it is, its name, URL and state stay.
    pub fn redacted(mut self) -> Self {
        self.row.integration_key = None;
        self.row.secret = None;
        self.row.previous_secret = None;
        self.row.previous_secret_expires_at = None;
        self
    }

    /// Itself for those who manage its team, [`Integration::redacted`] for everyone else.
    pub fn as_seen(self, can_manage: bool) -> Self {
        if can_manage {
            self
        } else {
            self.redacted()
        }
    }

    pub fn is_outgoing_webhook(&self) -> bool {
        self.row.application == Application::OutgoingWebhooks.name()
    }

    pub fn is_incoming(&self) -> bool {
        self.row.integration_type == INCOMING
    }

    /// An outgoing webhook without a URL sends nothing.
    pub fn is_configured(&self) -> bool {
        !self.is_outgoing_webhook() || self.row.url.as_deref().is_some_and(|u| !u.is_empty())
    }

    pub fn url(&self) -> &str {
        self.row.url.as_deref().unwrap_or("")
    }

    pub fn secret(&self) -> &str {
        self.row.secret.as_deref().unwrap_or("")
    }

    /// The previous secret while it still signs beside the current one.
    pub fn previous_secret_until(&self, now: &NaiveDateTime) -> Option<NaiveDateTime> {
        match (
            &self.row.previous_secret,
            self.row.previous_secret_expires_at,
        ) {
            (Some(_), Some(until)) if until > *now => Some(until),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub action: String,
    pub detail: String,
    pub at: NaiveDateTime,
    pub actor: String,
}

impl From<AuditEntryRow> for AuditEntry {
    fn from(row: AuditEntryRow) -> Self {
        let actor = match (row.actor_first_name, row.actor_last_name) {
            (Some(first), Some(last)) => format!("{first} {last}"),
            _ => "Klaxon".to_owned(),
        };
        AuditEntry {
            action: row.action,
            detail: row.detail,
            at: row.created_at,
            actor,
        }
    }
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes (Standard Webhooks).
pub fn new_signing_secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(ids::random_bytes::<32>())
    )
}

/// Checks a webhook URL: absolute, http or https, with a host, at most 2048 characters.
pub fn validate_webhook_url(input: &str) -> Result<url::Url, &'static str> {
    let input = input.trim();
    if input.is_empty() {
        return Err("Enter the URL that should receive the webhooks.");
    }
    if input.chars().count() > MAX_URL_CHARS {
        return Err("Use at most 2048 characters.");
    }
    let url = url::Url::parse(input)
        .map_err(|_| "Enter an absolute URL starting with http:// or https://.")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("Only http:// and https:// URLs can receive webhooks.");
    }
    match url.host_str() {
        Some(host) if !host.is_empty() => Ok(url),
        _ => Err("The URL needs a host, like https://hooks.example.com/klaxon."),
    }
}

fn audit(
    conn: &mut DbConn,
    integration: &IntegrationRow,
    actor: &User,
    action: &str,
    detail: &str,
) -> Result<(), DomainError> {
    integrations::record_audit(
        conn,
        integration.id,
        integration.service_id,
        Some(actor.id),
        action,
        detail,
        db::now(),
    )?;
    Ok(())
}

/// Failures counted past this many are shown as "1000+".
pub const FAILED_COUNT_CAP: usize = 1000;

/// Why an Outgoing Webhooks integration is *failing*: it has deliveries retrying (pending after
/// at least one failed attempt), or the delivery of it that finished last failed (then at least
/// one failed since the last success). Healthy integrations have none. Every figure is read
/// through `deliveries_by_integration_state`, so the cost does not grow with the deliveries
/// that succeeded (docs/operations.md, "Failing integrations").
#[derive(Debug, Clone)]
pub struct DeliveryTrouble {
    /// Deliveries pending after at least one failed attempt.
    pub retrying: i64,
    /// Deliveries that failed for good since the last success (all of them without one), at
    /// most [`FAILED_COUNT_CAP`].
    pub failed: usize,
    /// Whether any delivery ever succeeded.
    pub ever_succeeded: bool,
    /// The error of the newest retrying delivery; with none retrying, that of the last failure.
    pub last_error: Option<String>,
    /// When the first retrying delivery is tried again.
    pub next_try_at: Option<NaiveDateTime>,
}

impl DeliveryTrouble {
    pub fn failed_is_capped(&self) -> bool {
        self.failed >= FAILED_COUNT_CAP
    }
}

/// The integration's trouble, or `None` while it is healthy (and for an integration that sends
/// no webhooks: it has no deliveries).
pub fn delivery_trouble(
    conn: &mut DbConn,
    integration_id: i64,
) -> Result<Option<DeliveryTrouble>, DomainError> {
    let (retrying, next_try_at) = deliveries::retrying(conn, integration_id)?;
    let success = deliveries::last_finished(conn, integration_id, deliveries::SUCCEEDED)?;
    let since = success.as_ref().and_then(|s| s.completed_at);
    let failed = deliveries::count_failed_since(conn, integration_id, since, FAILED_COUNT_CAP)?;
    if retrying == 0 && failed == 0 {
        return Ok(None);
    }
    let last_error = if retrying > 0 {
        deliveries::newest_retrying_error(conn, integration_id)?.flatten()
    } else {
        deliveries::last_finished(conn, integration_id, deliveries::FAILED)?
            .and_then(|f| f.last_error)
    };
    Ok(Some(DeliveryTrouble {
        retrying,
        failed,
        ever_succeeded: success.is_some(),
        last_error,
        next_try_at: (retrying > 0).then_some(next_try_at).flatten(),
    }))
}

/// A service's failing integrations, each with its trouble (for the service page).
pub async fn failing_in_service(
    db: &Db,
    service: &Service,
) -> Result<Vec<(Integration, DeliveryTrouble)>, DomainError> {
    let service_id = service.row.id;
    // One snapshot: an attempt recorded between the reads could otherwise count twice, or not
    // at all.
    db.run(move |conn| {
        db::read_snapshot(conn, |conn| {
            let mut failing = Vec::new();
            for row in integrations::list_for_service(conn, service_id)? {
                let integration = Integration::from(row).redacted();
                if !integration.is_outgoing_webhook() {
                    continue;
                }
                if let Some(trouble) = delivery_trouble(conn, integration.row.id)? {
                    failing.push((integration, trouble));
                }
            }
            Ok(failing)
        })
    })
    .await
}

pub struct ServiceIntegrations {
    pub service: Service,
    /// Whether the actor may add and change integrations; if not, the integrations come
    /// [`Integration::redacted`].
    pub can_manage: bool,
    pub incoming: Vec<Integration>,
    pub outgoing: Vec<Integration>,
    /// The trouble of each failing integration, by integration id.
    pub trouble: Vec<(i64, DeliveryTrouble)>,
    pub activity: Vec<AuditEntry>,
}

impl ServiceIntegrations {
    pub fn trouble_of(&self, integration: &Integration) -> Option<&DeliveryTrouble> {
        self.trouble
            .iter()
            .find(|(id, _)| *id == integration.row.id)
            .map(|(_, trouble)| trouble)
    }
}

pub async fn for_service(
    db: &Db,
    actor: &User,
    service_uid: &str,
) -> Result<ServiceIntegrations, DomainError> {
    let (actor, service_uid) = (actor.clone(), service_uid.to_owned());
    // One snapshot, for the failing checks' several reads (see `failing_in_service`).
    db.run(move |conn| {
        db::read_snapshot(conn, |conn| {
            let service = services::find_visible(conn, &actor, &service_uid)?;
            let can_manage = access::can_manage_team(conn, &actor, service.row.team_id)?;
            let all: Vec<Integration> = integrations::list_for_service(conn, service.row.id)?
                .into_iter()
                .map(|row| Integration::from(row).as_seen(can_manage))
                .collect();
            let (incoming, outgoing): (Vec<_>, Vec<_>) =
                all.into_iter().partition(|i| i.is_incoming());
            let mut trouble = Vec::new();
            for integration in outgoing.iter().filter(|i| i.is_outgoing_webhook()) {
                if let Some(found) = delivery_trouble(conn, integration.row.id)? {
                    trouble.push((integration.row.id, found));
                }
            }
            let activity = integrations::audit_for_service(conn, service.row.id, 20)?
                .into_iter()
                .map(AuditEntry::from)
                .collect();
            Ok(ServiceIntegrations {
                service,
                can_manage,
                incoming,
                outgoing,
                trouble,
                activity,
            })
        })
    })
    .await
}

pub async fn create(
    db: &Db,
    actor: &User,
    service_uid: &str,
    application: Application,
) -> Result<Integration, DomainError> {
    let (actor, service_uid) = (actor.clone(), service_uid.to_owned());
    db.write(move |conn| create_in(conn, &actor, &service_uid, application))
        .await
}

fn create_in(
    conn: &mut DbConn,
    actor: &User,
    service_uid: &str,
    application: Application,
) -> Result<Integration, DomainError> {
    let service = services::find_managed(conn, actor, service_uid)?;
    let unique_id = uuid::Uuid::new_v4().to_string();
    let key = (application == Application::Api).then(|| uuid::Uuid::new_v4().to_string());
    let secret = (application == Application::OutgoingWebhooks).then(new_signing_secret);
    let row = integrations::insert(
        conn,
        &NewIntegrationRow {
            unique_id: &unique_id,
            service_id: service.row.id,
            name: application.name(),
            application: application.name(),
            integration_type: application.integration_type(),
            is_enabled: true,
            integration_key: key.as_deref(),
            secret: secret.as_deref(),
            created_by: Some(actor.id),
            created_at: db::now(),
        },
    )?;
    audit(conn, &row, actor, "created", application.name())?;
    Ok(Integration::from(row))
}

pub struct IntegrationDetail {
    pub service: Service,
    /// As the actor may see it: [`Integration::redacted`] unless they may change it.
    pub integration: Integration,
    pub can_manage: bool,
    pub audit: Vec<AuditEntry>,
    /// Why it is failing, if it is.
    pub trouble: Option<DeliveryTrouble>,
}

/// An integration of a service the actor may see; otherwise `NotFound`.
pub fn find_in_service(
    conn: &mut DbConn,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
) -> Result<(Service, Integration), DomainError> {
    let service = services::find_visible(conn, actor, service_uid)?;
    let row = integrations::find_by_unique_id(conn, integration_uid)?
        .filter(|row| row.service_id == service.row.id)
        .ok_or(DomainError::NotFound)?;
    Ok((service, Integration::from(row)))
}

/// An integration the actor may change (see [`access::require_manager`]).
pub fn find_managed_in_service(
    conn: &mut DbConn,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
) -> Result<(Service, Integration), DomainError> {
    let found = find_in_service(conn, actor, service_uid, integration_uid)?;
    access::require_manager(conn, actor, found.0.row.team_id)?;
    Ok(found)
}

/// An integration's page: everyone in its team sees it; its key and secrets only those who may
/// change it.
pub async fn detail(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
) -> Result<IntegrationDetail, DomainError> {
    detail_for(db, actor, service_uid, integration_uid, false).await
}

/// An integration for a page that changes it (its delete confirmation): `Forbidden` for the
/// team's users.
pub async fn detail_to_change(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
) -> Result<IntegrationDetail, DomainError> {
    detail_for(db, actor, service_uid, integration_uid, true).await
}

async fn detail_for(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
    to_change: bool,
) -> Result<IntegrationDetail, DomainError> {
    let (actor, service_uid, integration_uid) = (
        actor.clone(),
        service_uid.to_owned(),
        integration_uid.to_owned(),
    );
    db.run(move |conn| {
        let (service, integration) = find_in_service(conn, &actor, &service_uid, &integration_uid)?;
        if to_change {
            access::require_manager(conn, &actor, service.row.team_id)?;
        }
        let can_manage = access::can_manage_team(conn, &actor, service.row.team_id)?;
        let audit = integrations::audit_for_integration(conn, integration.row.id, 50)?
            .into_iter()
            .map(AuditEntry::from)
            .collect();
        let trouble = if integration.is_outgoing_webhook() {
            db::read_snapshot(conn, |conn| delivery_trouble(conn, integration.row.id))?
        } else {
            None
        };
        Ok(IntegrationDetail {
            service,
            integration: integration.as_seen(can_manage),
            can_manage,
            audit,
            trouble,
        })
    })
    .await
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ConfigureForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
}

/// What a change did, for the audit trail: (action, detail), or None when nothing changed.
type AuditNote = Option<(&'static str, String)>;

/// Applies `change` to an integration the actor may change, in one write transaction together
/// with its audit entry. Returns the integration as it is afterwards.
async fn change_integration<F>(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
    change: F,
) -> Result<Integration, DomainError>
where
    F: FnOnce(&mut DbConn, &Integration) -> Result<AuditNote, DomainError> + Send + 'static,
{
    let (actor, service_uid, integration_uid) = (
        actor.clone(),
        service_uid.to_owned(),
        integration_uid.to_owned(),
    );
    db.write(move |conn| {
        let (_, integration) =
            find_managed_in_service(conn, &actor, &service_uid, &integration_uid)?;
        if let Some((action, detail)) = change(conn, &integration)? {
            audit(conn, &integration.row, &actor, action, &detail)?;
        }
        // A deleted integration is no longer found: the caller gets it as it was.
        Ok(integrations::find_by_unique_id(conn, &integration_uid)?
            .map(Integration::from)
            .unwrap_or(integration))
    })
    .await
}

/// Saves the name and (for outgoing webhooks) the URL.
pub async fn configure(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
    form: &ConfigureForm,
) -> Result<Integration, DomainError> {
    let form = form.clone();
    change_integration(
        db,
        actor,
        service_uid,
        integration_uid,
        move |conn, integration| {
            let mut errors = FieldErrors::new();
            let name = required_text(&mut errors, "name", &form.name, 255);
            let url = if integration.is_outgoing_webhook() {
                match validate_webhook_url(&form.url) {
                    Ok(url) => Some(url.to_string()),
                    Err(message) => {
                        errors.add("url", message);
                        None
                    }
                }
            } else {
                None
            };
            errors.into_result(()).map_err(DomainError::Invalid)?;
            integrations::set_name_and_url(conn, integration.row.id, &name, url.as_deref())?;
            let mut changes = Vec::new();
            if name != integration.row.name {
                changes.push(format!("name: {name}"));
            }
            if url.as_deref() != integration.row.url.as_deref() {
                changes.push(format!("URL: {}", url.as_deref().unwrap_or("")));
            }
            Ok((!changes.is_empty()).then(|| ("configured", changes.join("; "))))
        },
    )
    .await
}

/// A new signing secret; the old one keeps signing for `SECRET_OVERLAP_HOURS`.
pub async fn rotate_secret(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
) -> Result<Integration, DomainError> {
    change_integration(
        db,
        actor,
        service_uid,
        integration_uid,
        |conn, integration| {
            if !integration.is_outgoing_webhook() {
                return Err(DomainError::NotFound);
            }
            let until = db::now() + Duration::hours(SECRET_OVERLAP_HOURS);
            let previous = integration.row.secret.as_deref();
            integrations::rotate_secret(
                conn,
                integration.row.id,
                &new_signing_secret(),
                previous,
                until,
            )?;
            Ok(Some((
                "secret rotated",
                "the previous secret signs too for 24 hours".to_owned(),
            )))
        },
    )
    .await
}

pub async fn set_enabled(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
    enabled: bool,
) -> Result<Integration, DomainError> {
    change_integration(
        db,
        actor,
        service_uid,
        integration_uid,
        move |conn, integration| {
            if integration.row.is_enabled == enabled {
                return Ok(None);
            }
            integrations::set_enabled(conn, integration.row.id, enabled)?;
            Ok(Some((
                if enabled { "enabled" } else { "disabled" },
                String::new(),
            )))
        },
    )
    .await
}

pub async fn delete(
    db: &Db,
    actor: &User,
    service_uid: &str,
    integration_uid: &str,
) -> Result<Integration, DomainError> {
    change_integration(
        db,
        actor,
        service_uid,
        integration_uid,
        |conn, integration| {
            integrations::mark_deleted(conn, integration.row.id, db::now())?;
            Ok(Some(("deleted", integration.row.name.clone())))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_be_absolute_http_with_a_host() {
        assert!(validate_webhook_url("https://hooks.example.com/klaxon?x=1").is_ok());
        assert!(validate_webhook_url(" http://127.0.0.1:9000/ ").is_ok());
        for bad in [
            "",
            "not a url",
            "ftp://x",
            "http://",
            "javascript:alert(1)",
            "/relative/path",
            "mailto:a@b.c",
        ] {
            assert!(
                validate_webhook_url(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(3000));
        assert_eq!(
            validate_webhook_url(&long),
            Err("Use at most 2048 characters.")
        );
    }

    #[test]
    fn signing_secrets_follow_standard_webhooks() {
        let secret = new_signing_secret();
        let key = secret.strip_prefix("whsec_").expect("prefix");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .expect("base64");
        assert!(bytes.len() >= 24);
        assert_ne!(secret, new_signing_secret());
    }
}

/// Settings the API can change on any integration.
#[derive(Debug, Clone)]
pub struct IntegrationSettings {
    pub name: Option<String>,
    pub summary: Option<String>,
    pub default_urgency: Option<i32>,
    pub create_incidents_for: Option<i32>,
    pub is_enabled: Option<bool>,
}

fn settings_change(
    conn: &mut DbConn,
    integration: &Integration,
    settings: &IntegrationSettings,
) -> Result<AuditNote, DomainError> {
    let row = &integration.row;
    let mut errors = FieldErrors::new();
    let name = match &settings.name {
        Some(name) => required_text(&mut errors, "name", name, 255),
        None => row.name.clone(),
    };
    let summary = settings
        .summary
        .clone()
        .unwrap_or_else(|| row.summary.clone());
    if summary.chars().count() > 500 {
        errors.add("summary", "Use at most 500 characters.");
    }
    let urgency = settings.default_urgency.unwrap_or(row.default_urgency);
    if !(0..=1).contains(&urgency) {
        errors.add("default_urgency", "must be 0 (low) or 1 (high)");
    }
    let create_for = settings
        .create_incidents_for
        .unwrap_or(row.create_incidents_for);
    if !(0..=3).contains(&create_for) {
        errors.add("create_incidents_for", "must be 0 (none), 1 (critical), 2 (critical and error) or 3 (critical, error and warning)");
    }
    errors.into_result(()).map_err(DomainError::Invalid)?;
    let enabled = settings.is_enabled.unwrap_or(row.is_enabled);
    integrations::set_settings(conn, row.id, &name, &summary, urgency, create_for, enabled)?;
    let changed = name != row.name
        || summary != row.summary
        || urgency != row.default_urgency
        || create_for != row.create_incidents_for
        || enabled != row.is_enabled;
    Ok(changed.then(|| {
        ("configured", format!("name: {name}; default urgency {urgency}; incidents for level {create_for}; enabled: {enabled}"))
    }))
}

/// Creates an integration with its settings in one transaction: invalid settings leave nothing.
pub async fn create_with_settings(
    db: &Db,
    actor: &User,
    service_uid: &str,
    application: Application,
    settings: IntegrationSettings,
) -> Result<Integration, DomainError> {
    let (actor, service_uid) = (actor.clone(), service_uid.to_owned());
    db.write(move |conn| {
        let integration = create_in(conn, &actor, &service_uid, application)?;
        if let Some((action, detail)) = settings_change(conn, &integration, &settings)? {
            audit(conn, &integration.row, &actor, action, &detail)?;
        }
        let row = integrations::find_by_unique_id(conn, &integration.row.unique_id)?
            .ok_or(DomainError::NotFound)?;
        Ok(Integration::from(row))
    })
    .await
}

/// The live integrations of a service the actor may see, [`Integration::redacted`] unless they
/// may change them.
pub async fn list(
    db: &Db,
    actor: &User,
    service_uid: &str,
) -> Result<(Service, Vec<Integration>), DomainError> {
    let (actor, service_uid) = (actor.clone(), service_uid.to_owned());
    db.run(move |conn| {
        let service = services::find_visible(conn, &actor, &service_uid)?;
        let can_manage = access::can_manage_team(conn, &actor, service.row.team_id)?;
        let rows = integrations::list_for_service(conn, service.row.id)?;
        Ok((
            service,
            rows.into_iter()
                .map(|row| Integration::from(row).as_seen(can_manage))
                .collect(),
        ))
    })
    .await
}
