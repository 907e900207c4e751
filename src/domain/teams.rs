//! Teams and their members.

use super::access::{self, Visibility, TEAM_MANAGER, TEAM_USER};
use super::users::User;
use super::validation::{required_text, FieldErrors};
use super::{DomainError, Page};
use crate::db::teams::TeamRow;
use crate::db::{self, teams, users, Db, DbConn, DbError};

pub const DEFAULT_TEAM_NAME: &str = "Default";

#[derive(Debug, Clone)]
pub struct Team {
    pub id: i64,
    pub unique_id: String,
    pub name: String,
    pub created_at: chrono::NaiveDateTime,
}

impl From<TeamRow> for Team {
    fn from(row: TeamRow) -> Self {
        Team {
            id: row.id,
            unique_id: row.unique_id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user: User,
    pub role: i32,
}

impl Member {
    pub fn role_label(&self) -> &'static str {
        role_label(self.role)
    }

    pub fn is_manager(&self) -> bool {
        self.role == TEAM_MANAGER
    }
}

pub fn role_label(role: i32) -> &'static str {
    if role == TEAM_MANAGER {
        "Manager"
    } else {
        "User"
    }
}

/// Creates a team with `manager` as its first manager and its "Default" escalation policy
/// (that manager, at once), inside the caller's transaction.
pub fn insert_team_with_manager(
    conn: &mut DbConn,
    name: &str,
    manager_id: i64,
) -> Result<Team, DbError> {
    let now = db::now();
    let team = teams::insert(
        conn,
        &uuid::Uuid::new_v4().to_string(),
        name,
        manager_id,
        now,
    )?;
    teams::add_member(conn, team.id, manager_id, TEAM_MANAGER, now)?;
    let policy = crate::db::escalation_policies::insert_default(
        conn,
        team.id,
        &[manager_id],
        Some(manager_id),
        now,
    )?;
    super::incidents::escalation::refreeze_policy(conn, policy.id)?;
    Ok(team.into())
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    pub name: String,
}

/// Owners and admins create teams; they become the new team's first manager.
pub async fn create_team(db: &Db, actor: &User, form: &TeamForm) -> Result<Team, DomainError> {
    access::require_team_creator(actor)?;
    let mut errors = FieldErrors::new();
    let name = required_text(&mut errors, "name", &form.name, 100);
    errors.into_result(()).map_err(DomainError::Invalid)?;
    let actor_id = actor.id;
    db.write(move |conn| Ok(insert_team_with_manager(conn, &name, actor_id)?))
        .await
}

pub async fn list_teams(
    db: &Db,
    actor: &User,
    page: i64,
    per_page: i64,
) -> Result<Page<Team>, DomainError> {
    let actor = actor.clone();
    let offset = Page::<Team>::offset(page, per_page);
    let rows = db
        .run(move |conn| visible_rows(conn, &actor, offset, per_page + 1))
        .await?;
    Ok(Page::from_overfetch(
        rows.into_iter().map(Team::from).collect(),
        page,
        per_page,
    ))
}

/// A team the user may see, by its public id.
pub fn find_visible(conn: &mut DbConn, actor: &User, unique_id: &str) -> Result<Team, DomainError> {
    let team = teams::find_by_unique_id(conn, unique_id)?.ok_or(DomainError::NotFound)?;
    if !access::can_see_team(conn, actor, team.id)? {
        return Err(DomainError::NotFound);
    }
    Ok(team.into())
}

/// Members per page of a team's page.
pub const MEMBERS_PER_PAGE: i64 = 50;

pub struct TeamDetail {
    pub team: Team,
    pub members: Page<Member>,
    pub can_manage: bool,
    /// How many managers the team has: the last one is offered no "Make team user".
    pub managers: i64,
    /// Whether "Add member" picks from every active account (owners and admins); team managers
    /// type the person's email address instead.
    pub pick_from_list: bool,
    /// Active users who are not members yet, for the "Add member" list (owners and admins).
    pub candidates: Vec<User>,
}

pub async fn team_detail(
    db: &Db,
    actor: &User,
    unique_id: &str,
    page: i64,
) -> Result<TeamDetail, DomainError> {
    let (actor, unique_id) = (actor.clone(), unique_id.to_owned());
    db.run(move |conn| {
        let team = find_visible(conn, &actor, &unique_id)?;
        let offset = Page::<Member>::offset(page, MEMBERS_PER_PAGE);
        let rows = teams::members_page(conn, team.id, offset, MEMBERS_PER_PAGE + 1)?;
        let members = Page::from_overfetch(
            rows.into_iter()
                .map(|(user, role)| Member {
                    user: user.into(),
                    role,
                })
                .collect(),
            page,
            MEMBERS_PER_PAGE,
        );
        let can_manage = access::can_manage_team(conn, &actor, team.id)?;
        let managers = teams::count_members_with_role(conn, team.id, TEAM_MANAGER)?;
        let pick_from_list = can_manage && access::sees_all_users(&actor);
        let candidates = if pick_from_list {
            let member_ids = teams::member_ids(conn, team.id)?;
            super::users::active_users(conn)?
                .into_iter()
                .filter(|u| !member_ids.contains(&u.id))
                .collect()
        } else {
            Vec::new()
        };
        Ok(TeamDetail {
            team,
            members,
            can_manage,
            managers,
            pick_from_list,
            candidates,
        })
    })
    .await
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct MemberForm {
    /// The person picked from the list (owners and admins).
    #[serde(default)]
    pub username: String,
    /// The person's email address, as typed (anyone who manages the team).
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub role: String,
}

/// The answer to an email address that names no active account: the same whether there is no
/// such account or it is disabled.
pub const NO_ACCOUNT_WITH_EMAIL: &str = "No active account has this email address.";

/// The person a "Add member" form names: owners and admins may pick from the list (by
/// username) or type an email address; team managers type the exact email address.
fn person_to_add(conn: &mut DbConn, actor: &User, form: &MemberForm) -> Result<User, DomainError> {
    let username = form.username.trim();
    if !username.is_empty() && access::sees_all_users(actor) {
        return Ok(users::find_by_username(conn, username)?
            .filter(|u| u.is_active)
            .ok_or_else(|| DomainError::field("username", "Choose a person to add."))?
            .into());
    }
    let email = match super::users::normalize_email(&form.email) {
        Ok(email) => email,
        Err(_) if form.email.trim().is_empty() => {
            let (field, message) = if access::sees_all_users(actor) {
                ("username", "Choose a person to add.")
            } else {
                ("email", "Enter the email address of the person to add.")
            };
            return Err(DomainError::field(field, message));
        }
        Err(message) => return Err(DomainError::field("email", message)),
    };
    Ok(users::find_by_email(conn, &email)?
        .filter(|u| u.is_active)
        .ok_or_else(|| DomainError::field("email", NO_ACCOUNT_WITH_EMAIL))?
        .into())
}

pub async fn add_member(
    db: &Db,
    actor: &User,
    team_uid: &str,
    form: &MemberForm,
) -> Result<User, DomainError> {
    let (actor, team_uid, form) = (actor.clone(), team_uid.to_owned(), form.clone());
    db.write(move |conn| {
        let team = find_visible(conn, &actor, &team_uid)?;
        access::require_member_manager(conn, &actor, team.id)?;
        let role = match form.role.trim() {
            "1" => TEAM_MANAGER,
            "2" => TEAM_USER,
            _ => return Err(DomainError::field("role", "Choose Manager or User.")),
        };
        let user = person_to_add(conn, &actor, &form)?;
        if teams::member_role(conn, team.id, user.id)?.is_some() {
            let field = if form.username.trim().is_empty() {
                "email"
            } else {
                "username"
            };
            return Err(DomainError::field(
                field,
                format!("{} is already a member.", user.full_name()),
            ));
        }
        teams::add_member(conn, team.id, user.id, role, db::now())?;
        Ok(user)
    })
    .await
}

/// A member of a team the actor manages, with their role there; NotFound for a team or a person
/// the actor cannot see, or someone who is not a member.
fn member_to_manage(
    conn: &mut DbConn,
    actor: &User,
    team_uid: &str,
    username: &str,
) -> Result<(Team, User, i32), DomainError> {
    let team = find_visible(conn, actor, team_uid)?;
    access::require_member_manager(conn, actor, team.id)?;
    let user: User = users::find_by_username(conn, username)?
        .ok_or(DomainError::NotFound)?
        .into();
    let role = teams::member_role(conn, team.id, user.id)?.ok_or(DomainError::NotFound)?;
    Ok((team, user, role))
}

/// The member someone is about to remove (the confirmation page), as `remove_member` finds them.
pub async fn member_to_remove(
    db: &Db,
    actor: &User,
    team_uid: &str,
    username: &str,
) -> Result<(Team, User), DomainError> {
    let (actor, team_uid, username) = (actor.clone(), team_uid.to_owned(), username.to_owned());
    db.run(move |conn| {
        let (team, user, _) = member_to_manage(conn, &actor, &team_uid, &username)?;
        Ok((team, user))
    })
    .await
}

pub async fn remove_member(
    db: &Db,
    actor: &User,
    team_uid: &str,
    username: &str,
) -> Result<User, DomainError> {
    let (actor, team_uid, username) = (actor.clone(), team_uid.to_owned(), username.to_owned());
    db.write(move |conn| {
        let (team, user, role) = member_to_manage(conn, &actor, &team_uid, &username)?;
        if role == TEAM_MANAGER && teams::count_members_with_role(conn, team.id, TEAM_MANAGER)? <= 1
        {
            return Err(DomainError::Conflict(
                "A team keeps at least one manager: make someone else a manager first.".into(),
            ));
        }
        if let Some(refusal) =
            super::on_call_usage::where_user_is_on_call(conn, &user, Some(team.id))?
        {
            return Err(DomainError::Conflict(refusal));
        }
        teams::remove_member(conn, team.id, user.id)?;
        Ok(user)
    })
    .await
}

/// A team's members with their memberships, for the API (the team must be visible).
pub async fn memberships(
    db: &Db,
    actor: &User,
    team_uid: &str,
) -> Result<(Team, Vec<(User, crate::db::teams::MembershipRow)>), DomainError> {
    let (actor, team_uid) = (actor.clone(), team_uid.to_owned());
    db.run(move |conn| {
        let team = find_visible(conn, &actor, &team_uid)?;
        let members = teams::memberships(conn, team.id)?
            .into_iter()
            .map(|(user, membership)| (User::from(user), membership))
            .collect();
        Ok((team, members))
    })
    .await
}

/// The member whose membership has this id, in a team the actor sees.
pub async fn membership(
    db: &Db,
    actor: &User,
    team_uid: &str,
    member_uid: &str,
) -> Result<(Team, User, crate::db::teams::MembershipRow), DomainError> {
    let (team, members) = memberships(db, actor, team_uid).await?;
    let (user, membership) = members
        .into_iter()
        .find(|(_, membership)| membership.unique_id == member_uid)
        .ok_or(DomainError::NotFound)?;
    Ok((team, user, membership))
}

/// Makes a member a manager (1) or a user (2); a team keeps at least one manager.
pub async fn change_member_role(
    db: &Db,
    actor: &User,
    team_uid: &str,
    member_uid: &str,
    role: i32,
) -> Result<(), DomainError> {
    check_team_role(role)?;
    let (actor, team_uid, member_uid) = (actor.clone(), team_uid.to_owned(), member_uid.to_owned());
    db.write(move |conn| {
        let team = find_visible(conn, &actor, &team_uid)?;
        access::require_member_manager(conn, &actor, team.id)?;
        let (user, membership) = teams::memberships(conn, team.id)?
            .into_iter()
            .find(|(_, membership)| membership.unique_id == member_uid)
            .ok_or(DomainError::NotFound)?;
        set_role_in(conn, team.id, user.id, membership.role, role)
    })
    .await
}

/// The team page's "Make manager" and "Make team user": the member named by username.
pub async fn change_role_of(
    db: &Db,
    actor: &User,
    team_uid: &str,
    username: &str,
    role: &str,
) -> Result<(User, i32), DomainError> {
    let role = role
        .trim()
        .parse::<i32>()
        .map_err(|_| DomainError::field("role", "Choose Manager or User."))?;
    check_team_role(role)?;
    let (actor, team_uid, username) = (actor.clone(), team_uid.to_owned(), username.to_owned());
    db.write(move |conn| {
        let (team, user, current) = member_to_manage(conn, &actor, &team_uid, &username)?;
        set_role_in(conn, team.id, user.id, current, role)?;
        Ok((user, role))
    })
    .await
}

fn check_team_role(role: i32) -> Result<(), DomainError> {
    if role == TEAM_MANAGER || role == TEAM_USER {
        Ok(())
    } else {
        Err(DomainError::field(
            "role",
            "Choose 1 (manager) or 2 (user).",
        ))
    }
}

fn set_role_in(
    conn: &mut DbConn,
    team_id: i64,
    user_id: i64,
    current: i32,
    role: i32,
) -> Result<(), DomainError> {
    if current == TEAM_MANAGER
        && role != TEAM_MANAGER
        && teams::count_members_with_role(conn, team_id, TEAM_MANAGER)? <= 1
    {
        return Err(DomainError::Conflict(
            "A team keeps at least one manager: make someone else a manager first.".into(),
        ));
    }
    teams::set_member_role(conn, team_id, user_id, role)?;
    Ok(())
}

/// The teams the actor sees, by name: all of them for owners and admins, otherwise their own.
fn visible_rows(
    conn: &mut DbConn,
    actor: &User,
    offset: i64,
    limit: i64,
) -> Result<Vec<TeamRow>, DomainError> {
    Ok(match Visibility::of(conn, actor)? {
        Visibility::AllTeams => teams::list_all(conn, offset, limit)?,
        Visibility::Teams(_) => teams::list_for_member(conn, actor.id, offset, limit)?,
    })
}

/// Teams a user may put a service in, by name: all teams for owners and admins, the teams they
/// manage for everyone else.
pub fn selectable_teams(conn: &mut DbConn, actor: &User) -> Result<Vec<Team>, DomainError> {
    let rows = if actor.role.is_admin() {
        teams::list_all(conn, 0, 1000)?
    } else {
        teams::list_for_member_with_role(conn, actor.id, TEAM_MANAGER, 0, 1000)?
    };
    Ok(rows.into_iter().map(Team::from).collect())
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> Result<Team, DomainError> {
    Ok(teams::find_by_id(conn, id)?
        .ok_or(DomainError::NotFound)?
        .into())
}

/// A team with what the API shows of it: its creator's username and its memberships.
pub struct TeamRecord {
    pub team: Team,
    pub owner: String,
    pub members: Vec<(User, crate::db::teams::MembershipRow)>,
}

fn record(conn: &mut DbConn, row: TeamRow) -> Result<TeamRecord, DomainError> {
    let owner = match row.created_by {
        Some(id) => users::find_by_id(conn, id)?
            .map(|u| u.username)
            .unwrap_or_default(),
        None => String::new(),
    };
    let members = teams::memberships(conn, row.id)?
        .into_iter()
        .map(|(user, membership)| (User::from(user), membership))
        .collect();
    Ok(TeamRecord {
        team: row.into(),
        owner,
        members,
    })
}

/// The teams the actor sees, with their members (at most 1000).
pub async fn records(db: &Db, actor: &User) -> Result<Vec<TeamRecord>, DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        let rows = visible_rows(conn, &actor, 0, 1000)?;
        rows.into_iter().map(|row| record(conn, row)).collect()
    })
    .await
}

pub async fn record_by_id(
    db: &Db,
    actor: &User,
    unique_id: &str,
) -> Result<TeamRecord, DomainError> {
    let (actor, unique_id) = (actor.clone(), unique_id.to_owned());
    db.run(move |conn| {
        let team = find_visible(conn, &actor, &unique_id)?;
        let row = teams::find_by_id(conn, team.id)?.ok_or(DomainError::NotFound)?;
        record(conn, row)
    })
    .await
}
