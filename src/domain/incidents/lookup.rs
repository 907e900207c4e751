//! Which incidents an actor may see: one by number or by reference, many by the list's filters.
//! Every reader and writer of incidents goes through here, so none shows or changes an incident
//! of a team the actor cannot see.

use super::model::ListQuery;
use crate::db::incident_list::{self, IncidentFilter, ListOrder};
use crate::db::incidents::{self, IncidentListRow, IncidentRow};
use crate::db::services::ServiceRow;
use crate::db::DbConn;
use crate::domain::access::{self, Visibility};
use crate::domain::services::{self, Service};
use crate::domain::users::User;
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};

/// An incident the actor may see, by number, with its service and team.
pub(super) fn find_visible(
    conn: &mut DbConn,
    actor: &User,
    number: i64,
) -> Result<(IncidentRow, Service), DomainError> {
    let (row, service) = find_visible_row(conn, actor, number)?;
    Ok((row, services::with_team(conn, service)?))
}

/// An incident the actor may see, by number, with its service row only.
pub(super) fn find_visible_row(
    conn: &mut DbConn,
    actor: &User,
    number: i64,
) -> Result<(IncidentRow, ServiceRow), DomainError> {
    let row = incidents::find_by_number(conn, number)?.ok_or(DomainError::NotFound)?;
    let service =
        crate::db::services::find_by_id(conn, row.service_id)?.ok_or(DomainError::NotFound)?;
    if !access::can_see_team(conn, actor, service.team_id)? {
        return Err(DomainError::NotFound);
    }
    Ok((row, service))
}

/// An incident by number (all digits) or by `unique_id`, if the actor may see it.
pub(super) fn find_by_reference(
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

/// The rows of the list's page that the actor may see, one more than `per_page` when another
/// page follows (for `Page::from_overfetch`).
pub(super) fn list_page(
    conn: &mut DbConn,
    actor: &User,
    query: &ListQuery,
    per_page: i64,
) -> Result<Vec<IncidentListRow>, DomainError> {
    let filter = filter_for(conn, actor, query, chrono_tz::UTC, &mut FieldErrors::new())?;
    Ok(incident_list::page(
        conn,
        &filter,
        ListOrder::Newest,
        Page::<()>::offset(query.page(), per_page),
        per_page + 1,
        None,
    )?)
}

/// The list's filters as the query the actor may run, its dates read in `zone`; a filter that
/// does not parse is left out and named in `errors`.
pub(super) fn filter_for(
    conn: &mut DbConn,
    actor: &User,
    query: &ListQuery,
    zone: chrono_tz::Tz,
    errors: &mut FieldErrors,
) -> Result<IncidentFilter, DomainError> {
    let visibility = Visibility::of(conn, actor)?;
    let (created_from, created_before) = query.created_between(zone, errors);
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
        search: query.search(),
        assignee: query.assigned_to_me().then_some(actor.id),
        created_from,
        created_before,
    })
}
