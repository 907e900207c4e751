//! Who may see and change what. Owners and admins see every team; everyone else sees the teams
//! they belong to. Team managers (and owners and admins) manage a team's members.

use crate::db::{teams, DbConn};
use crate::domain::accounts::User;

pub const TEAM_MANAGER: i32 = 1;
pub const TEAM_USER: i32 = 2;

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

pub fn can_see_team(conn: &mut DbConn, user: &User, team_id: i64) -> diesel::QueryResult<bool> {
    Ok(user.role.is_admin() || teams::member_role(conn, team_id, user.id)?.is_some())
}

pub fn can_manage_team(conn: &mut DbConn, user: &User, team_id: i64) -> diesel::QueryResult<bool> {
    Ok(user.role.is_admin() || teams::member_role(conn, team_id, user.id)? == Some(TEAM_MANAGER))
}
