//! The incidents list among a million incidents: one page of a filtered and sorted list, and how
//! many incidents each status has.
//!
//! A page's ids are read first, from one index that yields them in the list's order, so that the
//! walk stops at the page's last row; then their rows. Which index depends on the filter
//! ([`Scan::plan`]); the counts come from the tallies ([`super::tallies`]) where the filter is
//! one they keep (status, service, urgency, team) and from a capped count otherwise.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::connection::Connection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use super::incidents::{IncidentListRow, IncidentRow, ACKNOWLEDGED, OPEN, RESOLVED, TRIGGERED};
use super::schema::{incidents, services, users};
use super::tallies;
use super::{sql_list, DbConn, FixedSql};

/// On SQLite, puts the incidents the open write transaction inserted into the full-text index:
/// the insert trigger only noted their ids (migration 000100), since FTS5 writes its pending
/// words to disk at every savepoint and a storm's incidents each became a segment to merge. Run
/// as the last statements before a commit, after the last savepoint: the words of all of them
/// then reach the disk once, at the commit. Nothing to do on PostgreSQL.
pub fn index_new_incidents(conn: &mut DbConn) -> QueryResult<()> {
    let DbConn::Sqlite(c) = conn else {
        return Ok(());
    };
    // Kept prepared: every write transaction runs them. CROSS JOIN makes SQLite walk the few
    // noted ids and look each incident up: the noted table is empty whenever statistics are
    // gathered, so it has none, SQLite then guesses it holds a million rows, and once
    // `incidents` has statistics it walked every incident at every commit instead.
    FixedSql(
        "INSERT INTO incidents_fts (rowid, title, summary) \
         SELECT i.id, i.title, i.summary \
         FROM incidents_fts_pending p CROSS JOIN incidents i ON i.id = p.incident_id \
         ORDER BY p.incident_id",
    )
    .execute(c)?;
    FixedSql("DELETE FROM incidents_fts_pending")
        .execute(c)
        .map(drop)
}

/// What the incidents list filters on; `None` or empty means any.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub statuses: Vec<i32>,
    /// Empty: every service.
    pub service_ids: Vec<i64>,
    pub urgency: Option<i32>,
    /// Services the viewer may see; `None` for all.
    pub visible_team_ids: Option<Vec<i64>>,
    pub search: Search,
    pub assignee: Option<i64>,
    /// Created at or after this instant (UTC).
    pub created_from: Option<NaiveDateTime>,
    /// Created before this instant (UTC).
    pub created_before: Option<NaiveDateTime>,
}

impl IncidentFilter {
    /// Whether the filter is one the tallies count exactly: status, service, urgency and team.
    fn is_tallied(&self) -> bool {
        self.search == Search::Nothing
            && self.assignee.is_none()
            && self.created_from.is_none()
            && self.created_before.is_none()
    }
}

/// What was typed into the search box.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Search {
    #[default]
    Nothing,
    /// The incident with this number.
    Number(i64),
    /// Incidents whose title or summary has a word starting with each of these.
    Words(Vec<String>),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListOrder {
    #[default]
    Newest,
    Oldest,
    /// High urgency first, newest first within each.
    Urgency,
}

/// How many incidents a filter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Exact(i64),
    /// More than this; counting stopped there (see [`COUNT_CAP`]).
    MoreThan(i64),
}

/// Where counting the incidents of a search, a date range or an assignee stops: their counts are
/// not kept, and walking a million matches on each view would cost more than the page itself.
pub const COUNT_CAP: i64 = 5_000;

/// Per status, how many incidents the filter matches (its statuses aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCounts {
    pub triggered: Count,
    pub acknowledged: Count,
    pub resolved: Count,
}

impl StatusCounts {
    /// The count of a set of statuses (empty: all).
    pub fn of(&self, statuses: &[i32]) -> Count {
        let all = [TRIGGERED, ACKNOWLEDGED, RESOLVED];
        let statuses = if statuses.is_empty() {
            &all[..]
        } else {
            statuses
        };
        let mut exact = true;
        let mut sum = 0;
        for status in statuses {
            match self.get(*status) {
                Count::Exact(n) => sum += n,
                Count::MoreThan(n) => {
                    exact = false;
                    sum += n;
                }
            }
        }
        match (exact, statuses.len()) {
            (true, _) => Count::Exact(sum),
            // Counts stop only where every status together has more than the cap.
            (false, 3) => Count::MoreThan(sum.max(COUNT_CAP)),
            (false, _) => Count::MoreThan(sum),
        }
    }

    fn get(&self, status: i32) -> Count {
        match status {
            TRIGGERED => self.triggered,
            ACKNOWLEDGED => self.acknowledged,
            _ => self.resolved,
        }
    }
}

/// What counting a filter's incidents found: how many per status, and where the filter's
/// statuses matched at most [`COUNT_CAP`] of them, those matches, so that the page is cut from
/// them instead of being looked for again.
#[derive(Debug, Clone)]
pub struct Counted {
    pub counts: StatusCounts,
    matches: Option<Vec<Match>>,
}

impl Counted {
    /// How many incidents the filter's own statuses match, where known.
    pub fn total(&self, statuses: &[i32]) -> Option<i64> {
        match self.counts.of(statuses) {
            Count::Exact(n) => Some(n),
            Count::MoreThan(_) => None,
        }
    }
}

/// One incident a capped count found: what the list's order and tabs need of it.
#[derive(Debug, Clone, Copy, QueryableByName)]
struct Match {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Integer)]
    status: i32,
    #[diesel(sql_type = Integer)]
    urgency: i32,
}

/// Incidents per status that `filter` matches. Exact from the tallies for the filters they keep;
/// otherwise one read of at most [`COUNT_CAP`] matches, and where there are more, a second
/// one of the chosen statuses so that the pager knows its last page whenever it can.
pub fn count(conn: &mut DbConn, filter: &IncidentFilter) -> QueryResult<Counted> {
    if filter.is_tallied() {
        let rows = tallies::by_status(
            conn,
            &filter.service_ids,
            filter.urgency,
            filter.visible_team_ids.as_deref(),
        )?;
        return Ok(Counted {
            counts: StatusCounts::exact(rows),
            matches: None,
        });
    }
    let any_status = IncidentFilter {
        statuses: Vec::new(),
        ..filter.clone()
    };
    if let Some(matches) = capped_matches(conn, &any_status, COUNT_CAP)? {
        return Ok(Counted {
            counts: StatusCounts::of_matches(&matches),
            matches: Some(matches),
        });
    }
    let mut counts = StatusCounts {
        triggered: Count::MoreThan(0),
        acknowledged: Count::MoreThan(0),
        resolved: Count::MoreThan(0),
    };
    if let [one] = filter.statuses.as_slice() {
        // Until its own count says otherwise, the chosen status holds them all.
        counts.set(*one, Count::MoreThan(COUNT_CAP));
    }
    let mut chosen_matches = None;
    if !filter.statuses.is_empty() {
        if let Some(matches) = capped_matches(conn, filter, COUNT_CAP)? {
            let chosen = StatusCounts::of_matches(&matches);
            for &status in &filter.statuses {
                counts.set(status, chosen.get(status));
            }
            chosen_matches = Some(matches);
        }
    }
    Ok(Counted {
        counts,
        matches: chosen_matches,
    })
}

impl StatusCounts {
    /// From (status, count) rows, summed per status; a status without a row has none.
    fn exact(rows: impl IntoIterator<Item = (i32, i64)>) -> Self {
        let (mut triggered, mut acknowledged, mut resolved) = (0, 0, 0);
        for (status, n) in rows {
            match status {
                TRIGGERED => triggered += n,
                ACKNOWLEDGED => acknowledged += n,
                RESOLVED => resolved += n,
                _ => {}
            }
        }
        StatusCounts {
            triggered: Count::Exact(triggered),
            acknowledged: Count::Exact(acknowledged),
            resolved: Count::Exact(resolved),
        }
    }

    fn of_matches(matches: &[Match]) -> Self {
        Self::exact(matches.iter().map(|m| (m.status, 1)))
    }

    fn set(&mut self, status: i32, count: Count) {
        match status {
            TRIGGERED => self.triggered = count,
            ACKNOWLEDGED => self.acknowledged = count,
            _ => self.resolved = count,
        }
    }
}

/// Every match of `filter`, or `None` when there are more than `cap`.
fn capped_matches(
    conn: &mut DbConn,
    filter: &IncidentFilter,
    cap: i64,
) -> QueryResult<Option<Vec<Match>>> {
    let Some(scan) = Scan::plan(conn, filter, Reading::Every)? else {
        return Ok(Some(Vec::new()));
    };
    let sql = format!(
        "SELECT {} AS id, incidents.status AS status, incidents.urgency AS urgency FROM {}{} \
         LIMIT {}",
        scan.id,
        scan.from,
        scan.where_clause(),
        cap + 1
    );
    let matches: Vec<Match> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(&sql).load(c)?,
        // Every match is read, in no order, so it reads their rows in the table's order (a
        // bitmap scan). Left to itself PostgreSQL walks an index in id order and reads row
        // after row at random: it takes the rows of one index (the open incidents) to lie
        // together when the table says so of the ids, and filters the assignee or the words
        // from them, 23 000 pages read for 2 929 matches (434 ms against 18 ms, on 1 000 000
        // incidents).
        DbConn::Postgres(c) => c.transaction(|c| {
            diesel::sql_query("SET LOCAL enable_indexscan = off").execute(c)?;
            diesel::sql_query(&sql).load(c)
        })?,
    };
    Ok((matches.len() as i64 <= cap).then_some(matches))
}

/// One page of the list, in its order, with each incident's service name and id and its
/// assignee's first and last name. What [`count`] found, when given, lets a page in the second
/// half be read from the list's far end (the last of 20 000 pages costs what the first does), or
/// the page be cut from the matches it read.
pub fn page(
    conn: &mut DbConn,
    filter: &IncidentFilter,
    order: ListOrder,
    offset: i64,
    limit: i64,
    counted: Option<&Counted>,
) -> QueryResult<Vec<IncidentListRow>> {
    let (offset, limit) = (offset.max(0), limit.max(0));
    let ids = match counted {
        Some(Counted {
            matches: Some(matches),
            ..
        }) => cut(matches, &filter.statuses, order, offset, limit),
        _ => {
            let total = counted.and_then(|counted| counted.total(&filter.statuses));
            page_ids(conn, filter, order, offset, limit, total)?
        }
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let position: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut rows: Vec<IncidentListRow> = incidents::table
        .inner_join(services::table)
        .left_join(users::table.on(incidents::assigned_to.eq(users::id.nullable())))
        .filter(incidents::id.eq_any(ids))
        .select((
            IncidentRow::as_select(),
            services::name,
            services::unique_id,
            users::first_name.nullable(),
            users::last_name.nullable(),
        ))
        .load(conn)?;
    rows.sort_unstable_by_key(|(row, ..)| position.get(&row.id).copied());
    Ok(rows)
}

#[derive(QueryableByName)]
struct IncidentId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids of one page of `matches` (of the filter's `statuses`, or every one), in the list's
/// order.
fn cut(matches: &[Match], statuses: &[i32], order: ListOrder, offset: i64, limit: i64) -> Vec<i64> {
    let mut chosen: Vec<&Match> = matches
        .iter()
        .filter(|m| statuses.is_empty() || statuses.contains(&m.status))
        .collect();
    match order {
        ListOrder::Newest => chosen.sort_unstable_by_key(|m| std::cmp::Reverse(m.id)),
        ListOrder::Oldest => chosen.sort_unstable_by_key(|m| m.id),
        ListOrder::Urgency => chosen.sort_unstable_by_key(|m| std::cmp::Reverse((m.urgency, m.id))),
    }
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(0);
    chosen
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|m| m.id)
        .collect()
}

/// The ids of one page, in the list's order, walked along an index.
fn page_ids(
    conn: &mut DbConn,
    filter: &IncidentFilter,
    order: ListOrder,
    offset: i64,
    limit: i64,
    total: Option<i64>,
) -> QueryResult<Vec<i64>> {
    if total == Some(0) {
        // Nothing to walk for: PostgreSQL would otherwise look through every incident for a
        // word that none has.
        return Ok(Vec::new());
    }
    let descending = order != ListOrder::Oldest;
    // Past the middle, the page is the same rows counted from the other end.
    let from_end = total.filter(|total| offset > total / 2).map(|total| {
        let end = (offset + limit).min(total);
        (total - end, (end - offset).max(0))
    });
    let (walk_descending, walk_offset, walk_limit) = match from_end {
        Some((offset, limit)) => (!descending, offset, limit),
        None => (descending, offset, limit),
    };
    let mut ids = if order == ListOrder::Urgency && filter.urgency.is_none() {
        by_urgency(conn, filter, walk_descending, walk_offset, walk_limit)?
    } else {
        walk(conn, filter, walk_descending, walk_offset, walk_limit)?
    };
    if from_end.is_some() {
        ids.reverse();
    }
    Ok(ids)
}

/// High urgency first, newest first within each: the high ones' walk, then the low ones', each
/// along its own index in id order, rather than a sort of every match by urgency.
fn by_urgency(
    conn: &mut DbConn,
    filter: &IncidentFilter,
    descending: bool,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    let urgencies = if descending { [1, 0] } else { [0, 1] };
    let (mut skip, mut ids) = (offset, Vec::new());
    for urgency in urgencies {
        let wanted = limit - ids.len() as i64;
        if wanted <= 0 {
            break;
        }
        let one = IncidentFilter {
            urgency: Some(urgency),
            ..filter.clone()
        };
        let walked = walk(conn, &one, descending, 0, skip + wanted)?;
        let walked_len = walked.len() as i64;
        ids.extend(
            walked
                .into_iter()
                .skip(usize::try_from(skip).unwrap_or(usize::MAX)),
        );
        skip = (skip - walked_len).max(0);
    }
    Ok(ids)
}

/// The ids of `limit` matches after `offset`, newest or oldest first.
fn walk(
    conn: &mut DbConn,
    filter: &IncidentFilter,
    descending: bool,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    let Some(scan) = Scan::plan(conn, filter, Reading::InOrder)? else {
        return Ok(Vec::new());
    };
    let sql = format!(
        "SELECT {} AS id FROM {}{} ORDER BY {} LIMIT {limit} OFFSET {offset}",
        scan.id,
        scan.from,
        scan.where_clause(),
        scan.order_by(descending)
    );
    let rows: Vec<IncidentId> = on_backend!(conn, c => diesel::sql_query(&sql).load(c))?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

/// Slack around a date range's ids: ids are handed out in creation order, but two incidents
/// created within moments of each other may take them in either order.
const CREATION_SLACK: Duration = Duration::minutes(1);

/// How a query reads the matches of a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Every match, up to a cap, in no order: what the indexes find.
    Every,
    /// In id order, stopping at the page's end.
    InOrder,
}

/// How one query walks the incidents: from where, under which conditions, in which order.
/// Every value in it is an integer the caller parsed or a word of letters and digits, written
/// into the SQL: a partial index is used only where the query states its condition in so many
/// words, which bound parameters do not (SQLite; PostgreSQL's generic plans).
struct Scan {
    from: String,
    /// The incident id as the query names it (the full-text table's rowid when it leads).
    id: &'static str,
    conditions: Vec<String>,
    /// Columns of the list's order (by id, within the leading column's one value), all in
    /// one direction.
    order: Vec<&'static str>,
}

impl Scan {
    fn order_by(&self, descending: bool) -> String {
        let direction = if descending { "DESC" } else { "ASC" };
        self.order
            .iter()
            .map(|column| format!("{column} {direction}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// The walk for `filter` in id order, or `None` when nothing can match.
    ///
    /// SQLite is told the index (`INDEXED BY`): with one service holding nearly every incident
    /// its planner would rather sort them all. PostgreSQL, left to itself, walks the primary
    /// key or `incidents_open` and drops what does not match (every open incident of a storm, to
    /// find the resolved ones). There the index's leading column, fixed by the filter, is stated
    /// as a range (`status BETWEEN 3 AND 3`, which it does not fold into a constant) and leads
    /// the order: only that index yields the rows in that order without a sort. A search on
    /// SQLite walks the full-text index's matches, newest first, and looks each incident up.
    fn plan(
        conn: &mut DbConn,
        filter: &IncidentFilter,
        reading: Reading,
    ) -> QueryResult<Option<Scan>> {
        let sqlite = matches!(conn, DbConn::Sqlite(_));
        let mut conditions = Vec::new();
        let one_service = match filter.service_ids.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let words = match &filter.search {
            Search::Words(words) => words
                .iter()
                .map(|word| word.chars().filter(|c| c.is_alphanumeric()).collect())
                .filter(|word: &String| !word.is_empty())
                .collect(),
            _ => Vec::new(),
        };
        let full_text = sqlite && !words.is_empty();
        let mut leading = None;
        let mut index = "";
        if let Search::Number(number) = filter.search {
            // The unique index on the number finds it; nothing to walk.
            conditions.push(format!("incidents.incident_number = {number}"));
        } else if full_text {
            // Driven by the full-text index below.
        } else if let Some(assignee) = filter.assignee {
            leading = Some(("assigned_to", assignee));
            let open_only =
                !filter.statuses.is_empty() && filter.statuses.iter().all(|s| OPEN.contains(s));
            index = if open_only {
                // The partial index's condition, stated as it is written.
                conditions.push("incidents.status IN (1, 2)".to_owned());
                "INDEXED BY incidents_open_by_assignee"
            } else {
                "INDEXED BY incidents_by_assignee"
            };
        } else {
            index = match filter.statuses.as_slice() {
                [] => match one_service {
                    Some(service) => {
                        leading = Some(("service_id", service));
                        "INDEXED BY incidents_by_service"
                    }
                    // The table itself is in id order; SQLite would rather sort the incidents
                    // of the viewer's services than walk it.
                    None => "NOT INDEXED",
                },
                open if open == OPEN => match (one_service, filter.urgency) {
                    (Some(service), _) => {
                        leading = Some(("service_id", service));
                        "INDEXED BY incidents_open_by_service"
                    }
                    (None, Some(urgency)) => {
                        leading = Some(("urgency", i64::from(urgency)));
                        "INDEXED BY incidents_open_by_urgency"
                    }
                    (None, None) => "INDEXED BY incidents_open",
                },
                [one] => {
                    leading = Some(("status", i64::from(*one)));
                    "INDEXED BY incidents_by_status"
                }
                _ => "INDEXED BY incidents_by_status",
            };
        }
        let leads = |name: &str| leading.is_some_and(|(column, _)| column == name);
        match filter.statuses.as_slice() {
            [] => {}
            _ if leads("status") => {}
            open if open == OPEN => {
                let stated = "incidents.status IN (1, 2)".to_owned();
                if !conditions.contains(&stated) {
                    conditions.push(stated);
                }
            }
            some => conditions.push(format!(
                "incidents.status IN ({})",
                sql_list(&some.iter().map(|&s| i64::from(s)).collect::<Vec<_>>())
            )),
        }
        if let Some((column, value)) = leading {
            conditions.push(if sqlite {
                // An equality, so that SQLite can also seek on the id range of a date filter.
                format!("incidents.{column} = {value}")
            } else {
                format!("incidents.{column} BETWEEN {value} AND {value}")
            });
        }
        if !filter.service_ids.is_empty() && !leads("service_id") {
            conditions.push(format!(
                "incidents.service_id IN ({})",
                sql_list(&filter.service_ids)
            ));
        }
        if let Some(urgency) = filter.urgency.filter(|_| !leads("urgency")) {
            conditions.push(format!("incidents.urgency = {urgency}"));
        }
        if let Some(assignee) = filter.assignee.filter(|_| !leads("assigned_to")) {
            conditions.push(format!("incidents.assigned_to = {assignee}"));
        }
        if let Some(teams) = &filter.visible_team_ids {
            if teams.is_empty() {
                return Ok(None);
            }
            conditions.push(format!(
                "incidents.service_id IN (SELECT id FROM services WHERE team_id IN ({}))",
                sql_list(teams)
            ));
        }
        if filter.created_from.is_some() || filter.created_before.is_some() {
            let Some((first, last)) = id_bounds(conn, filter.created_from, filter.created_before)?
            else {
                return Ok(None);
            };
            // Where the full-text index leads, on its own ids, so that FTS5 starts at the range.
            let id = if full_text {
                "incidents_fts.rowid"
            } else {
                "incidents.id"
            };
            conditions.push(format!("{id} BETWEEN {first} AND {last}"));
            // The exact dates only trim the slack off the ids' range, so they are written in a
            // form no index matches: PostgreSQL would otherwise take a narrow range from
            // `incidents_by_creation` and sort it, rather than walk the ids in order.
            let created = if sqlite {
                "incidents.creation_date"
            } else {
                "(incidents.creation_date + INTERVAL '0 seconds')"
            };
            let timestamp = |at: NaiveDateTime| at.format("'%Y-%m-%d %H:%M:%S%.6f'").to_string();
            if let Some(from) = filter.created_from {
                conditions.push(format!("{created} >= {}", timestamp(from)));
            }
            if let Some(before) = filter.created_before {
                conditions.push(format!("{created} < {}", timestamp(before)));
            }
        }
        if full_text {
            let phrase = words
                .iter()
                .map(|word| format!("\"{word}\"*"))
                .collect::<Vec<_>>()
                .join(" ");
            conditions.insert(0, format!("incidents_fts MATCH '{phrase}'"));
            return Ok(Some(Scan {
                from: "incidents_fts CROSS JOIN incidents ON incidents.id = incidents_fts.rowid"
                    .to_owned(),
                id: "incidents_fts.rowid",
                conditions,
                order: vec!["incidents_fts.rowid"],
            }));
        }
        if !words.is_empty() {
            // The indexed column to read every match; for a page, a form of it the index does
            // not match (`COALESCE`), so that the planner, whose estimate for a prefix is a
            // guess, walks the incidents in id order and stops at the page's end instead of
            // reading and sorting every match of a common word. (A page is walked only where
            // the matches were too many to count.)
            let words_column = if reading == Reading::Every {
                "incidents.search_words"
            } else {
                "COALESCE(incidents.search_words, ''::tsvector)"
            };
            let query = words
                .iter()
                .map(|word| format!("{word}:*"))
                .collect::<Vec<_>>()
                .join(" & ");
            conditions.push(format!("{words_column} @@ to_tsquery('simple', '{query}')"));
        }
        let mut columns = Vec::new();
        if let Some((column, _)) = leading {
            columns.push(match column {
                "service_id" => "incidents.service_id",
                "urgency" => "incidents.urgency",
                "assigned_to" => "incidents.assigned_to",
                _ => "incidents.status",
            });
        }
        columns.push("incidents.id");
        let from = if sqlite {
            format!("incidents {index}")
        } else {
            "incidents".to_owned()
        };
        Ok(Some(Scan {
            from,
            id: "incidents.id",
            conditions,
            order: columns,
        }))
    }
}

/// The first and last id of the incidents created in `[from, before)`, give or take
/// [`CREATION_SLACK`]; `None` when none were.
fn id_bounds(
    conn: &mut DbConn,
    from: Option<NaiveDateTime>,
    before: Option<NaiveDateTime>,
) -> QueryResult<Option<(i64, i64)>> {
    let first = match from {
        Some(from) => incidents::table
            .filter(incidents::creation_date.ge(from - CREATION_SLACK))
            .order((incidents::creation_date.asc(), incidents::id.asc()))
            .select(incidents::id)
            .first::<i64>(conn)
            .optional()?,
        None => Some(0),
    };
    let last = match before {
        Some(before) => incidents::table
            .filter(incidents::creation_date.lt(before + CREATION_SLACK))
            .order((incidents::creation_date.desc(), incidents::id.desc()))
            .select(incidents::id)
            .first::<i64>(conn)
            .optional()?,
        None => Some(i64::MAX),
    };
    Ok(first.zip(last).filter(|(first, last)| first <= last))
}
