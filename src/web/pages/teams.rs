//! Teams: list, create, members.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, see_other, PageQuery};
use crate::domain::access;
use crate::domain::teams::{self, MemberForm, Team, TeamDetail, TeamForm};
use crate::domain::users::User;
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};
use crate::web::auth::CurrentUser;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{self, CsrfForm, FlashKind};
use crate::web::AppState;

const TEAMS_PER_PAGE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(new_form)
        .service(create)
        .service(show)
        .service(add_member)
        .service(change_role)
        .service(remove_member_confirm)
        .service(remove_member);
}

#[derive(Template)]
#[template(path = "teams/list.html")]
struct TeamsPage {
    layout: Layout,
    teams: Page<Team>,
    /// Whether "New team" is offered (owners and admins).
    can_create: bool,
}

#[get("/teams")]
async fn list(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let teams = teams::list_teams(&state.db, &me, query.number(), TEAMS_PER_PAGE).await?;
    render(
        TeamsPage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            teams,
            can_create: access::can_create_teams(&me),
        },
        StatusCode::OK,
    )
}

#[derive(Template)]
#[template(path = "teams/new.html")]
struct NewTeamPage {
    layout: Layout,
    form: TeamForm,
    errors: FieldErrors,
}

#[get("/teams/new")]
async fn new_form(
    CurrentUser(me): CurrentUser,
    session: Session,
) -> Result<HttpResponse, AppError> {
    access::require_team_creator(&me)?;
    let page = NewTeamPage {
        layout: Layout::new(&session, Some(&me), Nav::Teams),
        form: TeamForm::default(),
        errors: FieldErrors::new(),
    };
    render(page, StatusCode::OK)
}

#[post("/teams")]
async fn create(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    CsrfForm(form): CsrfForm<TeamForm>,
) -> Result<HttpResponse, AppError> {
    match teams::create_team(&state.db, &me, &form).await {
        Ok(team) => {
            tracing::info!(actor = %me.username, team = %team.unique_id, "team created");
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!("Team {} created. You are its manager.", team.name),
                &format!("/teams/{}", team.unique_id),
            ))
        }
        Err(DomainError::Invalid(errors)) => {
            let page = NewTeamPage {
                layout: Layout::new(&session, Some(&me), Nav::Teams),
                form,
                errors,
            };
            render(page, StatusCode::BAD_REQUEST)
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "teams/show.html")]
struct TeamPage {
    layout: Layout,
    detail: TeamDetail,
    form: MemberForm,
    errors: FieldErrors,
}

impl TeamPage {
    /// Where the members' pager links to.
    fn members_base(&self) -> String {
        format!("/teams/{}", self.detail.team.unique_id)
    }

    fn is_me(&self, user: &User) -> bool {
        self.layout.user.as_ref().is_some_and(|me| me.id == user.id)
    }
}

/// The team's page; with errors, the "Add member" form is shown again with them (a 400).
async fn team_page(
    state: &AppState,
    session: &Session,
    me: &User,
    team_uid: &str,
    members_page: i64,
    form: MemberForm,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let detail = teams::team_detail(&state.db, me, team_uid, members_page).await?;
    let page = TeamPage {
        layout: Layout::new(session, Some(me), Nav::Teams),
        detail,
        form,
        errors,
    };
    render(page, status)
}

#[get("/teams/{team}")]
async fn show(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let form = MemberForm {
        role: "2".to_owned(),
        ..MemberForm::default()
    };
    team_page(
        &state,
        &session,
        &me,
        &path,
        query.number(),
        form,
        FieldErrors::new(),
    )
    .await
}

#[post("/teams/{team}/members")]
async fn add_member(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<HttpResponse, AppError> {
    match teams::add_member(&state.db, &me, &path, &form).await {
        Ok(user) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            format!("{} joined the team.", user.full_name()),
            &format!("/teams/{path}"),
        )),
        Err(DomainError::Invalid(errors)) => {
            team_page(&state, &session, &me, &path, 1, form, errors).await
        }
        Err(other) => Err(other.into()),
    }
}

#[get("/teams/{team}/members/{username}/remove")]
async fn remove_member_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (team_uid, username) = path.into_inner();
    let (team, user) = teams::member_to_remove(&state.db, &me, &team_uid, &username).await?;
    let back = format!("/teams/{team_uid}");
    super::confirm::page(
        &session,
        &me,
        Nav::Teams,
        super::confirm::Confirmation {
            question: format!("Remove {} from {}?", user.full_name(), team.name),
            detail: "They stop seeing the team's services and incidents, and its schedules and \
                     policies stop reaching them. Their history stays."
                .to_owned(),
            action: format!("{back}/members/{username}/remove"),
            fields: Vec::new(),
            button: "Remove from the team",
            back,
        },
    )
}

#[post("/teams/{team}/members/{username}/remove")]
async fn remove_member(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (team_uid, username) = path.into_inner();
    match teams::remove_member(&state.db, &me, &team_uid, &username).await {
        Ok(user) => {
            session::set_flash(
                &session,
                FlashKind::Success,
                format!("{} left the team.", user.full_name()),
            );
            // Someone who left may no longer see the team (404): back to their teams.
            if user.id == me.id && !me.role.is_admin() {
                return Ok(see_other("/teams"));
            }
        }
        Err(DomainError::Conflict(message)) => {
            session::set_flash(&session, FlashKind::Error, message)
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&format!("/teams/{team_uid}")))
}

#[derive(serde::Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

/// "Make manager" and "Make team user" on each member's row: the way on when the last manager
/// is refused leaving ("make someone else a manager first").
#[post("/teams/{team}/members/{username}/role")]
async fn change_role(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<HttpResponse, AppError> {
    let (team_uid, username) = path.into_inner();
    match teams::change_role_of(&state.db, &me, &team_uid, &username, &form.role).await {
        Ok((user, role)) => {
            tracing::info!(actor = %me.username, team = %team_uid, username = %user.username, role, "team role changed");
            session::set_flash(
                &session,
                FlashKind::Success,
                format!(
                    "{} is now a {} of the team.",
                    user.full_name(),
                    teams::role_label(role).to_lowercase()
                ),
            );
        }
        Err(DomainError::Conflict(message)) => {
            session::set_flash(&session, FlashKind::Error, message)
        }
        Err(other) => return Err(other.into()),
    }
    Ok(see_other(&format!("/teams/{team_uid}")))
}
