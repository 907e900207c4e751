//! Failed sign-in attempts, kept in the database so that throttling holds across restarts
//! and across instances sharing one database.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::login_failures;
use super::DbConn;

/// Makes concurrent sign-in attempts from one address take turns until the transaction ends.
pub fn lock_address(conn: &mut DbConn, ip: &str) -> QueryResult<()> {
    super::take_turns(conn, &format!("sign-in from {ip}"))
}

/// Records an attempt; returns its id, so that a successful one can be taken back.
pub fn record(
    conn: &mut DbConn,
    email_normalized: &str,
    ip: &str,
    at: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::email_normalized.eq(email_normalized),
            login_failures::ip.eq(ip),
            login_failures::failed_at.eq(at),
        ))
        .returning(login_failures::id)
        .get_result(conn)
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::delete(login_failures::table.find(id)).execute(conn)
}

/// When each failure for this account from this address since `since` happened, oldest first.
pub fn since_for_email_and_ip(
    conn: &mut DbConn,
    email_normalized: &str,
    ip: &str,
    since: NaiveDateTime,
) -> QueryResult<Vec<NaiveDateTime>> {
    login_failures::table
        .filter(login_failures::email_normalized.eq(email_normalized))
        .filter(login_failures::ip.eq(ip))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at)
        .select(login_failures::failed_at)
        .load(conn)
}

/// When each failure from this address since `since` happened, oldest first.
pub fn since_for_ip(
    conn: &mut DbConn,
    ip: &str,
    since: NaiveDateTime,
) -> QueryResult<Vec<NaiveDateTime>> {
    login_failures::table
        .filter(login_failures::ip.eq(ip))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at)
        .select(login_failures::failed_at)
        .load(conn)
}

/// Old rows no longer matter to the throttle window.
pub fn delete_before(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::failed_at.lt(before))).execute(conn)
}
