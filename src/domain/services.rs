//! Services: what a team runs and gets paged for.

use super::access::{self, Visibility};
use super::teams::{self as team_rules, Team};
use super::users::User;
use super::validation::{optional_text, required_text, FieldErrors};
use super::{DomainError, Page};
use crate::db::services::{ServiceFields, ServiceRow};
use crate::db::{self, escalation_policies, incidents, integrations, services, Db, DbConn};

/// Zenduty's service status codes.
pub const STATUSES: [(i32, &str); 5] = [
    (0, "Disabled"),
    (1, "Active"),
    (2, "Warning"),
    (3, "Critical"),
    (4, "Under maintenance"),
];
pub const STATUS_DISABLED: i32 = 0;
pub const STATUS_ACTIVE: i32 = 1;
pub const STATUS_UNDER_MAINTENANCE: i32 = 4;

pub const COLLATION_TIME_BASED: i32 = 1;

/// Whether alerts may open incidents on a service with this status: not while it is disabled
/// or under maintenance.
pub fn opens_incidents(status: i32) -> bool {
    ![STATUS_DISABLED, STATUS_UNDER_MAINTENANCE].contains(&status)
}

/// Whether alerts that would open an incident join the service's newest one while it is less
/// than `collation_time` seconds old.
pub fn collates(service: &ServiceRow) -> bool {
    service.collation == COLLATION_TIME_BASED && service.collation_time > 0
}

pub fn status_label(code: i32) -> &'static str {
    STATUSES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, label)| *label)
        .unwrap_or("Unknown")
}

#[derive(Debug, Clone)]
pub struct Service {
    pub row: ServiceRow,
    pub team_name: String,
    pub team_unique_id: String,
    /// Triggered and acknowledged incidents (filled in by the services list), counted up to one
    /// more than [`OPEN_COUNT_CAP`].
    pub open_incidents: i64,
    /// Who its incidents escalate to (filled in where a single service is shown or sent).
    pub escalation_policy: Option<PolicyRef>,
}

/// A service's escalation policy, by its public id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    pub unique_id: String,
    pub name: String,
}

/// The services list counts a service's open incidents up to one more than this and shows
/// "10 000+" beyond: counting all of them on every view would cost as much as a storm is large.
pub const OPEN_COUNT_CAP: i64 = 10_000;

impl Service {
    pub fn status_label(&self) -> &'static str {
        status_label(self.row.status)
    }

    /// "3 open", or "10 000+ open" beyond the cap.
    pub fn open_incidents_label(&self) -> String {
        let grouped = super::grouped(self.open_incidents.min(OPEN_COUNT_CAP));
        let more = if self.open_incidents > OPEN_COUNT_CAP {
            "+"
        } else {
            ""
        };
        format!("{grouped}{more} open")
    }

    pub fn is_under_maintenance(&self) -> bool {
        self.row.status == STATUS_UNDER_MAINTENANCE
    }

    pub fn escalation_policy_uid(&self) -> Option<String> {
        self.escalation_policy.as_ref().map(|p| p.unique_id.clone())
    }
}

/// The service form as typed, so that it can be shown again with its errors.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ServiceForm {
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_status")]
    pub status: String,
    #[serde(default = "zero")]
    pub auto_resolve_timeout: String,
    #[serde(default = "zero")]
    pub acknowledgement_timeout: String,
    #[serde(default = "zero")]
    pub collation: String,
    #[serde(default = "zero")]
    pub collation_time: String,
    /// A policy's `unique_id`, `NO_POLICY`, or empty for the team's first policy (its Default).
    #[serde(default)]
    pub escalation_policy: String,
}

/// The form value of "no escalation policy".
pub const NO_POLICY: &str = "none";

fn default_status() -> String {
    STATUS_ACTIVE.to_string()
}

fn zero() -> String {
    "0".to_owned()
}

impl Default for ServiceForm {
    fn default() -> Self {
        ServiceForm {
            team: String::new(),
            name: String::new(),
            summary: String::new(),
            description: String::new(),
            status: default_status(),
            auto_resolve_timeout: zero(),
            acknowledgement_timeout: zero(),
            collation: zero(),
            collation_time: zero(),
            escalation_policy: String::new(),
        }
    }
}

impl ServiceForm {
    pub fn from_service(service: &Service) -> Self {
        let row = &service.row;
        ServiceForm {
            team: service.team_unique_id.clone(),
            name: row.name.clone(),
            summary: row.summary.clone(),
            description: row.description.clone(),
            status: row.status.to_string(),
            auto_resolve_timeout: row.auto_resolve_timeout.to_string(),
            acknowledgement_timeout: row.acknowledgement_timeout.to_string(),
            collation: row.collation.to_string(),
            collation_time: row.collation_time.to_string(),
            escalation_policy: service
                .escalation_policy_uid()
                .unwrap_or_else(|| NO_POLICY.to_owned()),
        }
    }

    /// Checks every field; the team must be one the actor manages (a team they only see is
    /// refused as `Forbidden`, before any field is checked).
    fn validate(&self, conn: &mut DbConn, actor: &User) -> Result<ServiceFields, DomainError> {
        let mut errors = FieldErrors::new();
        let team = match super::teams::find_visible(conn, actor, self.team.trim()) {
            Ok(team) => {
                access::require_manager(conn, actor, team.id)?;
                Some(team)
            }
            Err(DomainError::NotFound) => {
                errors.add("team", "Choose a team.");
                None
            }
            Err(other) => return Err(other),
        };
        let name = required_text(&mut errors, "name", &self.name, 255);
        let summary = optional_text(&mut errors, "summary", &self.summary, 500);
        let description = optional_text(&mut errors, "description", &self.description, 10_000);
        let status = number_in(
            &mut errors,
            "status",
            &self.status,
            0,
            4,
            "Choose a status.",
        );
        // Minutes, up to 30 days.
        let auto_resolve_timeout = number_in(
            &mut errors,
            "auto_resolve_timeout",
            &self.auto_resolve_timeout,
            0,
            43_200,
            "Enter whole minutes from 0 (off) to 43200.",
        );
        let acknowledgement_timeout = number_in(
            &mut errors,
            "acknowledgement_timeout",
            &self.acknowledgement_timeout,
            0,
            43_200,
            "Enter whole minutes from 0 (off) to 43200.",
        );
        let collation = number_in(
            &mut errors,
            "collation",
            &self.collation,
            0,
            1,
            "Choose Off or Time-based.",
        );
        let collation_time = number_in(
            &mut errors,
            "collation_time",
            &self.collation_time,
            0,
            86_400,
            "Enter whole seconds from 0 to 86400.",
        );
        let escalation_policy_id = match &team {
            Some(team) => {
                escalation_policy_in(conn, &mut errors, team.id, &self.escalation_policy)?
            }
            None => None,
        };
        errors.into_result(()).map_err(DomainError::Invalid)?;
        Ok(ServiceFields {
            team_id: team.map(|t| t.id).unwrap_or_default(),
            name,
            summary,
            description,
            status,
            auto_resolve_timeout,
            acknowledgement_timeout,
            collation,
            collation_time,
            escalation_policy_id,
        })
    }
}

/// The policy a service form names, which must be one of the service's team.
fn escalation_policy_in(
    conn: &mut DbConn,
    errors: &mut FieldErrors,
    team_id: i64,
    value: &str,
) -> Result<Option<i64>, DomainError> {
    let value = value.trim();
    if value == NO_POLICY {
        return Ok(None);
    }
    if value.is_empty() {
        return Ok(escalation_policies::first_of_team(conn, team_id)?.map(|p| p.id));
    }
    match escalation_policies::find_by_unique_id(conn, value)? {
        Some(policy) if policy.team_id == team_id => Ok(Some(policy.id)),
        _ => {
            errors.add(
                "escalation_policy",
                "Choose an escalation policy of the service's team.",
            );
            Ok(None)
        }
    }
}

fn policy_ref(conn: &mut DbConn, row: &ServiceRow) -> Result<Option<PolicyRef>, DomainError> {
    let Some(id) = row.escalation_policy_id else {
        return Ok(None);
    };
    Ok(
        escalation_policies::find_by_id(conn, id)?.map(|p| PolicyRef {
            unique_id: p.unique_id,
            name: p.name,
        }),
    )
}

fn number_in(
    errors: &mut FieldErrors,
    field: &'static str,
    value: &str,
    min: i32,
    max: i32,
    message: &str,
) -> i32 {
    match value.trim().parse::<i32>() {
        Ok(n) if (min..=max).contains(&n) => n,
        _ => {
            errors.add(field, message);
            min
        }
    }
}

pub(crate) fn with_team(conn: &mut DbConn, row: ServiceRow) -> Result<Service, DomainError> {
    let team = team_rules::find_by_id(conn, row.team_id)?;
    let escalation_policy = policy_ref(conn, &row)?;
    Ok(Service {
        row,
        team_name: team.name,
        team_unique_id: team.unique_id,
        open_incidents: 0,
        escalation_policy,
    })
}

/// A service the actor may see, by its public id; otherwise `NotFound`.
pub fn find_visible(
    conn: &mut DbConn,
    actor: &User,
    unique_id: &str,
) -> Result<Service, DomainError> {
    let row = find_visible_row(conn, actor, unique_id)?;
    with_team(conn, row)
}

/// The row of a service the actor may see, without its team.
pub fn find_visible_row(
    conn: &mut DbConn,
    actor: &User,
    unique_id: &str,
) -> Result<ServiceRow, DomainError> {
    let row = services::find_by_unique_id(conn, unique_id)?.ok_or(DomainError::NotFound)?;
    if !access::can_see_team(conn, actor, row.team_id)? {
        return Err(DomainError::NotFound);
    }
    Ok(row)
}

/// A service whose configuration the actor may change: `NotFound` if they do not see it,
/// `Forbidden` if they are one of its team's users.
pub fn find_managed(
    conn: &mut DbConn,
    actor: &User,
    unique_id: &str,
) -> Result<Service, DomainError> {
    let service = find_visible(conn, actor, unique_id)?;
    access::require_manager(conn, actor, service.row.team_id)?;
    Ok(service)
}

/// A service with whether the actor may change its configuration (what its pages offer).
pub async fn get_with_access(
    db: &Db,
    actor: &User,
    unique_id: &str,
) -> Result<(Service, bool), DomainError> {
    let (actor, unique_id) = (actor.clone(), unique_id.to_owned());
    db.run(move |conn| {
        let service = find_visible(conn, &actor, &unique_id)?;
        let can_manage = access::can_manage_team(conn, &actor, service.row.team_id)?;
        Ok((service, can_manage))
    })
    .await
}

/// A service for its settings or delete page: only for those who may change it.
pub async fn get_to_change(db: &Db, actor: &User, unique_id: &str) -> Result<Service, DomainError> {
    let (actor, unique_id) = (actor.clone(), unique_id.to_owned());
    db.run(move |conn| find_managed(conn, &actor, &unique_id))
        .await
}

/// Whether the actor may create a service in some team (the "New service" button).
pub async fn can_create(db: &Db, actor: &User) -> Result<bool, DomainError> {
    let actor = actor.clone();
    db.run(move |conn| Ok(access::can_create_services(conn, &actor)?))
        .await
}

pub async fn get(db: &Db, actor: &User, unique_id: &str) -> Result<Service, DomainError> {
    let (actor, unique_id) = (actor.clone(), unique_id.to_owned());
    db.run(move |conn| find_visible(conn, &actor, &unique_id))
        .await
}

pub async fn list(
    db: &Db,
    actor: &User,
    page: i64,
    per_page: i64,
) -> Result<Page<Service>, DomainError> {
    let actor = actor.clone();
    let offset = Page::<Service>::offset(page, per_page);
    let services = db
        .run(move |conn| {
            let visibility = Visibility::of(conn, &actor)?;
            let rows = services::list_with_team(conn, visibility.team_ids(), offset, per_page + 1)?;
            rows.into_iter()
                .map(|(row, team_name)| {
                    let open_incidents =
                        incidents::open_count_capped(conn, row.id, OPEN_COUNT_CAP + 1)?;
                    Ok(Service {
                        row,
                        team_name,
                        team_unique_id: String::new(),
                        open_incidents,
                        escalation_policy: None,
                    })
                })
                .collect::<Result<Vec<_>, DomainError>>()
        })
        .await?;
    Ok(Page::from_overfetch(services, page, per_page))
}

/// Teams the actor may put a service in; `Forbidden` for someone who manages no team.
pub async fn teams_for_form(db: &Db, actor: &User) -> Result<Vec<Team>, DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        if !access::can_create_services(conn, &actor)? {
            return Err(access::not_a_manager());
        }
        team_rules::selectable_teams(conn, &actor)
    })
    .await
}

/// Creates a service in a team the actor manages. Someone who manages no team is refused
/// before anything is checked; a team they do not see is "Choose a team.".
pub async fn create(db: &Db, actor: &User, form: &ServiceForm) -> Result<Service, DomainError> {
    let (actor, form) = (actor.clone(), form.clone());
    db.write(move |conn| {
        if !access::can_create_services(conn, &actor)? {
            return Err(access::not_a_manager());
        }
        let fields = form.validate(conn, &actor)?;
        let row = services::insert(
            conn,
            &uuid::Uuid::new_v4().to_string(),
            &fields,
            actor.id,
            db::now(),
        )?;
        with_team(conn, row)
    })
    .await
}

pub async fn update(
    db: &Db,
    actor: &User,
    unique_id: &str,
    form: &ServiceForm,
) -> Result<Service, DomainError> {
    let (actor, unique_id, form) = (actor.clone(), unique_id.to_owned(), form.clone());
    db.write(move |conn| {
        let service = find_managed(conn, &actor, &unique_id)?;
        let fields = form.validate(conn, &actor)?;
        services::update(conn, service.row.id, &fields)?;
        find_visible(conn, &actor, &unique_id)
    })
    .await
}

pub enum Removal {
    Deleted,
    /// The service has history that must stay; it was disabled instead.
    Disabled(String),
    /// The service has history that must stay; nothing was changed.
    Kept(String),
}

/// Deletes a service with no history. One with incidents or integrations is disabled instead,
/// so nothing that happened is lost.
pub async fn delete(
    db: &Db,
    actor: &User,
    unique_id: &str,
    disable_instead: bool,
) -> Result<(Service, Removal), DomainError> {
    let (actor, unique_id) = (actor.clone(), unique_id.to_owned());
    db.write(move |conn| {
        let service = find_managed(conn, &actor, &unique_id)?;
        let reason = if incidents::count_for_service(conn, service.row.id)? > 0 {
            Some("it has incidents, whose history is kept")
        } else if integrations::count_for_service(conn, service.row.id)? > 0 {
            Some("it has integrations, whose history is kept")
        } else {
            None
        };
        if let Some(reason) = reason {
            if !disable_instead {
                return Ok((service, Removal::Kept(reason.to_owned())));
            }
            services::set_status(conn, service.row.id, STATUS_DISABLED)?;
            return Ok((service, Removal::Disabled(reason.to_owned())));
        }
        services::delete(conn, service.row.id)?;
        Ok((service, Removal::Deleted))
    })
    .await
}

/// All services of one team the actor may see (at most 1000), by name.
pub async fn list_in_team(
    db: &Db,
    actor: &User,
    team_uid: &str,
) -> Result<Vec<Service>, DomainError> {
    let (actor, team_uid) = (actor.clone(), team_uid.to_owned());
    db.run(move |conn| {
        let team = super::teams::find_visible(conn, &actor, &team_uid)?;
        let rows = services::list_with_team(conn, Some(&[team.id]), 0, 1000)?;
        let policies = escalation_policies::list_for_teams(conn, &[team.id])?;
        Ok(rows
            .into_iter()
            .map(|(row, team_name)| {
                let escalation_policy = policies
                    .iter()
                    .find(|p| Some(p.id) == row.escalation_policy_id)
                    .map(|p| PolicyRef {
                        unique_id: p.unique_id.clone(),
                        name: p.name.clone(),
                    });
                Service {
                    row,
                    team_name,
                    team_unique_id: team.unique_id.clone(),
                    open_incidents: 0,
                    escalation_policy,
                }
            })
            .collect())
    })
    .await
}

/// A policy a service form may pick, with its team (the form's select groups them by team).
#[derive(Debug, Clone)]
pub struct PolicyChoice {
    pub team_unique_id: String,
    pub team_name: String,
    pub unique_id: String,
    pub name: String,
}

/// The policies of the teams the actor may put a service in.
pub async fn policies_for_form(db: &Db, actor: &User) -> Result<Vec<PolicyChoice>, DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        let teams = team_rules::selectable_teams(conn, &actor)?;
        let ids: Vec<i64> = teams.iter().map(|t| t.id).collect();
        let mut choices = Vec::new();
        for team in &teams {
            for policy in escalation_policies::list_for_teams(conn, &ids)?
                .into_iter()
                .filter(|p| p.team_id == team.id)
            {
                choices.push(PolicyChoice {
                    team_unique_id: team.unique_id.clone(),
                    team_name: team.name.clone(),
                    unique_id: policy.unique_id,
                    name: policy.name,
                });
            }
        }
        Ok(choices)
    })
    .await
}

/// The service's escalation policy resolved now (`None` when it has none): its page says
/// whom an incident would reach, or that it would reach nobody.
pub async fn escalation_now(
    db: &Db,
    service: &Service,
) -> Result<Option<super::escalation_policies::Policy>, DomainError> {
    let Some(id) = service.row.escalation_policy_id else {
        return Ok(None);
    };
    db.run(move |conn| super::escalation_policies::resolve_by_id(conn, id))
        .await
}
