//! What tests build before they check something, made as a person would: teams, services,
//! integrations and incidents through the pages, alerts through the Events API.

use reqwest::StatusCode;
use serde_json::Value;

use super::{location, option_value, TestApp};

/// The team the owner got with the install.
pub async fn default_team(app: &TestApp) -> String {
    let page = app.page("/teams").await;
    let start = page.find("<a href=\"/teams/").expect("a team listed") + "<a href=\"/teams/".len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The owner creates a team and returns its id.
pub async fn create_team(app: &TestApp, name: &str) -> String {
    let response = app.submit("/teams/new", "/teams", &[("name", name)]).await;
    location(&response)
        .strip_prefix("/teams/")
        .expect("redirect to the team")
        .to_owned()
}

/// The owner adds someone to a team by picking them ("Grace Hopper") from the list, with a
/// role (1 manager, 2 user).
pub async fn join(app: &TestApp, team: &str, name: &str, role: &str) {
    let team_page = format!("/teams/{team}");
    let username = option_value(&app.page(&team_page).await, &format!("{name} ("));
    let response = app
        .submit(
            &team_page,
            &format!("{team_page}/members"),
            &[("username", &username), ("role", role)],
        )
        .await;
    assert_eq!(location(&response), team_page, "{name} joins");
}

/// Creates a service through the form and returns its id.
pub async fn create_service(app: &TestApp, name: &str) -> String {
    let team = default_team(app).await;
    let response = app
        .submit(
            "/services/new",
            "/services",
            &[
                ("team", &team),
                ("name", name),
                ("summary", "Main API"),
                ("description", "Serves the app"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
        .strip_prefix("/services/")
        .expect("redirect to the service")
        .to_owned()
}

/// Saves the service's settings form: the default team, the name "Checkout", and `fields`.
pub async fn edit_service(app: &TestApp, service: &str, fields: &[(&str, &str)]) {
    let team = default_team(app).await;
    let edit = format!("/services/{service}/edit");
    let mut form = vec![("team", team.as_str()), ("name", "Checkout")];
    form.extend_from_slice(fields);
    let response = app.submit(&edit, &edit, &form).await;
    assert_eq!(location(&response), format!("/services/{service}"));
}

/// Adds an integration as the "Add integration" page does and returns its id.
pub async fn add_integration(
    app: &TestApp,
    service: &str,
    direction: &str,
    application: &str,
) -> String {
    add_integration_and_read_tab(app, service, direction, application)
        .await
        .0
}

/// Like `add_integration`, also returning the tab as shown right after (with its flash).
pub async fn add_integration_and_read_tab(
    app: &TestApp,
    service: &str,
    direction: &str,
    application: &str,
) -> (String, String) {
    let tab_path = format!("/services/{service}/integrations");
    let before = configure_links(&app.page(&tab_path).await, service);
    let page = format!("{tab_path}/new?direction={direction}");
    let response = app
        .submit(
            &page,
            &tab_path,
            &[("direction", direction), ("application", application)],
        )
        .await;
    assert_eq!(location(&response), tab_path);
    let tab = app.page(&tab_path).await;
    let added: Vec<String> = configure_links(&tab, service)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert_eq!(added.len(), 1, "one integration added");
    (added[0].clone(), tab)
}

/// Ids of the integrations the tab lists with a "Configure" link.
fn configure_links(tab: &str, service: &str) -> Vec<String> {
    let marker = format!(r#"href="/services/{service}/integrations/"#);
    tab.split(&marker)
        .skip(1)
        .filter_map(|rest| {
            rest.split_once(r#"">Configure</a>"#)
                .map(|(id, _)| id.to_owned())
        })
        .filter(|id| !id.contains('"'))
        .collect()
}

/// An outgoing webhook integration with a URL, ready to get deliveries.
pub async fn configured_webhook(app: &TestApp, service: &str, url: &str) -> String {
    let integration = add_integration(app, service, "outgoing", "outgoing-webhooks").await;
    let configure = format!("/services/{service}/integrations/{integration}");
    app.submit(&configure, &configure, &[("name", "Hook"), ("url", url)])
        .await;
    integration
}

/// The signing secret an outgoing webhook's page shows.
pub fn secret_on(page: &str) -> String {
    let marker = r#"<code class="secret" id="signing-secret">"#;
    let start = page.find(marker).expect("secret shown") + marker.len();
    page[start..].split('<').next().unwrap().to_owned()
}

/// The integration key an API integration's page shows.
pub fn integration_key_on(page: &str) -> String {
    let marker = r#"<code id="integration-key">"#;
    page[page.find(marker).expect("the page shows the key") + marker.len()..]
        .split('<')
        .next()
        .unwrap()
        .to_owned()
}

/// A service with an "API" integration; returns (service id, integration id, events URL path).
pub async fn api_integration(app: &TestApp) -> (String, String, String) {
    let service = create_service(app, "Monitored").await;
    let (integration, events) = api_integration_on(app, &service).await;
    (service, integration, events)
}

/// An "API" integration added to `service`; returns (integration id, events URL path).
pub async fn api_integration_on(app: &TestApp, service: &str) -> (String, String) {
    let integration = add_integration(app, service, "incoming", "api").await;
    let page = app
        .page(&format!("/services/{service}/integrations/{integration}"))
        .await;
    let key = integration_key_on(&page);
    (integration, format!("/api/events/{key}/"))
}

/// Posts an alert to an events URL path (`/api/events/KEY/`); the answer's status and body.
pub async fn post_event(app: &TestApp, events: &str, body: Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(app.url(events))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Triggers a high-urgency incident through the form and returns its number.
pub async fn trigger(app: &TestApp, service: &str, title: &str) -> i64 {
    trigger_with_urgency(app, service, title, "1").await
}

/// Triggers an incident of this urgency (`"1"` high, `"0"` low) and returns its number.
pub async fn trigger_with_urgency(app: &TestApp, service: &str, title: &str, urgency: &str) -> i64 {
    let response = app
        .submit(
            "/incidents/new",
            "/incidents",
            &[
                ("service", service),
                ("title", title),
                ("summary", "Disk is filling up"),
                ("urgency", urgency),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "trigger {title}");
    location(&response)
        .strip_prefix("/incidents/")
        .unwrap()
        .parse()
        .unwrap()
}

/// Presses a button of the incident's page ("acknowledge", "resolve"); returns the page after.
pub async fn act(app: &TestApp, number: i64, action: &str) -> String {
    let page = format!("/incidents/{number}");
    let response = app.submit(&page, &format!("{page}/{action}"), &[]).await;
    assert_eq!(location(&response), page);
    app.page(&page).await
}
