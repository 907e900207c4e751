//! The audit trail of schedules, their overrides, and escalation policies: who changed what,
//! and when. One table for both kinds, told apart by `subject_type`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{on_call_audit, users};
use super::DbConn;

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Schedule(i64),
    EscalationPolicy(i64),
}

impl Subject {
    fn parts(self) -> (&'static str, i64) {
        match self {
            Subject::Schedule(id) => ("schedule", id),
            Subject::EscalationPolicy(id) => ("escalation_policy", id),
        }
    }
}

#[derive(Debug, Clone, Queryable)]
pub struct OnCallAuditRow {
    pub action: String,
    pub detail: String,
    pub created_at: NaiveDateTime,
    pub actor_first_name: Option<String>,
    pub actor_last_name: Option<String>,
}

pub fn record(
    conn: &mut DbConn,
    team_id: i64,
    subject: Subject,
    actor_id: Option<i64>,
    action: &str,
    detail: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let (subject_type, subject_id) = subject.parts();
    diesel::insert_into(on_call_audit::table)
        .values((
            on_call_audit::team_id.eq(team_id),
            on_call_audit::subject_type.eq(subject_type),
            on_call_audit::subject_id.eq(subject_id),
            on_call_audit::actor_id.eq(actor_id),
            on_call_audit::action.eq(action),
            on_call_audit::detail.eq(detail),
            on_call_audit::created_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

/// Newest first, `limit` entries after skipping `offset`.
pub fn page_for(
    conn: &mut DbConn,
    subject: Subject,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<OnCallAuditRow>> {
    let (subject_type, subject_id) = subject.parts();
    on_call_audit::table
        .left_join(users::table)
        .filter(on_call_audit::subject_type.eq(subject_type))
        .filter(on_call_audit::subject_id.eq(subject_id))
        .order(on_call_audit::id.desc())
        .offset(offset)
        .limit(limit)
        .select((
            on_call_audit::action,
            on_call_audit::detail,
            on_call_audit::created_at,
            users::first_name.nullable(),
            users::last_name.nullable(),
        ))
        .load(conn)
}
