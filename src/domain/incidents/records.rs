//! What the JSON API reads (`web::api::incidents`): incidents as records with everything the
//! API shows of them, their notes and alerts, pages of them and their count.

use super::lookup::{filter_for, find_by_reference, list_page};
use super::model::ListQuery;
use crate::db::incident_list::{self, Count};
use crate::db::incidents::{self, IncidentRow};
use crate::db::{users, Db, DbConn};
use crate::domain::services::{self, Service};
use crate::domain::users::User;
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};

/// An incident with everything the API shows of it.
pub struct IncidentRecord {
    pub row: IncidentRow,
    pub service: Service,
    /// Username of the service's creator.
    pub service_created_by: String,
    pub assignee: Option<User>,
    pub merged_with: Option<String>,
}

/// The incident with its assignee, the incident it was merged into, and its service's creator.
pub(super) fn load_record(
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

/// An incident the actor may see, by number or `unique_id`.
pub async fn record(db: &Db, actor: &User, reference: &str) -> Result<IncidentRecord, DomainError> {
    let (actor, reference) = (actor.clone(), reference.to_owned());
    db.run(move |conn| {
        let (row, service) = find_by_reference(conn, &actor, &reference)?;
        load_record(conn, row, service)
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
            let rows = list_page(conn, &actor, &query, per_page)?;
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

/// How many incidents the list's filters match.
pub async fn count(db: &Db, actor: &User, query: &ListQuery) -> Result<i64, DomainError> {
    let (actor, query) = (actor.clone(), query.clone());
    db.run(move |conn| {
        let filter = filter_for(
            conn,
            &actor,
            &query,
            chrono_tz::UTC,
            &mut FieldErrors::new(),
        )?;
        let counts = incident_list::count(conn, &filter)?.counts;
        // The API's filters (status, services) are all tallied, so the count is exact.
        Ok(match counts.of(&filter.statuses) {
            Count::Exact(n) | Count::MoreThan(n) => n,
        })
    })
    .await
}
