//! Roles, cell by cell of docs/roles.md: team users respond to incidents and read their team's
//! services; team managers (and owners and admins) change the team's configuration; only
//! owners and admins create teams and see every account. In pages and API alike.

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    add_integration, configured_webhook, create_schedule, create_service, create_team,
    default_team, deliveries_of, for_each_backend, integration_key_on, join, location,
    member_username, option_value, person, query, secret_on, status_of, trigger, Person, TestApp,
};

const WEBHOOK_URL: &str = "https://1.1.1.1/hook";
/// What a team user is told when they try to change their team's configuration (as the pages
/// show it, where the apostrophe before it is escaped).
const NOT_A_MANAGER: &str = "managers, admins and owners can change its services, integrations";
const ONLY_ADMINS_CREATE_TEAMS: &str = "Only owners and admins can create teams.";

/// The Default team with a service, a configured outgoing webhook and an API integration, and
/// two plain accounts in it: Mary, its manager, and Uma, a team user.
struct Setup {
    team: String,
    service: String,
    webhook: String,
    api: String,
    secret: String,
    key: String,
    manager: Person,
    user: Person,
}

impl Setup {
    async fn new(app: &TestApp) -> Setup {
        app.create_owner().await;
        let team = default_team(app).await;
        let service = create_service(app, "Checkout").await;
        let webhook = configured_webhook(app, &service, WEBHOOK_URL).await;
        let api = add_integration(app, &service, "incoming", "api").await;
        let secret = secret_on(
            &app.page(&format!("/services/{service}/integrations/{webhook}"))
                .await,
        );
        let key = integration_key_on(
            &app.page(&format!("/services/{service}/integrations/{api}"))
                .await,
        );
        let manager = person(app, ("Mary", "Manager"), "mary@example.com", "3").await;
        join(app, &team, "Mary Manager", "1").await;
        let user = person(app, ("Uma", "User"), "uma@example.com", "3").await;
        join(app, &team, "Uma User", "2").await;
        Setup {
            team,
            service,
            webhook,
            api,
            secret,
            key,
            manager,
            user,
        }
    }

    fn integration_page(&self, integration: &str) -> String {
        format!("/services/{}/integrations/{integration}", self.service)
    }

    fn api_services(&self) -> String {
        format!("/api/account/teams/{}/services/", self.team)
    }

    fn api_service(&self) -> String {
        format!("{}{}/", self.api_services(), self.service)
    }

    fn api_integrations(&self) -> String {
        format!("{}integrations/", self.api_service())
    }
}

async fn deliveries_count(app: &TestApp) -> i64 {
    query(app, |conn| {
        klaxon::db::schema::deliveries::table
            .count()
            .get_result::<i64>(conn)
    })
    .await
}

async fn assert_forbidden_page(response: Response, what: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
    let page = response.text().await.unwrap();
    assert!(page.contains(NOT_A_MANAGER), "{what}: {page}");
}

async fn assert_forbidden_json(response: Response, what: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains(NOT_A_MANAGER),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn a_team_user_reads_the_teams_services_and_is_offered_no_configuration() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let user = &s.user;

        let (status, list) = user.page(&app, "/services").await;
        assert_eq!(status, StatusCode::OK);
        assert!(list.contains(&format!(
            r#"<a href="/services/{}">Checkout</a>"#,
            s.service
        )));
        assert!(!list.contains("New service"));

        let (status, page) = user.page(&app, &format!("/services/{}", s.service)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("<h1>Checkout</h1>") && page.contains("Trigger incident"));
        assert!(!page.contains("/edit\""), "no Settings tab");

        let tab_path = format!("/services/{}/integrations", s.service);
        let (status, tab) = user.page(&app, &tab_path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(tab.contains("<strong>Hook</strong>") && tab.contains("<strong>API</strong>"));
        assert!(!tab.contains("Add integration") && !tab.contains(">Configure</a>"));
        assert!(!tab.contains("/edit\""), "no Settings tab");
        assert!(tab.contains(">View</a>"));

        let (status, hook) = user.page(&app, &s.integration_page(&s.webhook)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(hook.contains("<h1>Hook</h1>") && hook.contains("Outgoing Webhooks"));
        for hidden in [
            s.secret.as_str(),
            "whsec_",
            "Signing secret",
            "Rotate secret",
            "Send test event",
            ">Disable</button>",
            "Delete integration",
            r#"name="url""#,
            "/enabled\"",
        ] {
            assert!(!hook.contains(hidden), "{hidden} not shown");
        }
        assert!(hook.contains("View deliveries"), "deliveries can be read");

        let (status, api) = user.page(&app, &s.integration_page(&s.api)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!api.contains(&s.key) && !api.contains("integration-key"));
        assert!(api.contains("/alerts\""), "alerts can be read");
        let (status, _) = user
            .page(&app, &format!("{}/alerts", s.integration_page(&s.api)))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = user
            .page(
                &app,
                &format!("{}/deliveries", s.integration_page(&s.webhook)),
            )
            .await;
        assert_eq!(status, StatusCode::OK);

        // The API lets them read services and integrations, without keys or secrets.
        let services: Value = user
            .api(&app, Method::GET, &s.api_services())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(services[0]["name"], "Checkout");
        let response = user
            .api(&app, Method::GET, &s.api_service())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let list: Value = user
            .api(&app, Method::GET, &s.api_integrations())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list.as_array().unwrap().len(), 2);
        for integration in list.as_array().unwrap() {
            assert!(integration["integration_key"].is_null(), "{integration}");
        }
        let one: Value = user
            .api(
                &app,
                Method::GET,
                &format!("{}{}/", s.api_integrations(), s.api),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["name"], "API");
        assert!(one["integration_key"].is_null());
        assert!(!one.to_string().contains(&s.key));
    })
    .await;
}

#[tokio::test]
async fn a_team_user_cannot_create_change_or_delete_services() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let user = &s.user;
        let service_page = format!("/services/{}", s.service);

        assert_forbidden_page(user.get(&app, "/services/new").await, "new form").await;
        let response = user
            .post(&app, "/services", &[("team", &s.team), ("name", "Rogue")])
            .await;
        assert_forbidden_page(response, "create").await;
        let edit = format!("{service_page}/edit");
        assert_forbidden_page(user.get(&app, &edit).await, "edit form").await;
        let response = user
            .post(&app, &edit, &[("team", &s.team), ("name", "Renamed")])
            .await;
        assert_forbidden_page(response, "edit").await;
        let delete = format!("{service_page}/delete");
        assert_forbidden_page(user.get(&app, &delete).await, "delete page").await;
        assert_forbidden_page(user.post(&app, &delete, &[]).await, "delete").await;

        let response = user
            .api(&app, Method::POST, &s.api_services())
            .json(&json!({"name": "Rogue"}))
            .send()
            .await
            .unwrap();
        assert_forbidden_json(response, "API create").await;
        for method in [Method::PATCH, Method::PUT] {
            let response = user
                .api(&app, method.clone(), &s.api_service())
                .json(&json!({"name": "Renamed", "status": 0}))
                .send()
                .await
                .unwrap();
            assert_forbidden_json(response, &format!("API {method}")).await;
        }
        let response = user
            .api(&app, Method::DELETE, &s.api_service())
            .send()
            .await
            .unwrap();
        assert_forbidden_json(response, "API delete").await;

        let page = app.page(&service_page).await;
        assert!(page.contains("<h1>Checkout</h1>") && page.contains(">Active</span>"));
        assert!(!app.page("/services").await.contains("Rogue"));
    })
    .await;
}

#[tokio::test]
async fn a_team_user_cannot_add_configure_toggle_or_delete_integrations_nor_rotate_secrets() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let user = &s.user;
        let tab = format!("/services/{}/integrations", s.service);
        let hook = s.integration_page(&s.webhook);

        for direction in ["incoming", "outgoing"] {
            let response = user
                .get(&app, &format!("{tab}/new?direction={direction}"))
                .await;
            assert_forbidden_page(response, "add form").await;
        }
        let response = user
            .post(
                &app,
                &tab,
                &[
                    ("direction", "outgoing"),
                    ("application", "outgoing-webhooks"),
                ],
            )
            .await;
        assert_forbidden_page(response, "add").await;
        let response = user
            .post(
                &app,
                &hook,
                &[("name", "Mine"), ("url", "https://evil.example/")],
            )
            .await;
        assert_forbidden_page(response, "configure").await;
        let response = user.post(&app, &format!("{hook}/rotate-secret"), &[]).await;
        assert_forbidden_page(response, "rotate").await;
        let response = user
            .post(&app, &format!("{hook}/enabled"), &[("enabled", "false")])
            .await;
        assert_forbidden_page(response, "disable").await;
        let delete = format!("{hook}/delete");
        assert_forbidden_page(user.get(&app, &delete).await, "delete page").await;
        assert_forbidden_page(user.post(&app, &delete, &[]).await, "delete").await;
        let response = user
            .post(&app, &format!("{}/delete", s.integration_page(&s.api)), &[])
            .await;
        assert_forbidden_page(response, "delete the API integration").await;

        let response = user
            .api(&app, Method::POST, &s.api_integrations())
            .json(&json!({"name": "Mine", "application": "aa1dbb12-9901-4369-a384-017d5e5d5b89"}))
            .send()
            .await
            .unwrap();
        assert_forbidden_json(response, "API create").await;

        // Nothing changed: same name, URL, secret and key, still enabled, nothing added.
        let page = app.page(&hook).await;
        assert_eq!(secret_on(&page), s.secret);
        assert!(page.contains("<h1>Hook</h1>") && page.contains(WEBHOOK_URL));
        assert!(page.contains(">Disable</a>") && !page.contains("evil.example"));
        let page = app.page(&s.integration_page(&s.api)).await;
        assert_eq!(integration_key_on(&page), s.key);
        let tab_page = app.page(&tab).await;
        assert_eq!(tab_page.matches(">Configure</a>").count(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_team_user_cannot_redeliver_or_send_a_test_event() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let user = &s.user;
        let number = trigger(&app, &s.service, "Checkout is down").await;
        let rows = deliveries_of(&app, number).await;
        assert_eq!(rows.len(), 1);
        let before = deliveries_count(&app).await;

        let delivery = format!("/deliveries/{}", rows[0].unique_id);
        let (status, page) = user.page(&app, &delivery).await;
        assert_eq!(status, StatusCode::OK, "a team user reads a delivery");
        assert!(!page.contains("Redeliver"));
        let response = user.post(&app, &format!("{delivery}/redeliver"), &[]).await;
        assert_forbidden_page(response, "redeliver").await;
        let response = user
            .post(
                &app,
                &format!("{}/test-event", s.integration_page(&s.webhook)),
                &[],
            )
            .await;
        assert_forbidden_page(response, "test event").await;
        assert_eq!(deliveries_count(&app).await, before, "nothing queued");

        // The team's manager may do both.
        let response = s
            .manager
            .submit(&app, &delivery, &format!("{delivery}/redeliver"), &[])
            .await;
        assert!(location(&response).starts_with("/deliveries/msg_"));
        let hook = s.integration_page(&s.webhook);
        let response = s
            .manager
            .submit(&app, &hook, &format!("{hook}/test-event"), &[])
            .await;
        assert!(location(&response).starts_with("/deliveries/msg_"));
        assert_eq!(deliveries_count(&app).await, before + 2);
    })
    .await;
}

#[tokio::test]
async fn a_team_user_responds_to_incidents_but_cannot_silence_the_service() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let user = &s.user;

        let response = user
            .submit(
                &app,
                "/incidents/new",
                "/incidents",
                &[
                    ("service", &s.service),
                    ("title", "Payments fail"),
                    ("urgency", "1"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let page = location(&response);
        let number: i64 = page.strip_prefix("/incidents/").unwrap().parse().unwrap();
        let response = user
            .submit(&app, &page, &format!("{page}/acknowledge"), &[])
            .await;
        assert_eq!(location(&response), page);
        assert_eq!(status_of(&app, number).await, 2);
        let response = user
            .submit(
                &app,
                &page,
                &format!("{page}/notes"),
                &[("note", "Looking at the database")],
            )
            .await;
        assert_eq!(location(&response), page);
        let (_, shown) = user.page(&app, &page).await;
        let mary = option_value(&shown, "Mary Manager</option>");
        let response = user
            .submit(
                &app,
                &page,
                &format!("{page}/assign"),
                &[("assignee", &mary)],
            )
            .await;
        assert_eq!(location(&response), page);
        let response = user
            .submit(&app, &page, &format!("{page}/resolve"), &[])
            .await;
        assert_eq!(location(&response), page);
        assert_eq!(status_of(&app, number).await, 3);
        let (_, shown) = user.page(&app, &page).await;
        assert!(shown.contains("Looking at the database"));
        assert!(shown.contains("assigned to Mary Manager"));

        // And over the API.
        let response = user
            .api(&app, Method::POST, "/api/incidents/")
            .json(&json!({"title": "Queue backed up", "service": s.service}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let incident: Value = response.json().await.unwrap();
        let path = format!("/api/incidents/{}/", incident["incident_number"]);
        for (status, method) in [(2, Method::PUT), (3, Method::PATCH)] {
            let response = user
                .api(&app, method, &path)
                .json(&json!({"status": status}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.json::<Value>().await.unwrap()["status"], status);
        }
        let response = user
            .api(&app, Method::POST, &format!("{path}note/"))
            .json(&json!({"note": "A stuck consumer"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);

        // Responding is not configuring: putting the service under maintenance is refused.
        let response = user
            .api(&app, Method::PATCH, &s.api_service())
            .json(&json!({"under_maintenance": true}))
            .send()
            .await
            .unwrap();
        assert_forbidden_json(response, "maintenance").await;
        let response = user
            .post(
                &app,
                &format!("/services/{}/edit", s.service),
                &[("team", &s.team), ("name", "Checkout"), ("status", "4")],
            )
            .await;
        assert_forbidden_page(response, "maintenance").await;
    })
    .await;
}

#[tokio::test]
async fn only_owners_and_admins_create_teams() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        for (who, person) in [("team user", &s.user), ("team manager", &s.manager)] {
            let (status, teams) = person.page(&app, "/teams").await;
            assert_eq!(status, StatusCode::OK, "{who}");
            assert!(!teams.contains("New team"), "{who}");
            let (status, page) = person.page(&app, "/teams/new").await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
            assert!(page.contains(ONLY_ADMINS_CREATE_TEAMS), "{who}");
            let response = person.post(&app, "/teams", &[("name", "Rogue")]).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who}");
            let response = person
                .api(&app, Method::POST, "/api/account/teams/")
                .json(&json!({"name": "Rogue"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who}");
            let body: Value = response.json().await.unwrap();
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with(ONLY_ADMINS_CREATE_TEAMS),
                "{who}: {body}"
            );
        }
        assert!(!app.page("/teams").await.contains("Rogue"));

        let admin = person(&app, ("Alma", "Admin"), "alma@example.com", "2").await;
        let (_, teams) = admin.page(&app, "/teams").await;
        assert!(teams.contains("New team"));
        let response = admin
            .submit(&app, "/teams/new", "/teams", &[("name", "Payments")])
            .await;
        assert!(location(&response).starts_with("/teams/"));
        let response = admin
            .api(&app, Method::POST, "/api/account/teams/")
            .json(&json!({"name": "Search"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(
            app.page("/teams").await.contains("New team"),
            "the owner too"
        );
    })
    .await;
}

#[tokio::test]
async fn a_team_manager_adds_members_by_exact_email_without_a_list_of_every_account() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let _olga = person(&app, ("Olga", "Outsider"), "olga@example.com", "3").await;
        let _dora = person(&app, ("Dora", "Disabled"), "dora@example.com", "3").await;
        query(&app, |conn| {
            let dora = klaxon::db::users::find_by_email(conn, "dora@example.com")?.unwrap();
            klaxon::db::users::set_active(conn, dora.id, false)
        })
        .await;
        let team_page = format!("/teams/{}", s.team);
        let members = format!("{team_page}/members");
        // Owners (and admins) pick from the list of every active account.
        let owners_view = app.page(&team_page).await;
        assert!(owners_view.contains(r#"<select id="username""#));
        assert!(owners_view.contains("Olga Outsider (olga@example.com)"));

        let (status, page) = s.manager.page(&app, &team_page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Add member") && page.contains(r#"name="email""#));
        assert!(
            !page.contains(r#"<select id="username""#),
            "no list of accounts"
        );
        assert!(!page.contains("olga@example.com") && !page.contains("Olga Outsider"));
        assert!(!page.contains("dora@example.com"));

        // An unknown and a disabled address get the same answer.
        let mut answers = Vec::new();
        for email in ["nobody@example.com", "dora@example.com"] {
            let response = s
                .manager
                .submit(
                    &app,
                    &team_page,
                    &members,
                    &[("email", email), ("role", "2")],
                )
                .await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{email}");
            let page = response.text().await.unwrap();
            assert!(
                page.contains(r#"id="email-error">No active account has this email address.</p>"#)
            );
            answers.push(page.replace(email, "EMAIL"));
        }
        assert_eq!(answers[0], answers[1]);
        // The list path is for owners and admins: a manager's username is not read.
        let olga = option_value(&app.page(&team_page).await, "Olga Outsider (");
        let response = s
            .manager
            .submit(
                &app,
                &team_page,
                &members,
                &[("username", &olga), ("role", "2")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        let response = s
            .manager
            .submit(
                &app,
                &team_page,
                &members,
                &[("email", " OLGA@example.com "), ("role", "2")],
            )
            .await;
        assert_eq!(location(&response), team_page);
        let (_, page) = s.manager.page(&app, &team_page).await;
        assert!(page.contains("Olga Outsider joined the team."));

        // A team user changes no members and sees no form for it.
        let (_, page) = s.user.page(&app, &team_page).await;
        assert!(!page.contains("Add member") && !page.contains("/remove\""));
        let response = s
            .user
            .post(
                &app,
                &members,
                &[("email", "nobody@example.com"), ("role", "1")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        // Neither sees the users list of the account.
        for person in [&s.user, &s.manager] {
            assert_eq!(
                person.get(&app, "/settings/users").await.status(),
                StatusCode::FORBIDDEN
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_team_manager_changes_their_teams_services_integrations_and_secrets() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let mary = &s.manager;
        let other = create_team(&app, "Other").await;
        // A team she only uses is not one to put services in.
        let ops = create_team(&app, "Ops").await;
        join(&app, &ops, "Mary Manager", "2").await;

        let (_, list) = mary.page(&app, "/services").await;
        assert!(list.contains("New service"));
        let (status, form) = mary.page(&app, "/services/new").await;
        assert_eq!(status, StatusCode::OK);
        assert!(form.contains(&s.team), "the team she manages");
        assert!(!form.contains(&other) && !form.contains(&ops), "only the teams she manages");
        let response = mary
            .submit(&app, "/services/new", "/services", &[("team", &s.team), ("name", "Payments")])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let payments = location(&response).strip_prefix("/services/").unwrap().to_owned();

        let (_, page) = mary.page(&app, &format!("/services/{}", s.service)).await;
        assert!(page.contains(&format!(r#"href="/services/{}/edit""#, s.service)));
        let edit = format!("/services/{}/edit", s.service);
        let response = mary
            .submit(&app, &edit, &edit, &[("team", &s.team), ("name", "Checkout"), ("summary", "Hers")])
            .await;
        assert_eq!(location(&response), format!("/services/{}", s.service));

        let tab = format!("/services/{}/integrations", s.service);
        let (_, page) = mary.page(&app, &tab).await;
        assert!(page.contains("Add integration") && page.contains(">Configure</a>"));
        let new = format!("{tab}/new?direction=outgoing");
        let response = mary
            .submit(&app, &new, &tab, &[("direction", "outgoing"), ("application", "outgoing-webhooks")])
            .await;
        assert_eq!(location(&response), tab);

        let hook = s.integration_page(&s.webhook);
        let (_, page) = mary.page(&app, &hook).await;
        assert_eq!(secret_on(&page), s.secret, "she sees the secret");
        let response = mary
            .submit(&app, &hook, &hook, &[("name", "Pager hook"), ("url", WEBHOOK_URL)])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let response = mary.submit(&app, &hook, &format!("{hook}/rotate-secret"), &[]).await;
        assert_eq!(location(&response), hook);
        let (_, page) = mary.page(&app, &hook).await;
        assert_ne!(secret_on(&page), s.secret, "rotated");
        for enabled in ["false", "true"] {
            let response = mary
                .submit(&app, &hook, &format!("{hook}/enabled"), &[("enabled", enabled)])
                .await;
            assert_eq!(location(&response), hook);
        }
        let (_, page) = mary.page(&app, &s.integration_page(&s.api)).await;
        assert_eq!(integration_key_on(&page), s.key, "she sees the key");
        let api_page = s.integration_page(&s.api);
        let response = mary
            .submit(&app, &format!("{api_page}/delete"), &format!("{api_page}/delete"), &[])
            .await;
        assert_eq!(location(&response), tab);

        // Over the API too, with keys shown.
        let list: Value = mary
            .api(&app, Method::GET, &s.api_integrations())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(list.as_array().unwrap().iter().all(|i| i["integration_type"] == 1));
        let response = mary
            .api(&app, Method::POST, &s.api_integrations())
            .json(&json!({"name": "Prometheus", "application": "aa1dbb12-9901-4369-a384-017d5e5d5b89"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(response.json::<Value>().await.unwrap()["integration_key"].is_string());
        let response = mary
            .api(&app, Method::PATCH, &s.api_service())
            .json(&json!({"summary": "Patched"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let created: Value = mary
            .api(&app, Method::POST, &s.api_services())
            .json(&json!({"name": "Temporary"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let temporary = format!("{}{}/", s.api_services(), created["unique_id"].as_str().unwrap());
        let response = mary.api(&app, Method::DELETE, &temporary).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);

        let delete = format!("/services/{payments}/delete");
        let response = mary.submit(&app, &delete, &delete, &[]).await;
        assert_eq!(location(&response), "/services");
    })
    .await;
}

#[tokio::test]
async fn a_team_manager_is_a_stranger_to_other_teams_and_a_user_where_only_a_user() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let mary = &s.manager;
        let other = create_team(&app, "Other").await;
        let response = app
            .submit(
                "/services/new",
                "/services",
                &[("team", &other), ("name", "Elsewhere")],
            )
            .await;
        let elsewhere = location(&response)
            .strip_prefix("/services/")
            .unwrap()
            .to_owned();

        for path in [
            format!("/teams/{other}"),
            format!("/services/{elsewhere}"),
            format!("/services/{elsewhere}/edit"),
            format!("/services/{elsewhere}/integrations"),
            format!("/services/{elsewhere}/integrations/new?direction=incoming"),
        ] {
            assert_eq!(
                mary.get(&app, &path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        for (action, fields) in [
            (
                format!("/services/{elsewhere}/edit"),
                vec![("team", other.as_str()), ("name", "Mine")],
            ),
            (format!("/services/{elsewhere}/delete"), vec![]),
            (
                format!("/teams/{other}/members"),
                vec![("email", "mary@example.com"), ("role", "1")],
            ),
        ] {
            let response = mary.post(&app, &action, &fields).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
        }
        let response = mary
            .post(&app, "/services", &[("team", &other), ("name", "Mine")])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "not a team she can choose"
        );
        assert!(response
            .text()
            .await
            .unwrap()
            .contains(r#"id="team-error">Choose a team.</p>"#));
        let api_other = format!("/api/account/teams/{other}/services/");
        for (method, path) in [
            (Method::GET, api_other.clone()),
            (Method::POST, api_other.clone()),
            (Method::PATCH, format!("{api_other}{elsewhere}/")),
            (Method::DELETE, format!("{api_other}{elsewhere}/")),
        ] {
            let response = mary
                .api(&app, method.clone(), &path)
                .json(&json!({"name": "Mine"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        }
        assert!(app
            .page(&format!("/services/{elsewhere}"))
            .await
            .contains("<h1>Elsewhere</h1>"));

        // A user of a third team: she sees its services but cannot move hers into it.
        let ops = create_team(&app, "Ops").await;
        join(&app, &ops, "Mary Manager", "2").await;
        let edit = format!("/services/{}/edit", s.service);
        let response = mary
            .post(&app, &edit, &[("team", &ops), ("name", "Checkout")])
            .await;
        assert_forbidden_page(response, "move into a team she only uses").await;
        let response = mary
            .post(&app, "/services", &[("team", &ops), ("name", "Ops tool")])
            .await;
        assert_forbidden_page(response, "create in a team she only uses").await;
        let (_, form) = mary.page(&app, "/services/new").await;
        assert!(!form.contains(&ops), "not offered");
        let (_, page) = mary.page(&app, &format!("/services/{}", s.service)).await;
        assert!(page.contains("<dt>Team</dt><dd>Default</dd>"));
    })
    .await;
}

#[tokio::test]
async fn owners_and_admins_change_every_teams_configuration() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        // An admin who belongs to no team.
        let admin = person(&app, ("Alma", "Admin"), "alma@example.com", "2").await;
        let (_, list) = admin.page(&app, "/services").await;
        assert!(list.contains("New service") && list.contains("Checkout"));
        let hook = s.integration_page(&s.webhook);
        let (status, page) = admin.page(&app, &hook).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(secret_on(&page), s.secret);
        let response = admin
            .submit(&app, &hook, &format!("{hook}/rotate-secret"), &[])
            .await;
        assert_eq!(location(&response), hook);
        let (_, page) = admin.page(&app, &s.integration_page(&s.api)).await;
        assert_eq!(integration_key_on(&page), s.key);
        let edit = format!("/services/{}/edit", s.service);
        let response = admin
            .submit(
                &app,
                &edit,
                &edit,
                &[("team", &s.team), ("name", "Checkout v2")],
            )
            .await;
        assert_eq!(location(&response), format!("/services/{}", s.service));
        let response = admin
            .api(&app, Method::PATCH, &s.api_service())
            .json(&json!({"status": 4}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let one: Value = admin
            .api(
                &app,
                Method::GET,
                &format!("{}{}/", s.api_integrations(), s.api),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(one["integration_key"].as_str(), Some(s.key.as_str()));
        // Admins pick members from the list of every account, or type an address.
        let team_page = format!("/teams/{}", s.team);
        let (_, team) = admin.page(&app, &team_page).await;
        assert!(team.contains(r#"<select id="username""#) && team.contains("(alma@example.com)"));
        let response = admin
            .submit(
                &app,
                &team_page,
                &format!("{team_page}/members"),
                &[("email", "alma@example.com"), ("role", "1")],
            )
            .await;
        assert_eq!(location(&response), team_page);
        let (_, team) = admin.page(&app, &team_page).await;
        assert!(team.contains("Alma Admin joined the team."));

        // The owner sees the same.
        assert!(app.page("/services").await.contains("New service"));
        let page = app.page(&format!("/services/{}", s.service)).await;
        assert!(page.contains(&format!(r#"href="/services/{}/edit""#, s.service)));
    })
    .await;
}

/// What a team user is told when they try to change a schedule, or someone else's overrides.
const NOT_A_SCHEDULE_MANAGER: &str = "managers, admins and owners can change its schedules";
const OTHERS_OVERRIDES: &str = "Team users can add and remove overrides for themselves only";

async fn assert_refused_page(response: Response, what: &str, message: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
    let page = response.text().await.unwrap();
    assert!(page.contains(message), "{what}: {page}");
}

async fn assert_refused_json(response: Response, what: &str, message: &str) {
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{what}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains(message),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn team_users_read_schedules_and_override_for_themselves_managers_change_them() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let schedule = create_schedule(&app, &s.team, "Primary", "UTC").await;
        let page = format!("/teams/{}/schedules/{schedule}", s.team);
        let uma = member_username(&app, &s.team, &schedule, "Uma User").await;
        let mary = member_username(&app, &s.team, &schedule, "Mary Manager").await;
        let api_list = format!("/api/account/teams/{}/schedules/", s.team);
        let api_one = format!("{api_list}{schedule}/");
        let layer = [
            ("name", "Daily"),
            ("shift_count", "1"),
            ("shift_unit", "days"),
            ("rotation_start_time", "2026-01-05T09:00"),
            ("restriction_type", "0"),
            ("users", uma.as_str()),
        ];
        let override_of = |who: &str| {
            json!({"user": who, "start_time": "2030-01-01T00:00:00Z", "end_time": "2030-01-02T00:00:00Z"})
        };

        // A team user reads the schedule, is offered no change but an override for themselves.
        let (status, body) = s.user.page(&app, &page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("Add layer") && !body.contains("Delete schedule"));
        assert!(body.contains("Add override"));
        assert!(!body.contains(&format!("value=\"{mary}\"")), "only themselves to pick");
        let response = s.user.get(&app, &format!("/teams/{}/schedules/new", s.team)).await;
        assert_refused_page(response, "the new schedule form", NOT_A_SCHEDULE_MANAGER).await;
        for (action, fields) in [
            (format!("/teams/{}/schedules", s.team), vec![("name", "Mine"), ("time_zone", "UTC")]),
            (format!("{page}/edit"), vec![("name", "Mine"), ("time_zone", "UTC")]),
            (format!("{page}/layers"), layer.to_vec()),
            (format!("{page}/delete"), vec![]),
        ] {
            let response = s.user.post(&app, &action, &fields).await;
            assert_refused_page(response, &action, NOT_A_SCHEDULE_MANAGER).await;
        }
        let response = s
            .user
            .post(
                &app,
                &format!("{page}/overrides"),
                &[("user", &mary), ("start_time", "2030-01-01T00:00"), ("end_time", "2030-01-02T00:00")],
            )
            .await;
        assert_refused_page(response, "an override for someone else", OTHERS_OVERRIDES).await;
        let response = s
            .user
            .post(
                &app,
                &format!("{page}/overrides"),
                &[("user", &uma), ("start_time", "2030-01-01T00:00"), ("end_time", "2030-01-02T00:00")],
            )
            .await;
        assert_eq!(location(&response), page, "an override for themselves");

        let response = s.user.api(&app, Method::GET, &api_one).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = s
            .user
            .api(&app, Method::POST, &api_list)
            .json(&json!({"name": "Mine", "time_zone": "UTC"}))
            .send()
            .await
            .unwrap();
        assert_refused_json(response, "creating a schedule", NOT_A_SCHEDULE_MANAGER).await;
        let response = s
            .user
            .api(&app, Method::PATCH, &api_one)
            .json(&json!({"name": "Mine"}))
            .send()
            .await
            .unwrap();
        assert_refused_json(response, "changing a schedule", NOT_A_SCHEDULE_MANAGER).await;
        let response = s
            .user
            .api(&app, Method::POST, &format!("{api_one}overrides/"))
            .json(&override_of(&mary))
            .send()
            .await
            .unwrap();
        assert_refused_json(response, "an override for someone else", OTHERS_OVERRIDES).await;
        let response = s
            .user
            .api(&app, Method::POST, &format!("{api_one}overrides/"))
            .json(&override_of(&uma))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);

        // The team's manager changes it.
        let response = s.manager.submit(&app, &format!("{page}/layers/new"), &format!("{page}/layers"), &layer).await;
        assert_eq!(location(&response), page);
        let response = s
            .manager
            .api(&app, Method::PATCH, &api_one)
            .json(&json!({"name": "Renamed"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);

        // Another team's schedule does not exist for them.
        let other = create_team(&app, "Elsewhere").await;
        let theirs = create_schedule(&app, &other, "Theirs", "UTC").await;
        for person in [&s.user, &s.manager] {
            let (status, _) = person.page(&app, &format!("/teams/{other}/schedules/{theirs}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            let response = person
                .api(&app, Method::GET, &format!("/api/account/teams/{other}/schedules/{theirs}/"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
        }
    })
    .await;
}

/// What a team user is told when they try to change an escalation policy.
const NOT_A_POLICY_MANAGER: &str = "managers, admins and owners can change its escalation policies";

#[tokio::test]
async fn team_users_read_escalation_policies_managers_change_them_strangers_see_none() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let (mary, uma) = (&s.manager, &s.user);
        let list = format!("/teams/{}/escalation-policies", s.team);
        let api = format!("/api/account/teams/{}/escalation_policies/", s.team);

        // Mary, a manager, creates one in the page and one through the API, and adds a rule.
        let response = mary
            .submit(&app, &format!("{list}/new"), &list, &[("name", "Night")])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "a manager creates"
        );
        let page = location(&response);
        let uma_key = option_value(&mary.page(&app, &page).await.1, "Uma User");
        let added = mary
            .submit(
                &app,
                &page,
                &format!("{page}/rules"),
                &[("delay", "0"), ("target", &uma_key)],
            )
            .await;
        assert_eq!(location(&added), page, "a manager adds a rule");
        let created = mary
            .api(&app, Method::POST, &api)
            .json(&json!({"name": "Day", "rules": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let day: Value = created.json().await.unwrap();
        let day_api = format!("{api}{}/", day["unique_id"].as_str().unwrap());

        // Uma, a team user, reads them and who is on call, and is offered no change.
        let (status, html) = uma.page(&app, &list).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Night") && !html.contains("New escalation policy"));
        let (status, html) = uma.page(&app, &page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("reaches Uma User now"));
        assert!(
            !html.contains("Add rule")
                && !html.contains("/edit\"")
                && !html.contains("Remove rule")
        );
        assert_eq!(uma.get(&app, "/oncall").await.status(), StatusCode::OK);
        for (method, path) in [(Method::GET, api.clone()), (Method::GET, day_api.clone())] {
            let response = uma.api(&app, method, &path).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        let oncall = format!("/api/account/teams/{}/oncall/", s.team);
        assert_eq!(
            uma.api(&app, Method::GET, &oncall)
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        let rule = page.clone() + "/rules";
        for (action, fields) in [
            (list.clone(), vec![("name", "Mine")]),
            (format!("{page}/edit"), vec![("name", "Mine")]),
            (
                rule.clone(),
                vec![("delay", "0"), ("target", uma_key.as_str())],
            ),
            (format!("{page}/delete"), vec![]),
        ] {
            let response = uma.post(&app, &action, &fields).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
            assert!(
                response
                    .text()
                    .await
                    .unwrap()
                    .contains(NOT_A_POLICY_MANAGER),
                "{action}"
            );
        }
        assert_eq!(
            uma.get(&app, &format!("{list}/new")).await.status(),
            StatusCode::FORBIDDEN
        );
        for (method, path) in [
            (Method::POST, api.clone()),
            (Method::PUT, day_api.clone()),
            (Method::PATCH, day_api.clone()),
            (Method::DELETE, day_api.clone()),
        ] {
            let response = uma
                .api(&app, method.clone(), &path)
                .json(&json!({"name": "Mine"}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap()
                    .contains(NOT_A_POLICY_MANAGER),
                "{body}"
            );
        }

        // Olga, in another team only, finds nothing there; the On call page lists only hers.
        let other = create_team(&app, "Other").await;
        let olga = person(&app, ("Olga", "Other"), "olga@example.com", "3").await;
        join(&app, &other, "Olga Other", "1").await;
        for path in [list.clone(), page.clone(), format!("{list}/new")] {
            assert_eq!(
                olga.get(&app, &path).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        assert_eq!(
            olga.post(&app, &rule, &[("delay", "0"), ("target", &uma_key)])
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
        for (method, path) in [
            (Method::GET, api.clone()),
            (Method::GET, day_api.clone()),
            (Method::DELETE, day_api.clone()),
            (Method::GET, oncall.clone()),
        ] {
            let response = olga.api(&app, method.clone(), &path).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        }
        let (_, html) = olga.page(&app, "/oncall").await;
        assert!(html.contains("Other") && !html.contains("Night"));
        // Her own team's policy is hers to change; the owner changes any team's.
        let theirs = format!("/teams/{other}/escalation-policies");
        let response = olga
            .submit(&app, &format!("{theirs}/new"), &theirs, &[("name", "Ours")])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let response = app
            .submit(&format!("{list}/new"), &list, &[("name", "Owner's")])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    })
    .await;
}

#[tokio::test]
async fn team_members_through_the_api_managers_change_them_users_read_them_strangers_see_none() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let (mary, uma) = (&s.manager, &s.user);
        let members = format!("/api/account/teams/{}/members/", s.team);
        let olga = person(&app, ("Olga", "Outsider"), "olga@example.com", "3").await;
        let call = |who: &Person, method: Method, path: String, body: Option<Value>| {
            let mut request = who.api(&app, method, &path);
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };

        // A team user reads the members; a stranger does not see the team.
        let (status, listed) = call(uma, Method::GET, members.clone(), None).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert_eq!(
            listed.as_array().unwrap().len(),
            3,
            "Ada, Mary and Uma: {listed}"
        );
        let (status, _) = call(&olga, Method::GET, members.clone(), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Mary, a manager, adds Olga by email address (managers see no list of accounts).
        let (status, refused) = call(
            uma,
            Method::POST,
            members.clone(),
            Some(json!({"user": "olga@example.com"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a team user: {refused}");
        let (status, bad) = call(
            mary,
            Method::POST,
            members.clone(),
            Some(json!({"user": "olga@example.com", "role": 3})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(bad["detail"].as_str().unwrap().contains("role"), "{bad}");
        let (status, added) = call(
            mary,
            Method::POST,
            members.clone(),
            Some(json!({"user": "olga@example.com"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        assert_eq!(added["role"], 2);
        let one = format!("{members}{}/", added["unique_id"].as_str().unwrap());

        // Made a manager, then a user again; Uma may do neither.
        let (status, _) = call(uma, Method::PATCH, one.clone(), Some(json!({"role": 1}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, promoted) =
            call(mary, Method::PATCH, one.clone(), Some(json!({"role": 1}))).await;
        assert_eq!(
            (status, promoted["role"].as_i64()),
            (StatusCode::OK, Some(1)),
            "{promoted}"
        );
        let (status, _) = call(mary, Method::PATCH, one.clone(), Some(json!({"role": 2}))).await;
        assert_eq!(status, StatusCode::OK);

        // The last manager stays one: with everyone else a team user, Mary cannot step down.
        let (_, listed) = call(mary, Method::GET, members.clone(), None).await;
        let path_of =
            |member: &Value| format!("{members}{}/", member["unique_id"].as_str().unwrap());
        let (marys, others): (Vec<&Value>, Vec<&Value>) = listed
            .as_array()
            .unwrap()
            .iter()
            .partition(|m| m["user"]["email"] == "mary@example.com");
        for other in others.iter().filter(|m| m["role"] == 1) {
            let (status, _) = call(
                mary,
                Method::PATCH,
                path_of(other),
                Some(json!({"role": 2})),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, kept) = call(
            mary,
            Method::PATCH,
            path_of(marys[0]),
            Some(json!({"role": 2})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{kept}");
        assert!(
            kept["detail"]
                .as_str()
                .unwrap()
                .contains("at least one manager"),
            "{kept}"
        );

        // Removed by Mary, not by Uma; then gone.
        let (status, _) = call(uma, Method::DELETE, one.clone(), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(mary, Method::DELETE, one.clone(), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = call(mary, Method::GET, one, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    })
    .await;
}

/// The username in the "Reset password" link of the users list's row for `name`.
fn reset_link(users_list: &str, name: &str) -> Option<String> {
    let row = &users_list[users_list.find(&format!("<td>{name}</td>"))?..];
    let row = &row[..row.find("</tr>")?];
    row.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.starts_with("/settings/users/") && href.ends_with("/password"))
        .map(str::to_owned)
}

#[tokio::test]
async fn only_owners_and_admins_reset_passwords_and_only_owners_reset_an_owners() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let list = app.page("/settings/users").await;
        let umas = reset_link(&list, "Uma User").expect("the owner may reset Uma's");
        let adas: String = query(&app, |conn| {
            klaxon::db::schema::users::table
                .find(1)
                .select(klaxon::db::schema::users::username)
                .get_result(conn)
        })
        .await;
        let adas = format!("/settings/users/{adas}/password");

        // Team managers and team users may not, and see no users list to start from.
        for (who, person, target) in [
            ("team manager", &s.manager, &umas),
            ("team user", &s.user, &umas),
            ("team user, for the owner", &s.user, &adas),
        ] {
            let (status, page) = person.page(&app, target).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
            assert!(
                page.contains("Only owners and admins can reset passwords."),
                "{who}: {page}"
            );
            let response = person
                .post(&app, target, &[("new_password", "velvet comet harbour 41")])
                .await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who}");
        }
        assert_eq!(
            s.user.get(&app, "/settings").await.status(),
            StatusCode::OK,
            "Uma is still signed in: nothing was reset"
        );

        // An admin resets a user's, but not an owner's (whoever sets it could act as them).
        let admin = person(&app, ("Alma", "Admin"), "alma@example.com", "2").await;
        let (_, list) = admin.page(&app, "/settings/users").await;
        assert_eq!(reset_link(&list, "Uma User").as_ref(), Some(&umas));
        assert_eq!(
            reset_link(&list, "Ada Lovelace"),
            None,
            "no link for the owner"
        );
        let (status, page) = admin.page(&app, &adas).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(page.contains("Only an owner can change another owner."));
        let response = admin
            .post(&app, &adas, &[("new_password", "velvet comet harbour 41")])
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        let response = admin
            .submit(
                &app,
                &umas,
                &umas,
                &[("new_password", "velvet comet harbour 41")],
            )
            .await;
        assert_eq!(location(&response), "/settings/users");
        assert_eq!(
            s.user.get(&app, "/settings").await.status(),
            StatusCode::SEE_OTHER,
            "Uma's session ended"
        );
        crate::helpers::signed_in_browser(&app, "uma@example.com", "velvet comet harbour 41").await;
        crate::helpers::signed_in_browser(&app, "ada@example.com", crate::helpers::OWNER_PASSWORD)
            .await;
    })
    .await;
}

#[tokio::test]
async fn the_last_manager_makes_someone_a_manager_from_the_team_page_and_can_then_leave() {
    for_each_backend(|app| async move {
        let s = Setup::new(&app).await;
        let team = create_team(&app, "Ops").await;
        let team_page = format!("/teams/{team}");
        join(&app, &team, "Mary Manager", "1").await;
        join(&app, &team, "Uma User", "2").await;
        let owner_page = app.page(&team_page).await;
        let action_of = |page: &str, label: &str| -> String {
            let end = page
                .find(&format!("aria-label=\"{label}\""))
                .unwrap_or_else(|| panic!("{label} offered"));
            let start = page[..end].rfind("action=\"").unwrap() + "action=\"".len();
            page[start..].split('"').next().unwrap().to_owned()
        };
        // The owner, who created the team, steps down to a team user: Mary stays its manager.
        let demote_ada = action_of(&owner_page, "Make Ada Lovelace a team user");
        let response = app.submit(&team_page, &demote_ada, &[("role", "2")]).await;
        assert_eq!(location(&response), team_page);
        assert!(app
            .page(&team_page)
            .await
            .contains("Ada Lovelace is now a user of the team."));

        // Uma, a team user, is offered no role change and cannot post one.
        let (_, page) = s.user.page(&app, &team_page).await;
        assert!(!page.contains("Make manager"), "{page}");
        let promote_uma = action_of(&owner_page, "Make Uma User a manager");
        let response = s.user.post(&app, &promote_uma, &[("role", "1")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        // Mary, the only manager left, is offered no "Make team user" for herself; she may
        // not leave, and is told what to do first...
        let (_, page) = s.manager.page(&app, &team_page).await;
        assert!(!page.contains("Make Mary Manager a team user"), "{page}");
        let marys: String = query(&app, |conn| {
            klaxon::db::schema::users::table
                .filter(klaxon::db::schema::users::email.eq("mary@example.com"))
                .select(klaxon::db::schema::users::username)
                .get_result(conn)
        })
        .await;
        let mary_leaves = format!("{team_page}/members/{marys}/remove");
        let response = s.manager.post(&app, &mary_leaves, &[]).await;
        assert_eq!(location(&response), team_page);
        let (_, page) = s.manager.page(&app, &team_page).await;
        assert!(
            page.contains("A team keeps at least one manager: make someone else a manager first."),
            "{page}"
        );
        let response = s
            .manager
            .post(
                &app,
                &format!("{team_page}/members/{marys}/role"),
                &[("role", "2")],
            )
            .await;
        assert_eq!(location(&response), team_page);
        let (_, page) = s.manager.page(&app, &team_page).await;
        assert!(page.contains("make someone else a manager first"), "{page}");

        // ...which the same page offers: she makes Uma a manager, then leaves.
        let response = s
            .manager
            .submit(&app, &team_page, &promote_uma, &[("role", "1")])
            .await;
        assert_eq!(location(&response), team_page);
        let (_, page) = s.manager.page(&app, &team_page).await;
        assert!(
            page.contains("Uma User is now a manager of the team."),
            "{page}"
        );
        let response = s.manager.post(&app, &mary_leaves, &[]).await;
        assert_eq!(
            location(&response),
            "/teams",
            "the team is no longer hers to see"
        );
        let (_, page) = s.manager.page(&app, "/teams").await;
        assert!(page.contains("Mary Manager left the team."), "{page}");
        let page = app.page(&team_page).await;
        assert!(!page.contains("Make Mary Manager"), "no longer a member");
        // Uma is now the last manager, and the others may be made managers.
        assert!(!page.contains("Make Uma User a team user"), "{page}");
        assert!(page.contains("aria-label=\"Make Ada Lovelace a manager\""));

        // A role that is neither is refused.
        let response = app.submit(&team_page, &promote_uma, &[("role", "3")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    })
    .await;
}
