//! API keys: created by a user, shown once, act with that user's permissions.

use base64::Engine;

use super::users::User;
use super::validation::{required_text, FieldErrors};
use super::{ids, DomainError, Page};
use crate::db::api_keys::{self, ApiKeyRow};
use crate::db::{self, users, Db};

const KEY_PREFIX: &str = "kx_";
/// How often a key's "last used" time is written, at most.
const TOUCH_EVERY_SECONDS: i64 = 60;

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewKeyForm {
    #[serde(default)]
    pub name: String,
}

/// Creates a key and returns it with its text, which is not stored and cannot be shown again.
pub async fn create(
    db: &Db,
    user: &User,
    form: &NewKeyForm,
) -> Result<(String, String), DomainError> {
    let mut errors = FieldErrors::new();
    let name = required_text(&mut errors, "name", &form.name, 100);
    errors.into_result(()).map_err(DomainError::Invalid)?;
    let key = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ids::random_bytes::<32>())
    );
    let (stored_name, key_hash, prefix, user_id) = (
        name.clone(),
        ids::token_hash(&key),
        key[..10].to_owned(),
        user.id,
    );
    db.write(move |conn| {
        Ok::<_, DomainError>(api_keys::insert(
            conn,
            &stored_name,
            &key_hash,
            &prefix,
            user_id,
            db::now(),
        )?)
    })
    .await?;
    Ok((name, key))
}

pub async fn list(
    db: &Db,
    user: &User,
    page: i64,
    per_page: i64,
) -> Result<Page<ApiKeyRow>, DomainError> {
    let user_id = user.id;
    let rows = db
        .run(move |conn| {
            Ok::<_, DomainError>(api_keys::list_for_user(
                conn,
                user_id,
                Page::<()>::offset(page, per_page),
                per_page + 1,
            )?)
        })
        .await?;
    Ok(Page::from_overfetch(rows, page, per_page))
}

/// One of the user's own keys still active (the revoke confirmation page).
pub async fn find_active_own(db: &Db, user: &User, id: i64) -> Result<ApiKeyRow, DomainError> {
    let user_id = user.id;
    db.run(move |conn| Ok::<_, DomainError>(api_keys::find_active_own(conn, id, user_id)?))
        .await?
        .ok_or(DomainError::NotFound)
}

pub async fn revoke(db: &Db, user: &User, id: i64) -> Result<(), DomainError> {
    let user_id = user.id;
    let revoked = db
        .write(move |conn| Ok::<_, DomainError>(api_keys::revoke(conn, id, user_id, db::now())?))
        .await?;
    if revoked {
        Ok(())
    } else {
        Err(DomainError::NotFound)
    }
}

/// The active user a key belongs to; `None` for an unknown or revoked key or a disabled user.
pub async fn authenticate(db: &Db, key: &str) -> Result<Option<User>, DomainError> {
    let key_hash = ids::token_hash(key.trim());
    let found = db
        .run(move |conn| {
            let Some(key) = api_keys::find_active_by_hash(conn, &key_hash)? else {
                return Ok::<_, DomainError>(None);
            };
            let user = users::find_by_id(conn, key.user_id)?.filter(|u| u.is_active);
            Ok(user.map(|user| (key, User::from(user))))
        })
        .await?;
    let Some((key, user)) = found else {
        return Ok(None);
    };
    let now = db::now();
    if key
        .last_used_at
        .is_none_or(|at| (now - at).num_seconds() >= TOUCH_EVERY_SECONDS)
    {
        let id = key.id;
        db.write(move |conn| Ok::<_, DomainError>(api_keys::touch(conn, id, now)?))
            .await?;
    }
    Ok(Some(user))
}
