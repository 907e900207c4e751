//! Who gets what: each person's contact methods (their account email, and more addresses, each
//! confirmed by a link before use) and notification rules (a contact method, an urgency, a
//! delay), which paging follows (`incidents::escalation::fire_in`). Everyone edits their own.
//!
//! A confirmation link carries a token that is an HMAC of its email's notification id under
//! the server's link key: the notifier can write it into the email when it sends it (the
//! outbox row keeps no secret), and the contact method stores only the token's SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::ids;
use super::users::{normalize_email, User};
use super::validation::FieldErrors;
use super::DomainError;
use crate::db::contact_methods::{self, ContactMethodRow, NewContactMethod, NewRule};
use crate::db::notifications::{self, NewNotification, CONFIRM_CONTACT};
use crate::db::{self, Db, DbConn};

/// How long a confirmation link works.
pub const CONFIRMATION_LIFETIME_HOURS: i64 = 24;
/// The longest a rule may wait: a day.
pub const MAX_DELAY_MINUTES: i32 = 1440;
/// Bounds that keep the profile's lists short and one trigger's emails few.
const MAX_METHODS: usize = 10;
const MAX_RULES: usize = 20;
/// The shortest wait between two confirmation emails to one address.
const RESEND_AFTER_SECONDS: i64 = 60;

/// Which incidents a rule is for (stored as the word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleUrgency {
    Any,
    High,
    Low,
}

impl RuleUrgency {
    pub const ALL: [RuleUrgency; 3] = [RuleUrgency::Any, RuleUrgency::High, RuleUrgency::Low];

    pub fn parse(word: &str) -> Option<RuleUrgency> {
        RuleUrgency::ALL
            .into_iter()
            .find(|urgency| urgency.word() == word.trim())
    }

    pub fn word(self) -> &'static str {
        match self {
            RuleUrgency::Any => "any",
            RuleUrgency::High => "high",
            RuleUrgency::Low => "low",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RuleUrgency::Any => "Any urgency",
            RuleUrgency::High => "High urgency",
            RuleUrgency::Low => "Low urgency",
        }
    }

    /// The word of an incident's urgency code (Zenduty's: 1 high, 0 low).
    pub fn of_incident(code: i32) -> RuleUrgency {
        if code == 1 {
            RuleUrgency::High
        } else {
            RuleUrgency::Low
        }
    }
}

#[derive(Debug, Clone)]
pub struct ContactMethod {
    pub unique_id: String,
    pub address: String,
    pub is_account: bool,
    pub confirmed: bool,
    /// For an unconfirmed address: what became of its latest confirmation email.
    pub confirmation: Option<String>,
    /// How many rules use it.
    pub rules: usize,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub unique_id: String,
    pub urgency: RuleUrgency,
    pub delay_minutes: i32,
    pub address: String,
}

impl Rule {
    /// "High urgency: email ada@example.com after 5 minutes".
    pub fn sentence(&self) -> String {
        let when = match self.delay_minutes {
            0 => "at once".to_owned(),
            1 => "after 1 minute".to_owned(),
            minutes => format!("after {minutes} minutes"),
        };
        format!("{}: email {} {when}", self.urgency.label(), self.address)
    }
}

/// A person's contact methods and rules, as their profile shows them.
#[derive(Debug, Clone)]
pub struct Contacts {
    pub methods: Vec<ContactMethod>,
    pub rules: Vec<Rule>,
    pub notify_on_resolve: bool,
}

impl Contacts {
    pub fn confirmed(&self) -> impl Iterator<Item = &ContactMethod> {
        self.methods.iter().filter(|method| method.confirmed)
    }
}

/// A new person's contact method and rule, in the transaction that creates them: their account
/// email, at once, for any urgency.
pub fn create_defaults_in(
    conn: &mut DbConn,
    user_id: i64,
    email: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let method_uid = uuid::Uuid::new_v4().to_string();
    let method_id = contact_methods::insert(
        conn,
        &NewContactMethod {
            unique_id: &method_uid,
            user_id,
            address: email,
            is_account: true,
            confirmed_at: Some(now),
            created_at: now,
        },
    )?;
    let rule_uid = uuid::Uuid::new_v4().to_string();
    contact_methods::insert_rule(
        conn,
        &NewRule {
            unique_id: &rule_uid,
            user_id,
            contact_method_id: method_id,
            urgency: RuleUrgency::Any.word(),
            delay_minutes: 0,
            created_at: now,
        },
    )
}

/// Keeps the account-email contact method in step with a changed account email, inside the
/// transaction that changes it. The method keeps its rules and stays confirmed (the person
/// proved who they are with their password). If the new address is already another of their
/// methods, that one is folded into the account method: its rules move over (but for those the
/// account method already has, which would send the same email twice) and it goes, since a
/// person has each address once.
pub fn follow_account_email_in(
    conn: &mut DbConn,
    user_id: i64,
    address: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let methods = contact_methods::list_for_user(conn, user_id)?;
    let Some(account) = methods.iter().find(|method| method.is_account) else {
        // Only a hand-edited database lacks it; the person must stay reachable.
        return create_defaults_in(conn, user_id, address, now);
    };
    if let Some(same) = methods
        .iter()
        .find(|method| !method.is_account && method.address.eq_ignore_ascii_case(address))
    {
        let rules = contact_methods::rules_for_user(conn, user_id)?;
        let kept: Vec<(&str, i32)> = rules
            .iter()
            .filter(|rule| rule.contact_method_id == account.id)
            .map(|rule| (rule.urgency.as_str(), rule.delay_minutes))
            .collect();
        for rule in rules
            .iter()
            .filter(|rule| rule.contact_method_id == same.id)
        {
            if kept.contains(&(rule.urgency.as_str(), rule.delay_minutes)) {
                contact_methods::delete_rule(conn, user_id, &rule.unique_id)?;
            } else {
                contact_methods::set_rule_method(conn, user_id, &rule.unique_id, account.id)?;
            }
        }
        contact_methods::delete(conn, same.id)?;
    }
    contact_methods::set_address(conn, account.id, address)
}

fn read_in(conn: &mut DbConn, user_id: i64) -> diesel::QueryResult<Contacts> {
    let rows = contact_methods::rules_for_user(conn, user_id)?;
    let methods = contact_methods::list_for_user(conn, user_id)?;
    let waiting: Vec<String> = methods
        .iter()
        .filter(|method| method.confirmed_at.is_none())
        .filter_map(|method| method.confirmation_notification.clone())
        .collect();
    let outcomes = notifications::outcomes(conn, &waiting)?;
    let methods = methods
        .into_iter()
        .map(|method| ContactMethod {
            rules: rows
                .iter()
                .filter(|rule| rule.contact_method_id == method.id)
                .count(),
            confirmation: method
                .confirmation_notification
                .as_ref()
                .filter(|_| method.confirmed_at.is_none())
                .map(|sent| confirmation_outcome(&outcomes, sent)),
            unique_id: method.unique_id,
            address: method.address,
            is_account: method.is_account,
            confirmed: method.confirmed_at.is_some(),
        })
        .collect();
    let rules = rows
        .into_iter()
        .map(|rule| Rule {
            unique_id: rule.unique_id,
            // The column's CHECK admits only the three words.
            urgency: RuleUrgency::parse(&rule.urgency).unwrap_or(RuleUrgency::Any),
            delay_minutes: rule.delay_minutes,
            address: rule.address,
        })
        .collect();
    Ok(Contacts {
        methods,
        rules,
        notify_on_resolve: contact_methods::notify_on_resolve(conn, user_id)?,
    })
}

/// What the profile says of a confirmation email.
fn confirmation_outcome(outcomes: &[(String, String, Option<String>)], sent: &str) -> String {
    match outcomes.iter().find(|(id, _, _)| id == sent) {
        Some((_, state, _)) if state == notifications::SUCCEEDED => {
            "Confirmation link sent: open it to confirm.".to_owned()
        }
        Some((_, state, error)) if state == notifications::FAILED => format!(
            "The confirmation email could not be sent ({}).",
            error.as_deref().unwrap_or("refused")
        ),
        Some((_, _, Some(error))) => {
            format!("The confirmation email is being retried ({error}).")
        }
        _ => "The confirmation email is on its way.".to_owned(),
    }
}

/// The person's own contact methods and rules.
pub async fn of(db: &Db, me: &User) -> Result<Contacts, DomainError> {
    let user_id = me.id;
    db.run(move |conn| Ok(read_in(conn, user_id)?)).await
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    pub address: String,
}

/// Adds an email address, unconfirmed, and queues its confirmation email. Returns the address.
pub async fn add_address(
    db: &Db,
    me: &User,
    link_key: &[u8],
    form: &AddressForm,
) -> Result<String, DomainError> {
    let address = match normalize_email(&form.address) {
        Ok(_) => form.address.trim().to_owned(),
        Err(message) => return Err(DomainError::field("address", message)),
    };
    let (user_id, key) = (me.id, link_key.to_vec());
    db.write(move |conn| {
        let existing = contact_methods::list_for_user(conn, user_id)?;
        if existing
            .iter()
            .any(|method| method.address.eq_ignore_ascii_case(&address))
        {
            return Err(DomainError::field(
                "address",
                "This address is already one of your contact methods.",
            ));
        }
        if existing.len() >= MAX_METHODS {
            return Err(DomainError::field(
                "address",
                format!("You can have at most {MAX_METHODS} contact methods: remove one first."),
            ));
        }
        let now = db::now();
        let unique_id = uuid::Uuid::new_v4().to_string();
        let id = contact_methods::insert(
            conn,
            &NewContactMethod {
                unique_id: &unique_id,
                user_id,
                address: &address,
                is_account: false,
                confirmed_at: None,
                created_at: now,
            },
        )?;
        queue_confirmation_in(conn, &key, id, user_id, &address, now)?;
        Ok(address)
    })
    .await
}

/// Sends a new confirmation link for an unconfirmed address (the earlier one stops working).
pub async fn resend(
    db: &Db,
    me: &User,
    link_key: &[u8],
    method: &str,
) -> Result<String, DomainError> {
    let (user_id, key, method) = (me.id, link_key.to_vec(), method.to_owned());
    db.write(move |conn| {
        let method =
            contact_methods::find_for_user(conn, user_id, &method)?.ok_or(DomainError::NotFound)?;
        if method.confirmed_at.is_some() {
            return Err(DomainError::Conflict(format!(
                "{} is already confirmed.",
                method.address
            )));
        }
        let now = db::now();
        if method
            .confirmation_sent_at
            .is_some_and(|sent| now - sent < Duration::seconds(RESEND_AFTER_SECONDS))
        {
            return Err(DomainError::Conflict(format!(
                "A confirmation email to {} was sent less than a minute ago.",
                method.address
            )));
        }
        queue_confirmation_in(conn, &key, method.id, user_id, &method.address, now)?;
        Ok(method.address)
    })
    .await
}

fn queue_confirmation_in(
    conn: &mut DbConn,
    link_key: &[u8],
    method_id: i64,
    user_id: i64,
    address: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let notification = uuid::Uuid::new_v4().to_string();
    let token = confirmation_token(link_key, &notification);
    contact_methods::set_confirmation(
        conn,
        method_id,
        &ids::token_hash(&token),
        &notification,
        now,
    )?;
    notifications::insert(
        conn,
        NewNotification {
            unique_id: notification,
            incident_id: None,
            escalation_step_id: None,
            user_id,
            address: address.to_owned(),
            kind: CONFIRM_CONTACT,
            due_at: now,
        },
    )
    .map(drop)
}

/// What removing a contact method did.
#[derive(Debug, Clone)]
pub struct Removed {
    pub address: String,
    /// The rules that used it, removed with it.
    pub rules: usize,
    /// Emails queued to it and not sent, cancelled with it.
    pub cancelled: usize,
}

/// Removes one of the person's contact methods and the rules that use it. The account email
/// stays: it is how Klaxon reaches the person at all.
pub async fn remove_method(db: &Db, me: &User, method: &str) -> Result<Removed, DomainError> {
    let (user_id, method) = (me.id, method.to_owned());
    db.write(move |conn| {
        let method =
            contact_methods::find_for_user(conn, user_id, &method)?.ok_or(DomainError::NotFound)?;
        if method.is_account {
            return Err(DomainError::Conflict(
                "Your account email cannot be removed.".to_owned(),
            ));
        }
        let rules = contact_methods::delete_rules_of_method(conn, method.id)?;
        contact_methods::delete(conn, method.id)?;
        // Emails already queued to it (a delayed page, a retry) are not sent there.
        let cancelled = notifications::cancel_pending_to(
            conn,
            user_id,
            &method.address,
            "not sent: the address was removed",
            db::now(),
        )?;
        Ok(Removed {
            address: method.address,
            rules,
            cancelled,
        })
    })
    .await
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    pub contact_method: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub delay: String,
}

/// Adds a rule over one of the person's confirmed contact methods.
pub async fn add_rule(db: &Db, me: &User, form: &RuleForm) -> Result<Rule, DomainError> {
    let mut errors = FieldErrors::new();
    let urgency = RuleUrgency::parse(&form.urgency);
    if urgency.is_none() {
        errors.add("urgency", "Choose any, high or low urgency.");
    }
    let delay = form
        .delay
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|minutes| (0..=MAX_DELAY_MINUTES).contains(minutes));
    if delay.is_none() {
        errors.add(
            "delay",
            format!("Enter a whole number of minutes from 0 to {MAX_DELAY_MINUTES}."),
        );
    }
    let (user_id, method) = (me.id, form.contact_method.trim().to_owned());
    db.write(move |conn| {
        let method: Option<ContactMethodRow> =
            contact_methods::find_for_user(conn, user_id, &method)?
                .filter(|method| method.confirmed_at.is_some());
        if method.is_none() {
            errors.add(
                "contact_method",
                "Choose one of your confirmed contact methods.",
            );
        }
        let (Some(method), Some(urgency), Some(delay)) = (method, urgency, delay) else {
            return Err(DomainError::Invalid(errors));
        };
        let rules = contact_methods::rules_for_user(conn, user_id)?;
        if rules.iter().any(|rule| {
            rule.contact_method_id == method.id
                && rule.urgency == urgency.word()
                && rule.delay_minutes == delay
        }) {
            return Err(DomainError::field("delay", "You already have this rule."));
        }
        if rules.len() >= MAX_RULES {
            return Err(DomainError::field(
                "delay",
                format!("You can have at most {MAX_RULES} rules: remove one first."),
            ));
        }
        let unique_id = uuid::Uuid::new_v4().to_string();
        contact_methods::insert_rule(
            conn,
            &NewRule {
                unique_id: &unique_id,
                user_id,
                contact_method_id: method.id,
                urgency: urgency.word(),
                delay_minutes: delay,
                created_at: db::now(),
            },
        )?;
        Ok(Rule {
            unique_id,
            urgency,
            delay_minutes: delay,
            address: method.address,
        })
    })
    .await
}

pub async fn remove_rule(db: &Db, me: &User, rule: &str) -> Result<(), DomainError> {
    let (user_id, rule) = (me.id, rule.to_owned());
    db.write(move |conn| {
        if contact_methods::delete_rule(conn, user_id, &rule)? {
            Ok(())
        } else {
            Err(DomainError::NotFound)
        }
    })
    .await
}

/// Whether the person is emailed when an incident they were paged for is resolved.
pub async fn set_notify_on_resolve(db: &Db, me: &User, on: bool) -> Result<(), DomainError> {
    let user_id = me.id;
    db.write(move |conn| Ok(contact_methods::set_notify_on_resolve(conn, user_id, on)?))
        .await
}

/// A user an escalation pages, with where and when paging reaches them for an incident of this
/// urgency code, once per address and delay, soonest first (empty when no rule of theirs covers
/// the urgency); None when the account no longer exists.
pub fn paged_user_in(
    conn: &mut DbConn,
    user_id: i64,
    incident_urgency: i32,
) -> diesel::QueryResult<Option<contact_methods::PagedUser>> {
    let urgency = RuleUrgency::of_incident(incident_urgency).word();
    Ok(
        contact_methods::paged_user(conn, user_id, urgency)?.map(|user| {
            contact_methods::PagedUser {
                targets: distinct_targets(user.targets),
                ..user
            }
        }),
    )
}

/// Each (address, delay) once; addresses compare without case.
fn distinct_targets(rows: Vec<(String, i32)>) -> Vec<(String, i32)> {
    let mut targets: Vec<(String, i32)> = Vec::new();
    for (address, delay) in rows {
        if !targets
            .iter()
            .any(|(seen, at)| *at == delay && seen.eq_ignore_ascii_case(&address))
        {
            targets.push((address, delay));
        }
    }
    targets
}

/// Why a confirmation link does not confirm: shown to whoever opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmRefusal {
    /// Unknown, or replaced by a newer link.
    Invalid,
    Used,
    Expired,
}

impl ConfirmRefusal {
    pub fn message(&self) -> String {
        match self {
            ConfirmRefusal::Invalid => "This confirmation link is not valid: a newer one may have been sent, or the address was removed.".to_owned(),
            ConfirmRefusal::Used => "This link was already used: the address is confirmed.".to_owned(),
            ConfirmRefusal::Expired => format!(
                "This link has expired: confirmation links work for {CONFIRMATION_LIFETIME_HOURS} hours. Send a new one from your profile."
            ),
        }
    }
}

/// What the confirmation page shows.
#[derive(Debug, Clone)]
pub struct ToConfirm {
    pub address: String,
}

fn check(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<Result<ContactMethodRow, ConfirmRefusal>> {
    let Some(method) = contact_methods::find_by_token_hash(conn, token_hash)? else {
        return Ok(Err(ConfirmRefusal::Invalid));
    };
    if method.confirmed_at.is_some() {
        return Ok(Err(ConfirmRefusal::Used));
    }
    let sent = method.confirmation_sent_at.unwrap_or(method.created_at);
    if now - sent > Duration::hours(CONFIRMATION_LIFETIME_HOURS) {
        return Ok(Err(ConfirmRefusal::Expired));
    }
    Ok(Ok(method))
}

/// What a confirmation link leads to, read only (mail scanners open links).
pub async fn look_confirmation(
    db: &Db,
    token: &str,
) -> Result<Result<ToConfirm, ConfirmRefusal>, DomainError> {
    let token_hash = ids::token_hash(token);
    db.run(move |conn| {
        Ok(
            check(conn, &token_hash, db::now())?.map(|method| ToConfirm {
                address: method.address,
            }),
        )
    })
    .await
}

/// Confirms the link's address and uses the link up.
pub async fn confirm(
    db: &Db,
    token: &str,
) -> Result<Result<ToConfirm, ConfirmRefusal>, DomainError> {
    let token_hash = ids::token_hash(token);
    db.write(move |conn| {
        let now = db::now();
        let method = match check(conn, &token_hash, now)? {
            Ok(method) => method,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if !contact_methods::confirm(conn, method.id, &token_hash, now)? {
            return Ok(Err(ConfirmRefusal::Used));
        }
        Ok(Ok(ToConfirm {
            address: method.address,
        }))
    })
    .await
}

type LinkMac = Hmac<Sha256>;

const CONTEXT: &[u8] = b"klaxon contact confirmation\0";

/// The token of the confirmation link sent in notification `notification`.
pub fn confirmation_token(key: &[u8], notification: &str) -> String {
    let mut mac = LinkMac::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(CONTEXT);
    mac.update(notification.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The confirmation link's path.
pub fn confirmation_path(key: &[u8], notification: &str) -> String {
    format!(
        "/contact-methods/confirm/{}",
        confirmation_token(key, notification)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reads_as_a_sentence() {
        let rule = Rule {
            unique_id: String::new(),
            urgency: RuleUrgency::High,
            delay_minutes: 5,
            address: "ada@example.com".into(),
        };
        assert_eq!(
            rule.sentence(),
            "High urgency: email ada@example.com after 5 minutes"
        );
        let at_once = Rule {
            urgency: RuleUrgency::Any,
            delay_minutes: 0,
            ..rule
        };
        assert_eq!(
            at_once.sentence(),
            "Any urgency: email ada@example.com at once"
        );
    }

    #[test]
    fn tokens_differ_per_notification_and_key() {
        let one = confirmation_token(b"key", "n-1");
        assert_eq!(one, confirmation_token(b"key", "n-1"));
        assert_ne!(one, confirmation_token(b"key", "n-2"));
        assert_ne!(one, confirmation_token(b"other", "n-1"));
    }
}
