//! Where a person is on call: the check before they leave a team or are disabled, so that no
//! policy or schedule silently loses who it should reach.

use super::users::User;
use super::DomainError;
use crate::db::escalation_policies as store;
use crate::db::DbConn;

/// Where a person is a direct target of a policy rule or in a schedule layer (in one team,
/// or in any): the refusal to remove or disable them, or `None` when they are in none.
pub fn where_user_is_on_call(
    conn: &mut DbConn,
    user: &User,
    team_id: Option<i64>,
) -> Result<Option<String>, DomainError> {
    let policies = store::policy_names_targeting_user(conn, user.id, team_id)?;
    let schedules = store::schedule_names_with_user(conn, user.id, team_id)?;
    if policies.is_empty() && schedules.is_empty() {
        return Ok(None);
    }
    let mut places = Vec::new();
    if !policies.is_empty() {
        places.push(format!("the escalation policies {}", policies.join(", ")));
    }
    if !schedules.is_empty() {
        places.push(format!("the schedules {}", schedules.join(", ")));
    }
    Ok(Some(format!(
        "{} is on call in {}: take them out there first, so that nobody is paged in vain.",
        user.full_name(),
        places.join(" and ")
    )))
}
