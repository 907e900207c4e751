//! Persistence of people's contact methods and the notification rules that use them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{contact_methods, notification_rules, users};
use super::{shared_run, DbConn, KeptAs};

pub const EMAIL: &str = "email";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contact_methods)]
pub struct ContactMethodRow {
    pub id: i64,
    pub unique_id: String,
    pub user_id: i64,
    pub channel: String,
    pub address: String,
    pub is_account: bool,
    pub confirmed_at: Option<NaiveDateTime>,
    pub confirmation_token_hash: Option<String>,
    pub confirmation_sent_at: Option<NaiveDateTime>,
    pub confirmation_notification: Option<String>,
    pub created_at: NaiveDateTime,
}

pub struct NewContactMethod<'a> {
    pub unique_id: &'a str,
    pub user_id: i64,
    pub address: &'a str,
    pub is_account: bool,
    pub confirmed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Inserts a contact method and returns its row id.
pub fn insert(conn: &mut DbConn, new: &NewContactMethod<'_>) -> QueryResult<i64> {
    diesel::insert_into(contact_methods::table)
        .values((
            contact_methods::unique_id.eq(new.unique_id),
            contact_methods::user_id.eq(new.user_id),
            contact_methods::channel.eq(EMAIL),
            contact_methods::address.eq(new.address),
            contact_methods::is_account.eq(new.is_account),
            contact_methods::confirmed_at.eq(new.confirmed_at),
            contact_methods::created_at.eq(new.created_at),
        ))
        .execute(conn)?;
    contact_methods::table
        .filter(contact_methods::unique_id.eq(new.unique_id))
        .select(contact_methods::id)
        .get_result(conn)
}

/// The person's contact methods, the account email first, then in the order they were added.
pub fn list_for_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<ContactMethodRow>> {
    contact_methods::table
        .filter(contact_methods::user_id.eq(user_id))
        .order((contact_methods::is_account.desc(), contact_methods::id))
        .select(ContactMethodRow::as_select())
        .load(conn)
}

/// One of the person's contact methods; None for another person's.
pub fn find_for_user(
    conn: &mut DbConn,
    user_id: i64,
    unique_id: &str,
) -> QueryResult<Option<ContactMethodRow>> {
    contact_methods::table
        .filter(contact_methods::unique_id.eq(unique_id))
        .filter(contact_methods::user_id.eq(user_id))
        .select(ContactMethodRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn find_by_token_hash(
    conn: &mut DbConn,
    token_hash: &str,
) -> QueryResult<Option<ContactMethodRow>> {
    contact_methods::table
        .filter(contact_methods::confirmation_token_hash.eq(token_hash))
        .select(ContactMethodRow::as_select())
        .get_result(conn)
        .optional()
}

/// Replaces the method's confirmation token, sent in the email `notification`: only the latest
/// link sent works.
pub fn set_confirmation(
    conn: &mut DbConn,
    id: i64,
    token_hash: &str,
    notification: &str,
    sent_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(contact_methods::table.find(id))
        .set((
            contact_methods::confirmation_token_hash.eq(token_hash),
            contact_methods::confirmation_sent_at.eq(sent_at),
            contact_methods::confirmation_notification.eq(notification),
        ))
        .execute(conn)
        .map(drop)
}

/// Confirms the method if `token_hash` is still its token and it is unconfirmed (the token
/// stays, so that a second use is told the link was used). False when it was used or replaced
/// meanwhile.
pub fn confirm(
    conn: &mut DbConn,
    id: i64,
    token_hash: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(
        contact_methods::table
            .filter(contact_methods::id.eq(id))
            .filter(contact_methods::confirmation_token_hash.eq(token_hash))
            .filter(contact_methods::confirmed_at.is_null()),
    )
    .set(contact_methods::confirmed_at.eq(Some(at)))
    .execute(conn)?;
    Ok(updated == 1)
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(contact_methods::table.find(id))
        .execute(conn)
        .map(drop)
}

/// Changes a method's address (the account email following the account's).
pub fn set_address(conn: &mut DbConn, id: i64, address: &str) -> QueryResult<()> {
    diesel::update(contact_methods::table.find(id))
        .set(contact_methods::address.eq(address))
        .execute(conn)
        .map(drop)
}

pub struct NewRule<'a> {
    pub unique_id: &'a str,
    pub user_id: i64,
    pub contact_method_id: i64,
    pub urgency: &'a str,
    pub delay_minutes: i32,
    pub created_at: NaiveDateTime,
}

pub fn insert_rule(conn: &mut DbConn, new: &NewRule<'_>) -> QueryResult<()> {
    diesel::insert_into(notification_rules::table)
        .values((
            notification_rules::unique_id.eq(new.unique_id),
            notification_rules::user_id.eq(new.user_id),
            notification_rules::contact_method_id.eq(new.contact_method_id),
            notification_rules::urgency.eq(new.urgency),
            notification_rules::delay_minutes.eq(new.delay_minutes),
            notification_rules::created_at.eq(new.created_at),
        ))
        .execute(conn)
        .map(drop)
}

/// A rule with the address it sends to, as the profile lists it.
#[derive(Debug, Clone, Queryable)]
pub struct RuleRow {
    pub unique_id: String,
    pub urgency: String,
    pub delay_minutes: i32,
    pub contact_method_id: i64,
    pub address: String,
}

/// The person's rules, by urgency and delay.
pub fn rules_for_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<RuleRow>> {
    notification_rules::table
        .inner_join(contact_methods::table)
        .filter(notification_rules::user_id.eq(user_id))
        .order((
            notification_rules::urgency,
            notification_rules::delay_minutes,
            notification_rules::id,
        ))
        .select((
            notification_rules::unique_id,
            notification_rules::urgency,
            notification_rules::delay_minutes,
            notification_rules::contact_method_id,
            contact_methods::address,
        ))
        .load(conn)
}

/// Removes one of the person's rules. False when they have no such rule.
pub fn delete_rule(conn: &mut DbConn, user_id: i64, unique_id: &str) -> QueryResult<bool> {
    let deleted = diesel::delete(
        notification_rules::table
            .filter(notification_rules::unique_id.eq(unique_id))
            .filter(notification_rules::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

pub fn delete_rules_of_method(conn: &mut DbConn, contact_method_id: i64) -> QueryResult<usize> {
    diesel::delete(
        notification_rules::table
            .filter(notification_rules::contact_method_id.eq(contact_method_id)),
    )
    .execute(conn)
}

/// Points one of the person's rules at another of their contact methods.
pub fn set_rule_method(
    conn: &mut DbConn,
    user_id: i64,
    unique_id: &str,
    contact_method_id: i64,
) -> QueryResult<()> {
    diesel::update(
        notification_rules::table
            .filter(notification_rules::unique_id.eq(unique_id))
            .filter(notification_rules::user_id.eq(user_id)),
    )
    .set(notification_rules::contact_method_id.eq(contact_method_id))
    .execute(conn)
    .map(drop)
}

/// Where and after how long a rule pages: (address, delay in minutes).
pub type PagingTarget = (String, i32);

/// A person an escalation pages, with where their rules for `urgency` (`"high"` or `"low"`) send
/// email: one (address, delay) per rule of theirs for that urgency or any, over confirmed contact
/// methods only. One statement: it runs for every person of every level fired (once per run of
/// grouped alerts).
#[derive(Clone)]
pub struct PagedUser {
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    /// Soonest first.
    pub targets: Vec<PagingTarget>,
}

/// first name, last name, active, and one rule's address (if confirmed), delay and id.
type PagedUserRow = (
    String,
    String,
    bool,
    Option<String>,
    Option<i32>,
    Option<i64>,
);

pub fn paged_user(
    conn: &mut DbConn,
    user_id: i64,
    urgency: &'static str,
) -> QueryResult<Option<PagedUser>> {
    shared_run::remembered(("paged user", user_id, urgency), || {
        paged_user_now(conn, user_id, urgency)
    })
}

fn paged_user_now(
    conn: &mut DbConn,
    user_id: i64,
    urgency: &'static str,
) -> QueryResult<Option<PagedUser>> {
    let query = users::table
        .left_join(
            // Two comparisons rather than `IN (…)`: diesel prepares a statement with an `IN` list
            // anew on every call, and this one runs in every trigger's transaction.
            notification_rules::table.on(notification_rules::user_id.eq(users::id).and(
                notification_rules::urgency
                    .eq("any")
                    .or(notification_rules::urgency.eq(urgency)),
            )),
        )
        .left_join(
            contact_methods::table.on(contact_methods::id
                .eq(notification_rules::contact_method_id)
                .and(contact_methods::confirmed_at.is_not_null())),
        )
        .filter(users::id.eq(user_id))
        .select((
            users::first_name,
            users::last_name,
            users::is_active,
            contact_methods::address.nullable(),
            notification_rules::delay_minutes.nullable(),
            notification_rules::id.nullable(),
        ));
    // Kept under a marker, as every trigger's transaction runs it; the person's few rules are
    // put in order here: SQLite would sort them in a temporary b-tree.
    struct PagedUserRules;
    let mut rows: Vec<PagedUserRow> =
        on_backend!(conn, c => KeptAs::<PagedUserRules, _>::new(query).load(c))?;
    let Some((first_name, last_name, is_active, ..)) = rows.first().cloned() else {
        return Ok(None);
    };
    rows.sort_by_key(|&(_, _, _, _, delay, rule_id)| (delay, rule_id));
    let targets = rows
        .into_iter()
        .filter_map(|(_, _, _, address, delay, _)| Some((address?, delay?)))
        .collect();
    Ok(Some(PagedUser {
        first_name,
        last_name,
        is_active,
        targets,
    }))
}

pub fn notify_on_resolve(conn: &mut DbConn, user_id: i64) -> QueryResult<bool> {
    users::table
        .find(user_id)
        .select(users::notify_on_resolve)
        .get_result(conn)
}

pub fn set_notify_on_resolve(conn: &mut DbConn, user_id: i64, on: bool) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::notify_on_resolve.eq(on))
        .execute(conn)
        .map(drop)
}
