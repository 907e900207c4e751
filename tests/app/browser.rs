//! The whole flow in a real browser: Debian's headless Chromium, driven through chromedriver,
//! clicking and typing by visible labels only. Each main page is photographed at desktop and
//! phone widths into `target/screenshots/` and checked for basic accessibility.
//!
//! Without Chromium and chromedriver these tests say that they were skipped and why; with
//! `CI=true` a missing browser fails them instead.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use klaxon::config::Config;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    for_each_backend, location, Backend, TestApp, TestDatabase, OWNER_EMAIL, OWNER_PASSWORD,
};
use crate::receiver::{signature_is_valid, Receiver, Reply};

/// How long anything the user waits for may take.
const WAIT: Duration = Duration::from_secs(30);
const SEED: &str = include_str!("../fixtures/seed-webhook-payload.json");
const TITLE: &str = "Free disk space is less than 20% on volume sdx-03";
/// Desktop and phone widths of the screenshots.
const WIDTHS: [(&str, u32); 2] = [("desktop", 1280), ("phone", 390)];

// ---------------------------------------------------------------------------------------------
// Finding the browser and starting chromedriver.

struct Tools {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Chromium and chromedriver from PATH, or `None` with the reason printed. Under CI a missing
/// browser is a failure, never a skip.
fn tools(test: &str) -> Option<Tools> {
    let chromium = on_path(&["chromium", "chromium-browser"]);
    let chromedriver = on_path(&["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Some(Tools {
            chromium,
            chromedriver,
        }),
        (chromium, _) => {
            let missing = if chromium.is_none() {
                "chromium"
            } else {
                "chromedriver"
            };
            let reason = format!(
                "`{missing}` is not on PATH; install Debian's `chromium` and `chromium-driver` \
                 packages to run the browser tests"
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and the browser test {test} cannot run: {reason}");
            }
            // Straight to stderr: the test harness hides what `eprintln!` prints in a passing
            // test, and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED browser test {test}: {reason}");
            None
        }
    }
}

/// chromedriver on a free loopback port, in a process group of its own. Dropping it (also when
/// a test panics) ends chromedriver and the Chromium it started.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start(tools: &Tools) -> Chromedriver {
        use std::os::unix::process::CommandExt;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ready = match reqwest::get(&status).await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return driver;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not get ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Chromedriver {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser processes it started.
        let group = -(self.child.id() as i32);
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        std::thread::sleep(Duration::from_millis(200));
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    On,
    Off,
}

// ---------------------------------------------------------------------------------------------
// A person at the browser: opens pages, clicks what they can read, types into labelled fields.

struct Browser {
    client: Client,
    base: String,
    // Dropped after the client: the session is closed first when all goes well.
    _driver: Chromedriver,
}

impl Browser {
    /// Chromium on the app at `base`, or `None` when the browser is missing (and not in CI).
    async fn start(test: &str, base: &str, script: Script) -> Option<Browser> {
        let tools = tools(test)?;
        let driver = Chromedriver::start(&tools).await;
        let mut options = json!({
            "binary": tools.chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                "--window-size=1280,900",
                "--lang=en-US",
            ],
        });
        if script == Script::Off {
            options["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a Chromium session through chromedriver");
        Some(Browser {
            client,
            base: base.to_owned(),
            _driver: driver,
        })
    }

    async fn close(self) {
        let Browser {
            client, _driver, ..
        } = self;
        client.close().await.expect("close the browser");
    }

    async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("open page");
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn find(&self, xpath: &str) -> Element {
        match self.client.find(Locator::XPath(xpath)).await {
            Ok(element) => element,
            Err(e) => panic!("nothing matches {xpath} on {}: {e}", self.path().await),
        }
    }

    async fn find_all(&self, xpath: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::XPath(xpath))
            .await
            .expect("find elements")
    }

    /// What the page shows, as text.
    async fn text(&self) -> String {
        self.find("//body").await.text().await.expect("page text")
    }

    async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("run a script in the page")
    }

    /// Clicks what `xpath` finds and waits until the next page has loaded. The live script may
    /// swap the element for a fresh copy between finding and clicking; then it is found again.
    async fn click_to_navigate(&self, xpath: &str) {
        let marker = uuid::Uuid::new_v4().to_string();
        self.run("document.klaxonPage = arguments[0];", vec![json!(marker)])
            .await;
        let mut tries = 0;
        while let Err(error) = self.find(xpath).await.click().await {
            tries += 1;
            assert!(tries < 5, "cannot click {xpath}: {error}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let state = self
                .run(
                    "return [document.klaxonPage || null, document.readyState];",
                    vec![],
                )
                .await;
            if state[0] != json!(marker) && state[1] == "complete" {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no new page after the click"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Follows the link with this text.
    async fn click_link(&self, text: &str) {
        self.click_to_navigate(&format!("//a[normalize-space()={}]", literal(text)))
            .await;
    }

    /// Follows the link with this text in the section headed `heading`.
    async fn click_link_under(&self, heading: &str, text: &str) {
        self.click_to_navigate(&format!(
            "//section[.//h2[normalize-space()={}]]//a[normalize-space()={}]",
            literal(heading),
            literal(text)
        ))
        .await;
    }

    /// Presses the button with this text (which submits its form).
    async fn press(&self, text: &str) {
        self.click_to_navigate(&format!("//button[normalize-space()={}]", literal(text)))
            .await;
    }

    async fn has_button(&self, text: &str) -> bool {
        !self
            .find_all(&format!("//button[normalize-space()={}]", literal(text)))
            .await
            .is_empty()
    }

    /// The form control that the label with this text names.
    async fn field(&self, label: &str) -> Element {
        let label = self
            .find(&format!("//label[normalize-space()={}]", literal(label)))
            .await;
        let id = label
            .attr("for")
            .await
            .expect("label attribute")
            .expect("the label names its field");
        self.client
            .find(Locator::Id(&id))
            .await
            .expect("the labelled field exists")
    }

    async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type");
    }

    async fn value_of(&self, label: &str) -> String {
        self.field(label)
            .await
            .prop("value")
            .await
            .expect("field value")
            .unwrap_or_default()
    }

    /// Picks the option with this text in the select with this label.
    async fn select(&self, label: &str, option: &str) {
        let select = self.field(label).await;
        select
            .find(Locator::XPath(&format!(
                ".//option[normalize-space()={}]",
                literal(option)
            )))
            .await
            .expect("the option exists")
            .click()
            .await
            .expect("choose option");
    }

    /// Ticks the radio button or checkbox with this label.
    async fn choose(&self, label: &str) {
        self.find(&format!("//label[normalize-space()={}]", literal(label)))
            .await
            .click()
            .await
            .expect("click label");
        assert_eq!(
            self.field(label).await.prop("checked").await.unwrap(),
            Some("true".to_owned()),
            "{label} is chosen"
        );
    }

    /// Waits until the page shows `text`, reloading it between looks when `reload` (as a person
    /// would), or not (then only the page's own script can bring it).
    async fn wait_for_text(&self, text: &str, reload: bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let shown = self.text().await;
            if shown.contains(text) {
                return shown;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page never showed {text:?}; it shows:\n{shown}"
            );
            if reload {
                self.client.refresh().await.expect("reload");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The text of every row of the page's table, cell by cell.
    async fn table_rows(&self) -> Vec<Vec<String>> {
        let value = self
            .run(
                "return Array.from(document.querySelectorAll('tbody tr')).map(r => \
                 Array.from(r.cells).map(c => c.innerText.trim()));",
                vec![],
            )
            .await;
        serde_json::from_value(value).expect("rows of text")
    }

    /// The timeline's entries as shown.
    async fn timeline(&self) -> Vec<String> {
        let value = self
            .run(
                "const list = Array.from(document.querySelectorAll('h2')).find(h => \
                 h.textContent.trim() === 'Timeline').parentElement.querySelector('ol');\
                 return Array.from(list.children).map(li => li.innerText.replace(/\\s+/g, ' ').trim());",
                vec![],
            )
            .await;
        serde_json::from_value(value).expect("timeline entries")
    }

    /// The status label under the incident's title.
    async fn incident_status(&self) -> String {
        let status = self
            .run(
                "const label = document.getElementById('incident-status');\
                 return label && label.innerText;",
                vec![],
            )
            .await;
        status.as_str().expect("a status label").to_owned()
    }

    /// Photographs the whole page at each width into `target/screenshots/NAME-WIDTH.png` and
    /// checks it at each width.
    async fn screenshots(&self, name: &str) {
        let folder = screenshot_folder();
        std::fs::create_dir_all(&folder).expect("screenshot folder");
        for (label, width) in WIDTHS {
            self.client
                .set_window_rect(0, 0, width, 900)
                .await
                .expect("resize");
            let sizes = self
                .run(
                    "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight];",
                    vec![],
                )
                .await;
            let (page, frame) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
            let height = (page + frame).max(600) as u32;
            self.client
                .set_window_rect(0, 0, width, height)
                .await
                .expect("resize to the whole page");
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(folder.join(format!("{name}-{label}.png")), png)
                .expect("write screenshot");
            self.check_page(&format!("{name} at {width} px")).await;
        }
        self.client
            .set_window_rect(0, 0, 1280, 900)
            .await
            .expect("resize back");
    }

    /// Accessibility and layout sanity: `lang` on html, exactly one h1, every form control
    /// labelled, every button and link with text, unique ids, readable contrast, nothing wider
    /// than the window.
    async fn check_page(&self, what: &str) {
        let problems = self.run(PAGE_CHECK, vec![]).await;
        let problems: Vec<String> = serde_json::from_value(problems).unwrap();
        assert!(
            problems.is_empty(),
            "{what} ({}): {problems:#?}",
            self.path().await
        );
    }
}

/// Runs in the page; returns a list of problems.
const PAGE_CHECK: &str = r#"
const problems = [];
const describe = el => el.outerHTML.slice(0, 120);
if (!document.documentElement.getAttribute('lang')) problems.push('<html> has no lang');
const h1s = document.querySelectorAll('h1');
if (h1s.length !== 1) problems.push(`${h1s.length} h1 elements`);
const ids = new Set();
for (const el of document.querySelectorAll('[id]')) {
  if (ids.has(el.id)) problems.push(`id ${el.id} is used twice`);
  ids.add(el.id);
}
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const label = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
  const named = (label && label.textContent.trim()) || el.closest('label')
    || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!named) problems.push(`no label: ${describe(el)}`);
}
for (const el of document.querySelectorAll('button, input[type=submit], input[type=button]')) {
  const text = (el.textContent || el.value || el.getAttribute('aria-label') || '').trim();
  if (!text) problems.push(`button without text: ${describe(el)}`);
}
for (const el of document.querySelectorAll('a[href]')) {
  if (!(el.textContent || el.getAttribute('aria-label') || '').trim()) problems.push(`link without text: ${describe(el)}`);
}
const width = document.documentElement.clientWidth;
if (document.documentElement.scrollWidth > width + 1) {
  const wide = Array.from(document.querySelectorAll('body *')).filter(el => {
    const r = el.getBoundingClientRect();
    return r.right > width + 1 && !el.closest('.table-wrap, pre, .tabs');
  }).slice(0, 3).map(describe);
  problems.push(`the page is ${document.documentElement.scrollWidth}px wide in ${width}px: ${wide.join(' | ')}`);
}
// WCAG contrast of every piece of visible text against the background behind it.
const rgb = s => { const m = s.match(/[\d.]+/g) || []; return m.map(Number); };
const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const background = el => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Set();
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const el = node.parentElement;
  if (!node.textContent.trim() || seen.has(el) || !el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
  seen.add(el);
  const style = getComputedStyle(el);
  if (el.closest('.visually-hidden') || style.visibility === 'hidden') continue;
  const fg = rgb(style.color).slice(0, 3), bg = background(el);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: "${node.textContent.trim().slice(0, 40)}" (${style.color} on rgb(${bg}))`);
}
return problems;
"#;

/// An XPath string literal for any text.
fn literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

fn screenshot_folder() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target folder")
        .join("screenshots")
}

/// Webhooks to loopback receivers, sent by this process, retried after a second.
fn webhook_settings(config: &mut Config) {
    config.webhook_sender = true;
    config.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
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

    // The timeline shows every step and, without a reload (the page updates itself), the three
    // deliveries.
    let deadline = tokio::time::Instant::now() + WAIT;
    let timeline = loop {
        let timeline = browser.timeline().await;
        if timeline
            .iter()
            .filter(|e| e.contains("delivered a webhook"))
            .count()
            == 3
        {
            break timeline;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the timeline never showed three deliveries: {timeline:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
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

    // The incidents list: the open list is quiet; "All" shows it resolved.
    browser.click_link("Incidents").await;
    assert!(browser
        .text()
        .await
        .contains("No incidents match. All quiet."));
    browser.select("Status", "All").await;
    browser.press("Filter").await;
    let rows = browser.table_rows().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "#1");
    assert_eq!(rows[0][1], TITLE);
    assert_eq!(rows[0][2], "resolved");
    assert_eq!(rows[0][4], "ZD Prod");
    browser.screenshots("05-incidents").await;
    browser.click_link(TITLE).await;
    assert_eq!(browser.path().await, incident_path);

    // The integration's deliveries: three, all succeeded, one attempt each.
    browser.click_link("ZD Prod").await;
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

    // Fixed (the script is used up: 200 from now on): Redeliver succeeds.
    browser.press("Redeliver").await;
    assert_ne!(browser.path().await, failed_path, "a new delivery");
    let redelivered = browser.wait_for_text("HTTP 200", true).await;
    assert!(
        redelivered.contains("Queued again as a new delivery.")
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
    let service = crate::services::create_service(&app, "Checkout").await;

    browser.open("/incidents").await;
    assert_eq!(browser.path().await, "/signin?next=%2Fincidents");
    browser.fill("Email", OWNER_EMAIL).await;
    browser.fill("Password", OWNER_PASSWORD).await;
    browser.press("Sign in").await;
    assert_eq!(browser.path().await, "/incidents");
    assert!(browser.text().await.contains("All quiet."));
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

    let number = crate::incidents::trigger(&app, &service, "Checkout is down").await;
    browser.wait_for_text("Checkout is down", false).await;
    let rows = browser.table_rows().await;
    assert_eq!(rows[0][0], format!("#{number}"));
    assert_eq!(rows[0][2], "triggered");
    let marker = browser.run("return window.klaxonMarker;", vec![]).await;
    assert_eq!(marker, "same page", "updated in place, not reloaded");

    browser.click_link("Checkout is down").await;
    browser.fill("Note", "Rolling back the deploy").await;
    browser
        .run("window.klaxonMarker = 'same page';", vec![])
        .await;
    crate::incidents::act(&app, number, "acknowledge").await;
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
        let service = crate::services::create_service(&app, "Checkout").await;
        // A plain user outside the service's team.
        let outsider = crate::services::user_browser(&app, "outsider@example.com").await;
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
        let number = crate::incidents::trigger(&app, &service, "Checkout is down").await;
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

        crate::incidents::act(&app, 1, "acknowledge").await;
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
