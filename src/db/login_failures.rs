//! Failed sign-in attempts, kept in the database so that throttling holds across restarts
//! and across instances sharing one database.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::login_failures;
use super::DbConn;

pub fn record(
    conn: &mut DbConn,
    email_normalized: &str,
    ip: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::email_normalized.eq(email_normalized),
            login_failures::ip.eq(ip),
            login_failures::failed_at.eq(at),
        ))
        .execute(conn)
        .map(drop)
}

pub fn count_for_email_since(
    conn: &mut DbConn,
    email_normalized: &str,
    since: NaiveDateTime,
) -> QueryResult<i64> {
    login_failures::table
        .filter(login_failures::email_normalized.eq(email_normalized))
        .filter(login_failures::failed_at.gt(since))
        .count()
        .get_result(conn)
}

pub fn count_for_ip_since(conn: &mut DbConn, ip: &str, since: NaiveDateTime) -> QueryResult<i64> {
    login_failures::table
        .filter(login_failures::ip.eq(ip))
        .filter(login_failures::failed_at.gt(since))
        .count()
        .get_result(conn)
}

/// Old rows no longer matter to the throttle window.
pub fn delete_before(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::failed_at.lt(before))).execute(conn)
}
