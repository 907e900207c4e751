//! Where a person is on call: the check before they leave a team or are disabled, so that no
//! escalation policy silently loses someone it names.
//!
//! Only direct targets of policy rules are refused. A person in a schedule's layer may go: the
//! schedule keeps their place and marks it "cannot be reached", and every policy and service
//! that would then reach nobody says so on its page.

use super::users::User;
use super::DomainError;
use crate::db::escalation_policies as store;
use crate::db::DbConn;

/// The refusal to remove or disable a person whom a policy rule targets directly (in one team,
/// or in any), naming the policies; `None` when no rule does.
pub fn where_user_is_on_call(
    conn: &mut DbConn,
    user: &User,
    team_id: Option<i64>,
) -> Result<Option<String>, DomainError> {
    let policies = store::policy_names_targeting_user(conn, user.id, team_id)?;
    if policies.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "{} is on call in the escalation policies {}: take them out of those rules first, so \
         that nobody is paged in vain.",
        user.full_name(),
        policies.join(", ")
    )))
}
