//! The flows: a new user's whole path and the bad paths in Chromium, pages that follow changes
//! without a reload, and the endpoints those pages poll.

use std::collections::BTreeSet;
use std::time::Duration;

use klaxon::config::Config;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::driver::{Browser, Script, WAIT};
use crate::helpers::receiver::{signature_is_valid, Receiver, Reply};
use crate::helpers::smtp::SmtpServer;
use crate::helpers::{
    act, add_user, assert_no_pending_jobs, create_service, default_team, for_each_backend, join,
    location, sender_to_loopback, trigger, user_browser, Backend, TestApp, TestDatabase,
    OWNER_EMAIL, OWNER_PASSWORD, USER_PASSWORD,
};

const SEED: &str = include_str!("../../fixtures/seed-webhook-payload.json");
const TITLE: &str = "Free disk space is less than 20% on volume sdx-03";

/// Webhooks to loopback receivers, sent by this process, retried after a second.
fn webhook_settings(config: &mut Config) {
    sender_to_loopback(config);
    config.webhook_retry_schedule = vec![1];
    config.webhook_timeout_secs = 2;
}

/// The same keys at every level as the seed's payload, and the same kind of value (null stands
/// for any kind: the seed's assignee is someone, ours may be nobody).
fn assert_seed_shaped(path: &str, seed: &Value, sent: &Value) {
    match (seed, sent) {
        (Value::Object(seed), Value::Object(sent)) => {
            let expected: BTreeSet<&String> = seed.keys().collect();
            let got: BTreeSet<&String> = sent.keys().collect();
            assert_eq!(got, expected, "the keys of {path}");
            for (key, value) in seed {
                assert_seed_shaped(&format!("{path}.{key}"), value, &sent[key]);
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (seed, sent) => assert_eq!(
            std::mem::discriminant(sent),
            std::mem::discriminant(seed),
            "the kind of {path}: seed {seed}, sent {sent}"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Steps a new user takes.

/// Create account → Services → New service, as the first person on a fresh install.
async fn create_account_and_service(browser: &Browser, screenshots: bool) {
    browser.open("/").await;
    assert_eq!(
        browser.path().await,
        "/setup",
        "a fresh install asks for an account"
    );
    browser
        .wait_for_text("The first account owns this install", false)
        .await;
    if screenshots {
        browser.screenshots("01-create-account").await;
    }
    browser.fill("First name", "Dwight").await;
    browser.fill("Last name", "Schrute").await;
    browser.fill("Email", "dwight@example.com").await;
    browser.fill("Password", "beets bears battlestar").await;
    browser.press("Create account").await;
    assert_eq!(browser.path().await, "/incidents");

    browser.click_link("Services").await;
    browser.wait_for_text("No services yet", false).await;
    browser.click_link("New service").await;
    browser.fill("Name", "ZD Prod").await;
    browser
        .fill("Description", "Zenduty main application")
        .await;
    browser.press("Save").await;
    let page = browser.text().await;
    assert!(page.contains("ZD Prod") && page.contains("Zenduty main application"));
}

/// Integrations → Add integration (Outgoing Integrations) → Outgoing Webhooks → Save, then
/// Configure. Ends on the configure page.
async fn add_outgoing_webhook(browser: &Browser) {
    browser.click_link("Integrations").await;
    browser
        .click_link_under("Outgoing Integrations", "Add integration")
        .await;
    browser.choose("Outgoing Webhooks").await;
    browser.press("Save").await;
    let tab = browser.text().await;
    assert!(
        tab.contains("Outgoing Webhooks integration added"),
        "confirmed: {tab}"
    );
    assert!(tab.contains("Not configured"), "no URL yet: {tab}");
    browser.click_link("Configure").await;
    assert!(browser.text().await.contains("Signing secret"));
}

/// Trigger incident on the service's page; ends on the incident's page.
async fn trigger_incident(browser: &Browser) -> String {
    browser.click_link("Trigger incident").await;
    browser.fill("Title", TITLE).await;
    browser
        .fill(
            "Summary",
            "Linux 008 Free disk space is less than 20% on volume sdx-03",
        )
        .await;
    browser.select("Urgency", "High").await;
    browser.press("Trigger incident").await;
    let path = browser.path().await;
    assert!(path.starts_with("/incidents/"), "on the incident: {path}");
    path
}

/// A fresh app with the webhook sender on, a browser on it and a receiver; None when browser
/// tests are skipped.
async fn webhook_session(
    test: &str,
    script: Script,
) -> Option<(TestDatabase, TestApp, Browser, Receiver)> {
    let database = TestDatabase::create(Backend::Sqlite);
    let app = TestApp::start_with(&database, webhook_settings).await;
    let browser = Browser::start(test, &app.address, script).await?;
    Some((database, app, browser, Receiver::start().await))
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[tokio::test]
async fn browser_walks_the_whole_flow_and_photographs_every_page() {
    let Some((_database, app, browser, receiver)) = webhook_session(
        "browser_walks_the_whole_flow_and_photographs_every_page",
        Script::On,
    )
    .await
    else {
        return;
    };

    create_account_and_service(&browser, true).await;
    browser.click_link("Services").await;
    browser.screenshots("02-services").await;
    browser.click_link("ZD Prod").await;

    add_outgoing_webhook(&browser).await;
    assert_eq!(browser.value_of("Name").await, "Outgoing Webhooks");
    browser.fill("URL", &receiver.url).await;
    browser.press("Save").await;

    // Back on the Integrations tab: listed as configured, with its URL.
    let tab = browser.text().await;
    assert!(tab.contains("Integration saved."), "{tab}");
    let outgoing = browser
        .find("//section[.//h2[normalize-space()='Outgoing Integrations']]//li")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        outgoing.contains("Enabled") && outgoing.contains(&receiver.url),
        "the integration is listed as configured: {outgoing}"
    );
    assert!(!outgoing.contains("Not configured"), "{outgoing}");
    browser.screenshots("03-service-integrations").await;

    browser.click_link("Configure").await;
    assert_eq!(browser.value_of("URL").await, receiver.url);
    let secret = browser
        .find("//section[.//h2[normalize-space()='Signing secret']]//code[starts-with(normalize-space(), 'whsec_')]")
        .await
        .text()
        .await
        .unwrap();
    browser.screenshots("04-configure").await;

    // The incident: trigger, acknowledge, resolve, each seen on its page.
    browser.click_link("ZD Prod · Integrations").await;
    let incident_path = trigger_incident(&browser).await;
    let page = browser.text().await;
    assert!(page.contains("Incident #1 triggered."), "{page}");
    assert!(page.contains(TITLE));
    assert_eq!(browser.incident_status().await, "triggered");
    assert!(browser.timeline().await[0].contains("Dwight Schrute triggered the incident"));
    browser.screenshots("06-incident-triggered").await;

    browser.press("Acknowledge").await;
    assert!(browser.text().await.contains("Incident #1 acknowledged."));
    assert_eq!(browser.incident_status().await, "acknowledged");
    assert!(!browser.has_button("Acknowledge").await);

    browser.press("Resolve").await;
    assert!(browser.text().await.contains("Incident #1 resolved."));
    assert_eq!(browser.incident_status().await, "resolved");
    assert!(!browser.has_button("Resolve").await && !browser.has_button("Acknowledge").await);

    // The receiver got the three events, in order, signed, in the seed's shape.
    let received = receiver.wait_for(3, WAIT).await;
    assert_eq!(received.len(), 3, "exactly three POSTs");
    let seed: Value = serde_json::from_str(SEED).unwrap();
    for (request, (event, status)) in
        received
            .iter()
            .zip([("triggered", 1), ("acknowledged", 2), ("resolved", 3)])
    {
        let body = request.json();
        assert_eq!(body["payload"]["event_type"], event);
        assert!(signature_is_valid(&secret, request), "signed: {request:?}");
        assert_seed_shaped("body", &seed, &body);
        let incident = &body["payload"]["incident"];
        assert_eq!(incident["incident_number"], 1);
        assert_eq!(incident["status"], status);
        assert_eq!(incident["title"], TITLE);
        assert_eq!(incident["service"]["name"], "ZD Prod");
        assert_eq!(request.path, "/hooks/klaxon");
    }

    // The timeline shows every step and, without a reload (the page updates itself), the
    // delivery each one caused, folded under it; opened, the folds show each delivery.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let timeline = browser.timeline().await;
        if timeline
            .iter()
            // The resolution's fold also holds its "Resolved" email (no SMTP here: not sent).
            .filter(|e| e.contains("1 webhook delivered"))
            .count()
            == 3
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the timeline never showed three deliveries: {timeline:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for fold in browser
        // A fold with trouble (here the emails recorded as not sent) opens by itself.
        .find_all("//details[@class='tl-fold' and not(@open)]/summary")
        .await
    {
        fold.click().await.expect("open a fold");
    }
    let timeline = browser.timeline().await;
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e.contains("delivered a webhook"))
            .count(),
        3,
        "{timeline:#?}"
    );
    for step in [
        "triggered the incident",
        "Dwight Schrute acknowledged",
        "Dwight Schrute resolved",
    ] {
        assert!(
            timeline.iter().any(|e| e.contains(step)),
            "{step}: {timeline:#?}"
        );
    }
    for event in ["triggered", "acknowledged", "resolved"] {
        let line = format!("{event} to {}: HTTP 200", receiver.url);
        assert!(
            timeline.iter().any(|e| e.contains(&line)),
            "{line}: {timeline:#?}"
        );
    }
    browser.screenshots("06-incident-resolved").await;

    // The incidents list: the open list is quiet; the "All" tab shows it resolved, and so does
    // a search for words of its title, typed as prefixes in another case.
    browser.click_link("Incidents").await;
    assert!(browser
        .text()
        .await
        .contains("No open incidents. All quiet."));
    browser.click_link("Resolved 1").await;
    assert_eq!(browser.table_rows().await.len(), 1);
    browser.click_link("Open 0").await;
    browser.fill("Search", "FREE sdx-0").await;
    browser.press("Find").await;
    assert!(browser.text().await.contains("No incidents match."));
    browser.click_link("All 1").await;
    assert_eq!(
        browser.value_of("Search").await,
        "FREE sdx-0",
        "the search is kept"
    );
    let rows = browser.table_rows().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // Cells: tick box, number, title, status, urgency, service, age, assignee, actions.
    assert_eq!(rows[0][1], "#1");
    assert_eq!(rows[0][2], TITLE);
    assert_eq!(rows[0][3], "resolved");
    assert_eq!(rows[0][5], "ZD Prod");
    browser.screenshots("05-incidents").await;
    browser.click_link(TITLE).await;
    assert_eq!(browser.path().await, incident_path);

    // The service's page lists its incidents; then the integration's deliveries: three, all
    // succeeded, one attempt each.
    browser.click_link("ZD Prod").await;
    let service = browser.text().await;
    assert!(
        service.contains("Recently resolved 1") && service.contains(TITLE),
        "{service}"
    );
    browser.screenshots("35-service-incidents").await;
    browser.click_link("Integrations").await;
    browser.click_link("Configure").await;
    browser.click_link("View deliveries").await;
    let rows = browser.table_rows().await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let events: BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        events,
        BTreeSet::from(["triggered", "acknowledged", "resolved"])
    );
    for row in &rows {
        assert_eq!(row[1], "#1", "{row:?}");
        assert_eq!(row[2], "succeeded", "{row:?}");
        assert_eq!(row[3], "1", "one attempt: {row:?}");
        assert_eq!(row[4], "200", "{row:?}");
    }
    browser.screenshots("07-deliveries").await;

    browser.click_link("resolved").await;
    let delivery = browser.text().await;
    assert!(
        delivery.contains("succeeded") && delivery.contains("HTTP 200"),
        "{delivery}"
    );
    assert!(delivery.contains(&received[2].header("webhook-id").to_owned()));
    browser.screenshots("08-delivery").await;

    // The other areas: teams, settings, people, API keys (photographed and checked too).
    browser.click_link("Teams").await;
    browser.screenshots("13-teams").await;
    browser.click_link("Default").await;
    browser.screenshots("14-team").await;
    browser.click_link("Settings").await;
    browser.screenshots("15-settings").await;
    browser.click_link("Users").await;
    browser.screenshots("16-users").await;
    browser.click_link("Settings").await;
    browser.click_link("API keys").await;
    browser.screenshots("17-api-keys").await;
    browser.click_link("Services").await;
    browser.click_link("ZD Prod").await;
    browser
        .click_to_navigate("//nav[@aria-label='Service']//a[normalize-space()='Settings']")
        .await;
    assert_eq!(
        browser
            .value_of("Auto-resolve after (minutes, 0 = off)")
            .await,
        "0"
    );
    browser.screenshots("18-service-settings").await;

    // One's own account: a new name shows in the top bar at once. Then people: the owner adds
    // someone, sets them a new password, and makes them a manager of the team.
    browser.click_link("Settings").await;
    browser.fill("First name", "Dwight K.").await;
    browser.press("Save name").await;
    let settings = browser.text().await;
    assert!(
        settings.contains("Your name is now Dwight K. Schrute."),
        "{settings}"
    );
    browser.click_link("Users").await;
    browser.click_link("Add user").await;
    browser.fill("First name", "Jim").await;
    browser.fill("Last name", "Halpert").await;
    browser.fill("Email", "jim@example.com").await;
    browser.fill("Password", "teapot stapler jello sales").await;
    browser.press("Save").await;
    browser.screenshots("30-users-with-actions").await;
    browser.click_link("Reset password").await;
    browser.screenshots("31-reset-password").await;
    browser
        .fill("New password", "jello mold stapler heist 7")
        .await;
    browser.press("Set the new password").await;
    assert_eq!(browser.path().await, "/settings/users");
    browser.click_link("Teams").await;
    browser.click_link("Default").await;
    browser
        .select("Person", "Jim Halpert (jim@example.com)")
        .await;
    browser.press("Add member").await;
    browser.press("Make manager").await;
    assert!(browser
        .text()
        .await
        .contains("Jim Halpert is now a manager of the team."));
    browser.screenshots("32-team-members").await;

    // Sign out, and back in.
    browser.press("Sign out").await;
    assert_eq!(browser.path().await, "/signin");
    browser.screenshots("09-sign-in").await;
    browser.fill("Email", "dwight@example.com").await;
    browser.fill("Password", "beets bears battlestar").await;
    browser.press("Sign in").await;
    assert_eq!(browser.path().await, "/incidents");

    browser.close().await;
    app.stop().await;
    assert_no_pending_jobs(&app).await;
}

/// The bad paths, with JavaScript off (so also: every page works without it).
#[tokio::test]
async fn browser_bad_paths_show_clear_messages_without_javascript() {
    let Some((_database, app, browser, receiver)) = webhook_session(
        "browser_bad_paths_show_clear_messages_without_javascript",
        Script::Off,
    )
    .await
    else {
        return;
    };

    create_account_and_service(&browser, false).await;
    let live = browser
        .run(
            "return document.documentElement.getAttribute('data-live');",
            vec![],
        )
        .await;
    assert_eq!(live, Value::Null, "the page's script did not run");
    add_outgoing_webhook(&browser).await;

    // Not a URL: the message stands next to the URL field, which keeps what was typed.
    browser.fill("URL", "not a url").await;
    browser.press("Save").await;
    assert_eq!(browser.value_of("URL").await, "not a url");
    let message = "Enter an absolute URL starting with http:// or https://.";
    let placement = browser
        .run(
            "const input = arguments[0];\
             const ids = (input.getAttribute('aria-describedby') || '').split(' ');\
             const error = Array.from(document.querySelectorAll('.error')).find(e => e.textContent.includes(arguments[1]));\
             if (!error) return null;\
             const a = input.getBoundingClientRect(), b = error.getBoundingClientRect();\
             return { described: ids.includes(error.id), invalid: input.getAttribute('aria-invalid'),\
                      gap: b.top - a.bottom, sameField: error.parentElement === input.parentElement };",
            vec![
                serde_json::to_value(browser.field("URL").await).unwrap(),
                json!(message),
            ],
        )
        .await;
    assert!(!placement.is_null(), "the page shows {message:?}");
    assert_eq!(placement["described"], true, "{placement}");
    assert_eq!(placement["invalid"], "true", "{placement}");
    assert_eq!(placement["sameField"], true, "{placement}");
    let gap = placement["gap"].as_f64().unwrap();
    assert!(
        (0.0..60.0).contains(&gap),
        "just below the field: {placement}"
    );
    browser.screenshots("10-configure-invalid-url").await;

    // A receiver that fails: the failed delivery shows its attempts and status code.
    browser.fill("URL", &receiver.url).await;
    browser.press("Save").await;
    assert!(browser.text().await.contains("Integration saved."));
    receiver.script([Reply::Status(500), Reply::Status(500)]);
    browser.click_link("Overview").await;
    trigger_incident(&browser).await;
    browser
        .wait_for_text("could not deliver a webhook", true)
        .await;
    browser.click_link("delivery").await;
    let failed_path = browser.path().await;
    let failed = browser.text().await;
    assert!(failed.contains("failed"), "{failed}");
    assert!(
        failed.contains("Attempt 1") && failed.contains("Attempt 2"),
        "{failed}"
    );
    assert_eq!(failed.matches("HTTP 500").count(), 2, "{failed}");
    browser.screenshots("11-delivery-failed").await;

    // Until a delivery succeeds again, the service and its Integrations tab say it is failing.
    browser.click_link("Services").await;
    browser.click_link("ZD Prod").await;
    let overview = browser.text().await;
    assert!(
        overview.contains("is failing: 1 delivery failed and none succeeded yet, last error: the receiver answered 500"),
        "{overview}"
    );
    browser.screenshots("11-service-failing").await;
    browser
        .click_to_navigate("//nav[@aria-label='Service']//a[normalize-space()='Integrations']")
        .await;
    assert!(browser.text().await.contains("Failing: 1 delivery failed"));
    browser.screenshots("11-integrations-failing").await;
    browser.click_link("Delivery log").await;
    browser.open(&failed_path).await;

    // Fixed (the script is used up: 200 from now on): Redeliver succeeds.
    browser.press("Redeliver").await;
    assert_ne!(browser.path().await, failed_path, "a new delivery");
    let redelivered = browser.wait_for_text("HTTP 200", true).await;
    assert!(
        redelivered.contains("Created a new delivery with the same body")
            || redelivered.contains("succeeded")
    );
    assert_eq!(
        browser
            .find("//*[@id='delivery-state']")
            .await
            .text()
            .await
            .unwrap(),
        "succeeded"
    );
    let received = receiver.received();
    assert_eq!(received.len(), 3, "two failures and the redelivery");
    assert_eq!(received[2].body, received[0].body, "the same body again");
    assert_ne!(
        received[2].header("webhook-id"),
        received[0].header("webhook-id"),
        "a new delivery has a new webhook-id"
    );

    // Resolve pressed in two windows: the second is refused, and says why.
    browser.click_link("#1").await;
    let first = browser.client.window().await.unwrap();
    let incident = browser.path().await;
    let second = browser.client.new_window(false).await.unwrap().handle;
    browser
        .client
        .switch_to_window(second.clone())
        .await
        .unwrap();
    browser.open(&incident).await;
    browser.client.switch_to_window(first).await.unwrap();
    browser.press("Resolve").await;
    assert!(browser.text().await.contains("Incident #1 resolved."));
    browser.client.switch_to_window(second).await.unwrap();
    assert_eq!(browser.incident_status().await, "triggered", "the old page");
    browser.press("Resolve").await;
    let refused = browser.text().await;
    assert!(
        refused.contains("Incident #1 is already resolved."),
        "the refusal is shown: {refused}"
    );
    assert_eq!(browser.incident_status().await, "resolved");
    let flash = browser
        .find("//p[contains(@class, 'flash-error')]")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(flash, "Incident #1 is already resolved.");
    browser.screenshots("12-resolve-refused").await;
    let resolved_entries = browser
        .timeline()
        .await
        .iter()
        .filter(|e| e.contains("Dwight Schrute resolved"))
        .count();
    assert_eq!(resolved_entries, 1, "resolved once");

    browser.close().await;
    app.stop().await;
    assert_no_pending_jobs(&app).await;
}

/// With JavaScript on, the incidents list and the incident page follow changes made elsewhere
/// without a reload, and keep what the user is typing.
#[tokio::test]
async fn browser_pages_follow_changes_without_a_reload() {
    let database = TestDatabase::create(Backend::Sqlite);
    let app = TestApp::start(&database).await;
    let Some(browser) = Browser::start(
        "browser_pages_follow_changes_without_a_reload",
        &app.address,
        Script::On,
    )
    .await
    else {
        return;
    };
    // Someone else (the test's HTTP client) owns the install and acts on incidents.
    app.create_owner().await;
    let service = create_service(&app, "Checkout").await;

    browser.open("/incidents").await;
    assert_eq!(browser.path().await, "/signin?next=%2Fincidents");
    browser.fill("Email", OWNER_EMAIL).await;
    browser.fill("Password", OWNER_PASSWORD).await;
    browser.press("Sign in").await;
    assert_eq!(browser.path().await, "/incidents");
    assert!(browser.text().await.contains("Get started"));
    let live = browser
        .run(
            "return document.documentElement.getAttribute('data-live');",
            vec![],
        )
        .await;
    assert_eq!(
        live, "on",
        "the script runs under the Content-Security-Policy"
    );
    browser
        .run("window.klaxonMarker = 'same page';", vec![])
        .await;

    let number = trigger(&app, &service, "Checkout is down").await;
    browser.wait_for_text("Checkout is down", false).await;
    let rows = browser.table_rows().await;
    assert_eq!(rows[0][1], format!("#{number}"));
    assert_eq!(rows[0][3], "triggered");
    let marker = browser.run("return window.klaxonMarker;", vec![]).await;
    assert_eq!(marker, "same page", "updated in place, not reloaded");

    // Acting from the list: a row's button, then two rows ticked and resolved together, all
    // without leaving the page.
    let second = trigger(&app, &service, "Payments are slow").await;
    let third = trigger(&app, &service, "Search is slow").await;
    browser.wait_for_text("Search is slow", false).await;
    browser
        .find(&format!(
            "//button[@formaction='/incidents/{second}/acknowledge']"
        ))
        .await
        .click()
        .await
        .expect("click a row's Acknowledge");
    browser
        .wait_for_text(&format!("Incident #{second} acknowledged."), false)
        .await;
    for ticked in [second, third] {
        browser
            .find(&format!("//input[@id='pick-{ticked}']"))
            .await
            .click()
            .await
            .expect("tick a row");
    }
    browser
        .find("//button[normalize-space()='Resolve selected']")
        .await
        .click()
        .await
        .expect("click Resolve selected");
    browser.wait_for_text("2 incidents resolved.", false).await;
    let marker = browser.run("return window.klaxonMarker;", vec![]).await;
    assert_eq!(marker, "same page", "acted in place, not reloaded");
    let rows = browser.table_rows().await;
    assert_eq!(
        rows.len(),
        1,
        "the open list keeps only #{number}: {rows:?}"
    );
    browser
        .screenshots("29-incidents-acted-from-the-list")
        .await;

    // The keyboard: ? lists the shortcuts, j moves to the first row, a acknowledges it.
    let body = browser.find("//body").await;
    body.send_keys("?").await.expect("type ?");
    assert!(browser.text().await.contains("Keyboard shortcuts"));
    body.send_keys("?").await.expect("type ?");
    browser
        .find("//body")
        .await
        .send_keys("j")
        .await
        .expect("type j");
    let focused = browser
        .run("return document.activeElement.textContent;", vec![])
        .await;
    assert_eq!(
        focused, "Checkout is down",
        "j moves to the first row's link"
    );
    browser.run("document.activeElement.blur();", vec![]).await;
    browser
        .find("//body")
        .await
        .send_keys("a")
        .await
        .expect("type a");
    browser
        .wait_for_text(&format!("Incident #{number} acknowledged."), false)
        .await;

    browser.click_link("Checkout is down").await;
    browser.fill("Note", "Rolling back the deploy").await;
    browser
        .run("window.klaxonMarker = 'same page';", vec![])
        .await;
    act(&app, number, "acknowledge").await;
    browser
        .wait_for_text("Ada Lovelace acknowledged", false)
        .await;
    assert_eq!(browser.incident_status().await, "acknowledged");
    assert!(!browser.has_button("Acknowledge").await && browser.has_button("Resolve").await);
    assert_eq!(
        browser.value_of("Note").await,
        "Rolling back the deploy",
        "what the user typed stays"
    );
    let marker = browser.run("return window.klaxonMarker;", vec![]).await;
    assert_eq!(marker, "same page");
    let title = browser.client.title().await.unwrap();
    assert!(title.contains("Checkout is down"), "{title}");

    // The note still goes in, by the same form.
    browser.press("Add note").await;
    let page = browser.text().await;
    assert!(page.contains("Note added.") && page.contains("Rolling back the deploy"));

    // A confirmation in a dialog: dismissed, nothing happens; accepted, the key is revoked.
    browser.open("/settings/api-keys").await;
    browser.fill("Name", "Deploy script").await;
    browser.press("Create API key").await;
    assert!(browser.text().await.contains("Deploy script"));
    browser
        .find("//a[normalize-space()='Revoke']")
        .await
        .click()
        .await
        .expect("click Revoke");
    browser.client.dismiss_alert().await.expect("a dialog asks");
    assert_eq!(browser.path().await, "/settings/api-keys");
    assert!(!browser.text().await.contains("Revoked"));
    browser
        .find("//a[normalize-space()='Revoke']")
        .await
        .click()
        .await
        .expect("click Revoke");
    browser.client.accept_alert().await.expect("a dialog asks");
    browser.wait_for_text("API key revoked", false).await;

    // A title that is one unbroken URL, and a long summary, wrap at phone width (the page
    // checks of each screenshot fail on a page wider than its window).
    let url = format!("https://grafana.example.com/d/{}", "a".repeat(210));
    let long = trigger(&app, &service, &url).await;
    browser.open(&format!("/incidents/{long}")).await;
    browser.screenshots("33-incident-long-title").await;
    browser.open("/incidents").await;
    browser.screenshots("34-incidents-long-title").await;

    browser.close().await;
    app.stop().await;
}

/// The version an endpoint answers, checked against its ETag.
async fn version(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let version = body["version"].as_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{version}\""));
    version
}

/// The endpoints the pages poll: a version that moves with every change the user may see, as
/// an ETag too. On every backend (the queries differ for people who see only their teams).
#[tokio::test]
async fn browser_change_endpoints_move_with_every_change() {
    for_each_backend(|app| async move {
        let signed_out = app.get("/incidents/changes").await;
        assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
        assert!(location(&signed_out).starts_with("/signin"));
        app.create_owner().await;
        let service = create_service(&app, "Checkout").await;
        // A plain user outside the service's team.
        let outsider = user_browser(&app, "outsider@example.com").await;
        let outsider_version = || async {
            let response = outsider
                .get(app.url("/incidents/changes"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()["version"].clone()
        };
        let outsider_quiet = outsider_version().await;

        let quiet = version(&app, "/incidents/changes").await;
        assert_eq!(
            quiet,
            version(&app, "/incidents/changes").await,
            "stable when nothing changes"
        );
        let number = trigger(&app, &service, "Checkout is down").await;
        assert_eq!(number, 1);
        let triggered = version(&app, "/incidents/changes").await;
        assert_ne!(triggered, quiet);
        let incident_triggered = version(&app, "/incidents/1/changes").await;

        // Unchanged: 304 without a body.
        let unchanged = app
            .client
            .get(app.url("/incidents/1/changes"))
            .header("if-none-match", format!("\"{incident_triggered}\""))
            .send()
            .await
            .unwrap();
        assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
        assert!(unchanged.bytes().await.unwrap().is_empty());

        act(&app, 1, "acknowledge").await;
        let acknowledged = version(&app, "/incidents/1/changes").await;
        assert_ne!(acknowledged, incident_triggered);
        assert_ne!(version(&app, "/incidents/changes").await, triggered);
        let stale = app
            .client
            .get(app.url("/incidents/1/changes"))
            .header("if-none-match", format!("\"{incident_triggered}\""))
            .send()
            .await
            .unwrap();
        assert_eq!(
            stale.status(),
            StatusCode::OK,
            "a stale ETag gets the new version"
        );
        let page = app.page("/incidents/1").await;
        assert!(page.contains(&format!(r#"data-live-version="{acknowledged}""#)));
        assert_eq!(
            app.get("/incidents/2/changes").await.status(),
            StatusCode::NOT_FOUND
        );

        // Someone who cannot see the service learns nothing of its incidents.
        assert_eq!(outsider_version().await, outsider_quiet);
        let hidden = outsider
            .get(app.url("/incidents/1/changes"))
            .send()
            .await
            .unwrap();
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    })
    .await;
}

/// Paging by email: the trigger reaches the team's manager through a real SMTP server, and the
/// email's Acknowledge link works from a browser that is not signed in. Photographs the paging
/// and on-call pages.
#[tokio::test]
async fn browser_shows_times_in_its_own_time_zone_until_the_profile_names_one() {
    let database = TestDatabase::create(Backend::Sqlite);
    let app = TestApp::start(&database).await;
    let Some(browser) = Browser::start_in_zone(
        "browser_shows_times_in_its_own_time_zone_until_the_profile_names_one",
        &app.address,
        Script::On,
        Some("Asia/Tokyo"),
    )
    .await
    else {
        return;
    };
    app.create_owner().await;
    let service = create_service(&app, "Checkout").await;
    let number = trigger(&app, &service, "Checkout is down").await;
    let zone = browser
        .run(
            "return Intl.DateTimeFormat().resolvedOptions().timeZone;",
            vec![],
        )
        .await;
    assert_eq!(zone, "Asia/Tokyo", "Chromium runs in the zone TZ names");

    // Signing in (a page without times) leaves the zone in the cookie; the next page uses it.
    browser.open(&format!("/incidents/{number}")).await;
    browser.fill("Email", OWNER_EMAIL).await;
    browser.fill("Password", OWNER_PASSWORD).await;
    browser.press("Sign in").await;
    assert_eq!(browser.path().await, format!("/incidents/{number}"));
    browser.wait_for_text(" JST · ", false).await;
    browser.open("/settings").await;
    browser
        .wait_for_text("Times show in Asia/Tokyo, your browser's time zone", false)
        .await;

    // Without the cookie, a page with times shows UTC, and the script loads it again once.
    browser
        .client
        .delete_cookie("klaxon_tz")
        .await
        .expect("delete the cookie");
    browser.open(&format!("/incidents/{number}")).await;
    browser.wait_for_text(" JST · ", false).await;

    // A zone of one's own wins.
    browser.open("/settings").await;
    browser.select("Your time zone", "America/New_York").await;
    browser.press("Save time zone").await;
    browser.open(&format!("/incidents/{number}")).await;
    browser.wait_for_text(" EST · ", false).await;
    browser.close().await;
}

#[tokio::test]
async fn browser_acknowledges_from_the_email_a_trigger_sent() {
    let smtp = SmtpServer::start().await;
    let database = TestDatabase::create(Backend::Sqlite);
    let url = smtp.url();
    let app = TestApp::start_with(&database, move |config| {
        config.smtp_url = Some(url);
        config.paging_worker = true;
    })
    .await;
    let Some(browser) = Browser::start(
        "browser_acknowledges_from_the_email_a_trigger_sent",
        &app.address,
        Script::On,
    )
    .await
    else {
        return;
    };
    create_account_and_service(&browser, false).await;
    let path = trigger_incident(&browser).await;

    // The service's Default policy emails the team's manager, the install's owner, at once.
    let mail = smtp.wait_for(1, WAIT).await[0].clone();
    assert_eq!(mail.to, vec!["dwight@example.com".to_owned()]);
    assert_eq!(
        mail.subject(),
        format!("[Klaxon] #1 Triggered: {TITLE} (ZD Prod)")
    );
    let text = mail.part("text/plain").expect("a plain-text part");
    let start = text.find("/ack/").expect("an Acknowledge link");
    let link = text[start..].split_whitespace().next().unwrap().to_owned();
    browser
        .wait_for_text("Level 1: emailed Dwight Schrute", true)
        .await;
    browser.screenshots("19-incident-paged").await;

    // On the phone, signed out: the link shows one button, and only the button acts.
    browser.press("Sign out").await;
    browser.open(&link).await;
    let confirm = browser.text().await;
    assert!(confirm.contains("Acknowledge incident #1?"), "{confirm}");
    assert!(
        confirm.contains("You acknowledge as Dwight Schrute"),
        "{confirm}"
    );
    browser.screenshots("20-acknowledge-link").await;
    browser.press("Acknowledge").await;
    let done = browser.text().await;
    assert!(
        done.contains("Incident #1 is acknowledged by Dwight Schrute"),
        "{done}"
    );
    browser.screenshots("21-acknowledged-from-email").await;
    browser.open(&link).await;
    assert!(browser.text().await.contains("This link was already used."));

    browser.open("/signin").await;
    browser.fill("Email", "dwight@example.com").await;
    browser.fill("Password", "beets bears battlestar").await;
    browser.press("Sign in").await;
    browser.open(&path).await;
    assert_eq!(browser.incident_status().await, "acknowledged");
    let timeline = browser.timeline().await;
    assert!(
        timeline
            .iter()
            .any(|e| e.contains("Dwight Schrute acknowledged") && e.contains("from email")),
        "{timeline:#?}"
    );

    // Who is on call, and the team's paging set-up.
    browser.click_link("On call").await;
    browser.screenshots("22-on-call").await;
    browser.click_link("Teams").await;
    browser.click_link("Default").await;
    browser.click_link("Escalation policies").await;
    browser.screenshots("23-escalation-policies").await;
    browser.click_link("Default").await;
    browser.screenshots("24-escalation-policy").await;
    browser.click_link("Teams").await;
    browser.click_link("Default").await;
    browser.click_link("Schedules").await;
    browser.screenshots("25-schedules").await;

    browser.close().await;
    app.stop().await;
    assert_no_pending_jobs(&app).await;
}

/// Sets a `datetime-local` field (typing into one depends on the browser's locale).
async fn set_local_time(browser: &Browser, id: &str, at: chrono::NaiveDateTime) {
    browser
        .run(
            "document.getElementById(arguments[0]).value = arguments[1];",
            vec![json!(id), json!(at.format("%Y-%m-%dT%H:%M").to_string())],
        )
        .await;
}

/// The on-call set-up a team makes in the pages: a schedule with a daily layer of two people
/// and an override, a policy with the schedule at level 1 and a person at level 2 after 10
/// minutes, attached to the service; the On call page then names whoever the override put on
/// call. Photographs the schedule and policy pages.
#[tokio::test]
async fn browser_builds_a_rotation_and_a_policy_and_the_on_call_page_names_the_right_person() {
    // On every backend: the schedule, policy and On call pages read the same rows differently.
    for_each_backend(|app| async move {
        let Some(browser) = Browser::start(
            "browser_builds_a_rotation_and_a_policy_and_the_on_call_page_names_the_right_person",
            &app.address,
            Script::On,
        )
        .await
        else {
            return;
        };
        create_account_and_service(&browser, false).await;
        // A second person in the team, added by the owner (the team pages are tested elsewhere).
        app.sign_in("dwight@example.com", "beets bears battlestar")
            .await;
        let added = add_user(
            &app,
            ("Jim", "Halpert"),
            "jim@example.com",
            USER_PASSWORD,
            "3",
        )
        .await;
        assert_eq!(added.status(), StatusCode::SEE_OTHER);
        let team = default_team(&app).await;
        join(&app, &team, "Jim Halpert", "2").await;
        let now = chrono::Utc::now().naive_utc();

        browser.open(&format!("/teams/{team}")).await;
        browser.click_link("Schedules").await;
        browser.click_link("New schedule").await;
        browser.fill("Name", "Primary").await;
        browser.fill("Time zone", "UTC").await;
        browser.press("Create schedule").await;
        browser.click_link("Add layer").await;
        browser.fill("Name", "Days").await;
        browser.fill("Each person is on call for", "1").await;
        browser.select("Unit", "Days").await;
        set_local_time(
            &browser,
            "rotation_start_time",
            now - chrono::Duration::hours(30),
        )
        .await;
        browser.select("Shift 1", "Dwight Schrute").await;
        browser.select("Shift 2", "Jim Halpert").await;
        browser.press("Add layer").await;
        // 30 hours in, the second shift (Jim's) runs.
        let page = browser.text().await;
        assert!(page.contains("Days"), "{page}");
        let on_call = browser
            .find("//section[@aria-labelledby='now-heading']")
            .await
            .text()
            .await
            .unwrap();
        assert!(on_call.contains("Jim Halpert"), "{on_call}");

        // Dwight takes the next two hours over.
        browser.select("Who", "Dwight Schrute").await;
        set_local_time(&browser, "start_time", now - chrono::Duration::minutes(30)).await;
        set_local_time(&browser, "end_time", now + chrono::Duration::minutes(90)).await;
        browser.press("Add override").await;
        let on_call = browser
            .find("//section[@aria-labelledby='now-heading']")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            on_call.contains("Dwight Schrute") && on_call.contains("override"),
            "{on_call}"
        );
        browser.screenshots("26-schedule").await;

        // A policy: the schedule at once, Jim after 10 minutes.
        browser.open(&format!("/teams/{team}")).await;
        browser.click_link("Escalation policies").await;
        browser.click_link("New escalation policy").await;
        browser.fill("Name", "Primary first").await;
        browser.press("Save").await;
        browser.fill("Delay (minutes)", "0").await;
        browser.select("Notify", "Primary").await;
        browser.press("Add rule").await;
        browser.fill("Delay (minutes)", "10").await;
        browser.select("Notify", "Jim Halpert").await;
        browser.press("Add rule").await;
        let policy = browser.text().await;
        assert!(policy.contains("reaches Dwight Schrute now"), "{policy}");
        assert!(policy.contains("reaches Jim Halpert now"), "{policy}");
        browser.screenshots("27-escalation-policy").await;

        // The service pages through it.
        browser.click_link("Services").await;
        browser.click_link("ZD Prod").await;
        browser
            .click_to_navigate("//nav[@aria-label='Service']//a[normalize-space()='Settings']")
            .await;
        browser.select("Escalation policy", "Primary first").await;
        browser.press("Save").await;

        browser.click_link("On call").await;
        let on_call = browser.text().await;
        assert!(on_call.contains("Primary first"), "{on_call}");
        assert!(on_call.contains("Dwight Schrute"), "{on_call}");
        browser.screenshots("28-on-call-rotation").await;

        browser.close().await;
    })
    .await;
}
