//! Incidents and their lifecycle: triggered → acknowledged → resolved, and triggered →
//! resolved. Every transition updates the incident, appends to its timeline and enqueues its
//! webhooks in ONE transaction (transactional outbox).

use chrono::{Duration, NaiveDateTime};
use rand::Rng;

use super::access::Visibility;
use super::services::{self, Service};
use super::users::User;
use super::validation::{required_text, FieldErrors};
use super::{DomainError, Page};
use crate::db::deliveries::{self, NewDeliveryRow, PENDING};
use crate::db::incidents::{IncidentFilter, IncidentRow, NewIncidentRow};
use crate::db::integrations as integration_rows;
use crate::db::services::ServiceRow;
use crate::db::timeline::{self, NewTimelineRow, TimelineRow};
use crate::db::{self, incidents, users, Db, DbConn, DbError};
use crate::zenduty::{self, WebhookBody};

/// Alphabet of Zenduty's incident ids (base57: no 0, 1, I, O, l).
const BASE57: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// The context window reaches this far back from the incident's creation.
const CONTEXT_WINDOW_MINUTES: i64 = 30;
pub const MAX_TITLE_CHARS: usize = 255;
pub const MAX_SUMMARY_CHARS: usize = 10_000;
pub const MAX_NOTE_CHARS: usize = 10_000;

/// A 22-character base57 id, like `vuwtGfyHf9JaN5vg5sEc4N`.
pub fn new_base57_id() -> String {
    let mut rng = rand::rng();
    (0..22)
        .map(|_| BASE57[rng.random_range(0..BASE57.len())] as char)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Triggered = 1,
    Acknowledged = 2,
    Resolved = 3,
}

impl Status {
    pub fn from_code(code: i32) -> Status {
        match code {
            1 => Status::Triggered,
            2 => Status::Acknowledged,
            _ => Status::Resolved,
        }
    }

    /// The word shown on labels, and the webhook's `event_type`.
    pub fn word(self) -> &'static str {
        match self {
            Status::Triggered => "triggered",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
}

pub fn urgency_word(urgency: i32) -> &'static str {
    if urgency == 1 {
        "High"
    } else {
        "Low"
    }
}

/// Who caused a change, as the timeline shows it.
#[derive(Debug, Clone)]
pub enum Actor {
    User(User),
    Integration {
        name: String,
    },
    /// The service's auto-resolve time ran out.
    AutoResolve {
        minutes: i32,
    },
}

impl Actor {
    fn user_id(&self) -> Option<i64> {
        match self {
            Actor::User(user) => Some(user.id),
            Actor::Integration { .. } | Actor::AutoResolve { .. } => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Actor::User(user) => user.full_name(),
            Actor::Integration { name } => format!("Integration {name}"),
            Actor::AutoResolve { .. } => "Klaxon".to_owned(),
        }
    }

    /// Why the actor made the change, when it is not a person's choice.
    fn reason(&self) -> String {
        match self {
            Actor::AutoResolve { minutes } => format!(
                "Open for {minutes} min: the service resolves its incidents after {minutes} min."
            ),
            Actor::User(_) | Actor::Integration { .. } => String::new(),
        }
    }
}

/// A validated request to open an incident.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub service_id: i64,
    pub title: String,
    pub summary: String,
    pub urgency: i32,
    pub assignee_id: Option<i64>,
    pub entity_id: Option<String>,
}

fn append_timeline(
    conn: &mut DbConn,
    incident_id: i64,
    kind: &str,
    actor: &Actor,
    detail: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    timeline::append(
        conn,
        &NewTimelineRow {
            incident_id,
            kind,
            actor_user_id: actor.user_id(),
            actor_label: &actor.label(),
            detail,
            delivery_id: None,
            created_at: at,
        },
    )?;
    Ok(())
}

/// Opens an incident, inside the caller's write transaction.
pub fn trigger_in(
    conn: &mut DbConn,
    actor: &Actor,
    new: &NewIncident,
) -> Result<IncidentRow, DomainError> {
    let now = db::now();
    let number = incidents::take_next_number(conn)?;
    let (unique_id, incident_key) = (new_base57_id(), new_base57_id());
    let row = incidents::insert(
        conn,
        &NewIncidentRow {
            incident_number: number,
            unique_id: &unique_id,
            incident_key: &incident_key,
            service_id: new.service_id,
            title: &new.title,
            summary: &new.summary,
            status: Status::Triggered as i32,
            urgency: new.urgency,
            priority: 0,
            assigned_to: new.assignee_id,
            created_by: actor.user_id(),
            creation_date: now,
            context_window_start: now - Duration::minutes(CONTEXT_WINDOW_MINUTES),
            context_window_end: now,
            entity_id: new.entity_id.as_deref(),
        },
    )?;
    append_timeline(conn, row.id, "triggered", actor, &row.title, now)?;
    enqueue_webhooks(conn, &row, Status::Triggered)?;
    Ok(row)
}

/// Moves an incident to `target`, inside the caller's write transaction. A transition the
/// lifecycle does not allow changes nothing and is refused with a message saying why.
pub fn transition_in(
    conn: &mut DbConn,
    actor: &Actor,
    incident_id: i64,
    target: Status,
) -> Result<IncidentRow, DomainError> {
    let now = db::now();
    let moved = match target {
        Status::Acknowledged => incidents::transition_acknowledged(conn, incident_id, now)?,
        Status::Resolved => incidents::transition_resolved(conn, incident_id, now)?,
        Status::Triggered => None,
    };
    let Some(row) = moved else {
        let row = incidents::find_by_id(conn, incident_id)?.ok_or(DomainError::NotFound)?;
        return Err(refusal(&row, target));
    };
    append_timeline(conn, row.id, target.word(), actor, &actor.reason(), now)?;
    enqueue_webhooks(conn, &row, target)?;
    Ok(row)
}

fn refusal(row: &IncidentRow, target: Status) -> DomainError {
    let current = Status::from_code(row.status);
    let number = row.incident_number;
    DomainError::Conflict(match (current, target) {
        (current, target) if current == target => format!("Incident #{number} is already {}.", current.word()),
        (Status::Resolved, _) => format!("Incident #{number} is resolved; a resolved incident cannot change. A new alert opens a new incident."),
        (Status::Acknowledged, Status::Triggered) => format!("Incident #{number} is acknowledged; it cannot go back to triggered."),
        (current, target) => format!("Incident #{number} is {} and cannot become {}.", current.word(), target.word()),
    })
}

/// One outbox row per enabled, configured Outgoing Webhooks integration of the incident's
/// service, each with the body frozen now. Returns how many were enqueued.
pub fn enqueue_webhooks(
    conn: &mut DbConn,
    incident: &IncidentRow,
    status: Status,
) -> Result<usize, DbError> {
    let targets: Vec<_> = integration_rows::list_for_service(conn, incident.service_id)?
        .into_iter()
        .filter(|i| i.is_enabled && i.integration_type == super::integrations::OUTGOING)
        .filter(|i| i.url.as_deref().is_some_and(|u| !u.is_empty()))
        .collect();
    if targets.is_empty() {
        return Ok(0);
    }
    let body = serde_json::to_string(&build_payload(conn, incident, status)?)
        .map_err(|e| DbError::Worker(e.to_string()))?;
    let now = db::now();
    for integration in &targets {
        let id = format!("msg_{}", new_base57_id());
        deliveries::insert(
            conn,
            &NewDeliveryRow {
                unique_id: &id,
                integration_id: integration.id,
                incident_id: Some(incident.id),
                event_type: status.word(),
                payload: &body,
                is_test: false,
                state: PENDING,
                next_attempt_at: now,
                created_at: now,
            },
        )?;
    }
    Ok(targets.len())
}

pub fn build_payload(
    conn: &mut DbConn,
    incident: &IncidentRow,
    status: Status,
) -> Result<WebhookBody, DbError> {
    let (service, team_unique_id, service_created_by) =
        crate::db::services::find_with_team_and_creator(conn, incident.service_id)?
            .ok_or(DbError::Query(diesel::result::Error::NotFound))?;
    let assignee = match incident.assigned_to {
        Some(id) => users::find_by_id(conn, id)?.map(zenduty::User::from),
        None => None,
    };
    let merged_with = match incident.merged_with {
        Some(id) => incidents::find_by_id(conn, id)?.map(|other| other.unique_id),
        None => None,
    };
    let service = zenduty::Service::new(&service, &team_unique_id, service_created_by);
    let incident = zenduty::Incident::new(incident, service, assignee, merged_with);
    Ok(WebhookBody::new(status.word(), incident))
}

/// An incident with what its pages show beside it.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub row: IncidentRow,
    pub service_name: String,
    pub service_unique_id: String,
    pub assignee_name: Option<String>,
}

impl IncidentView {
    pub fn status(&self) -> Status {
        Status::from_code(self.row.status)
    }

    pub fn urgency_word(&self) -> &'static str {
        urgency_word(self.row.urgency)
    }

    pub fn can_acknowledge(&self) -> bool {
        self.status() == Status::Triggered
    }

    pub fn can_resolve(&self) -> bool {
        self.status() != Status::Resolved
    }
}

/// The form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TriggerForm {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub assignee: String,
}

fn validate_trigger(
    conn: &mut DbConn,
    actor: &User,
    form: &TriggerForm,
) -> Result<NewIncident, DomainError> {
    let mut errors = FieldErrors::new();
    let service = match services::find_visible_row(conn, actor, form.service.trim()) {
        Ok(service) => Some(service),
        Err(DomainError::NotFound) => {
            errors.add("service", "Choose a service.");
            None
        }
        Err(other) => return Err(other),
    };
    let title = required_text(&mut errors, "title", &form.title, MAX_TITLE_CHARS);
    let summary = form.summary.trim().to_owned();
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        errors.add(
            "summary",
            format!("Use at most {MAX_SUMMARY_CHARS} characters."),
        );
    }
    let urgency = match form.urgency.trim() {
        "1" | "high" => 1,
        "0" | "low" => 0,
        _ => {
            errors.add("urgency", "Choose High or Low.");
            1
        }
    };
    let assignee_id = match form.assignee.trim() {
        "" => None,
        username => match users::find_by_username(conn, username)? {
            Some(user) if user.is_active => Some(user.id),
            _ => {
                errors.add("assignee", "Choose someone from the list, or nobody.");
                None
            }
        },
    };
    errors.into_result(()).map_err(DomainError::Invalid)?;
    Ok(NewIncident {
        service_id: service.map(|s| s.id).unwrap_or_default(),
        title,
        summary,
        urgency,
        assignee_id,
        entity_id: None,
    })
}

/// Opens an incident from the "Trigger incident" form.
pub async fn trigger(
    db: &Db,
    actor: &User,
    form: &TriggerForm,
) -> Result<IncidentRow, DomainError> {
    let (actor, form) = (actor.clone(), form.clone());
    db.write(move |conn| {
        let new = validate_trigger(conn, &actor, &form)?;
        trigger_in(conn, &Actor::User(actor.clone()), &new)
    })
    .await
}

/// An incident the actor may see, by number, with its service and team.
fn find_visible(
    conn: &mut DbConn,
    actor: &User,
    number: i64,
) -> Result<(IncidentRow, Service), DomainError> {
    let (row, service) = find_visible_row(conn, actor, number)?;
    Ok((row, services::with_team(conn, service)?))
}

/// An incident the actor may see, by number, with its service row only.
fn find_visible_row(
    conn: &mut DbConn,
    actor: &User,
    number: i64,
) -> Result<(IncidentRow, ServiceRow), DomainError> {
    let row = incidents::find_by_number(conn, number)?.ok_or(DomainError::NotFound)?;
    let service =
        crate::db::services::find_by_id(conn, row.service_id)?.ok_or(DomainError::NotFound)?;
    if !super::access::can_see_team(conn, actor, service.team_id)? {
        return Err(DomainError::NotFound);
    }
    Ok((row, service))
}

/// Acknowledges or resolves an incident on behalf of a person.
pub async fn change_status(
    db: &Db,
    actor: &User,
    number: i64,
    target: Status,
) -> Result<IncidentRow, DomainError> {
    let actor = actor.clone();
    db.write(move |conn| {
        let (row, _) = find_visible_row(conn, &actor, number)?;
        transition_in(conn, &Actor::User(actor.clone()), row.id, target)
    })
    .await
}

/// Timeline entries per page of the incident page.
pub const TIMELINE_PER_PAGE: i64 = 100;

pub struct IncidentDetail {
    pub incident: IncidentView,
    /// Page 1 holds the newest entries (a flapping monitor can add thousands of alerts); each
    /// page's entries are in the order they happened.
    pub timeline: Page<TimelineRow>,
    pub assignable: Vec<User>,
    /// Webhook-ids of the deliveries the timeline page links to, by row id.
    pub delivery_ids: Vec<(i64, String)>,
    /// When the service's auto-resolve will resolve the incident, while it is open.
    pub auto_resolves_at: Option<NaiveDateTime>,
}

impl IncidentDetail {
    pub fn webhook_id(&self, delivery_id: &i64) -> &str {
        self.delivery_ids
            .iter()
            .find(|(id, _)| id == delivery_id)
            .map(|(_, webhook_id)| webhook_id.as_str())
            .unwrap_or("")
    }
}

pub async fn detail(
    db: &Db,
    actor: &User,
    number: i64,
    timeline_page: i64,
) -> Result<IncidentDetail, DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        db::read_snapshot(conn, |conn| detail_in(conn, &actor, number, timeline_page))
    })
    .await
}

fn detail_in(
    conn: &mut DbConn,
    actor: &User,
    number: i64,
    timeline_page: i64,
) -> Result<IncidentDetail, DomainError> {
    let (row, service) = find_visible(conn, actor, number)?;
    let assignee_name = match row.assigned_to {
        Some(id) => {
            users::find_by_id(conn, id)?.map(|u| format!("{} {}", u.first_name, u.last_name))
        }
        None => None,
    };
    let newest = timeline::newest_for_incident(
        conn,
        row.id,
        Page::<TimelineRow>::offset(timeline_page, TIMELINE_PER_PAGE),
        TIMELINE_PER_PAGE + 1,
    )?;
    let mut timeline = Page::from_overfetch(newest, timeline_page, TIMELINE_PER_PAGE);
    timeline.items.reverse();
    let linked: Vec<i64> = timeline
        .items
        .iter()
        .filter_map(|e| e.delivery_id)
        .collect();
    let delivery_ids = deliveries::webhook_ids(conn, &linked)?;
    let assignable = super::users::active_users(conn)?;
    let auto_resolves_at =
        (row.status != Status::Resolved as i32 && service.row.auto_resolve_timeout > 0).then(
            || super::auto_resolve::deadline(row.creation_date, service.row.auto_resolve_timeout),
        );
    Ok(IncidentDetail {
        delivery_ids,
        auto_resolves_at,
        incident: IncidentView {
            row,
            service_name: service.row.name,
            service_unique_id: service.row.unique_id,
            assignee_name,
        },
        timeline,
        assignable,
    })
}

/// A short value that changes whenever an incident the user sees changes (every change appends
/// to a timeline). The incidents list shows it and its script polls it to know when to refresh.
pub async fn list_version(db: &Db, actor: &User) -> Result<String, DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        let visibility = Visibility::of(conn, &actor)?;
        let latest = timeline::latest_id_for_teams(conn, visibility.team_ids())?;
        Ok(format!("t{latest}"))
    })
    .await
}

/// Like [`list_version`] for one incident's page: its newest timeline entry, its status, and its
/// title and summary (which the API changes without a timeline entry).
pub async fn incident_version(db: &Db, actor: &User, number: i64) -> Result<String, DomainError> {
    use sha2::{Digest, Sha256};
    let actor = actor.clone();
    db.run(move |conn| {
        let (row, _) = find_visible(conn, &actor, number)?;
        let latest = timeline::latest_id_for_incident(conn, row.id)?;
        let text = Sha256::new()
            .chain_update(row.title.as_bytes())
            .chain_update([0])
            .chain_update(row.summary.as_bytes())
            .finalize();
        let short: String = text[..6].iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!("t{latest}-s{}-{short}", row.status))
    })
    .await
}

/// What the trigger form offers: visible services and people to assign.
pub async fn trigger_choices(
    db: &Db,
    actor: &User,
) -> Result<(Vec<Service>, Vec<User>), DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        let visibility = Visibility::of(conn, &actor)?;
        let services = crate::db::services::list_with_team(conn, visibility.team_ids(), 0, 1000)?
            .into_iter()
            .map(|(row, team_name)| Service {
                row,
                team_name,
                team_unique_id: String::new(),
                open_incidents: 0,
            })
            .collect();
        Ok((services, super::users::active_users(conn)?))
    })
    .await
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    pub note: String,
}

/// Adds a note and returns its `unique_id`.
pub async fn add_note(
    db: &Db,
    actor: &User,
    number: i64,
    form: &NoteForm,
) -> Result<String, DomainError> {
    let (actor, text) = (actor.clone(), form.note.trim().to_owned());
    if text.is_empty() {
        return Err(DomainError::field("note", "Write the note first."));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(DomainError::field(
            "note",
            format!("Use at most {MAX_NOTE_CHARS} characters."),
        ));
    }
    db.write(move |conn| {
        let (row, _) = find_visible_row(conn, &actor, number)?;
        let now = db::now();
        let unique_id = incidents::insert_note(conn, row.id, actor.id, &text, now)?;
        append_timeline(
            conn,
            row.id,
            "note",
            &Actor::User(actor.clone()),
            &text,
            now,
        )?;
        Ok(unique_id)
    })
    .await
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    pub assignee: String,
}

pub async fn assign(
    db: &Db,
    actor: &User,
    number: i64,
    form: &AssignForm,
) -> Result<Option<String>, DomainError> {
    let (actor, username) = (actor.clone(), form.assignee.trim().to_owned());
    db.write(move |conn| {
        let (row, _) = find_visible_row(conn, &actor, number)?;
        let assignee = match username.as_str() {
            "" => None,
            name => Some(
                users::find_by_username(conn, name)?
                    .filter(|u| u.is_active)
                    .ok_or_else(|| {
                        DomainError::field("assignee", "Choose someone from the list, or nobody.")
                    })?,
            ),
        };
        incidents::set_assignee(conn, row.id, assignee.as_ref().map(|u| u.id))?;
        let name = assignee.map(|u| format!("{} {}", u.first_name, u.last_name));
        let detail = match &name {
            Some(name) => format!("assigned to {name}"),
            None => "unassigned".to_owned(),
        };
        append_timeline(
            conn,
            row.id,
            "assigned",
            &Actor::User(actor.clone()),
            &detail,
            db::now(),
        )?;
        Ok(name)
    })
    .await
}

/// The incidents list's filters, parsed from the query string.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ListQuery {
    /// The API's filter names several services; the page one at most.
    #[serde(skip)]
    pub service_ids: Vec<String>,
    pub status: Option<String>,
    pub service: Option<String>,
    pub urgency: Option<String>,
    pub page: Option<String>,
}

impl ListQuery {
    /// `open` (triggered and acknowledged) unless another status is chosen.
    pub fn status(&self) -> &str {
        match self.status.as_deref() {
            Some(s @ ("triggered" | "acknowledged" | "resolved" | "all")) => s,
            _ => "open",
        }
    }

    pub fn urgency(&self) -> &str {
        self.urgency
            .as_deref()
            .filter(|u| matches!(*u, "high" | "low"))
            .unwrap_or("")
    }

    pub fn service(&self) -> &str {
        self.service.as_deref().unwrap_or("").trim()
    }

    /// The services filtered on: the page's one, or the API's list.
    fn service_uids(&self) -> Vec<&str> {
        if !self.service_ids.is_empty() {
            return self.service_ids.iter().map(String::as_str).collect();
        }
        Some(self.service())
            .filter(|s| !s.is_empty())
            .into_iter()
            .collect()
    }

    pub fn page(&self) -> i64 {
        Page::<()>::number_from(self.page.as_deref())
    }

    fn statuses(&self) -> Vec<i32> {
        match self.status() {
            "triggered" => vec![1],
            "acknowledged" => vec![2],
            "resolved" => vec![3],
            "all" => vec![],
            _ => vec![1, 2],
        }
    }
}

fn filter_for(
    conn: &mut DbConn,
    actor: &User,
    query: &ListQuery,
) -> Result<IncidentFilter, DomainError> {
    let visibility = Visibility::of(conn, actor)?;
    let mut service_ids = Vec::new();
    for uid in query.service_uids() {
        // A service the viewer cannot see matches nothing, like an unknown one.
        service_ids.push(
            services::find_visible(conn, actor, uid)
                .map(|s| s.row.id)
                .unwrap_or(-1),
        );
    }
    Ok(IncidentFilter {
        statuses: query.statuses(),
        service_ids,
        urgency: match query.urgency() {
            "high" => Some(1),
            "low" => Some(0),
            _ => None,
        },
        visible_team_ids: visibility.team_ids().map(<[i64]>::to_vec),
    })
}

pub async fn list(
    db: &Db,
    actor: &User,
    query: &ListQuery,
    per_page: i64,
) -> Result<Page<IncidentView>, DomainError> {
    let (actor, query) = (actor.clone(), query.clone());
    let page = query.page();
    let rows = db
        .run(move |conn| {
            let filter = filter_for(conn, &actor, &query)?;
            Ok::<_, DomainError>(incidents::list(
                conn,
                &filter,
                Page::<()>::offset(page, per_page),
                per_page + 1,
            )?)
        })
        .await?;
    let views = rows
        .into_iter()
        .map(
            |(row, service_name, service_unique_id, first, last)| IncidentView {
                row,
                service_name,
                service_unique_id,
                assignee_name: first.zip(last).map(|(f, l)| format!("{f} {l}")),
            },
        )
        .collect();
    Ok(Page::from_overfetch(views, page, per_page))
}

/// How many incidents the list's filters match.
pub async fn count(db: &Db, actor: &User, query: &ListQuery) -> Result<i64, DomainError> {
    let (actor, query) = (actor.clone(), query.clone());
    db.run(move |conn| {
        let filter = filter_for(conn, &actor, &query)?;
        Ok(incidents::count(conn, &filter)?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_22_base57_characters() {
        let id = new_base57_id();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| BASE57.contains(&b)));
        assert_ne!(id, new_base57_id());
        assert_eq!(BASE57.len(), 57);
    }
}

/// An incident with everything the API shows of it.
pub struct IncidentRecord {
    pub row: IncidentRow,
    pub service: Service,
    /// Username of the service's creator.
    pub service_created_by: String,
    pub assignee: Option<User>,
    pub merged_with: Option<String>,
}

/// An incident by number (all digits) or by `unique_id`, if the actor may see it.
fn find_by_reference(
    conn: &mut DbConn,
    actor: &User,
    reference: &str,
) -> Result<(IncidentRow, Service), DomainError> {
    let number = match reference.parse::<i64>() {
        Ok(number) => number,
        Err(_) => {
            incidents::find_by_unique_id(conn, reference)?
                .ok_or(DomainError::NotFound)?
                .incident_number
        }
    };
    find_visible(conn, actor, number)
}

fn load_record(
    conn: &mut DbConn,
    row: IncidentRow,
    service: Service,
) -> Result<IncidentRecord, DomainError> {
    let assignee = match row.assigned_to {
        Some(id) => users::find_by_id(conn, id)?.map(User::from),
        None => None,
    };
    let merged_with = match row.merged_with {
        Some(id) => incidents::find_by_id(conn, id)?.map(|i| i.unique_id),
        None => None,
    };
    let service_created_by = match service.row.created_by {
        Some(id) => users::find_by_id(conn, id)?
            .map(|u| u.username)
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(IncidentRecord {
        row,
        service,
        service_created_by,
        assignee,
        merged_with,
    })
}

pub async fn record(db: &Db, actor: &User, reference: &str) -> Result<IncidentRecord, DomainError> {
    let (actor, reference) = (actor.clone(), reference.to_owned());
    db.run(move |conn| {
        let (row, service) = find_by_reference(conn, &actor, &reference)?;
        load_record(conn, row, service)
    })
    .await
}

/// Opens an incident for the API and returns it as the API shows it.
pub async fn trigger_record(
    db: &Db,
    actor: &User,
    form: &TriggerForm,
) -> Result<IncidentRecord, DomainError> {
    let row = trigger(db, actor, form).await?;
    record(db, actor, &row.incident_number.to_string()).await
}

/// What an API update may change.
#[derive(Debug, Clone, Default)]
pub struct IncidentChanges {
    pub title: Option<String>,
    pub summary: Option<String>,
    pub status: Option<i32>,
}

/// Changes title, summary and status in one transaction; a status equal to the current one
/// changes nothing, another one is a transition (refused as on the page when not allowed).
/// Returns the incident and whether a transition happened.
pub async fn update(
    db: &Db,
    actor: &User,
    reference: &str,
    changes: IncidentChanges,
) -> Result<(IncidentRecord, bool), DomainError> {
    let (actor, reference) = (actor.clone(), reference.to_owned());
    db.write(move |conn| {
        let (row, _) = find_by_reference(conn, &actor, &reference)?;
        let mut errors = FieldErrors::new();
        let title = required_text(
            &mut errors,
            "title",
            changes.title.as_deref().unwrap_or(&row.title),
            MAX_TITLE_CHARS,
        );
        let summary = changes
            .summary
            .clone()
            .unwrap_or_else(|| row.summary.clone());
        if summary.chars().count() > MAX_SUMMARY_CHARS {
            errors.add(
                "summary",
                format!("Use at most {MAX_SUMMARY_CHARS} characters."),
            );
        }
        let target = match changes.status {
            None => None,
            Some(code @ 1..=3) => Some(Status::from_code(code)),
            Some(_) => {
                errors.add(
                    "status",
                    "must be 1 (triggered), 2 (acknowledged) or 3 (resolved)",
                );
                None
            }
        };
        errors.into_result(()).map_err(DomainError::Invalid)?;
        if title != row.title || summary != row.summary {
            incidents::set_title_and_summary(conn, row.id, &title, &summary)?;
        }
        let moved = match target {
            Some(target) if target as i32 != row.status => {
                transition_in(conn, &Actor::User(actor.clone()), row.id, target)?;
                true
            }
            _ => false,
        };
        let (row, service) = find_by_reference(conn, &actor, &reference)?;
        Ok((load_record(conn, row, service)?, moved))
    })
    .await
}

/// A page of an incident's notes with their authors' username and name.
pub async fn notes(
    db: &Db,
    actor: &User,
    reference: &str,
    only: Option<String>,
    page: i64,
    per_page: i64,
) -> Result<
    (
        IncidentRow,
        Page<(crate::db::incidents::NoteRow, String, String)>,
        i64,
    ),
    DomainError,
> {
    let (actor, reference) = (actor.clone(), reference.to_owned());
    db.run(move |conn| {
        let (row, _) = find_by_reference(conn, &actor, &reference)?;
        let rows = incidents::notes(
            conn,
            row.id,
            only.as_deref(),
            Page::<()>::offset(page, per_page),
            per_page + 1,
        )?
        .into_iter()
        .map(|(note, username, first, last)| {
            let name = first
                .zip(last)
                .map(|(f, l)| format!("{f} {l}"))
                .unwrap_or_default();
            (note, username.unwrap_or_default(), name)
        })
        .collect();
        let total = incidents::count_notes(conn, row.id)?;
        Ok((row, Page::from_overfetch(rows, page, per_page), total))
    })
    .await
}

/// The alerts attached to an incident, oldest first, with their integration.
pub async fn alerts(
    db: &Db,
    actor: &User,
    reference: &str,
) -> Result<
    (
        IncidentRecord,
        Vec<(
            crate::db::alerts::AlertRow,
            crate::db::integrations::IntegrationRow,
        )>,
    ),
    DomainError,
> {
    let (actor, reference) = (actor.clone(), reference.to_owned());
    db.run(move |conn| {
        let (row, service) = find_by_reference(conn, &actor, &reference)?;
        let mut out = Vec::new();
        for alert in crate::db::alerts::for_incident(conn, row.id)? {
            if let Some(integration) =
                crate::db::integrations::find_any_by_id(conn, alert.integration_id)?
            {
                out.push((alert, integration));
            }
        }
        Ok((load_record(conn, row, service)?, out))
    })
    .await
}

/// One page of incidents as the API shows them, loaded in one go (services looked up once each).
pub async fn list_records(
    db: &Db,
    actor: &User,
    query: &ListQuery,
    per_page: i64,
) -> Result<Page<IncidentRecord>, DomainError> {
    let (actor, query) = (actor.clone(), query.clone());
    let page = query.page();
    let records = db
        .run(move |conn| {
            let filter = filter_for(conn, &actor, &query)?;
            let rows = incidents::list(
                conn,
                &filter,
                Page::<()>::offset(page, per_page),
                per_page + 1,
            )?;
            let mut services_seen: std::collections::HashMap<i64, Service> =
                std::collections::HashMap::new();
            let mut records = Vec::with_capacity(rows.len());
            for (row, _, service_unique_id, _, _) in rows {
                let service = match services_seen.get(&row.service_id) {
                    Some(service) => service.clone(),
                    None => {
                        let service = services::find_visible(conn, &actor, &service_unique_id)?;
                        services_seen.insert(row.service_id, service.clone());
                        service
                    }
                };
                records.push(load_record(conn, row, service)?);
            }
            Ok::<_, DomainError>(records)
        })
        .await?;
    Ok(Page::from_overfetch(records, page, per_page))
}
