//! What the incident pages read: the list, the incident page with its timeline, the trigger
//! form's choices, and the versions the pages' script polls to stay current.

use chrono::NaiveDateTime;

use super::escalation::{self, EscalationView};
use super::lookup::{filter_for, find_visible};
use super::model::{auto_resolve_deadline, urgency_word, ListQuery, Status};
use crate::db::deliveries::DeliveryState;
use crate::db::incident_list::{self, Count, StatusCounts};
use crate::db::incidents::IncidentRow;
use crate::db::notifications::{self, NotificationListRow};
use crate::db::timeline::{self, TimelineRow};
use crate::db::{self, deliveries, users, Db, DbConn};
use crate::domain::access::Visibility;
use crate::domain::services::Service;
use crate::domain::users::{active_users, User};
use crate::domain::validation::FieldErrors;
use crate::domain::{DomainError, Page};

/// An incident with what its pages show beside it.
#[derive(Debug, Clone)]
pub struct IncidentView {
    pub row: IncidentRow,
    /// The row's status, read (a code it cannot have is an error before any page shows it).
    status: Status,
    pub service_name: String,
    pub service_unique_id: String,
    pub assignee_name: Option<String>,
}

impl IncidentView {
    fn new(
        row: IncidentRow,
        service_name: String,
        service_unique_id: String,
        assignee_name: Option<String>,
    ) -> Result<Self, DomainError> {
        Ok(IncidentView {
            status: Status::of(&row)?,
            row,
            service_name,
            service_unique_id,
            assignee_name,
        })
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn urgency_word(&self) -> &'static str {
        urgency_word(self.row.urgency)
    }

    pub fn can_acknowledge(&self) -> bool {
        self.status() == Status::Triggered
    }

    pub fn can_resolve(&self) -> bool {
        self.status() != Status::Resolved
    }
}

/// Timeline entries per page of the incident page.
pub const TIMELINE_PER_PAGE: i64 = 100;

pub struct IncidentDetail {
    pub incident: IncidentView,
    /// Page 1 holds the newest entries (a flapping monitor can add thousands of alerts); each
    /// page's entries are in the order they happened. With every kind shown, each status change
    /// carries what it caused (see [`TimelineGroup`]); otherwise every entry stands alone.
    pub timeline: Page<TimelineGroup>,
    pub assignable: Vec<User>,
    /// The incident's deliveries as they stand now, for the entries that link to them.
    pub deliveries: Vec<DeliveryState>,
    /// Those not finished yet, oldest first, with the URL each goes to: they have no timeline
    /// entry until they finish, so page 1 (the newest) lists them after its entries.
    pub pending_deliveries: Vec<(DeliveryState, Option<String>)>,
    /// When the service's auto-resolve will resolve the incident, while it is open.
    pub auto_resolves_at: Option<NaiveDateTime>,
    /// Who was paged and what comes next, once an escalation started.
    pub escalation: Option<EscalationView>,
    /// The service team's escalation policies (unique id, name), to reassign to.
    pub policies: Vec<(String, String)>,
    /// Which entries the timeline shows.
    pub filter: TimelineFilter,
    /// Its newest alerts (at most `ALERTS_SHOWN`), newest first.
    pub alerts: Vec<crate::db::alerts::AlertRow>,
}

/// Alerts an incident's page shows; a flapping monitor's thousands are in the API.
pub const ALERTS_SHOWN: i64 = 20;

impl IncidentDetail {
    fn delivery(&self, delivery_id: i64) -> Option<&DeliveryState> {
        self.deliveries.iter().find(|d| d.id == delivery_id)
    }

    pub fn webhook_id(&self, delivery_id: &i64) -> &str {
        self.delivery(*delivery_id)
            .map(|d| d.unique_id.as_str())
            .unwrap_or("")
    }

    /// What a failed delivery's entry adds to its frozen text: how many attempts it took, and
    /// its last error unless the text already says it (it names the HTTP status, or the
    /// error when there was no answer).
    pub fn failure_note(&self, entry: &TimelineRow) -> String {
        let Some(delivery) = entry
            .delivery_id
            .and_then(|id| self.delivery(id))
            .filter(|d| d.state == deliveries::FAILED)
        else {
            return String::new();
        };
        let attempts = match delivery.attempt_count {
            1 => "after 1 attempt".to_owned(),
            n => format!("after {n} attempts"),
        };
        match delivery.last_error.as_deref() {
            Some(error) if !entry.detail.contains(error) => {
                format!("{attempts}, last error: {error}")
            }
            _ => attempts,
        }
    }
}

/// The kinds of entry that change an incident's status: the headlines the timeline groups under.
const STATUS_CHANGES: [&str; 4] = ["triggered", "retriggered", "acknowledged", "resolved"];

/// What folds under the change written at its instant, besides the outcomes of its webhooks. An
/// escalation's note at that instant ("nobody is paged") stays a headline of its own.
const FOLDED_AT_INSTANT: [&str; 1] = ["alert"];

/// One line of the timeline: an entry, and, under a status change, what that change caused.
///
/// A change writes everything it causes in its one transaction at its one instant (`trigger_at`,
/// `transition_at`, `outbox::enqueue_transition`): its timeline entry, the alert's entry when an
/// alert made it, its webhook deliveries, its "Resolved" emails; an escalation level writes its
/// paging emails at the instant of its own entry (a first level without delay, at its
/// trigger's). So what a change caused is what carries its instant:
/// the alert's entry written then, and the outcome entries of the deliveries created then
/// (written later, when the sender is done, and linked by delivery).
/// The instant, not the order of ids: ids of concurrent transactions interleave, and an
/// outcome comes long after. Two changes of one incident never share an instant (its changes
/// are serialised, and `db::now` has microseconds).
#[derive(Debug, Clone)]
pub struct TimelineGroup {
    pub head: TimelineRow,
    /// Entries the change caused, in the order they were written.
    pub caused: Vec<TimelineRow>,
    /// Its deliveries not finished yet, with the URL each goes to.
    pub waiting: Vec<(DeliveryState, Option<String>)>,
    /// Its emails: sent, failed, not sent yet.
    pub emails: (usize, usize, usize),
}

impl TimelineGroup {
    fn alone(head: TimelineRow) -> Self {
        TimelineGroup {
            head,
            caused: Vec::new(),
            waiting: Vec::new(),
            emails: (0, 0, 0),
        }
    }

    pub fn has_fold(&self) -> bool {
        !self.caused.is_empty() || !self.waiting.is_empty() || self.emails != (0, 0, 0)
    }

    fn caused_of(&self, kind: &str) -> usize {
        self.caused
            .iter()
            .filter(|entry| entry.kind == kind)
            .count()
    }

    fn retrying(&self) -> usize {
        self.waiting
            .iter()
            .filter(|(delivery, _)| delivery.attempt_count > 0)
            .count()
    }

    /// What went wrong in the fold, for its headline; empty when nothing did. A closed fold
    /// must not hide a failure, so the page opens the fold too.
    pub fn trouble(&self) -> String {
        let failed = self.caused_of("webhook_failed") + self.retrying();
        let emails = self.emails.1 + self.caused_of("notification_failed");
        let mut said = Vec::new();
        if failed > 0 {
            said.push(counted(failed, "webhook", "webhooks") + " failing");
        }
        if emails > 0 {
            said.push(counted(emails, "email", "emails") + " failed");
        }
        said.join(", ")
    }

    /// The fold's summary line, as "2 webhooks delivered, 1 email sent".
    pub fn summary(&self) -> String {
        let retrying = self.retrying();
        let waiting = self.waiting.len() - retrying;
        let (sent, failed_emails, unsent) = self.emails;
        let parts = [
            (self.caused_of("alert"), "alert", "alerts", ""),
            (
                self.caused_of("webhook_delivered"),
                "webhook",
                "webhooks",
                " delivered",
            ),
            (
                self.caused_of("webhook_failed"),
                "webhook",
                "webhooks",
                " failed",
            ),
            (retrying, "webhook", "webhooks", " retrying"),
            (waiting, "webhook", "webhooks", " waiting"),
            (sent, "email", "emails", " sent"),
            (
                failed_emails + self.caused_of("notification_failed"),
                "email",
                "emails",
                " failed",
            ),
            (unsent, "email", "emails", " not sent yet"),
        ];
        let said: Vec<String> = parts
            .into_iter()
            .filter(|(n, ..)| *n > 0)
            .map(|(n, one, many, what)| counted(n, one, many) + what)
            .collect();
        said.join(", ")
    }
}

fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Groups one page of entries (oldest first) as [`TimelineGroup`] says. An entry whose change
/// is on another page is left out of this one: it is folded under its change there. `waiting`
/// loses the deliveries folded here.
fn group_page(
    conn: &mut DbConn,
    incident_id: i64,
    entries: Vec<TimelineRow>,
    deliveries: &[DeliveryState],
    waiting: &mut Vec<(DeliveryState, Option<String>)>,
    emails: &[NotificationListRow],
) -> Result<Vec<TimelineGroup>, DomainError> {
    let created = |delivery_id: i64| {
        deliveries
            .iter()
            .find(|d| d.id == delivery_id)
            .map(|d| d.created_at)
    };
    // The instant of the change that caused an entry, if one did.
    let caused_at = |entry: &TimelineRow| match entry.delivery_id {
        Some(id) => created(id),
        None => Some(entry.created_at),
    };
    let is_change = |entry: &TimelineRow| STATUS_CHANGES.contains(&entry.kind.as_str());
    let folds = |entry: &TimelineRow| {
        entry.delivery_id.is_some() || FOLDED_AT_INSTANT.contains(&entry.kind.as_str())
    };
    let heads: Vec<NaiveDateTime> = entries
        .iter()
        .filter(|e| is_change(e))
        .map(|e| e.created_at)
        .collect();
    let others: Vec<NaiveDateTime> = entries
        .iter()
        .filter(|e| folds(e))
        .filter_map(caused_at)
        .collect();
    let with_change = timeline::instants_with_kinds(conn, incident_id, &STATUS_CHANGES, &others)?;
    let delivery_ids: Vec<i64> = deliveries
        .iter()
        .filter(|d| heads.contains(&d.created_at))
        .map(|d| d.id)
        .collect();
    let caused =
        timeline::written_at_or_for(conn, incident_id, &FOLDED_AT_INSTANT, &heads, &delivery_ids)?;
    let mut groups = Vec::new();
    for entry in entries {
        let at = caused_at(&entry);
        if folds(&entry) && at.is_some_and(|at| with_change.contains(&at)) {
            continue;
        }
        let mut group = TimelineGroup::alone(entry);
        let at = group.head.created_at;
        if is_change(&group.head) {
            group.caused = caused
                .iter()
                .filter(|c| caused_at(c) == Some(at))
                .cloned()
                .collect();
            let (mine, rest) = std::mem::take(waiting)
                .into_iter()
                .partition(|(delivery, _)| delivery.created_at == at);
            (group.waiting, *waiting) = (mine, rest);
        }
        // A level without delay fires at its trigger's instant: its paging emails fold under
        // the level's own entry, and only "Resolved" emails under a change.
        let pages = group.head.kind == "escalation";
        for email in emails.iter().filter(|email| {
            email.created_at == at && (email.kind == notifications::TRIGGERED) == pages
        }) {
            match email.state.as_str() {
                notifications::SUCCEEDED => group.emails.0 += 1,
                notifications::FAILED => group.emails.1 += 1,
                notifications::PENDING => group.emails.2 += 1,
                _ => {}
            }
        }
        groups.push(group);
    }
    Ok(groups)
}

/// Which of a timeline's entries a reader asked for (`?show=` on the incident page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimelineFilter {
    #[default]
    All,
    /// Status changes, assignment, escalation steps and their failures.
    Changes,
    Alerts,
    Notes,
    Webhooks,
}

impl TimelineFilter {
    pub const ALL: [TimelineFilter; 5] = [
        TimelineFilter::All,
        TimelineFilter::Changes,
        TimelineFilter::Alerts,
        TimelineFilter::Notes,
        TimelineFilter::Webhooks,
    ];

    /// Anything unknown reads as every entry.
    pub fn parse(word: &str) -> TimelineFilter {
        Self::ALL
            .into_iter()
            .find(|filter| filter.word() == word)
            .unwrap_or_default()
    }

    pub fn word(self) -> &'static str {
        match self {
            TimelineFilter::All => "all",
            TimelineFilter::Changes => "changes",
            TimelineFilter::Alerts => "alerts",
            TimelineFilter::Notes => "notes",
            TimelineFilter::Webhooks => "webhooks",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TimelineFilter::All => "All",
            TimelineFilter::Changes => "Changes",
            TimelineFilter::Alerts => "Alerts",
            TimelineFilter::Notes => "Notes",
            TimelineFilter::Webhooks => "Webhooks",
        }
    }

    /// The timeline kinds shown; None for all.
    fn kinds(self) -> Option<&'static [&'static str]> {
        match self {
            TimelineFilter::All => None,
            TimelineFilter::Changes => Some(&[
                "triggered",
                "retriggered",
                "acknowledged",
                "resolved",
                "assigned",
                "escalation",
                "notification_failed",
            ]),
            TimelineFilter::Alerts => Some(&["alert"]),
            TimelineFilter::Notes => Some(&["note"]),
            TimelineFilter::Webhooks => Some(&["webhook_delivered", "webhook_failed"]),
        }
    }

    /// Deliveries still waiting belong with the webhooks.
    fn shows_pending_deliveries(self) -> bool {
        matches!(self, TimelineFilter::All | TimelineFilter::Webhooks)
    }
}

pub async fn detail(
    db: &Db,
    actor: &User,
    number: i64,
    timeline_page: i64,
    filter: TimelineFilter,
) -> Result<IncidentDetail, DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        db::read_snapshot(conn, |conn| {
            detail_in(conn, &actor, number, timeline_page, filter)
        })
    })
    .await
}

fn detail_in(
    conn: &mut DbConn,
    actor: &User,
    number: i64,
    timeline_page: i64,
    filter: TimelineFilter,
) -> Result<IncidentDetail, DomainError> {
    let (row, service) = find_visible(conn, actor, number)?;
    let assignee_name = match row.assigned_to {
        Some(id) => {
            users::find_by_id(conn, id)?.map(|u| format!("{} {}", u.first_name, u.last_name))
        }
        None => None,
    };
    let newest = timeline::newest_for_incident(
        conn,
        row.id,
        filter.kinds(),
        Page::<TimelineRow>::offset(timeline_page, TIMELINE_PER_PAGE),
        TIMELINE_PER_PAGE + 1,
    )?;
    let mut entries = Page::from_overfetch(newest, timeline_page, TIMELINE_PER_PAGE);
    entries.items.reverse();
    let mut pending_deliveries = Vec::new();
    let mut incident_deliveries = Vec::new();
    for (delivery, url) in deliveries::states_for_incident(conn, row.id)? {
        if delivery.state == deliveries::PENDING && filter.shows_pending_deliveries() {
            pending_deliveries.push((delivery.clone(), url));
        }
        incident_deliveries.push(delivery);
    }
    pending_deliveries.sort_by_key(|(delivery, _)| delivery.id);
    let escalation = escalation::view(conn, row.id)?;
    let items = if filter == TimelineFilter::All {
        // The emails the page lists beside the timeline (the newest 50) are those counted.
        let emails = escalation
            .as_ref()
            .map_or(&[][..], |e| &e.notifications[..]);
        group_page(
            conn,
            row.id,
            entries.items,
            &incident_deliveries,
            &mut pending_deliveries,
            emails,
        )?
    } else {
        entries
            .items
            .into_iter()
            .map(TimelineGroup::alone)
            .collect()
    };
    let timeline = Page {
        items,
        number: entries.number,
        has_more: entries.has_more,
    };
    // Those not folded under a change stay listed after the newest entries.
    if timeline.number != 1 {
        pending_deliveries.clear();
    }
    let assignable = active_users(conn)?;
    let incident = IncidentView::new(row, service.row.name, service.row.unique_id, assignee_name)?;
    let timeout = service.row.auto_resolve_timeout;
    let auto_resolves_at = (incident.status() != Status::Resolved && timeout > 0)
        .then(|| auto_resolve_deadline(incident.row.creation_date, timeout));
    let policies =
        crate::db::escalation_policies::list_for_team(conn, service.row.team_id, 0, 200)?
            .into_iter()
            .map(|policy| (policy.unique_id, policy.name))
            .collect();
    let alerts = crate::db::alerts::newest_for_incident(conn, incident.row.id, ALERTS_SHOWN)?;
    Ok(IncidentDetail {
        policies,
        filter,
        alerts,
        escalation,
        deliveries: incident_deliveries,
        pending_deliveries,
        auto_resolves_at,
        incident,
        timeline,
        assignable,
    })
}

/// A short value that changes whenever an incident the user sees changes (every change appends
/// to a timeline). The incidents list shows it and its script polls it to know when to refresh.
pub async fn list_version(db: &Db, actor: &User) -> Result<String, DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        let visibility = Visibility::of(conn, &actor)?;
        let latest = timeline::latest_id_for_teams(conn, visibility.team_ids())?;
        Ok(format!("t{latest}"))
    })
    .await
}

/// Like [`list_version`] for one incident's page: its newest timeline entry, its status, and its
/// title and summary (which the API changes without a timeline entry).
pub async fn incident_version(db: &Db, actor: &User, number: i64) -> Result<String, DomainError> {
    use sha2::{Digest, Sha256};
    let actor = actor.clone();
    db.run(move |conn| {
        let (row, _) = find_visible(conn, &actor, number)?;
        let latest = timeline::latest_id_for_incident(conn, row.id)?;
        let (emails, attempts) = crate::db::notifications::progress(conn, row.id)?;
        let (webhooks, tries) = deliveries::progress_for_incident(conn, row.id)?;
        let text = Sha256::new()
            .chain_update(row.title.as_bytes())
            .chain_update([0])
            .chain_update(row.summary.as_bytes())
            .finalize();
        let short: String = text[..6].iter().map(|b| format!("{b:02x}")).collect();
        Ok(format!(
            "t{latest}-s{}-n{emails}.{attempts}-w{webhooks}.{tries}-{short}",
            row.status
        ))
    })
    .await
}

/// What the trigger form offers: visible services and people to assign.
/// How far a new install has come: the incidents list shows these steps until the first
/// incident exists, instead of an empty list.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirstSteps {
    pub has_service: bool,
    pub has_integration: bool,
}

/// None once the install has had an incident: the checklist is for the first run only.
pub async fn first_steps(db: &Db) -> Result<Option<FirstSteps>, DomainError> {
    db.run(|conn| {
        if crate::db::incidents::any_exists(conn)? {
            return Ok(None);
        }
        Ok(Some(FirstSteps {
            has_service: crate::db::services::any_exists(conn)?,
            has_integration: crate::db::integrations::any_exists(conn)?,
        }))
    })
    .await
}

pub async fn trigger_choices(
    db: &Db,
    actor: &User,
) -> Result<(Vec<Service>, Vec<User>), DomainError> {
    let actor = actor.clone();
    db.run(move |conn| {
        let visibility = Visibility::of(conn, &actor)?;
        let services = crate::db::services::list_with_team(conn, visibility.team_ids(), 0, 1000)?
            .into_iter()
            .map(|(row, team_name)| Service {
                row,
                team_name,
                team_unique_id: String::new(),
                open_incidents: 0,
                escalation_policy: None,
            })
            .collect();
        Ok((services, active_users(conn)?))
    })
    .await
}

/// One page of the incidents list with what its tabs and pager say.
#[derive(Debug)]
pub struct IncidentList {
    pub page: Page<IncidentView>,
    /// Per status, what the filters (the status aside) match: the tabs' counts.
    pub counts: StatusCounts,
    /// How many the chosen status matches, where known; the pager's "of N".
    pub total: Count,
    /// The last page's number, where the total is known.
    pub last_page: Option<i64>,
    /// Filters that did not parse (and were left out), by field.
    pub errors: FieldErrors,
}

/// One page of the incidents the actor may see, filtered and sorted as `query` says, its dates
/// read in `zone`.
pub async fn list(
    db: &Db,
    actor: &User,
    query: &ListQuery,
    per_page: i64,
    zone: chrono_tz::Tz,
) -> Result<IncidentList, DomainError> {
    let (actor, query) = (actor.clone(), query.clone());
    let number = query.page();
    db.run(move |conn| {
        let mut errors = FieldErrors::new();
        let filter = filter_for(conn, &actor, &query, zone, &mut errors)?;
        let counted = incident_list::count(conn, &filter)?;
        let counts = counted.counts;
        let total = counts.of(&filter.statuses);
        let known = counted.total(&filter.statuses);
        let offset = Page::<()>::offset(number, per_page);
        let rows = incident_list::page(
            conn,
            &filter,
            query.order(),
            offset,
            per_page + 1,
            Some(&counted),
        )?;
        let views = rows
            .into_iter()
            .map(|(row, service_name, service_unique_id, first, last)| {
                let assignee_name = first.zip(last).map(|(f, l)| format!("{f} {l}"));
                IncidentView::new(row, service_name, service_unique_id, assignee_name)
            })
            .collect::<Result<_, _>>()?;
        let mut page = Page::from_overfetch(views, number, per_page);
        if let Some(total) = known {
            // Read from the far end, the page has no row to spare to tell whether more follow.
            page.has_more = offset + per_page < total;
        }
        Ok(IncidentList {
            last_page: known.map(|total| ((total + per_page - 1) / per_page).max(1)),
            page,
            counts,
            total,
            errors,
        })
    })
    .await
}
