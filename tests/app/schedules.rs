//! Schedules: made in the pages and the API, who is on call now (as the time model says),
//! overrides, bad input, deleting while a policy uses them, the audit trail, the profile's
//! shifts, pagination.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    create_api_key, create_schedule, create_team, default_team, for_each_backend, join, location,
    member_username, on_call_now, person, query, submit_layer, Person, TestApp,
};

/// Who is on call in the schedule now, as the paging engine asks it.
async fn on_call(app: &TestApp, schedule: &str) -> Option<klaxon::domain::schedules::OnCall> {
    on_call_at(app, schedule, Utc::now()).await
}

async fn on_call_at(
    app: &TestApp,
    schedule: &str,
    at: DateTime<Utc>,
) -> Option<klaxon::domain::schedules::OnCall> {
    let uid = schedule.to_owned();
    app.db()
        .await
        .run(move |conn| {
            let row = klaxon::db::schedules::find_by_unique_id(conn, &uid)?.expect("schedule");
            klaxon::domain::schedules::on_call_at(conn, row.id, at)
        })
        .await
        .expect("on call")
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The owner, Mary (a team user with her own browser and key) in the Default team, and a
/// schedule in UTC.
struct Setup {
    team: String,
    schedule: String,
    ada: String,
    mary: String,
    mary_person: Person,
}

impl Setup {
    async fn new(app: &TestApp) -> Setup {
        app.create_owner().await;
        let team = default_team(app).await;
        let mary_person = person(app, ("Mary", "Major"), "mary@example.com", "3").await;
        join(app, &team, "Mary Major", "2").await;
        let schedule = create_schedule(app, &team, "Primary", "UTC").await;
        let team_page = app.page(&format!("/teams/{team}")).await;
        assert!(team_page.contains(&format!("href=\"/teams/{team}/schedules\"")));
        let ada = member_username(app, &team, &schedule, "Ada Lovelace").await;
        let mary = member_username(app, &team, &schedule, "Mary Major").await;
        Setup {
            team,
            schedule,
            ada,
            mary,
            mary_person,
        }
    }

    fn page(&self) -> String {
        format!("/teams/{}/schedules/{}", self.team, self.schedule)
    }

    fn api(&self) -> String {
        format!("/api/account/teams/{}/schedules/", self.team)
    }

    /// A daily layer from Monday 5 January 2026 09:00 UTC with these people.
    async fn daily_layer(&self, app: &TestApp, users: &[&str]) {
        let mut fields = vec![
            ("name", "Daily"),
            ("shift_count", "1"),
            ("shift_unit", "days"),
            ("rotation_start_time", "2026-01-05T09:00"),
            ("rotation_end_time", ""),
            ("restriction_type", "0"),
        ];
        fields.extend(users.iter().map(|u| ("users", *u)));
        fields.push(("users", ""));
        let response = submit_layer(app, &self.team, &self.schedule, &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "layer added");
    }
}

/// A time as a `datetime-local` field takes it (UTC schedules).
fn field_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

fn minute(at: DateTime<Utc>) -> DateTime<Utc> {
    let text = field_time(at);
    Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M").unwrap())
}

#[tokio::test]
async fn a_daily_layer_made_in_the_pages_puts_the_person_the_time_model_names_on_call() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        s.daily_layer(&app, &[&s.ada, &s.mary]).await;

        // Shift k starts 5 January + k days at 09:00 UTC; even shifts are Ada's.
        let start = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
        let now = Utc::now();
        let k = (now - start).num_seconds().div_euclid(86_400);
        let (expected, other) = if k % 2 == 0 {
            ("Ada Lovelace", "Mary Major")
        } else {
            ("Mary Major", "Ada Lovelace")
        };
        let handover = start + Duration::days(k + 1);

        let page = app.page(&s.page()).await;
        let now_entry = on_call_now(&page);
        assert!(now_entry.contains(expected), "{now_entry}");
        assert!(!now_entry.contains(other), "{now_entry}");
        assert!(
            now_entry.contains(&handover.format("%-d %b %H:%M").to_string()),
            "until the next 09:00: {now_entry}"
        );
        assert_eq!(
            page.matches("<th scope=\"row\">").count(),
            14,
            "two weeks of days"
        );
        assert!(
            page.contains("09:00–24:00"),
            "handovers at 09:00 in the timeline"
        );

        let found = on_call(&app, &s.schedule).await.expect("someone on call");
        assert_eq!(found.name, expected);
        assert_eq!(found.until, Some(handover));
        assert!(found.is_active);
        assert!(!found.from_override);

        let list = app.page(&format!("/teams/{}/schedules", s.team)).await;
        assert!(
            list.contains("Primary") && list.contains(expected),
            "{list}"
        );
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_shown_next_to_its_field_with_the_input_kept() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let new_schedule = format!("/teams/{}/schedules/new", s.team);
        let response = app
            .submit(
                &new_schedule,
                &format!("/teams/{}/schedules", s.team),
                &[("name", "Nights"), ("time_zone", "Mars/Olympus_Mons")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains("id=\"time_zone-error\""), "{page}");
        assert!(page.contains("Enter a time zone by its IANA name"));
        assert!(page.contains("value=\"Mars/Olympus_Mons\""), "input kept");

        let layer = |count: &'static str, start: &'static str, end: &'static str, user: String| {
            vec![
                ("name", "Daily".to_owned()),
                ("shift_count", count.to_owned()),
                ("shift_unit", "days".to_owned()),
                ("rotation_start_time", start.to_owned()),
                ("rotation_end_time", end.to_owned()),
                ("restriction_type", "0".to_owned()),
                ("users", user),
            ]
        };
        let cases = [
            (
                layer("0", "2026-01-05T09:00", "", s.ada.clone()),
                "shift_length-error",
                "more than zero",
            ),
            (
                layer("1", "2026-01-05T09:00", "2026-01-04T09:00", s.ada.clone()),
                "rotation_end_time-error",
                "The end must be after the start.",
            ),
        ];
        for (fields, field, message) in cases {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = submit_layer(&app, &s.team, &s.schedule, &fields).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains(field) && page.contains(message),
                "{field}: {page}"
            );
            assert!(page.contains("value=\"2026-01-05T09:00\""), "input kept");
        }

        // Someone outside the team cannot be put in a rotation or an override.
        person(&app, ("Olga", "Outsider"), "olga@example.com", "3").await;
        let olga = query(&app, |conn| {
            Ok(klaxon::db::users::find_by_email(conn, "olga@example.com")?
                .expect("Olga")
                .username)
        })
        .await;
        let fields = layer("1", "2026-01-05T09:00", "", olga.clone());
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = submit_layer(&app, &s.team, &s.schedule, &fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("is not a member of this team"));

        let overrides = format!("{}/overrides", s.page());
        let response = app
            .submit(
                &s.page(),
                &overrides,
                &[
                    ("user", &s.mary),
                    ("start_time", "2030-01-02T10:00"),
                    ("end_time", "2030-01-02T09:00"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = response.text().await.unwrap();
        assert!(page.contains("id=\"end_time-error\"") && page.contains("The end must be after"));
        assert!(page.contains("value=\"2030-01-02T09:00\""), "input kept");
        let response = app
            .submit(
                &s.page(),
                &overrides,
                &[
                    ("user", &olga),
                    ("start_time", "2030-01-02T10:00"),
                    ("end_time", "2030-01-02T12:00"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("is not a member of this team"));
        assert!(
            on_call(&app, &s.schedule).await.is_none(),
            "nothing was stored"
        );
    })
    .await;
}

#[tokio::test]
async fn an_override_replaces_whoever_the_layers_put_on_call_and_the_trail_says_so() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        s.daily_layer(&app, &[&s.ada]).await;
        assert_eq!(
            on_call(&app, &s.schedule).await.unwrap().name,
            "Ada Lovelace"
        );

        let now = Utc::now();
        let end = minute(now + Duration::hours(2));
        let response = app
            .submit(
                &s.page(),
                &format!("{}/overrides", s.page()),
                &[
                    ("user", &s.mary),
                    ("start_time", &field_time(now - Duration::hours(1))),
                    ("end_time", &field_time(end)),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let found = on_call(&app, &s.schedule).await.unwrap();
        assert_eq!(found.name, "Mary Major");
        assert!(found.from_override);
        assert_eq!(found.until, Some(end));
        let page = app.page(&s.page()).await;
        assert!(on_call_now(&page).contains("Mary Major"));
        assert!(on_call_now(&page).contains("override"));

        let marker = format!("{}/overrides/", s.page());
        let start = page.find(&marker).expect("a remove button") + marker.len();
        let id = page[start..].split('/').next().unwrap().to_owned();
        let response = app
            .submit(&s.page(), &format!("{marker}{id}/remove"), &[])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            on_call(&app, &s.schedule).await.unwrap().name,
            "Ada Lovelace"
        );

        let page = app.page(&s.page()).await;
        let history = &page[page.find("id=\"history-heading\"").unwrap()..];
        for action in [
            "Created the schedule",
            "Added a layer",
            "Added an override",
            "Removed an override",
        ] {
            assert!(history.contains(action), "{action} in {history}");
        }
        assert!(history.contains("Ada Lovelace · <strong>Removed an override"));
        assert!(
            history.contains("Mary Major from"),
            "the override's person in the trail"
        );
    })
    .await;
}

/// Makes an escalation policy of the team whose first rule targets the schedule.
async fn policy_targeting(app: &TestApp, schedule: &str, name: &'static str) {
    use klaxon::db::schema::{escalation_policies, escalation_rules, escalation_targets};
    let uid = schedule.to_owned();
    query(app, move |conn| {
        let row = klaxon::db::schedules::find_by_unique_id(conn, &uid)?.expect("schedule");
        diesel::insert_into(escalation_policies::table)
            .values((
                escalation_policies::unique_id.eq(format!("policy-{name}")),
                escalation_policies::team_id.eq(row.team_id),
                escalation_policies::name.eq(name),
                escalation_policies::created_at.eq(klaxon::db::now()),
            ))
            .execute(conn)?;
        let policy: i64 = escalation_policies::table
            .filter(escalation_policies::name.eq(name))
            .select(escalation_policies::id)
            .get_result(conn)?;
        diesel::insert_into(escalation_rules::table)
            .values((
                escalation_rules::unique_id.eq(format!("rule-{name}")),
                escalation_rules::policy_id.eq(policy),
                escalation_rules::position.eq(1),
                escalation_rules::delay.eq(0),
            ))
            .execute(conn)?;
        let rule: i64 = escalation_rules::table
            .filter(escalation_rules::policy_id.eq(policy))
            .select(escalation_rules::id)
            .get_result(conn)?;
        diesel::insert_into(escalation_targets::table)
            .values((
                escalation_targets::rule_id.eq(rule),
                escalation_targets::target_type.eq(1),
                escalation_targets::schedule_id.eq(Some(row.id)),
            ))
            .execute(conn)
            .map(drop)
    })
    .await;
}

#[tokio::test]
async fn a_schedule_an_escalation_policy_targets_is_not_deleted_and_the_refusal_names_it() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        policy_targeting(&app, &s.schedule, "Checkout on call").await;

        let delete = format!("{}/delete", s.page());
        let response = app.submit(&delete, &delete, &[]).await;
        assert_eq!(location(&response), s.page());
        let page = app.page(&s.page()).await;
        assert!(
            page.contains("the escalation policy &#34;Checkout on call&#34; targets it"),
            "{page}"
        );

        let auth = format!("Token {}", create_api_key(&app, "Script").await);
        let url = app.url(&format!("{}{}/", s.api(), s.schedule));
        let response = reqwest::Client::new()
            .delete(&url)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains("Checkout on call"));

        query(&app, |conn| {
            use klaxon::db::schema::escalation_targets;
            diesel::delete(escalation_targets::table)
                .execute(conn)
                .map(drop)
        })
        .await;
        let response = app.submit(&delete, &delete, &[]).await;
        assert_eq!(location(&response), format!("/teams/{}/schedules", s.team));
        let response = reqwest::Client::new()
            .get(&url)
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    })
    .await;
}

/// The keys of a schedule in the SDK's `Schedule` model: it takes exactly these.
const SDK_SCHEDULE_KEYS: [&str; 10] = [
    "connections",
    "description",
    "layers",
    "name",
    "overrides",
    "shift_time_in_dst",
    "summary",
    "team",
    "time_zone",
    "unique_id",
];

#[tokio::test]
async fn the_api_creates_reads_changes_and_deletes_schedules_in_zendutys_shape() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let auth = format!("Token {}", create_api_key(&app, "Script").await);
        let client = reqwest::Client::new();
        let call = |method: Method, path: String, body: Option<Value>| {
            let mut request = client
                .request(method, app.url(&path))
                .header("authorization", &auth);
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                let text = response.text().await.unwrap();
                (status, serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
            }
        };
        let body = json!({
            "name": "Follow the sun",
            "summary": null,
            "description": "Europe by day",
            "time_zone": "Europe/Berlin",
            "layers": [{
                "name": "Days",
                "shift_length": 86400,
                // No offset: 09:00 in Berlin (CET in March before the change: 08:00Z).
                "rotation_start_time": "2026-03-25T09:00:00",
                "rotation_end_time": null,
                "restriction_type": 1,
                "restrictions": [{"duration": 43200, "start_day_of_week": 0, "start_time_of_day": "08:00"}],
                "users": [{"user": s.mary, "position": 2}, {"user": s.ada, "position": 1}],
            }],
            "overrides": [{
                "name": "Holiday swap",
                "user": s.mary,
                "start_time": "2030-12-24T00:00:00Z",
                "end_time": "2030-12-26T00:00:00Z",
            }],
        });
        let (status, created) = call(Method::POST, s.api(), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let mut keys: Vec<&str> = created.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, SDK_SCHEDULE_KEYS);
        assert_eq!(created["team"], s.team.as_str());
        assert_eq!(created["summary"], "");
        assert_eq!(created["shift_time_in_dst"], true);
        assert_eq!(created["connections"], 0);
        let layer = &created["layers"][0];
        assert_eq!(layer["rotation_start_time"], "2026-03-25T08:00:00.000000Z");
        assert_eq!(layer["rotation_end_time"], Value::Null);
        assert_eq!(layer["shift_length"], 86400);
        assert_eq!(layer["users"][0]["user"], s.ada.as_str());
        assert_eq!(layer["users"][1]["user"], s.mary.as_str());
        assert_eq!(layer["users"][1]["position"], 2);
        assert_eq!(layer["restrictions"][0]["start_time_of_day"], "08:00:00");
        assert_eq!(layer["restrictions"][0]["duration"], 43200);
        assert_eq!(created["overrides"][0]["user"], s.mary.as_str());
        assert_eq!(created["overrides"][0]["end_time"], "2030-12-26T00:00:00.000000Z");
        let id = created["unique_id"].as_str().unwrap().to_owned();
        let one = format!("{}{id}/", s.api());

        let (status, list) = call(Method::GET, s.api(), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(list.as_array().unwrap().iter().any(|x| x["unique_id"] == id.as_str()));

        let (status, patched) = call(Method::PATCH, one.clone(), Some(json!({"name": "Sun"}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["name"], "Sun");
        assert_eq!(patched["layers"], created["layers"], "layers kept when not given");

        // The SDK's update sends back what it read: the layer keeps its id.
        let mut again = patched.clone();
        again["description"] = json!("Europe only");
        let (status, put) = call(Method::PUT, one.clone(), Some(again)).await;
        assert_eq!(status, StatusCode::OK, "{put}");
        assert_eq!(put["layers"][0]["unique_id"], created["layers"][0]["unique_id"]);
        assert_eq!(put["overrides"], created["overrides"]);
        assert_eq!(put["description"], "Europe only");

        // Overrides have their own routes too.
        let overrides = format!("{one}overrides/");
        let (status, added) = call(
            Method::POST,
            overrides.clone(),
            Some(json!({"name": "", "user": s.ada, "start_time": "2031-01-01T00:00:00Z", "end_time": "2031-01-02T00:00:00Z"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        let (_, listed) = call(Method::GET, overrides.clone(), None).await;
        assert_eq!(listed.as_array().unwrap().len(), 2);
        let (status, _) = call(
            Method::DELETE,
            format!("{overrides}{}/", added["unique_id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        // Bad input: 400 with a detail that names the field.
        let olga = {
            person(&app, ("Olga", "Outsider"), "olga@example.com", "3").await;
            query(&app, |conn| {
                Ok(klaxon::db::users::find_by_email(conn, "olga@example.com")?
                    .unwrap()
                    .username)
            })
            .await
        };
        let layer_with = |change: Value| {
            let mut layer = json!({"name": "L", "shift_length": 3600, "rotation_start_time": "2026-01-01T00:00:00Z", "users": [{"user": s.ada}]});
            for (k, v) in change.as_object().unwrap() {
                layer[k] = v.clone();
            }
            json!({"name": "Bad", "time_zone": "UTC", "layers": [layer]})
        };
        for (body, field) in [
            (json!({"name": "Bad", "time_zone": "Mars/Olympus_Mons"}), "time_zone"),
            (json!({"name": "Bad"}), "time_zone"),
            (layer_with(json!({"shift_length": 0})), "shift_length"),
            (layer_with(json!({"shift_length": "a day"})), "shift_length"),
            (layer_with(json!({"rotation_end_time": "2025-01-01T00:00:00Z"})), "rotation_end_time"),
            (layer_with(json!({"users": [{"user": olga}]})), "users"),
            (layer_with(json!({"restriction_type": 1, "restrictions": [{"duration": 90000, "start_day_of_week": 0, "start_time_of_day": "08:00"}]})), "restrictions"),
            (
                json!({"name": "Bad", "time_zone": "UTC", "overrides": [{"user": s.ada, "start_time": "2030-01-02T00:00:00Z", "end_time": "2030-01-01T00:00:00Z"}]}),
                "end_time",
            ),
        ] {
            let (status, answer) = call(Method::POST, s.api(), Some(body.clone())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
            assert!(
                answer["detail"].as_str().unwrap().contains(field),
                "{field}: {answer}"
            );
        }
        let (_, list) = call(Method::GET, s.api(), None).await;
        assert_eq!(list.as_array().unwrap().len(), 2, "no bad schedule stored");

        // Another team's id does not exist here.
        let other = create_team(&app, "Other").await;
        let (status, _) = call(Method::GET, format!("/api/account/teams/{other}/schedules/{id}/"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, _) = call(Method::DELETE, one.clone(), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = call(Method::GET, one, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn the_profile_lists_ones_shifts_of_the_next_two_weeks() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let (_, before) = s.mary_person.page(&app, "/settings").await;
        assert!(before.contains("You are not on call"));
        s.daily_layer(&app, &[&s.mary, &s.ada]).await;
        let (status, page) = s.mary_person.page(&app, "/settings").await;
        assert_eq!(status, StatusCode::OK);
        let shifts = &page[page.find("id=\"shifts-heading\"").unwrap()..];
        let shifts = &shifts[..shifts.find("</section>").unwrap()];
        assert!(shifts.contains(&format!("/teams/{}/schedules/{}", s.team, s.schedule)));
        assert!(shifts.contains("Primary"));
        // Every other day from 09:00 to 09:00: 7 shifts in two weeks, or 8 when one has begun
        // (and the last is cut at the end of the fortnight).
        let rows = shifts.matches("<tr>").count() - 1;
        assert!((7..=8).contains(&rows), "{shifts}");
        assert!(shifts.matches(" 09:00 UTC").count() >= 13, "{shifts}");
        assert!(!app.page("/settings").await.contains("You are not on call"));
    })
    .await;
}

#[tokio::test]
async fn a_layer_whose_people_cannot_be_reached_says_so() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        s.daily_layer(&app, &[&s.mary]).await;
        assert!(!app.page(&s.page()).await.contains("it reaches nobody"));
        let response = app
            .submit(
                "/settings/users",
                &format!("/settings/users/{}/disable", s.mary),
                &[],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);

        let page = app.page(&s.page()).await;
        assert!(page.contains("it reaches nobody"), "{page}");
        assert!(on_call_now(&page).contains("cannot be reached"));
        let found = on_call(&app, &s.schedule)
            .await
            .expect("Mary keeps her place");
        assert_eq!(found.name, "Mary Major");
        assert!(!found.is_active);
    })
    .await;
}

#[tokio::test]
async fn a_layer_whose_only_person_left_the_team_says_so() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        s.daily_layer(&app, &[&s.mary]).await;
        let page = app.page(&s.page()).await;
        assert!(!page.contains("it reaches nobody"), "{page}");
        assert!(!on_call_now(&page).contains("cannot be reached"));

        // Mary leaves the team; her account stays enabled.
        let remove = format!("/teams/{}/members/{}/remove", s.team, s.mary);
        let response = app.submit(&remove, &remove, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let team_page = app.page(&format!("/teams/{}", s.team)).await;
        assert!(
            team_page.contains("Mary Major left the team."),
            "{team_page}"
        );
        let (status, _) = s.mary_person.page(&app, "/settings").await;
        assert_eq!(status, StatusCode::OK, "Mary can still sign in");

        let page = app.page(&s.page()).await;
        assert!(page.contains("it reaches nobody"), "{page}");
        assert!(
            on_call_now(&page).contains("cannot be reached"),
            "{}",
            on_call_now(&page)
        );
        let found = on_call(&app, &s.schedule)
            .await
            .expect("Mary keeps her place");
        assert_eq!(found.name, "Mary Major");
        assert!(!found.is_active);
    })
    .await;
}

#[tokio::test]
async fn schedules_overrides_and_the_trail_are_paginated() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let auth = format!("Token {}", create_api_key(&app, "Script").await);
        let client = reqwest::Client::new();
        for n in 1..=50 {
            let response = client
                .post(app.url(&s.api()))
                .header("authorization", &auth)
                .json(&json!({"name": format!("S{n:02}"), "time_zone": "UTC"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        // With "Primary", S50 is the 51st by name.
        let list = format!("/teams/{}/schedules", s.team);
        let first = app.page(&list).await;
        assert!(first.contains("S49") && !first.contains("S50"));
        assert!(first.contains("?page=2"));
        let second = app.page(&format!("{list}?page=2")).await;
        assert!(second.contains("S50") && !second.contains("S49"));

        let overrides = format!("{}{}/overrides/", s.api(), s.schedule);
        for day in 1..=21 {
            let response = client
                .post(app.url(&overrides))
                .header("authorization", &auth)
                .json(&json!({
                    "user": s.mary,
                    "start_time": format!("2031-01-{day:02}T08:00:00Z"),
                    "end_time": format!("2031-01-{day:02}T12:00:00Z"),
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        let page = app.page(&s.page()).await;
        assert_eq!(
            page.matches("/remove\">").count(),
            20,
            "20 overrides a page"
        );
        assert!(page.contains(&format!("{}?page=2", s.page())));
        let second = app.page(&format!("{}?page=2", s.page())).await;
        assert_eq!(second.matches("/remove\">").count(), 1);
        assert!(
            second.contains("Wed 1 Jan 08:00"),
            "the earliest comes last"
        );

        // 1 creation + 21 overrides: the page shows 20, the history pages the rest.
        assert!(page.contains("Older changes"));
        let history = app.page(&format!("{}/history?page=2", s.page())).await;
        assert!(history.contains("Created the schedule"), "{history}");
        assert_eq!(history.matches("<li>").count(), 2);
    })
    .await;
}

/// The ids of the layers on a schedule's page, highest first.
fn layer_ids(page: &str) -> Vec<String> {
    page.split("/layers/")
        .skip(1)
        .filter_map(|rest| rest.split_once("/edit\""))
        .map(|(id, _)| id.to_owned())
        .filter(|id| !id.contains('/') && !id.contains('"'))
        .collect()
}

#[tokio::test]
async fn layers_are_edited_moved_and_removed_and_the_higher_one_wins() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        s.daily_layer(&app, &[&s.ada]).await;
        s.daily_layer(&app, &[&s.mary]).await;
        assert_eq!(on_call(&app, &s.schedule).await.unwrap().name, "Mary Major");
        let layers = layer_ids(&app.page(&s.page()).await);
        assert_eq!(layers.len(), 2, "{layers:?}");
        let (top, bottom) = (layers[0].clone(), layers[1].clone());

        let move_top = format!("{}/layers/{top}/move", s.page());
        let response = app
            .submit(&s.page(), &move_top, &[("direction", "down")])
            .await;
        assert_eq!(location(&response), s.page());
        assert_eq!(
            on_call(&app, &s.schedule).await.unwrap().name,
            "Ada Lovelace"
        );
        assert_eq!(
            layer_ids(&app.page(&s.page()).await),
            vec![bottom.clone(), top.clone()]
        );
        app.submit(&s.page(), &move_top, &[("direction", "up")])
            .await;
        assert_eq!(on_call(&app, &s.schedule).await.unwrap().name, "Mary Major");

        // The edit form shows the layer as it is; saving it with Ada changes who is on call.
        let edit = format!("{}/layers/{top}/edit", s.page());
        let form = app.page(&edit).await;
        assert!(form.contains("value=\"2026-01-05T09:00\""));
        assert!(form.contains(&format!("value=\"{}\" selected", s.mary)));
        assert!(form.contains("<option value=\"days\" selected>"));
        let response = app
            .submit(
                &edit,
                &edit,
                &[
                    ("name", "Days"),
                    ("shift_count", "1"),
                    ("shift_unit", "days"),
                    ("rotation_start_time", "2026-01-05T09:00"),
                    ("restriction_type", "1"),
                    ("window_start_day", "0"),
                    ("window_start_time", "00:00"),
                    ("window_end_day", "0"),
                    ("window_end_time", "00:00"),
                    ("users", &s.ada),
                ],
            )
            .await;
        assert_eq!(location(&response), s.page());
        let found = on_call(&app, &s.schedule).await.unwrap();
        assert_eq!(found.name, "Ada Lovelace");
        let page = app.page(&s.page()).await;
        assert!(
            page.contains("Every day, 00:00 to 00:00"),
            "a whole-day window"
        );

        let response = app
            .submit(&s.page(), &format!("{}/layers/{top}/remove", s.page()), &[])
            .await;
        assert_eq!(location(&response), s.page());
        assert_eq!(layer_ids(&app.page(&s.page()).await), vec![bottom]);
        let page = app.page(&s.page()).await;
        for action in ["Moved a layer", "Changed a layer", "Removed a layer"] {
            assert!(page.contains(action), "{action} in the history");
        }
    })
    .await;
}

#[tokio::test]
async fn a_stored_daily_rotation_in_berlin_hands_over_at_nine_local_across_the_change() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let auth = format!("Token {}", create_api_key(&app, "Script").await);
        let response = reqwest::Client::new()
            .post(app.url(&s.api()))
            .header("authorization", &auth)
            .json(&json!({
                "name": "Berlin",
                "time_zone": "Europe/Berlin",
                "layers": [{
                    "name": "Days",
                    "shift_length": 86400,
                    "rotation_start_time": "2026-03-25T09:00:00",
                    "users": [s.ada, s.mary],
                }],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        let schedule = created["unique_id"].as_str().unwrap().to_owned();

        // Shift 3 (Mary) from Sat 28 March 09:00 CET (08:00Z) to Sun 29 March 09:00 CEST (07:00Z).
        let before = on_call_at(&app, &schedule, utc("2026-03-29T06:59:59Z"))
            .await
            .unwrap();
        assert_eq!(before.name, "Mary Major");
        assert_eq!(before.until, Some(utc("2026-03-29T07:00:00Z")));
        let after = on_call_at(&app, &schedule, utc("2026-03-29T07:00:00Z"))
            .await
            .unwrap();
        assert_eq!(after.name, "Ada Lovelace");
        assert_eq!(after.until, Some(utc("2026-03-30T07:00:00Z")));
        // And back on Sun 25 October: 09:00 CET is 08:00Z again.
        let october = on_call_at(&app, &schedule, utc("2026-10-25T07:30:00Z"))
            .await
            .unwrap();
        assert_eq!(october.until, Some(utc("2026-10-25T08:00:00Z")));
        assert!(on_call_at(&app, &schedule, utc("2026-03-25T07:59:59Z"))
            .await
            .is_none());
    })
    .await;
}
