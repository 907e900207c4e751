//! Escalation policies: made and edited in the pages and the API, used by services, resolved
//! to who they reach now (the policy, service and On call pages, the on-call API), deleted
//! and their people removed only safely, every change in the audit trail; and the upgrade
//! that gives every existing team its Default policy.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    backends, create_api_key, create_schedule, create_service, create_team, default_team, join,
    location, option_value, person, query, Backend, Person, TestApp, TestDatabase,
};

/// The owner, with the browser `app` signs in with and an API key.
async fn owner(app: &TestApp) -> Person {
    let key = create_api_key(app, "Policies").await;
    Person {
        browser: app.client.clone(),
        auth: format!("Token {key}"),
    }
}

fn policies_api(team: &str) -> String {
    format!("/api/account/teams/{team}/escalation_policies/")
}

async fn json_of(response: reqwest::Result<reqwest::Response>) -> (StatusCode, Value) {
    let response = response.expect("the app answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The owner's username, as the Default policy of their first team names it.
async fn owner_username(app: &TestApp, me: &Person, team: &str) -> String {
    let (_, list) = json_of(me.api(app, Method::GET, &policies_api(team)).send().await).await;
    list[0]["rules"][0]["targets"][0]["target_id"]
        .as_str()
        .expect("the Default policy targets the owner")
        .to_owned()
}

/// Creates a policy through the form and returns its page's path.
async fn new_policy_page(app: &TestApp, team: &str, name: &str) -> String {
    let list = format!("/teams/{team}/escalation-policies");
    let response = app
        .submit(
            &format!("{list}/new"),
            &list,
            &[("name", name), ("repeat_policy", "2")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "policy created");
    location(&response)
}

fn policy_uid(page_path: &str) -> String {
    page_path.rsplit('/').next().unwrap().to_owned()
}

/// The rule ids of a policy, in order, and each rule's targets as `type:id`.
async fn rules_of(
    app: &TestApp,
    me: &Person,
    team: &str,
    policy: &str,
) -> Vec<(String, i64, Vec<String>)> {
    let (status, body) = json_of(
        me.api(
            app,
            Method::GET,
            &format!("{}{policy}/", policies_api(team)),
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| {
            (
                rule["unique_id"].as_str().unwrap().to_owned(),
                rule["delay"].as_i64().unwrap(),
                rule["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| format!("{}:{}", t["target_type"], t["target_id"].as_str().unwrap()))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_manager_builds_a_policy_rule_by_rule_in_the_pages() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        person(&app, ("Mary", "Manager"), "mary@example.com", "3").await;
        join(&app, &team, "Mary Manager", "2").await;
        let ada = owner_username(&app, &me, &team).await;
        let page = new_policy_page(&app, &team, "Checkout on call").await;
        let policy = policy_uid(&page);
        let html = app.page(&page).await;
        assert!(
            html.contains("Checkout on call") && html.contains("2 times"),
            "{html}"
        );
        assert!(
            html.contains("would reach nobody"),
            "a policy without rules warns"
        );
        let mary = option_value(&html, "Mary Manager");

        let rules = format!("{page}/rules");
        let added = app
            .submit(
                &page,
                &rules,
                &[("delay", "0"), ("target", &format!("user:{ada}"))],
            )
            .await;
        assert_eq!(location(&added), page);
        app.submit(&page, &rules, &[("delay", "10"), ("target", &mary)])
            .await;
        let listed = rules_of(&app, &me, &team, &policy).await;
        assert_eq!(
            listed
                .iter()
                .map(|(_, delay, targets)| (*delay, targets.clone()))
                .collect::<Vec<_>>(),
            vec![
                (0, vec![format!("2:{ada}")]),
                (10, vec![format!("2:{}", mary.trim_start_matches("user:"))]),
            ]
        );
        let html = app.page(&page).await;
        assert!(!html.contains("would reach nobody"));
        assert!(
            html.contains("reaches Ada Lovelace now") && html.contains("reaches Mary Manager now")
        );

        // Level 2 moves up; its delay and targets change; it moves back down; then the other
        // rule goes.
        let second = listed[1].0.clone();
        let moved = app
            .submit(
                &page,
                &format!("{rules}/{second}/move"),
                &[("direction", "up")],
            )
            .await;
        assert_eq!(location(&moved), page);
        app.submit(&page, &format!("{rules}/{second}/delay"), &[("delay", "5")])
            .await;
        app.submit(
            &page,
            &format!("{rules}/{second}/targets"),
            &[("target", &format!("user:{ada}"))],
        )
        .await;
        let listed = rules_of(&app, &me, &team, &policy).await;
        assert_eq!(listed[0].0, second, "the rule moved up");
        assert_eq!((listed[0].1, listed[0].2.len()), (5, 2));

        // Back down it goes, with its delay and targets; the last rule has no "Move down"
        // button, and a forged one is refused.
        let first = listed[1].0.clone();
        let html = app.page(&page).await;
        assert_eq!(html.matches(">Move down<").count(), 1, "{html}");
        assert_eq!(html.matches(">Move up<").count(), 1, "{html}");
        let moved = app
            .submit(
                &page,
                &format!("{rules}/{second}/move"),
                &[("direction", "down")],
            )
            .await;
        assert_eq!(location(&moved), page);
        let listed = rules_of(&app, &me, &team, &policy).await;
        assert_eq!(
            listed.iter().map(|(id, ..)| id.clone()).collect::<Vec<_>>(),
            vec![first.clone(), second.clone()],
            "the rule moved down"
        );
        assert_eq!((listed[0].1, listed[0].2.len()), (0, 1));
        assert_eq!((listed[1].1, listed[1].2.len()), (5, 2));
        let refused = app
            .submit(
                &page,
                &format!("{rules}/{second}/move"),
                &[("direction", "down")],
            )
            .await;
        assert_eq!(location(&refused), page);
        assert!(app
            .page(&page)
            .await
            .contains("Level 2 is already the last rule."));
        let listed = rules_of(&app, &me, &team, &policy).await;
        assert_eq!(
            listed.iter().map(|(id, ..)| id.clone()).collect::<Vec<_>>(),
            vec![first.clone(), second.clone()],
            "the order is unchanged"
        );

        app.submit(
            &page,
            &format!("{rules}/{second}/targets/remove"),
            &[("target", &mary)],
        )
        .await;
        app.submit(&page, &format!("{rules}/{first}/remove"), &[])
            .await;
        let listed = rules_of(&app, &me, &team, &policy).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, second);
        assert_eq!(
            (listed[0].1, listed[0].2.clone()),
            (5, vec![format!("2:{ada}")])
        );

        // The settings form changes the fields and keeps the rules.
        let edit = format!("{page}/edit");
        let saved = app
            .submit(
                &edit,
                &edit,
                &[
                    ("name", "Checkout"),
                    ("repeat_policy", "0"),
                    ("move_to_next", "on"),
                ],
            )
            .await;
        assert_eq!(location(&saved), page);
        let (_, body) = json_of(
            me.api(
                &app,
                Method::GET,
                &format!("{}{policy}/", policies_api(&team)),
            )
            .send()
            .await,
        )
        .await;
        assert_eq!(
            (
                body["name"].as_str(),
                body["repeat_policy"].as_i64(),
                body["move_to_next"].as_bool()
            ),
            (Some("Checkout"), Some(0), Some(true))
        );
        assert_eq!(body["rules"].as_array().unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn bad_rules_and_fields_are_refused_with_a_message_next_to_the_field() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        let ada = owner_username(&app, &me, &team).await;
        let other_team = create_team(&app, "Payments").await;
        person(&app, ("Olga", "Other"), "olga@example.com", "3").await;
        join(&app, &other_team, "Olga Other", "2").await;
        let theirs = new_policy_page(&app, &other_team, "Theirs").await;
        let olga = option_value(&app.page(&theirs).await, "Olga Other")
            .trim_start_matches("user:")
            .to_owned();
        let page = new_policy_page(&app, &team, "Checkout").await;
        let rules = format!("{page}/rules");

        let refused = app.submit(&page, &rules, &[("delay", "-1"), ("target", &format!("user:{ada}"))]).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let html = refused.text().await.unwrap();
        assert!(html.contains(r#"id="new-delay-error""#) && html.contains("Enter whole minutes from 0"), "{html}");
        assert!(html.contains(r#"value="-1""#), "the typed delay is kept");
        for target in ["user:nobody", "schedule:00000000-0000-0000-0000-000000000000", ""] {
            let refused = app.submit(&page, &rules, &[("delay", "0"), ("target", target)]).await;
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{target}");
            assert!(refused.text().await.unwrap().contains(r#"id="new-target-error""#));
        }
        // Olga is a member of another team only.
        let refused = app.submit(&page, &rules, &[("delay", "0"), ("target", &format!("user:{olga}"))]).await;
        assert!(refused.text().await.unwrap().contains("No member of this team has this username."));
        let edit = format!("{page}/edit");
        let refused = app.submit(&edit, &edit, &[("name", "Checkout"), ("repeat_policy", "11")]).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let html = refused.text().await.unwrap();
        assert!(html.contains(r#"id="repeat_policy-error""#) && html.contains("from 0 to 10"));
        assert!(rules_of(&app, &me, &team, &policy_uid(&page)).await.is_empty(), "nothing was stored");

        let api = policies_api(&team);
        let user_target = json!([{"target_type": 2, "target_id": ada}]);
        for (body, needle) in [
            (json!({"name": "X", "rules": [{"delay": -1, "targets": user_target}]}), "delay"),
            (json!({"name": "X", "repeat_policy": 11, "rules": []}), "repeat_policy"),
            (json!({"name": "X", "rules": [{"delay": 0, "targets": [{"target_type": 2, "target_id": "nobody"}]}]}), "No member of this team"),
            (json!({"name": "X", "rules": [{"delay": 0, "targets": [{"target_type": 2, "target_id": olga}]}]}), "No member of this team"),
            (json!({"name": "X", "rules": [{"delay": 0, "targets": [{"target_type": 1, "target_id": "nope"}]}]}), "No schedule of this team"),
            (json!({"name": "X", "rules": [{"delay": 0, "targets": [{"target_type": 3, "target_id": ada}]}]}), "target_type"),
            (json!({"name": "X", "rules": [{"delay": 0, "targets": []}]}), "at least one target"),
            (json!({"name": "X", "rules": [{"delay": "soon", "targets": user_target}]}), "delay"),
            (json!({"rules": []}), "name"),
        ] {
            let (status, answer) = json_of(me.api(&app, Method::POST, &api).json(&body).send().await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
            assert!(answer["detail"].as_str().unwrap().contains(needle), "{body} → {answer}");
        }
        let (_, list) = json_of(me.api(&app, Method::GET, &api).send().await).await;
        assert_eq!(list.as_array().unwrap().len(), 2, "only Default and Checkout exist");
    })
    .await;
}

#[tokio::test]
async fn the_api_speaks_zendutys_shape_for_policies_and_rules() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        let ada = owner_username(&app, &me, &team).await;
        let api = policies_api(&team);
        // As Zenduty's SDK sends rules: a delay with a fraction, "postition".
        let body = json!({
            "name": "Primary",
            "summary": "s",
            "description": "d",
            "rules": [
                {"delay": 10.4, "postition": 1, "targets": [{"target_type": 2, "target_id": ada}]},
                {"delay": 0, "postition": 0, "targets": [{"target_type": 2, "target_id": ada}]},
            ],
        });
        let (status, created) = json_of(me.api(&app, Method::POST, &api).json(&body).send().await).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let mut keys: Vec<&str> = created.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["assignment_settings", "connections", "description", "global_ep", "move_to_next", "name", "repeat_policy", "rules", "summary", "team", "unique_id"]);
        assert_eq!(created["team"], team.as_str());
        let rules = created["rules"].as_array().unwrap();
        assert_eq!(
            rules.iter().map(|r| (r["position"].as_i64().unwrap(), r["delay"].as_i64().unwrap())).collect::<Vec<_>>(),
            [(0, 0), (1, 10)],
            "ordered by position, minutes rounded"
        );
        let mut rule_keys: Vec<&str> = rules[0].as_object().unwrap().keys().map(String::as_str).collect();
        rule_keys.sort_unstable();
        assert_eq!(rule_keys, ["delay", "position", "targets", "unique_id"]);
        assert_eq!(rules[0]["targets"], json!([{"target_type": 2, "target_id": ada}]));
        let uid = created["unique_id"].as_str().unwrap().to_owned();
        let one = format!("{api}{uid}/");

        // PATCH keeps what it does not name; PUT with rules replaces them, keeping known ids.
        let (status, patched) = json_of(me.api(&app, Method::PATCH, &one).json(&json!({"name": "Renamed", "repeat_policy": 3})).send().await).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!((patched["name"].as_str(), patched["repeat_policy"].as_i64(), patched["rules"].as_array().unwrap().len()), (Some("Renamed"), Some(3), 2));
        let kept = rules[1]["unique_id"].clone();
        let (status, put) = json_of(me.api(&app, Method::PUT, &one).json(&json!({
            "name": "Renamed",
            "rules": [{"unique_id": kept, "delay": 15, "position": 0, "targets": [{"target_type": 2, "target_id": ada}]}],
        })).send().await).await;
        assert_eq!(status, StatusCode::OK, "{put}");
        assert_eq!(put["rules"].as_array().unwrap().len(), 1);
        assert_eq!((put["rules"][0]["unique_id"].clone(), put["rules"][0]["delay"].as_i64()), (kept, Some(15)));
        let (_, got) = json_of(me.api(&app, Method::GET, &one).send().await).await;
        assert_eq!(got, put);

        // Another team's id under this team, and a team user, are refused.
        let other = create_team(&app, "Payments").await;
        let wrong = format!("{}{uid}/", policies_api(&other));
        assert_eq!(me.api(&app, Method::GET, &wrong).send().await.unwrap().status(), StatusCode::NOT_FOUND);

        assert_eq!(me.api(&app, Method::DELETE, &one).send().await.unwrap().status(), StatusCode::NO_CONTENT);
        let (status, gone) = json_of(me.api(&app, Method::GET, &one).send().await).await;
        assert_eq!((status, gone["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Not found.")));
    })
    .await;
}

#[tokio::test]
async fn services_use_their_teams_policies_and_a_new_team_gets_a_default_one() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        let ada = owner_username(&app, &me, &team).await;
        let (_, list) = json_of(me.api(&app, Method::GET, &policies_api(&team)).send().await).await;
        let default_uid = list[0]["unique_id"].as_str().unwrap().to_owned();
        assert_eq!(list[0]["name"], "Default");

        // A new team: a Default policy with its manager at once.
        let payments = create_team(&app, "Payments").await;
        let (_, list) = json_of(me.api(&app, Method::GET, &policies_api(&payments)).send().await).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["name"], "Default");
        assert_eq!(list[0]["rules"], json!([{"unique_id": list[0]["rules"][0]["unique_id"], "delay": 0, "position": 0, "targets": [{"target_type": 2, "target_id": ada}]}]));
        let payments_default = list[0]["unique_id"].as_str().unwrap().to_owned();

        // A service made in the page gets its team's Default, shown on its page.
        let service = create_service(&app, "Checkout").await;
        let services_api = format!("/api/account/teams/{team}/services/");
        let (_, got) = json_of(me.api(&app, Method::GET, &format!("{services_api}{service}/")).send().await).await;
        assert_eq!(got["escalation_policy"], default_uid.as_str());
        let html = app.page(&format!("/services/{service}")).await;
        assert!(html.contains(&format!("/escalation-policies/{default_uid}\">Default</a>")), "{html}");
        assert!(html.contains("reaches now: Ada Lovelace"));

        // The form picks another policy of the team; one of another team is refused there.
        let page = new_policy_page(&app, &team, "Night").await;
        let night = policy_uid(&page);
        let edit = format!("/services/{service}/edit");
        let form = app.page(&edit).await;
        assert!(form.contains(&format!(r#"<option value="{default_uid}" selected>"#)), "{form}");
        let saved = app.submit(&edit, &edit, &[("team", &team), ("name", "Checkout"), ("escalation_policy", &night)]).await;
        assert_eq!(location(&saved), format!("/services/{service}"));
        let refused = app.submit(&edit, &edit, &[("team", &team), ("name", "Checkout"), ("escalation_policy", &payments_default)]).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert!(refused.text().await.unwrap().contains("Choose an escalation policy of the service"));

        // The API reads and writes the field: a uid, null, another team's (refused).
        let (_, got) = json_of(me.api(&app, Method::GET, &format!("{services_api}{service}/")).send().await).await;
        assert_eq!(got["escalation_policy"], night.as_str());
        let (status, created) = json_of(me.api(&app, Method::POST, &services_api).json(&json!({"name": "Search"})).send().await).await;
        assert_eq!((status, created["escalation_policy"].as_str()), (StatusCode::CREATED, Some(default_uid.as_str())));
        let search = format!("{services_api}{}/", created["unique_id"].as_str().unwrap());
        let (_, none) = json_of(me.api(&app, Method::PATCH, &search).json(&json!({"escalation_policy": null})).send().await).await;
        assert!(none["escalation_policy"].is_null(), "{none}");
        let (status, refused) = json_of(me.api(&app, Method::PATCH, &search).json(&json!({"escalation_policy": payments_default})).send().await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        let (_, set) = json_of(me.api(&app, Method::PUT, &search).json(&json!({"escalation_policy": night})).send().await).await;
        assert_eq!(set["escalation_policy"], night.as_str());
    })
    .await;
}

#[tokio::test]
async fn the_webhook_payload_names_the_services_policy() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        let (_, list) = json_of(me.api(&app, Method::GET, &policies_api(&team)).send().await).await;
        let default_uid = list[0]["unique_id"].as_str().unwrap().to_owned();
        let service = create_service(&app, "Checkout").await;
        crate::helpers::configured_webhook(&app, &service, "https://1.1.1.1/hook").await;
        let number = crate::helpers::trigger(&app, &service, "Down").await;
        let deliveries = crate::helpers::deliveries_of(&app, number).await;
        let body: Value = serde_json::from_str(&deliveries[0].payload).unwrap();
        assert_eq!(
            body["payload"]["incident"]["service"]["escalation_policy"],
            default_uid.as_str()
        );
        app.leave_deliveries_pending();
    })
    .await;
}

#[tokio::test]
async fn a_policy_that_reaches_nobody_is_flagged_on_its_services_page_and_its_own() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        let ada = owner_username(&app, &me, &team).await;
        let service = create_service(&app, "Checkout").await;
        let page = new_policy_page(&app, &team, "Empty").await;
        let edit = format!("/services/{service}/edit");
        app.submit(
            &edit,
            &edit,
            &[
                ("team", &team),
                ("name", "Checkout"),
                ("escalation_policy", &policy_uid(&page)),
            ],
        )
        .await;
        let warning = "would reach nobody right now";
        assert!(app
            .page(&format!("/services/{service}"))
            .await
            .contains(warning));
        assert!(app.page(&page).await.contains(warning));
        app.submit(
            &page,
            &format!("{page}/rules"),
            &[("delay", "0"), ("target", &format!("user:{ada}"))],
        )
        .await;
        assert!(!app
            .page(&format!("/services/{service}"))
            .await
            .contains(warning));
        assert!(!app.page(&page).await.contains(warning));
        app.submit(
            &edit,
            &edit,
            &[
                ("team", &team),
                ("name", "Checkout"),
                ("escalation_policy", "none"),
            ],
        )
        .await;
        assert!(app
            .page(&format!("/services/{service}"))
            .await
            .contains("has no escalation policy: its incidents page nobody"));
    })
    .await;
}

#[tokio::test]
async fn a_policy_in_use_is_not_deleted_and_people_on_call_are_not_removed() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        let service = create_service(&app, "Checkout").await;
        let (_, list) = json_of(me.api(&app, Method::GET, &policies_api(&team)).send().await).await;
        let default_uid = list[0]["unique_id"].as_str().unwrap().to_owned();
        let page = format!("/teams/{team}/escalation-policies/{default_uid}");
        let refused = app
            .submit(&format!("{page}/delete"), &format!("{page}/delete"), &[])
            .await;
        assert_eq!(location(&refused), page);
        assert!(app
            .page(&page)
            .await
            .contains("used by the services Checkout"));
        let (status, answer) = json_of(
            me.api(
                &app,
                Method::DELETE,
                &format!("{}{default_uid}/", policies_api(&team)),
            )
            .send()
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(
            answer["detail"].as_str().unwrap().contains("Checkout"),
            "{answer}"
        );
        let _ = service;

        // Mary, a direct target of a rule, stays in the team and stays enabled.
        person(&app, ("Mary", "Manager"), "mary@example.com", "3").await;
        join(&app, &team, "Mary Manager", "2").await;
        let night = new_policy_page(&app, &team, "Night").await;
        let mary = option_value(&app.page(&night).await, "Mary Manager");
        app.submit(
            &night,
            &format!("{night}/rules"),
            &[("delay", "0"), ("target", &mary)],
        )
        .await;
        let username = mary.trim_start_matches("user:");
        let removed = app
            .submit(
                &format!("/teams/{team}"),
                &format!("/teams/{team}/members/{username}/remove"),
                &[],
            )
            .await;
        assert_eq!(removed.status(), StatusCode::SEE_OTHER);
        let html = app.page(&format!("/teams/{team}")).await;
        assert!(
            html.contains("Mary Manager is on call in the escalation policies Night"),
            "{html}"
        );
        assert!(
            html.contains(&format!("/members/{username}/remove")),
            "Mary is still a member"
        );
        app.submit(
            "/settings/users",
            &format!("/settings/users/{username}/disable"),
            &[],
        )
        .await;
        let html = app.page("/settings/users").await;
        assert!(
            html.contains("Mary Manager is on call in the escalation policies Night"),
            "{html}"
        );
        // Once out of the rule, she may go.
        let rules = rules_of(&app, &me, &team, &policy_uid(&night)).await;
        app.submit(&night, &format!("{night}/rules/{}/remove", rules[0].0), &[])
            .await;
        app.submit(
            &format!("/teams/{team}"),
            &format!("/teams/{team}/members/{username}/remove"),
            &[],
        )
        .await;
        assert!(!app
            .page(&format!("/teams/{team}"))
            .await
            .contains(&format!("/members/{username}/remove")));
    })
    .await;
}

#[tokio::test]
async fn the_on_call_page_and_api_name_who_each_level_reaches_now() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        person(&app, ("Mary", "Manager"), "mary@example.com", "3").await;
        join(&app, &team, "Mary Manager", "2").await;
        let page = new_policy_page(&app, &team, "Night").await;
        let mary = option_value(&app.page(&page).await, "Mary Manager");
        app.submit(&page, &format!("{page}/rules"), &[("delay", "10"), ("target", &mary)]).await;

        let html = app.page("/oncall").await;
        assert!(html.contains(r#"<a href="/oncall" aria-current="page">On call</a>"#));
        assert!(html.contains("Night") && html.contains("Level 1 · after 10 min:") && html.contains("<strong>Mary Manager</strong>"), "{html}");
        assert!(html.contains("<strong>Ada Lovelace</strong>"), "the Default policy's level");

        let (status, body) = json_of(me.api(&app, Method::GET, &format!("/api/account/teams/{team}/oncall/")).send().await).await;
        assert_eq!(status, StatusCode::OK);
        let night = body.as_array().unwrap().iter().find(|p| p["escalation_policy"]["name"] == "Night").unwrap();
        assert_eq!(night["team"]["unique_id"], team.as_str());
        assert_eq!(night["users"], json!([{"username": mary.trim_start_matches("user:"), "first_name": "Mary", "last_name": "Manager", "email": "mary@example.com"}]));
        let mut keys: Vec<&str> = night["escalation_policy"].as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["description", "global_ep", "move_to_next", "name", "repeat_policy", "summary", "unique_id"]);
        let stranger = create_team(&app, "Payments").await;
        let outsider = person(&app, ("Olga", "Other"), "olga@example.com", "3").await;
        join(&app, &stranger, "Olga Other", "2").await;
        let (status, _) = json_of(outsider.api(&app, Method::GET, &format!("/api/account/teams/{team}/oncall/")).send().await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, html) = outsider.page(&app, "/oncall").await;
        assert!(html.contains("Payments") && !html.contains("Night"), "{html}");
    })
    .await;
}

#[tokio::test]
async fn every_change_is_in_the_policys_audit_trail_page_by_page() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        let ada = owner_username(&app, &me, &team).await;
        let page = new_policy_page(&app, &team, "Night").await;
        app.submit(
            &page,
            &format!("{page}/rules"),
            &[("delay", "3"), ("target", &format!("user:{ada}"))],
        )
        .await;
        let edit = format!("{page}/edit");
        app.submit(&edit, &edit, &[("name", "Nights"), ("repeat_policy", "2")])
            .await;
        let html = app.page(&page).await;
        for entry in [
            "<strong>created</strong>",
            "<strong>rule added</strong>: level 1 after 3 min: Ada Lovelace",
            "<strong>changed</strong>: name &#34;Night&#34; → &#34;Nights&#34;",
        ] {
            assert!(html.contains(entry), "{entry} in {html}");
        }
        assert!(
            html.contains("Ada Lovelace · <strong>changed"),
            "who changed it"
        );
        let rule = rules_of(&app, &me, &team, &policy_uid(&page)).await[0]
            .0
            .clone();
        for delay in 0..50 {
            app.submit(
                &page,
                &format!("{page}/rules/{rule}/delay"),
                &[("delay", &(10 + delay).to_string())],
            )
            .await;
        }
        let first = app.page(&page).await;
        assert!(
            first.contains("<strong>delay changed</strong>: level 1 after 59 min")
                && first.contains(&format!("{page}?page=2"))
        );
        let second = app.page(&format!("{page}?page=2")).await;
        assert!(
            second.contains("<strong>created</strong>")
                && !second.contains("<strong>delay changed</strong>: level 1 after 59 min"),
            "{second}"
        );
    })
    .await;
}

/// The migration that gives every team a Default policy, run on a database with a team (and a
/// service) made before it.
#[tokio::test]
async fn the_upgrade_gives_every_existing_team_a_default_policy_its_services_use() {
    use diesel::connection::SimpleConnection;
    use diesel::migration::MigrationSource;
    use diesel::Connection;
    use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
    const BEFORE: &str = "
        INSERT INTO users (id, username, email, email_normalized, first_name, last_name, password_hash, role, is_active, created_at)
        VALUES (7, 'u7', 'mia@example.com', 'mia@example.com', 'Mia', 'Manager', 'x', 3, TRUE, '2026-01-01 00:00:00'),
               (8, 'u8', 'uri@example.com', 'uri@example.com', 'Uri', 'User', 'x', 3, TRUE, '2026-01-01 00:00:00');
        INSERT INTO teams (id, unique_id, name, created_by, created_at)
        VALUES (5, 'old-team', 'Old team', 7, '2026-01-01 00:00:00');
        INSERT INTO team_members (unique_id, team_id, user_id, role, created_at)
        VALUES ('m7', 5, 7, 1, '2026-01-01 00:00:00'), ('m8', 5, 8, 2, '2026-01-01 00:00:00');
        INSERT INTO services (unique_id, team_id, name, summary, description, status, auto_resolve_timeout, acknowledgement_timeout, \"collation\", collation_time, created_by, created_at)
        VALUES ('old-service', 5, 'Legacy', '', '', 1, 0, 0, 0, 0, 7, '2026-01-01 00:00:00');";
    fn migrate_until_paging<
        C: MigrationHarness<B> + diesel::migration::MigrationConnection,
        B: diesel::backend::Backend,
    >(
        conn: &mut C,
        source: EmbeddedMigrations,
    ) where
        EmbeddedMigrations: MigrationSource<B>,
    {
        conn.setup().unwrap();
        for migration in MigrationSource::<B>::migrations(&source).unwrap() {
            let name = migration.name().to_string();
            conn.run_migration(&*migration).unwrap();
            if name.contains("000016_paging") {
                return;
            }
        }
        panic!("no paging migration");
    }
    for backend in backends() {
        let database = TestDatabase::create(backend);
        match backend {
            Backend::Sqlite => {
                let path = database.url.trim_start_matches("sqlite://").to_owned();
                let mut conn = diesel::SqliteConnection::establish(&path).unwrap();
                migrate_until_paging(&mut conn, SQLITE);
                conn.batch_execute(&BEFORE.replace("TRUE", "1")).unwrap();
            }
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&database.url).unwrap();
                migrate_until_paging(&mut conn, POSTGRES);
                conn.batch_execute(BEFORE).unwrap();
            }
        }
        let app = TestApp::start(&database).await;
        let (policies, targets, service_policy, audit) = query(&app, |conn| {
            use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
            use klaxon::db::schema::{
                escalation_policies as p, escalation_rules as r, escalation_targets as t,
                on_call_audit as a, services as s,
            };
            let policies: Vec<(i64, String, String)> = p::table
                .filter(p::team_id.eq(5))
                .select((p::id, p::unique_id, p::name))
                .load(conn)?;
            let targets: Vec<(i32, i32, Option<i64>)> = t::table
                .inner_join(r::table)
                .filter(r::policy_id.eq(policies[0].0))
                .select((r::delay, t::target_type, t::user_id))
                .load(conn)?;
            let service_policy: Option<i64> = s::table
                .filter(s::unique_id.eq("old-service"))
                .select(s::escalation_policy_id)
                .get_result(conn)?;
            let audit: i64 = a::table
                .filter(a::subject_id.eq(policies[0].0))
                .count()
                .get_result(conn)?;
            Ok((policies, targets, service_policy, audit))
        })
        .await;
        assert_eq!(policies.len(), 1, "{backend:?}");
        assert_eq!(policies[0].2, "Default");
        assert_eq!(policies[0].1.len(), 36, "a UUID: {}", policies[0].1);
        assert!(
            uuid::Uuid::parse_str(&policies[0].1).is_ok(),
            "{}",
            policies[0].1
        );
        assert_eq!(
            targets,
            [(0, 2, Some(7))],
            "the manager, at once; not the team user"
        );
        assert_eq!(service_policy, Some(policies[0].0));
        assert_eq!(audit, 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_schedule_target_reaches_whoever_is_on_call_in_it_now() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        person(&app, ("Mary", "Manager"), "mary@example.com", "3").await;
        join(&app, &team, "Mary Manager", "2").await;
        let schedule = crate::helpers::create_schedule(&app, &team, "Primary", "UTC").await;
        let mary = crate::helpers::member_username(&app, &team, &schedule, "Mary Manager").await;
        let layer = crate::helpers::submit_layer(
            &app,
            &team,
            &schedule,
            &[
                ("name", "Daily"),
                ("shift_count", "1"),
                ("shift_unit", "days"),
                ("rotation_start_time", "2026-01-05T09:00"),
                ("rotation_end_time", ""),
                ("restriction_type", "0"),
                ("users", &mary),
                ("users", ""),
            ],
        )
        .await;
        assert_eq!(layer.status(), StatusCode::SEE_OTHER);
        let page = new_policy_page(&app, &team, "Follow the schedule").await;
        let added = app
            .submit(
                &page,
                &format!("{page}/rules"),
                &[("delay", "0"), ("target", &format!("schedule:{schedule}"))],
            )
            .await;
        assert_eq!(location(&added), page);
        let rules = rules_of(&app, &me, &team, &policy_uid(&page)).await;
        assert_eq!(rules[0].2, vec![format!("1:{schedule}")]);
        let html = app.page(&page).await;
        assert!(
            html.contains("Schedule <strong>Primary</strong>")
                && html.contains("reaches Mary Manager now"),
            "{html}"
        );
        let html = app.page("/oncall").await;
        assert!(
            html.contains("<strong>Mary Manager</strong> <span class=\"muted\">(Primary)</span>"),
            "Mary alone in the rotation never hands over: {html}"
        );

        // In a rotation of two, the page says when the one on call now hands over.
        let secondary = crate::helpers::create_schedule(&app, &team, "Secondary", "UTC").await;
        let ada = crate::helpers::member_username(&app, &team, &secondary, "Ada Lovelace").await;
        crate::helpers::submit_layer(
            &app,
            &team,
            &secondary,
            &[
                ("name", "Daily"),
                ("shift_count", "1"),
                ("shift_unit", "days"),
                ("rotation_start_time", "2026-01-05T09:00"),
                ("rotation_end_time", ""),
                ("restriction_type", "0"),
                ("users", &mary),
                ("users", &ada),
                ("users", ""),
            ],
        )
        .await;
        let second = new_policy_page(&app, &team, "Two of us").await;
        app.submit(
            &second,
            &format!("{second}/rules"),
            &[("delay", "0"), ("target", &format!("schedule:{secondary}"))],
        )
        .await;
        let html = app.page("/oncall").await;
        assert!(html.contains("(Secondary, hands over <time"), "{html}");
        assert!(html.contains(" until <time"), "the schedule's own line");
        let (_, on_call) = json_of(
            me.api(
                &app,
                Method::GET,
                &format!("/api/account/teams/{team}/oncall/"),
            )
            .send()
            .await,
        )
        .await;
        let entry = on_call
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["escalation_policy"]["name"] == "Follow the schedule")
            .unwrap();
        assert_eq!(entry["users"][0]["username"], mary.as_str());

        // Mary is disabled (allowed: no rule names her): the schedule keeps her place, the
        // policy reaches nobody and says so.
        let disabled = app
            .submit(
                "/settings/users",
                &format!("/settings/users/{mary}/disable"),
                &[],
            )
            .await;
        assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
        let html = app.page(&page).await;
        assert!(html.contains("would reach nobody right now"), "{html}");
        assert!(html.contains("Mary Manager is on call, but disabled"));
    })
    .await;
}

/// The policy's stored frozen rules (None: not computed), and what freezing its rules now
/// gives, read straight from the tables (rules in order, each rule's targets in the order they
/// were added, with the names they point at).
async fn frozen_and_expected(app: &TestApp, policy: &str) -> (Option<Value>, Value) {
    let policy = policy.to_owned();
    query(app, move |conn| {
        use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
        use klaxon::db::schema::{
            escalation_policies as p, escalation_rules as r, escalation_targets as t,
            schedules as s, users as u,
        };
        let (id, stored): (i64, Option<String>) = p::table
            .filter(p::unique_id.eq(&policy))
            .select((p::id, p::frozen_rules))
            .get_result(conn)?;
        let rules: Vec<(i64, i32)> = r::table
            .filter(r::policy_id.eq(id))
            .order((r::position, r::id))
            .select((r::id, r::delay))
            .load(conn)?;
        let mut expected = Vec::new();
        for (rule_id, delay) in rules {
            let targets: Vec<(Option<i64>, Option<i64>)> = t::table
                .filter(t::rule_id.eq(rule_id))
                .order(t::id)
                .select((t::schedule_id, t::user_id))
                .load(conn)?;
            let mut named = Vec::new();
            for target in targets {
                named.push(match target {
                    (Some(id), _) => {
                        let name: String = s::table.find(id).select(s::name).get_result(conn)?;
                        json!({"type": "schedule", "id": id, "name": name})
                    }
                    (_, Some(id)) => {
                        let (first, last): (String, String) = u::table
                            .find(id)
                            .select((u::first_name, u::last_name))
                            .get_result(conn)?;
                        let name = format!("{first} {last}");
                        json!({"type": "user", "id": id, "name": name.trim()})
                    }
                    (None, None) => unreachable!("a target points at something"),
                });
            }
            expected.push(json!({"delay": delay, "targets": named}));
        }
        let stored = stored.map(|text| serde_json::from_str(&text).expect("stored JSON"));
        Ok((stored, Value::Array(expected)))
    })
    .await
}

/// The policy's frozen rules are stored and are what freezing its rules now gives: returns them.
async fn assert_frozen_current(app: &TestApp, policy: &str, after: &str) -> Value {
    let (stored, expected) = frozen_and_expected(app, policy).await;
    assert_eq!(
        stored.as_ref(),
        Some(&expected),
        "frozen rules after {after}"
    );
    expected
}

/// The policies of a team, by name, as the API lists them: (name, unique id).
async fn policy_ids(app: &TestApp, me: &Person, team: &str) -> Vec<(String, String)> {
    let (_, list) = json_of(me.api(app, Method::GET, &policies_api(team)).send().await).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let field = |name: &str| p[name].as_str().unwrap().to_owned();
            (field("name"), field("unique_id"))
        })
        .collect()
}

#[tokio::test]
async fn a_policys_frozen_rules_follow_every_change_to_its_rules_targets_and_names() {
    crate::helpers::for_each_backend(|app| async move {
        app.create_owner().await;
        let me = owner(&app).await;
        let team = default_team(&app).await;
        let default = policy_ids(&app, &me, &team).await[0].1.clone();
        let frozen = assert_frozen_current(&app, &default, "the first team was made").await;
        assert_eq!(frozen[0]["targets"][0]["name"], "Ada Lovelace", "{frozen}");
        let mary_person = person(&app, ("Mary", "Manager"), "mary@example.com", "3").await;
        join(&app, &team, "Mary Manager", "2").await;
        let ada = owner_username(&app, &me, &team).await;
        let schedule = create_schedule(&app, &team, "Primary", "UTC").await;

        let page = new_policy_page(&app, &team, "Checkout").await;
        let policy = policy_uid(&page);
        let frozen = assert_frozen_current(&app, &policy, "creation").await;
        assert_eq!(frozen, json!([]));
        let rules = format!("{page}/rules");
        let user_ada = format!("user:{ada}");
        app.submit(&page, &rules, &[("delay", "0"), ("target", &user_ada)])
            .await;
        assert_frozen_current(&app, &policy, "a rule was added").await;
        let mary = option_value(&app.page(&page).await, "Mary Manager");
        app.submit(&page, &rules, &[("delay", "10"), ("target", &mary)])
            .await;
        let frozen = assert_frozen_current(&app, &policy, "a second rule was added").await;
        assert_eq!(frozen.as_array().unwrap().len(), 2);
        let listed = rules_of(&app, &me, &team, &policy).await;
        let (first, second) = (listed[0].0.clone(), listed[1].0.clone());

        let on_schedule = format!("schedule:{schedule}");
        app.submit(
            &page,
            &format!("{rules}/{second}/targets"),
            &[("target", &on_schedule)],
        )
        .await;
        let frozen = assert_frozen_current(&app, &policy, "a target was added").await;
        assert_eq!(frozen[1]["targets"][1]["name"], "Primary", "{frozen}");
        app.submit(
            &page,
            &format!("{rules}/{second}/move"),
            &[("direction", "up")],
        )
        .await;
        let frozen = assert_frozen_current(&app, &policy, "a rule moved up").await;
        assert_eq!(frozen[0]["delay"], 10, "{frozen}");
        app.submit(&page, &format!("{rules}/{second}/delay"), &[("delay", "5")])
            .await;
        let frozen = assert_frozen_current(&app, &policy, "a delay changed").await;
        assert_eq!(frozen[0]["delay"], 5, "{frozen}");

        // Renaming the schedule and the person renames them in the frozen rules.
        let schedule_page = format!("/teams/{team}/schedules/{schedule}");
        let renamed = app
            .submit(
                &format!("{schedule_page}/edit"),
                &format!("{schedule_page}/edit"),
                &[("name", "Primary on call"), ("time_zone", "UTC")],
            )
            .await;
        assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
        let frozen = assert_frozen_current(&app, &policy, "the schedule was renamed").await;
        assert_eq!(
            frozen[0]["targets"][1]["name"], "Primary on call",
            "{frozen}"
        );
        let renamed = mary_person
            .submit(
                &app,
                "/settings",
                "/settings/name",
                &[("first_name", "Maria"), ("last_name", "Manager")],
            )
            .await;
        assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
        let frozen = assert_frozen_current(&app, &policy, "a person was renamed").await;
        assert_eq!(frozen[0]["targets"][0]["name"], "Maria Manager", "{frozen}");

        app.submit(
            &page,
            &format!("{rules}/{second}/targets/remove"),
            &[("target", &on_schedule)],
        )
        .await;
        let frozen = assert_frozen_current(&app, &policy, "a target was removed").await;
        assert_eq!(frozen[0]["targets"].as_array().unwrap().len(), 1);
        app.submit(
            &page,
            &format!("{rules}/{second}/move"),
            &[("direction", "down")],
        )
        .await;
        assert_frozen_current(&app, &policy, "a rule moved down").await;
        app.submit(&page, &format!("{rules}/{first}/remove"), &[])
            .await;
        let frozen = assert_frozen_current(&app, &policy, "a rule was removed").await;
        assert_eq!(frozen.as_array().unwrap().len(), 1);

        // The API replaces the whole list.
        let (status, body) = json_of(
            me.api(
                &app,
                Method::PUT,
                &format!("{}{policy}/", policies_api(&team)),
            )
            .json(&json!({"name": "Checkout", "rules": [
                {"delay": 0, "targets": [{"target_type": 1, "target_id": schedule}]},
                {"delay": 15, "targets": [{"target_type": 2, "target_id": ada}]},
            ]}))
            .send()
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let frozen = assert_frozen_current(&app, &policy, "the API replaced the rules").await;
        assert_eq!(frozen[1]["delay"], 15, "{frozen}");
        let (status, body) = json_of(
            me.api(&app, Method::POST, &policies_api(&team))
                .json(&json!({"name": "Made by the API", "rules": [
                    {"delay": 3, "targets": [{"target_type": 2, "target_id": ada}]},
                ]}))
                .send()
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let made = body["unique_id"].as_str().unwrap().to_owned();
        let frozen = assert_frozen_current(&app, &made, "the API made a policy").await;
        assert_eq!(frozen[0]["delay"], 3, "{frozen}");

        // A new team's Default policy is frozen as it is made.
        let payments = create_team(&app, "Payments").await;
        let payments_default = policy_ids(&app, &me, &payments).await[0].1.clone();
        assert_frozen_current(&app, &payments_default, "a team was made").await;

        // Policies without frozen rules (made before Klaxon kept them) get them at start.
        query(&app, |conn| {
            use diesel::{ExpressionMethods, RunQueryDsl};
            use klaxon::db::schema::escalation_policies as p;
            diesel::update(p::table)
                .set(p::frozen_rules.eq(None::<String>))
                .execute(conn)
        })
        .await;
        assert_eq!(frozen_and_expected(&app, &policy).await.0, None);
        let filled = klaxon::domain::incidents::escalation::freeze_missing(&app.db().await)
            .await
            .unwrap();
        assert_eq!(filled, 4, "two Default policies and two others");
        for uid in [&default, &policy, &made, &payments_default] {
            assert_frozen_current(&app, uid, "the start filled them").await;
        }
    })
    .await;
}
