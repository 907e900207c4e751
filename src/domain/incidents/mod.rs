//! Incidents and their lifecycle: triggered → acknowledged → resolved, and triggered →
//! resolved. Split by who reads it:
//! - `model`: what an incident is (status, actor, a new incident, bounds, list filters);
//! - `lifecycle`: the write use cases (trigger, transitions, notes, assignment, the API's
//!   update), each in ONE transaction with its timeline entry and its webhooks;
//! - `outbox`: the webhook deliveries those transactions enqueue (and test events, redeliveries);
//! - `escalation`: who is paged, level by level, from trigger until acknowledged or resolved;
//! - `views`: what the pages read (list, incident page, the versions their script polls);
//! - `records`: what the JSON API reads;
//! - `lookup`: which incidents an actor may see, used by all of the above.

pub mod escalation;
mod lifecycle;
mod lookup;
mod model;
pub mod outbox;
mod records;
mod views;

pub use lifecycle::{
    add_note, assign, change_many, change_status, escalate_now, reassign, retrigger_in,
    transition_at, transition_in, trigger, trigger_at, trigger_in, trigger_record, update,
    AssignForm, ChangedMany, IncidentChanges, NoteForm, ReassignForm, TriggerForm,
};
pub use model::{
    auto_resolve_deadline, context_window, urgency_word, Actor, ListQuery, NewIncident, Status,
    MAX_NOTE_CHARS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS,
};
pub use records::{alerts, count, list_records, notes, record, IncidentRecord};
pub use views::{
    detail, first_steps, incident_version, list, list_version, trigger_choices, FirstSteps,
    IncidentDetail, IncidentList, IncidentView, TimelineFilter, ALERTS_SHOWN, TIMELINE_PER_PAGE,
};
