//! Acknowledging from an email: the link opens a page with one button (a GET changes nothing,
//! since mail scanners open links), and the button acknowledges as the person the email was
//! sent to. A link works once, for 24 hours, and only while its incident is triggered.
//!
//! The link is `/ack/{notification}/{signature}`: the signature is an HMAC of the
//! notification's id under a key only the server holds, so a link cannot be made for someone
//! else's notification, and the id alone (which pages may show) acknowledges nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::notifications::{self, TRIGGERED};
use crate::db::{self, incidents, users, Db, DbConn};
use crate::domain::incidents::{transition_in, Actor, Status};
use crate::domain::users::User;
use crate::domain::DomainError;

/// How long an Acknowledge link works.
pub const LINK_LIFETIME_HOURS: i64 = 24;

/// What the confirmation page shows.
#[derive(Debug, Clone)]
pub struct LinkedIncident {
    pub number: i64,
    pub title: String,
    pub recipient: String,
}

/// Why a link no longer acknowledges: shown to whoever opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRefusal {
    Invalid,
    Used,
    Expired,
    NotTriggered { number: i64, status: &'static str },
}

impl LinkRefusal {
    pub fn message(&self) -> String {
        match self {
            LinkRefusal::Invalid => "This link is not a valid Acknowledge link.".to_owned(),
            LinkRefusal::Used => "This link was already used.".to_owned(),
            LinkRefusal::Expired => format!(
                "This link has expired: Acknowledge links work for {LINK_LIFETIME_HOURS} hours."
            ),
            LinkRefusal::NotTriggered { number, status } => {
                format!("Incident #{number} is {status}: there is nothing to acknowledge.")
            }
        }
    }
}

struct Checked {
    notification_id: i64,
    incident_id: i64,
    user: User,
    incident: LinkedIncident,
}

fn check(
    conn: &mut DbConn,
    link: &OpenedLink,
    now: NaiveDateTime,
) -> Result<Result<Checked, LinkRefusal>, DomainError> {
    if !verify(&link.key, &link.notification, &link.signature) {
        return Ok(Err(LinkRefusal::Invalid));
    }
    let Some(target) = notifications::find_link_target(conn, &link.notification)? else {
        return Ok(Err(LinkRefusal::Invalid));
    };
    let user = users::find_by_id(conn, target.user_id)?.filter(|user| user.is_active);
    let incident = match target.incident_id {
        Some(incident_id) => incidents::find_by_id(conn, incident_id)?,
        None => None,
    };
    let (Some(user), Some(incident)) = (user, incident) else {
        return Ok(Err(LinkRefusal::Invalid));
    };
    if target.kind != TRIGGERED {
        return Ok(Err(LinkRefusal::Invalid));
    }
    if target.acknowledged_at.is_some() {
        return Ok(Err(LinkRefusal::Used));
    }
    if now - target.created_at > Duration::hours(LINK_LIFETIME_HOURS) {
        return Ok(Err(LinkRefusal::Expired));
    }
    let status = Status::of(&incident)?;
    if status != Status::Triggered {
        return Ok(Err(LinkRefusal::NotTriggered {
            number: incident.incident_number,
            status: status.word(),
        }));
    }
    let user = User::from(user);
    Ok(Ok(Checked {
        notification_id: target.id,
        incident_id: incident.id,
        incident: LinkedIncident {
            number: incident.incident_number,
            title: incident.title,
            recipient: user.full_name(),
        },
        user,
    }))
}

/// A link as it was opened: the server's key and the link's two parts.
#[derive(Debug, Clone)]
pub struct OpenedLink {
    pub key: Vec<u8>,
    pub notification: String,
    pub signature: String,
}

/// What the link leads to, read only.
pub async fn look(
    db: &Db,
    link: OpenedLink,
) -> Result<Result<LinkedIncident, LinkRefusal>, DomainError> {
    let checked = db.run(move |conn| check(conn, &link, db::now())).await?;
    Ok(checked.map(|checked| checked.incident))
}

/// Acknowledges the link's incident as its recipient, and uses the link up, in one write
/// transaction.
pub async fn acknowledge(
    db: &Db,
    link: OpenedLink,
) -> Result<Result<LinkedIncident, LinkRefusal>, DomainError> {
    db.write(move |conn| {
        let now = db::now();
        let checked = match check(conn, &link, now)? {
            Ok(checked) => checked,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if !notifications::use_link(conn, checked.notification_id, now)? {
            return Ok(Err(LinkRefusal::Used));
        }
        transition_in(
            conn,
            &Actor::UserFromEmail(checked.user),
            checked.incident_id,
            Status::Acknowledged,
        )?;
        Ok(Ok(checked.incident))
    })
    .await
}

type LinkMac = Hmac<Sha256>;

const CONTEXT: &[u8] = b"klaxon acknowledge link\0";

fn mac(key: &[u8], notification: &str) -> LinkMac {
    let mut mac = LinkMac::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(CONTEXT);
    mac.update(notification.as_bytes());
    mac
}

/// The link's path.
pub fn link_path(key: &[u8], notification: &str) -> String {
    let signature = URL_SAFE_NO_PAD.encode(mac(key, notification).finalize().into_bytes());
    format!("/ack/{notification}/{signature}")
}

/// Whether `signature` is the one `link_path` gives for `notification` (in constant time).
fn verify(key: &[u8], notification: &str, signature: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    mac(key, notification).verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_verifies_for_its_notification_and_key_only() {
        let link = link_path(b"key one", "n-1");
        let signature = link.rsplit('/').next().unwrap();
        assert!(verify(b"key one", "n-1", signature));
        assert!(!verify(b"key one", "n-2", signature));
        assert!(!verify(b"key two", "n-1", signature));
        assert!(!verify(b"key one", "n-1", "not base64!"));
        assert!(!verify(b"key one", "n-1", ""));
    }
}
