//! The page check: accessibility and layout sanity of every photographed page, by a script
//! (`checks.js`) that runs in the page; and a test that the check finds what it looks for.

use super::driver::{Browser, Script};

/// Runs in the page; returns a list of problems.
const PAGE_CHECK: &str = include_str!("checks.js");

impl Browser {
    /// Accessibility and layout sanity: `lang` on html, exactly one h1, every form control
    /// labelled, every button and link with text, unique ids, readable contrast, nothing wider
    /// than the window.
    pub async fn check_page(&self, what: &str) {
        let problems = self.run(PAGE_CHECK, vec![]).await;
        let problems: Vec<String> = serde_json::from_value(problems).unwrap();
        assert!(
            problems.is_empty(),
            "{what} ({}): {problems:#?}",
            self.path().await
        );
    }
}

/// The page check finds what it looks for (so its silence on Klaxon's pages means something).
#[tokio::test]
async fn browser_page_check_reports_each_kind_of_problem() {
    let Some(browser) = Browser::start(
        "browser_page_check_reports_each_kind_of_problem",
        "",
        Script::On,
    )
    .await
    else {
        return;
    };
    let page = "<!doctype html><html><body style='margin:0'>\
        <h1>One</h1><h1>Two</h1>\
        <input id='a' name='unlabelled'><label for='b'>B</label><input id='b'><p id='b'>again</p>\
        <button></button><a href='/x'></a>\
        <p style='color:#bbb;background:#fff'>faint</p>\
        <div style='width:900px'>wide</div></body></html>";
    browser
        .client
        .goto(&format!("data:text/html,{}", page.replace('#', "%23")))
        .await
        .unwrap();
    browser
        .client
        .set_window_rect(0, 0, 390, 800)
        .await
        .unwrap();
    let problems: Vec<String> =
        serde_json::from_value(browser.run(PAGE_CHECK, vec![]).await).unwrap();
    for expected in [
        "<html> has no lang",
        "2 h1 elements",
        "id b is used twice",
        "no label: <input id=\"a\" name=\"unlabelled\">",
        "button without text",
        "link without text",
        "contrast",
        "the page is 900px wide in 390px",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected:?} not in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), 8, "nothing else: {problems:#?}");
    browser.close().await;
}
