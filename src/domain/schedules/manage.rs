//! Changing schedules: the schedule itself, its layers and its overrides. Each change is one
//! write transaction with its entry in the audit trail.

use chrono::{DateTime, Utc};

use super::input::{
    shift_length_words, CheckedLayer, CheckedOverride, InScheduleTime, LayerInput, OverrideInput,
    Roster, ScheduleInput,
};
use super::views::find_in_team;
use super::{parse_time_zone, utc, DomainError};
use crate::db::on_call_audit::{self, Subject};
use crate::db::schedules::{self as store, ScheduleRow};
use crate::db::{self, Db, DbConn};
use crate::domain::access::{self, TeamAccess};
use crate::domain::teams::{self, Team};
use crate::domain::users::User;

/// A whole schedule as the API gives it: its fields, and its layers and overrides when given
/// (on a change, given ones replace the stored ones; absent ones are kept).
pub struct ScheduleChange<L, O> {
    pub fields: ScheduleInput,
    pub layers: Option<L>,
    pub overrides: Option<O>,
}

fn audit(
    conn: &mut DbConn,
    schedule: &ScheduleRow,
    actor: &User,
    action: &str,
    detail: &str,
) -> Result<(), DomainError> {
    on_call_audit::record(
        conn,
        schedule.team_id,
        Subject::Schedule(schedule.id),
        Some(actor.id),
        action,
        detail,
        db::now(),
    )?;
    Ok(())
}

/// The refusal of a schedule change to a team user.
pub(crate) fn not_a_schedule_manager() -> DomainError {
    DomainError::Forbidden(
        "Only the team's managers, admins and owners can change its schedules. Ask one of them."
            .into(),
    )
}

pub(crate) fn require_manager(access: TeamAccess) -> Result<(), DomainError> {
    match access {
        TeamAccess::Manage => Ok(()),
        TeamAccess::Respond => Err(not_a_schedule_manager()),
        TeamAccess::None => Err(DomainError::NotFound),
    }
}

fn layer_detail(layer: &CheckedLayer) -> String {
    format!(
        "\"{}\": {} shifts from {}, {} in rotation{}",
        layer.name,
        shift_length_words(layer.shift_length),
        crate::time_format::utc(&layer.rotation_start),
        layer.user_ids.len(),
        match layer.restriction_type {
            1 => ", daily windows",
            2 => ", weekly windows",
            _ => "",
        }
    )
}

fn override_detail(
    conn: &mut DbConn,
    team_id: i64,
    o: &CheckedOverride,
) -> Result<String, DomainError> {
    let people = super::People::load(conn, team_id, &[o.user_id])?;
    Ok(format!(
        "{} from {} to {}",
        people.get(o.user_id).name,
        crate::time_format::utc(&o.start),
        crate::time_format::utc(&o.end)
    ))
}

fn checked_layers(
    roster: &Roster,
    layers: &[LayerInput],
) -> Result<Vec<CheckedLayer>, DomainError> {
    layers.iter().map(|l| l.check(roster)).collect()
}

fn checked_overrides(
    roster: &Roster,
    overrides: &[OverrideInput],
) -> Result<Vec<CheckedOverride>, DomainError> {
    overrides.iter().map(|o| o.check(roster)).collect()
}

fn insert_layer(
    conn: &mut DbConn,
    schedule: &ScheduleRow,
    actor: &User,
    layer: &CheckedLayer,
) -> Result<i64, DomainError> {
    let unique_id = uuid::Uuid::new_v4().to_string();
    let id = store::insert_layer(conn, schedule.id, &unique_id, &layer.fields())?;
    audit(conn, schedule, actor, "Added a layer", &layer_detail(layer))?;
    Ok(id)
}

fn insert_override(
    conn: &mut DbConn,
    schedule: &ScheduleRow,
    actor: &User,
    o: &CheckedOverride,
) -> Result<store::OverrideRow, DomainError> {
    let row = store::insert_override(
        conn,
        schedule.id,
        &uuid::Uuid::new_v4().to_string(),
        &store::OverrideFields {
            name: &o.name,
            user_id: o.user_id,
            start_time: o.start,
            end_time: o.end,
        },
        actor.id,
        db::now(),
    )?;
    let detail = override_detail(conn, schedule.team_id, o)?;
    audit(conn, schedule, actor, "Added an override", &detail)?;
    Ok(row)
}

/// Creates a schedule in the team (managers, admins and owners), with its layers and
/// overrides when given.
pub async fn create<L, O>(
    db: &Db,
    actor: &User,
    team_uid: &str,
    change: ScheduleChange<L, O>,
) -> Result<ScheduleRow, DomainError>
where
    L: InScheduleTime<Output = Vec<LayerInput>>,
    O: InScheduleTime<Output = Vec<OverrideInput>>,
{
    let (actor, team_uid) = (actor.clone(), team_uid.to_owned());
    db.write(move |conn| {
        let team = teams::find_visible(conn, &actor, &team_uid)?;
        require_manager(access::team_access(conn, &actor, team.id)?)?;
        let fields = &change.fields;
        let tz = parse_time_zone(&fields.time_zone).unwrap_or(chrono_tz::UTC);
        let roster = Roster::load(conn, team.id)?;
        let layers = match &change.layers {
            Some(given) => checked_layers(&roster, &given.read(tz)?)?,
            None => Vec::new(),
        };
        let overrides = match &change.overrides {
            Some(given) => checked_overrides(&roster, &given.read(tz)?)?,
            None => Vec::new(),
        };
        let row = store::insert(
            conn,
            &uuid::Uuid::new_v4().to_string(),
            team.id,
            &store::ScheduleFields {
                name: &fields.name,
                summary: &fields.summary,
                description: &fields.description,
                time_zone: &fields.time_zone,
            },
            actor.id,
            db::now(),
        )?;
        audit(
            conn,
            &row,
            &actor,
            "Created the schedule",
            &format!("\"{}\" in {}", fields.name, fields.time_zone),
        )?;
        for layer in &layers {
            insert_layer(conn, &row, &actor, layer)?;
        }
        for o in &overrides {
            insert_override(conn, &row, &actor, o)?;
        }
        Ok(row)
    })
    .await
}

/// Changes a schedule's fields; layers and overrides given replace the stored ones.
pub async fn update<L, O>(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    change: ScheduleChange<L, O>,
) -> Result<ScheduleRow, DomainError>
where
    L: InScheduleTime<Output = Vec<LayerInput>>,
    O: InScheduleTime<Output = Vec<OverrideInput>>,
{
    let (actor, team_uid, schedule_uid) =
        (actor.clone(), team_uid.to_owned(), schedule_uid.to_owned());
    db.write(move |conn| {
        let (team, row, access) = find_in_team(conn, &actor, &team_uid, &schedule_uid)?;
        require_manager(access)?;
        let fields = &change.fields;
        let tz = parse_time_zone(&fields.time_zone).unwrap_or(chrono_tz::UTC);
        let roster = Roster::load(conn, team.id)?;
        let layers = match &change.layers {
            Some(given) => Some(checked_layers(&roster, &given.read(tz)?)?),
            None => None,
        };
        let overrides = match &change.overrides {
            Some(given) => Some(checked_overrides(&roster, &given.read(tz)?)?),
            None => None,
        };
        store::update(
            conn,
            row.id,
            &store::ScheduleFields {
                name: &fields.name,
                summary: &fields.summary,
                description: &fields.description,
                time_zone: &fields.time_zone,
            },
        )?;
        let mut changed = Vec::new();
        if fields.name != row.name {
            changed.push(format!("name \"{}\" → \"{}\"", row.name, fields.name));
            // Policies that page this schedule show its name in their frozen rules.
            crate::domain::incidents::escalation::refreeze_policies_targeting(
                conn,
                crate::db::escalation_policies::Target::Schedule(row.id),
            )?;
        }
        if fields.time_zone != row.time_zone {
            changed.push(format!(
                "time zone {} → {}",
                row.time_zone, fields.time_zone
            ));
        }
        if fields.description != row.description {
            changed.push("description".to_owned());
        }
        if !changed.is_empty() {
            audit(
                conn,
                &row,
                &actor,
                "Changed the schedule",
                &changed.join(", "),
            )?;
        }
        if fields.summary != row.summary {
            audit(conn, &row, &actor, "Changed the schedule", "summary")?;
        }
        if let Some(layers) = layers {
            replace_layers(conn, &row, &actor, &layers)?;
        }
        if let Some(overrides) = overrides {
            replace_overrides(conn, &row, &actor, &overrides)?;
        }
        Ok(store::find_by_id(conn, row.id)?.unwrap_or(row))
    })
    .await
}

/// The stored layers, as their checked input would be.
fn stored_layers(
    conn: &mut DbConn,
    schedule_id: i64,
) -> Result<Vec<(i64, CheckedLayer)>, DomainError> {
    let users = store::layer_users_of(conn, schedule_id)?;
    let restrictions = store::restrictions_of(conn, schedule_id)?;
    Ok(store::layers_of(conn, schedule_id)?
        .into_iter()
        .map(|l| {
            let layer = CheckedLayer {
                unique_id: Some(l.unique_id.clone()),
                name: l.name.clone(),
                shift_length: l.shift_length,
                rotation_start: l.rotation_start_time,
                rotation_end: l.rotation_end_time,
                restriction_type: l.restriction_type,
                restrictions: restrictions
                    .iter()
                    .filter(|r| r.layer_id == l.id)
                    .map(|r| store::NewRestriction {
                        start_day_of_week: r.start_day_of_week,
                        start_time_of_day: r.start_time_of_day.clone(),
                        duration: r.duration,
                    })
                    .collect(),
                user_ids: users
                    .iter()
                    .filter(|u| u.layer_id == l.id)
                    .map(|u| u.user_id)
                    .collect(),
                is_active: l.is_active,
            };
            (l.id, layer)
        })
        .collect())
}

/// Makes the schedule's layers the given ones, in their order: a given layer with the
/// `unique_id` of a stored one changes it (and keeps its id), stored layers not given are
/// removed, the others are added.
fn replace_layers(
    conn: &mut DbConn,
    row: &ScheduleRow,
    actor: &User,
    given: &[CheckedLayer],
) -> Result<(), DomainError> {
    let stored = stored_layers(conn, row.id)?;
    let is_given = |uid: &Option<String>| {
        given
            .iter()
            .any(|g| g.unique_id.is_some() && g.unique_id == *uid)
    };
    for (id, old) in &stored {
        if !is_given(&old.unique_id) {
            store::delete_layer(conn, *id)?;
            audit(
                conn,
                row,
                actor,
                "Removed a layer",
                &format!("\"{}\"", old.name),
            )?;
        }
    }
    let mut order = Vec::with_capacity(given.len());
    for layer in given {
        match stored
            .iter()
            .find(|(_, old)| layer.unique_id.is_some() && old.unique_id == layer.unique_id)
        {
            Some((id, old)) => {
                if old != layer {
                    store::update_layer(conn, *id, &layer.fields())?;
                    audit(conn, row, actor, "Changed a layer", &layer_detail(layer))?;
                }
                order.push(*id);
            }
            None => order.push(insert_layer(conn, row, actor, layer)?),
        }
    }
    for (position, id) in order.into_iter().enumerate() {
        store::set_layer_position(conn, id, i32::try_from(position).unwrap_or(i32::MAX))?;
    }
    Ok(())
}

fn checked_from_row(o: &store::OverrideRow) -> CheckedOverride {
    CheckedOverride {
        unique_id: Some(o.unique_id.clone()),
        name: o.name.clone(),
        user_id: o.user_id,
        start: o.start_time,
        end: o.end_time,
    }
}

/// Makes the schedule's upcoming overrides (those not ended) the given ones: a given override
/// identical to a stored one (same `unique_id`) is kept, the other stored ones are removed and
/// the other given ones added. Ended overrides stay as history.
fn replace_overrides(
    conn: &mut DbConn,
    row: &ScheduleRow,
    actor: &User,
    given: &[CheckedOverride],
) -> Result<(), DomainError> {
    let stored = store::overrides_ending_after(conn, row.id, Utc::now().naive_utc())?;
    let kept: Vec<&store::OverrideRow> = stored
        .iter()
        .filter(|o| given.contains(&checked_from_row(o)))
        .collect();
    for old in &stored {
        if !kept.iter().any(|k| k.id == old.id) {
            store::delete_override(conn, old.id)?;
            let detail = override_detail(conn, row.team_id, &checked_from_row(old))?;
            audit(conn, row, actor, "Removed an override", &detail)?;
        }
    }
    for o in given {
        if !kept.iter().any(|k| checked_from_row(k) == *o) {
            insert_override(conn, row, actor, o)?;
        }
    }
    Ok(())
}

/// Deletes a schedule, unless an escalation policy still targets it (then the refusal names
/// the policies).
pub async fn delete(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
) -> Result<ScheduleRow, DomainError> {
    let (actor, team_uid, schedule_uid) =
        (actor.clone(), team_uid.to_owned(), schedule_uid.to_owned());
    db.write(move |conn| {
        let (_, row, access) = find_in_team(conn, &actor, &team_uid, &schedule_uid)?;
        require_manager(access)?;
        let policies = store::policies_targeting(conn, row.id)?;
        if !policies.is_empty() {
            let names: Vec<String> = policies.iter().map(|p| format!("\"{p}\"")).collect();
            return Err(DomainError::Conflict(format!(
                "The schedule \"{}\" cannot be deleted: the escalation {} {} {} it. Remove it \
                 from {} first.",
                row.name,
                if names.len() == 1 {
                    "policy"
                } else {
                    "policies"
                },
                names.join(", "),
                if names.len() == 1 {
                    "targets"
                } else {
                    "target"
                },
                if names.len() == 1 {
                    "that policy"
                } else {
                    "those policies"
                },
            )));
        }
        store::delete(conn, row.id)?;
        audit(
            conn,
            &row,
            &actor,
            "Deleted the schedule",
            &format!("\"{}\"", row.name),
        )?;
        Ok(row)
    })
    .await
}

/// The schedule and team a layer change is about, checked for the manager role.
fn managed(
    conn: &mut DbConn,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
) -> Result<(Team, ScheduleRow), DomainError> {
    let (team, row, access) = find_in_team(conn, actor, team_uid, schedule_uid)?;
    require_manager(access)?;
    Ok((team, row))
}

fn tz_of(row: &ScheduleRow) -> Result<chrono_tz::Tz, DomainError> {
    parse_time_zone(&row.time_zone).ok_or_else(|| {
        DomainError::Data(format!(
            "schedule {} has an unknown time zone",
            row.unique_id
        ))
    })
}

/// Adds a layer above the others.
pub async fn add_layer<F>(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    form: F,
) -> Result<(), DomainError>
where
    F: InScheduleTime<Output = LayerInput>,
{
    let (actor, team_uid, schedule_uid) =
        (actor.clone(), team_uid.to_owned(), schedule_uid.to_owned());
    db.write(move |conn| {
        let (team, row) = managed(conn, &actor, &team_uid, &schedule_uid)?;
        let layer = form
            .read(tz_of(&row)?)?
            .check(&Roster::load(conn, team.id)?)?;
        insert_layer(conn, &row, &actor, &layer).map(drop)
    })
    .await
}

fn layer_of(
    conn: &mut DbConn,
    row: &ScheduleRow,
    layer_uid: &str,
) -> Result<store::LayerRow, DomainError> {
    store::layers_of(conn, row.id)?
        .into_iter()
        .find(|l| l.unique_id == layer_uid)
        .ok_or(DomainError::NotFound)
}

pub async fn update_layer<F>(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    layer_uid: &str,
    form: F,
) -> Result<(), DomainError>
where
    F: InScheduleTime<Output = LayerInput>,
{
    let (actor, team_uid, schedule_uid, layer_uid) = (
        actor.clone(),
        team_uid.to_owned(),
        schedule_uid.to_owned(),
        layer_uid.to_owned(),
    );
    db.write(move |conn| {
        let (team, row) = managed(conn, &actor, &team_uid, &schedule_uid)?;
        let stored = layer_of(conn, &row, &layer_uid)?;
        let layer = form
            .read(tz_of(&row)?)?
            .check(&Roster::load(conn, team.id)?)?;
        store::update_layer(conn, stored.id, &layer.fields())?;
        audit(conn, &row, &actor, "Changed a layer", &layer_detail(&layer))
    })
    .await
}

pub async fn remove_layer(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    layer_uid: &str,
) -> Result<String, DomainError> {
    let (actor, team_uid, schedule_uid, layer_uid) = (
        actor.clone(),
        team_uid.to_owned(),
        schedule_uid.to_owned(),
        layer_uid.to_owned(),
    );
    db.write(move |conn| {
        let (_, row) = managed(conn, &actor, &team_uid, &schedule_uid)?;
        let stored = layer_of(conn, &row, &layer_uid)?;
        store::delete_layer(conn, stored.id)?;
        audit(
            conn,
            &row,
            &actor,
            "Removed a layer",
            &format!("\"{}\"", stored.name),
        )?;
        Ok(stored.name)
    })
    .await
}

/// Moves a layer one place up (above the next: higher priority) or down.
pub async fn move_layer(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    layer_uid: &str,
    up: bool,
) -> Result<(), DomainError> {
    let (actor, team_uid, schedule_uid, layer_uid) = (
        actor.clone(),
        team_uid.to_owned(),
        schedule_uid.to_owned(),
        layer_uid.to_owned(),
    );
    db.write(move |conn| {
        let (_, row) = managed(conn, &actor, &team_uid, &schedule_uid)?;
        let layers = store::layers_of(conn, row.id)?;
        let index = layers
            .iter()
            .position(|l| l.unique_id == layer_uid)
            .ok_or(DomainError::NotFound)?;
        let other = if up {
            index.checked_add(1)
        } else {
            index.checked_sub(1)
        };
        let Some(other) = other.filter(|o| *o < layers.len()) else {
            return Ok(());
        };
        // Positions are renumbered 0… in the new order, so that equal positions left by
        // earlier versions cannot make a swap a no-op.
        let mut order: Vec<&store::LayerRow> = layers.iter().collect();
        order.swap(index, other);
        for (position, layer) in order.iter().enumerate() {
            store::set_layer_position(conn, layer.id, i32::try_from(position).unwrap_or(i32::MAX))?;
        }
        audit(
            conn,
            &row,
            &actor,
            "Moved a layer",
            &format!(
                "\"{}\" {}",
                layers[index].name,
                if up { "up" } else { "down" }
            ),
        )
    })
    .await
}

/// Whether the actor may add or remove an override naming `user_id`: managers, admins and
/// owners for anyone; a team user for themselves.
fn require_override_right(
    access: TeamAccess,
    actor: &User,
    user_id: Option<i64>,
) -> Result<(), DomainError> {
    match access {
        TeamAccess::Manage => Ok(()),
        TeamAccess::Respond if user_id == Some(actor.id) => Ok(()),
        TeamAccess::Respond => Err(DomainError::Forbidden(
            "Team users can add and remove overrides for themselves only; the team's managers, \
             admins and owners do it for others."
                .into(),
        )),
        TeamAccess::None => Err(DomainError::NotFound),
    }
}

pub async fn add_override<F>(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    form: F,
) -> Result<store::OverrideRow, DomainError>
where
    F: InScheduleTime<Output = OverrideInput>,
{
    let (actor, team_uid, schedule_uid) =
        (actor.clone(), team_uid.to_owned(), schedule_uid.to_owned());
    db.write(move |conn| {
        let (team, row, access) = find_in_team(conn, &actor, &team_uid, &schedule_uid)?;
        if access == TeamAccess::None {
            return Err(DomainError::NotFound);
        }
        let given = form.read(tz_of(&row)?)?;
        let checked = given.check(&Roster::load(conn, team.id)?)?;
        require_override_right(access, &actor, Some(checked.user_id))?;
        insert_override(conn, &row, &actor, &checked)
    })
    .await
}

pub async fn remove_override(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    override_uid: &str,
) -> Result<(), DomainError> {
    let (actor, team_uid, schedule_uid, override_uid) = (
        actor.clone(),
        team_uid.to_owned(),
        schedule_uid.to_owned(),
        override_uid.to_owned(),
    );
    db.write(move |conn| {
        let (team, row, access) = find_in_team(conn, &actor, &team_uid, &schedule_uid)?;
        let stored =
            store::find_override(conn, row.id, &override_uid)?.ok_or(DomainError::NotFound)?;
        require_override_right(access, &actor, Some(stored.user_id))?;
        store::delete_override(conn, stored.id)?;
        let detail = override_detail(conn, team.id, &checked_from_row(&stored))?;
        audit(conn, &row, &actor, "Removed an override", &detail)
    })
    .await
}

/// When a new layer's rotation starts by default: the next full hour.
pub fn default_rotation_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let hour = utc(now
        .naive_utc()
        .date()
        .and_hms_opt(chrono::Timelike::hour(&now), 0, 0)
        .unwrap_or(now.naive_utc()));
    hour + chrono::Duration::hours(1)
}

/// Changes of a schedule's own fields (the page's edit form).
pub async fn update_fields(
    db: &Db,
    actor: &User,
    team_uid: &str,
    schedule_uid: &str,
    fields: ScheduleInput,
) -> Result<ScheduleRow, DomainError> {
    update::<NoParts<LayerInput>, NoParts<OverrideInput>>(
        db,
        actor,
        team_uid,
        schedule_uid,
        ScheduleChange {
            fields,
            layers: None,
            overrides: None,
        },
    )
    .await
}

/// A schedule made from the page's form: no layers or overrides yet.
pub async fn create_empty(
    db: &Db,
    actor: &User,
    team_uid: &str,
    fields: ScheduleInput,
) -> Result<ScheduleRow, DomainError> {
    create::<NoParts<LayerInput>, NoParts<OverrideInput>>(
        db,
        actor,
        team_uid,
        ScheduleChange {
            fields,
            layers: None,
            overrides: None,
        },
    )
    .await
}

/// The type of layers or overrides that are not given.
pub struct NoParts<T>(std::marker::PhantomData<T>);

impl<T: Send + 'static> InScheduleTime for NoParts<T> {
    type Output = Vec<T>;
    fn read(&self, _: chrono_tz::Tz) -> Result<Vec<T>, DomainError> {
        Ok(Vec::new())
    }
}
