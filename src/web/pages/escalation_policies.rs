//! Escalation policies under a team (list, create, show with its rules and audit trail, edit,
//! rule changes, delete) and the On call page.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

use super::{redirect_with_flash, render, PageQuery};
use crate::domain::escalation_policies::{
    self as policies, Policy, PolicyDetail, PolicyForm, RuleChange, TeamOnCall, TeamPolicies,
    POLICIES_PER_PAGE, REACHES_NOBODY,
};
use crate::domain::teams::Team;
use crate::domain::users::User;
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};
use crate::web::auth::CurrentUser;
use crate::web::error::AppError;
use crate::web::layout::{Layout, Nav};
use crate::web::session::{CsrfForm, FlashKind};
use crate::web::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(on_call)
        .service(list)
        .service(new_form)
        .service(create)
        .service(show)
        .service(edit_form)
        .service(update)
        .service(add_rule)
        .service(set_delay)
        .service(move_rule)
        .service(remove_rule)
        .service(add_target)
        .service(remove_target)
        .service(delete_confirm)
        .service(delete);
}

fn policy_path(team: &str, policy: &str) -> String {
    format!("/teams/{team}/escalation-policies/{policy}")
}

#[derive(Template)]
#[template(path = "escalation_policies/list.html")]
struct ListPage {
    layout: Layout,
    list: TeamPolicies,
}

impl ListPage {
    fn base(&self) -> String {
        format!("/teams/{}/escalation-policies", self.list.team.unique_id)
    }
}

#[get("/teams/{team}/escalation-policies")]
async fn list(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let list = policies::list(&state.db, &me, &path, query.number(), POLICIES_PER_PAGE).await?;
    render(
        ListPage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            list,
        },
        StatusCode::OK,
    )
}

/// The create and edit form share one template.
#[derive(Template)]
#[template(path = "escalation_policies/form.html")]
struct FormPage {
    layout: Layout,
    team: Team,
    /// `None` when creating.
    policy: Option<Policy>,
    form: PolicyForm,
    errors: FieldErrors,
}

impl FormPage {
    fn action(&self) -> String {
        match &self.policy {
            Some(policy) => format!(
                "{}/edit",
                policy_path(&self.team.unique_id, &policy.row.unique_id)
            ),
            None => format!("/teams/{}/escalation-policies", self.team.unique_id),
        }
    }
}

#[get("/teams/{team}/escalation-policies/new")]
async fn new_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let team = policies::team_to_change(&state.db, &me, &path).await?;
    render(
        FormPage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            team,
            policy: None,
            form: PolicyForm::default(),
            errors: FieldErrors::new(),
        },
        StatusCode::OK,
    )
}

#[post("/teams/{team}/escalation-policies")]
async fn create(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<PolicyForm>,
) -> Result<HttpResponse, AppError> {
    match policies::create(&state.db, &me, &path, &form, &[]).await {
        Ok(policy) => {
            tracing::info!(actor = %me.username, policy = %policy.row.unique_id, "escalation policy created");
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!(
                    "Escalation policy {} created. Add its first rule below.",
                    policy.row.name
                ),
                &policy_path(&path, &policy.row.unique_id),
            ))
        }
        Err(DomainError::Invalid(errors)) => {
            let team = policies::team_to_change(&state.db, &me, &path).await?;
            render(
                FormPage {
                    layout: Layout::new(&session, Some(&me), Nav::Teams),
                    team,
                    policy: None,
                    form,
                    errors,
                },
                StatusCode::BAD_REQUEST,
            )
        }
        Err(other) => Err(other.into()),
    }
}

/// Where a rule form's error is shown: the rule it is about, or the "Add rule" form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrorAt {
    Nowhere,
    NewRule,
    Rule(String),
}

#[derive(Template)]
#[template(path = "escalation_policies/show.html")]
struct ShowPage {
    layout: Layout,
    detail: PolicyDetail,
    errors: FieldErrors,
    error_at: ErrorAt,
    /// What the "Add rule" form had, kept when it is shown again with errors.
    new_delay: String,
    new_target: String,
}

impl ShowPage {
    fn path(&self) -> String {
        policy_path(
            &self.detail.policy.team.unique_id,
            &self.detail.policy.row.unique_id,
        )
    }

    fn reaches_nobody_warning(&self) -> &'static str {
        REACHES_NOBODY
    }

    /// The error of `field` in the form of `rule` (`""`: the "Add rule" form).
    fn error(&self, rule: &str, field: &str) -> Option<&str> {
        let here = if rule.is_empty() {
            ErrorAt::NewRule
        } else {
            ErrorAt::Rule(rule.to_owned())
        };
        if self.error_at == here {
            self.errors.get(field)
        } else {
            None
        }
    }

    fn is_last(&self, position: &i32) -> bool {
        usize::try_from(*position).is_ok_and(|p| p + 1 == self.detail.policy.rules.len())
    }

    fn actor_name(&self, entry: &crate::db::on_call_audit::OnCallAuditRow) -> String {
        match (&entry.actor_first_name, &entry.actor_last_name) {
            (Some(first), Some(last)) => format!("{first} {last}"),
            _ => "Klaxon".to_owned(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn show_page(
    state: &AppState,
    session: &Session,
    me: &User,
    team: &str,
    policy: &str,
    audit_page: i64,
    errors: FieldErrors,
    error_at: ErrorAt,
    (new_delay, new_target): (String, String),
) -> Result<HttpResponse, AppError> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let detail = policies::detail(&state.db, me, team, policy, audit_page).await?;
    render(
        ShowPage {
            layout: Layout::new(session, Some(me), Nav::Teams),
            detail,
            errors,
            error_at,
            new_delay,
            new_target,
        },
        status,
    )
}

#[get("/teams/{team}/escalation-policies/{policy}")]
async fn show(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let (team, policy) = path.into_inner();
    show_page(
        &state,
        &session,
        &me,
        &team,
        &policy,
        query.number(),
        FieldErrors::new(),
        ErrorAt::Nowhere,
        ("0".to_owned(), String::new()),
    )
    .await
}

#[get("/teams/{team}/escalation-policies/{policy}/edit")]
async fn edit_form(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (team, policy) = path.into_inner();
    let policy = policies::get_to_change(&state.db, &me, &team, &policy).await?;
    render(
        FormPage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            team: policy.team.clone(),
            form: PolicyForm::from_row(&policy.row),
            policy: Some(policy),
            errors: FieldErrors::new(),
        },
        StatusCode::OK,
    )
}

#[post("/teams/{team}/escalation-policies/{policy}/edit")]
async fn update(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<PolicyForm>,
) -> Result<HttpResponse, AppError> {
    let (team, policy) = path.into_inner();
    match policies::update(&state.db, &me, &team, &policy, &form, None).await {
        Ok(policy) => Ok(redirect_with_flash(
            &session,
            FlashKind::Success,
            "Escalation policy saved.",
            &policy_path(&team, &policy.row.unique_id),
        )),
        Err(DomainError::Invalid(errors)) => {
            let policy = policies::get_to_change(&state.db, &me, &team, &policy).await?;
            render(
                FormPage {
                    layout: Layout::new(&session, Some(&me), Nav::Teams),
                    team: policy.team.clone(),
                    policy: Some(policy),
                    form,
                    errors,
                },
                StatusCode::BAD_REQUEST,
            )
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
struct NewRuleForm {
    #[serde(default)]
    delay: String,
    #[serde(default)]
    target: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct DelayForm {
    #[serde(default)]
    delay: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct MoveForm {
    #[serde(default)]
    direction: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct TargetForm {
    #[serde(default)]
    target: String,
}

/// Applies a rule change; back to the policy's page, or the page again with the error next
/// to the field of the form that made it.
async fn apply(
    state: &AppState,
    session: &Session,
    me: &User,
    (team, policy): (String, String),
    change: RuleChange,
    success: &str,
) -> Result<HttpResponse, AppError> {
    let error_at = match change.rule() {
        Some(rule) => ErrorAt::Rule(rule.to_owned()),
        None => ErrorAt::NewRule,
    };
    let typed = match &change {
        RuleChange::Add { delay, target } => (delay.clone(), target.clone()),
        _ => ("0".to_owned(), String::new()),
    };
    match policies::change_rules(&state.db, me, &team, &policy, change).await {
        Ok(()) => Ok(redirect_with_flash(
            session,
            FlashKind::Success,
            success,
            &policy_path(&team, &policy),
        )),
        Err(DomainError::Invalid(errors)) => {
            show_page(
                state, session, me, &team, &policy, 1, errors, error_at, typed,
            )
            .await
        }
        Err(DomainError::Conflict(message)) => Ok(redirect_with_flash(
            session,
            FlashKind::Error,
            message,
            &policy_path(&team, &policy),
        )),
        Err(other) => Err(other.into()),
    }
}

#[post("/teams/{team}/escalation-policies/{policy}/rules")]
async fn add_rule(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(form): CsrfForm<NewRuleForm>,
) -> Result<HttpResponse, AppError> {
    let change = RuleChange::Add {
        delay: form.delay,
        target: form.target,
    };
    apply(
        &state,
        &session,
        &me,
        path.into_inner(),
        change,
        "Rule added.",
    )
    .await
}

#[post("/teams/{team}/escalation-policies/{policy}/rules/{rule}/delay")]
async fn set_delay(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
    CsrfForm(form): CsrfForm<DelayForm>,
) -> Result<HttpResponse, AppError> {
    let (team, policy, rule) = path.into_inner();
    let change = RuleChange::SetDelay {
        rule,
        delay: form.delay,
    };
    apply(
        &state,
        &session,
        &me,
        (team, policy),
        change,
        "Delay saved.",
    )
    .await
}

#[post("/teams/{team}/escalation-policies/{policy}/rules/{rule}/move")]
async fn move_rule(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> Result<HttpResponse, AppError> {
    let (team, policy, rule) = path.into_inner();
    let up = match form.direction.as_str() {
        "up" => true,
        "down" => false,
        _ => return Err(AppError::BadRequest("Move a rule up or down.".into())),
    };
    let change = RuleChange::Move { rule, up };
    apply(&state, &session, &me, (team, policy), change, "Rule moved.").await
}

#[post("/teams/{team}/escalation-policies/{policy}/rules/{rule}/remove")]
async fn remove_rule(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (team, policy, rule) = path.into_inner();
    let change = RuleChange::Remove { rule };
    apply(
        &state,
        &session,
        &me,
        (team, policy),
        change,
        "Rule removed.",
    )
    .await
}

#[post("/teams/{team}/escalation-policies/{policy}/rules/{rule}/targets")]
async fn add_target(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
    CsrfForm(form): CsrfForm<TargetForm>,
) -> Result<HttpResponse, AppError> {
    let (team, policy, rule) = path.into_inner();
    let change = RuleChange::AddTarget {
        rule,
        target: form.target,
    };
    apply(
        &state,
        &session,
        &me,
        (team, policy),
        change,
        "Target added.",
    )
    .await
}

#[post("/teams/{team}/escalation-policies/{policy}/rules/{rule}/targets/remove")]
async fn remove_target(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String, String)>,
    CsrfForm(form): CsrfForm<TargetForm>,
) -> Result<HttpResponse, AppError> {
    let (team, policy, rule) = path.into_inner();
    let change = RuleChange::RemoveTarget {
        rule,
        target: form.target,
    };
    apply(
        &state,
        &session,
        &me,
        (team, policy),
        change,
        "Target removed.",
    )
    .await
}

#[derive(Template)]
#[template(path = "escalation_policies/delete.html")]
struct DeletePage {
    layout: Layout,
    policy: Policy,
}

#[get("/teams/{team}/escalation-policies/{policy}/delete")]
async fn delete_confirm(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (team, policy) = path.into_inner();
    let policy = policies::get_to_change(&state.db, &me, &team, &policy).await?;
    render(
        DeletePage {
            layout: Layout::new(&session, Some(&me), Nav::Teams),
            policy,
        },
        StatusCode::OK,
    )
}

#[post("/teams/{team}/escalation-policies/{policy}/delete")]
async fn delete(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    CsrfForm(_): CsrfForm<serde::de::IgnoredAny>,
) -> Result<HttpResponse, AppError> {
    let (team, policy) = path.into_inner();
    match policies::delete(&state.db, &me, &team, &policy).await {
        Ok(row) => {
            tracing::info!(actor = %me.username, policy = %row.unique_id, "escalation policy deleted");
            Ok(redirect_with_flash(
                &session,
                FlashKind::Success,
                format!("Escalation policy {} deleted.", row.name),
                &format!("/teams/{team}/escalation-policies"),
            ))
        }
        Err(DomainError::Conflict(message)) => Ok(redirect_with_flash(
            &session,
            FlashKind::Error,
            message,
            &policy_path(&team, &policy),
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "escalation_policies/on_call.html")]
struct OnCallPage {
    layout: Layout,
    teams: Page<TeamOnCall>,
}

#[get("/oncall")]
async fn on_call(
    CurrentUser(me): CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let teams = policies::on_call_overview(&state.db, &me, query.number()).await?;
    render(
        OnCallPage {
            layout: Layout::new(&session, Some(&me), Nav::OnCall),
            teams,
        },
        StatusCode::OK,
    )
}
