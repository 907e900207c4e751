//! Schedules made through the pages, as a team manager would, and what their pages say.

use reqwest::{Response, StatusCode};

use super::{location, option_value, TestApp};

/// The owner creates a schedule in the team and returns its id.
pub async fn create_schedule(app: &TestApp, team: &str, name: &str, time_zone: &str) -> String {
    let response = app
        .submit(
            &format!("/teams/{team}/schedules/new"),
            &format!("/teams/{team}/schedules"),
            &[
                ("name", name),
                ("time_zone", time_zone),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "schedule {name} created"
    );
    location(&response)
        .rsplit('/')
        .next()
        .expect("redirect to the schedule")
        .to_owned()
}

/// The owner submits the "Add layer" form with `fields` (people as usernames, in `users`).
pub async fn submit_layer(
    app: &TestApp,
    team: &str,
    schedule: &str,
    fields: &[(&str, &str)],
) -> Response {
    let page = format!("/teams/{team}/schedules/{schedule}");
    app.submit(
        &format!("{page}/layers/new"),
        &format!("{page}/layers"),
        fields,
    )
    .await
}

/// The username of the team member called `name` ("Ada Lovelace"), as the layer form lists them.
pub async fn member_username(app: &TestApp, team: &str, schedule: &str, name: &str) -> String {
    let page = app
        .page(&format!("/teams/{team}/schedules/{schedule}/layers/new"))
        .await;
    option_value(&page, name)
}

/// The text of the schedule page's "Now" entry (who is on call, and until when).
pub fn on_call_now(page: &str) -> String {
    let start = page.find("<dt>Now</dt>").expect("an on-call section");
    let end = page[start..].find("</dd>").expect("its end") + start;
    page[start..end].to_owned()
}
