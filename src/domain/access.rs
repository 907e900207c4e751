//! Who may see and change what: the one place the roles are turned into answers
//! (docs/roles.md is the same rules as a table).
//!
//! - Account owners and admins see every team and may do everything in it; they alone create
//!   teams and see the list of every account (with its email address).
//! - A team's managers change its members and its configuration: services, integrations, signing
//!   secrets and integration keys, webhook redeliveries and test events.
//! - A team's users see its services and respond to its incidents (trigger, acknowledge,
//!   resolve, notes, assign); they see that an integration exists, not its key or secrets.
//! - Everyone else does not see the team at all: its ids answer "not found", not "forbidden".

use crate::db::{teams, DbConn};
use crate::domain::users::User;
use crate::domain::DomainError;

pub const TEAM_MANAGER: i32 = 1;
pub const TEAM_USER: i32 = 2;

/// What one person may do in one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TeamAccess {
    /// Not a member, nor an owner or admin: the team does not exist for them.
    None,
    /// A team user: sees the team's services and responds to its incidents.
    Respond,
    /// A team manager, or an account owner or admin: also changes the team's members and
    /// configuration.
    Manage,
}

/// The teams whose services a user sees.
pub enum Visibility {
    AllTeams,
    Teams(Vec<i64>),
}

impl Visibility {
    pub fn of(conn: &mut DbConn, user: &User) -> diesel::QueryResult<Visibility> {
        if user.role.is_admin() {
            Ok(Visibility::AllTeams)
        } else {
            Ok(Visibility::Teams(teams::team_ids_of_member(conn, user.id)?))
        }
    }

    pub fn team_ids(&self) -> Option<&[i64]> {
        match self {
            Visibility::AllTeams => None,
            Visibility::Teams(ids) => Some(ids),
        }
    }
}

pub fn team_access(
    conn: &mut DbConn,
    user: &User,
    team_id: i64,
) -> diesel::QueryResult<TeamAccess> {
    if user.role.is_admin() {
        return Ok(TeamAccess::Manage);
    }
    Ok(match teams::member_role(conn, team_id, user.id)? {
        Some(TEAM_MANAGER) => TeamAccess::Manage,
        Some(_) => TeamAccess::Respond,
        None => TeamAccess::None,
    })
}

pub fn can_see_team(conn: &mut DbConn, user: &User, team_id: i64) -> diesel::QueryResult<bool> {
    Ok(team_access(conn, user, team_id)? != TeamAccess::None)
}

/// Whether the user changes the team's members and configuration.
pub fn can_manage_team(conn: &mut DbConn, user: &User, team_id: i64) -> diesel::QueryResult<bool> {
    Ok(team_access(conn, user, team_id)? == TeamAccess::Manage)
}

/// The refusal of a configuration change to someone who sees the team but does not manage it.
pub fn not_a_manager() -> DomainError {
    DomainError::Forbidden(
        "Only the team's managers, admins and owners can change its services, integrations, \
         secrets and webhooks. Ask one of them."
            .into(),
    )
}

/// The check every configuration change of a team goes through (services, integrations,
/// secrets and keys, redeliveries and test events): `NotFound` for someone who does not see
/// the team, `Forbidden` for a team user.
pub fn require_manager(conn: &mut DbConn, user: &User, team_id: i64) -> Result<(), DomainError> {
    match team_access(conn, user, team_id)? {
        TeamAccess::Manage => Ok(()),
        TeamAccess::Respond => Err(not_a_manager()),
        TeamAccess::None => Err(DomainError::NotFound),
    }
}

/// The check on changes of a team's members: the same people as its configuration.
pub fn require_member_manager(
    conn: &mut DbConn,
    user: &User,
    team_id: i64,
) -> Result<(), DomainError> {
    match team_access(conn, user, team_id)? {
        TeamAccess::Manage => Ok(()),
        TeamAccess::Respond => Err(DomainError::Forbidden(
            "Only the team's managers, admins and owners can change its members.".into(),
        )),
        TeamAccess::None => Err(DomainError::NotFound),
    }
}

/// Only owners and admins create teams.
pub fn can_create_teams(user: &User) -> bool {
    user.role.is_admin()
}

pub fn require_team_creator(user: &User) -> Result<(), DomainError> {
    if can_create_teams(user) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "Only owners and admins can create teams. Ask one of them to create it and make you \
             its manager."
                .into(),
        ))
    }
}

/// Only owners and admins see every account (and its email address), for instance to pick a
/// new team member from a list; team managers add people by their exact email address.
pub fn sees_all_users(user: &User) -> bool {
    user.role.is_admin()
}

/// Whether the user may create a service in some team: owners and admins, and the managers of
/// at least one team.
pub fn can_create_services(conn: &mut DbConn, user: &User) -> diesel::QueryResult<bool> {
    Ok(user.role.is_admin()
        || !teams::list_for_member_with_role(conn, user.id, TEAM_MANAGER, 0, 1)?.is_empty())
}
