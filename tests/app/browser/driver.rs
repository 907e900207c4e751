//! The WebDriver toolkit: finding Chromium and chromedriver, a session, and a person at the
//! browser who opens pages, clicks what they can read, types into labelled fields and
//! photographs pages (each photograph also checked, see `checks.rs`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long anything the user waits for may take.
pub const WAIT: Duration = Duration::from_secs(30);
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
    /// `zone`: the time zone Chromium runs in (through `TZ`, which it inherits); the
    /// machine's when None.
    async fn start(tools: &Tools, zone: Option<&str>) -> Chromedriver {
        use std::os::unix::process::CommandExt;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(&tools.chromedriver);
        if let Some(zone) = zone {
            command.env("TZ", zone);
        }
        let child = command
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
pub enum Script {
    On,
    Off,
}

// ---------------------------------------------------------------------------------------------
// A person at the browser: opens pages, clicks what they can read, types into labelled fields.

pub struct Browser {
    pub client: Client,
    base: String,
    // Dropped after the client: the session is closed first when all goes well.
    _driver: Chromedriver,
}

impl Browser {
    /// Chromium on the app at `base`, or `None` when the browser is missing (and not in CI).
    pub async fn start(test: &str, base: &str, script: Script) -> Option<Browser> {
        Browser::start_in_zone(test, base, script, None).await
    }

    /// [`Browser::start`] with Chromium in the time zone `zone` (an IANA name).
    pub async fn start_in_zone(
        test: &str,
        base: &str,
        script: Script,
        zone: Option<&str>,
    ) -> Option<Browser> {
        let tools = tools(test)?;
        let driver = Chromedriver::start(&tools, zone).await;
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

    pub async fn close(self) {
        let Browser {
            client, _driver, ..
        } = self;
        client.close().await.expect("close the browser");
    }

    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("open page");
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn find(&self, xpath: &str) -> Element {
        match self.client.find(Locator::XPath(xpath)).await {
            Ok(element) => element,
            Err(e) => panic!("nothing matches {xpath} on {}: {e}", self.path().await),
        }
    }

    pub async fn find_all(&self, xpath: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::XPath(xpath))
            .await
            .expect("find elements")
    }

    /// What the page shows, as text.
    pub async fn text(&self) -> String {
        self.find("//body").await.text().await.expect("page text")
    }

    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("run a script in the page")
    }

    /// Clicks what `xpath` finds and waits until the next page has loaded. The live script may
    /// swap the element for a fresh copy between finding and clicking; then it is found again.
    pub async fn click_to_navigate(&self, xpath: &str) {
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
    pub async fn click_link(&self, text: &str) {
        self.click_to_navigate(&format!("//a[normalize-space()={}]", literal(text)))
            .await;
    }

    /// Follows the link with this text in the section headed `heading`.
    pub async fn click_link_under(&self, heading: &str, text: &str) {
        self.click_to_navigate(&format!(
            "//section[.//h2[normalize-space()={}]]//a[normalize-space()={}]",
            literal(heading),
            literal(text)
        ))
        .await;
    }

    /// Presses the button with this text (which submits its form).
    pub async fn press(&self, text: &str) {
        self.click_to_navigate(&format!("//button[normalize-space()={}]", literal(text)))
            .await;
    }

    pub async fn has_button(&self, text: &str) -> bool {
        !self
            .find_all(&format!("//button[normalize-space()={}]", literal(text)))
            .await
            .is_empty()
    }

    /// The form control that the label with this text names.
    pub async fn field(&self, label: &str) -> Element {
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

    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear field");
        field.send_keys(value).await.expect("type");
    }

    pub async fn value_of(&self, label: &str) -> String {
        self.field(label)
            .await
            .prop("value")
            .await
            .expect("field value")
            .unwrap_or_default()
    }

    /// Picks the option with this text in the select with this label.
    pub async fn select(&self, label: &str, option: &str) {
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
    pub async fn choose(&self, label: &str) {
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
    pub async fn wait_for_text(&self, text: &str, reload: bool) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // A page being replaced (a form's answer arriving) may have no body for a moment:
            // that is "not shown yet", not a failure.
            let shown = match self.client.find(Locator::XPath("//body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
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
    pub async fn table_rows(&self) -> Vec<Vec<String>> {
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
    pub async fn timeline(&self) -> Vec<String> {
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
    pub async fn incident_status(&self) -> String {
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
    pub async fn screenshots(&self, name: &str) {
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
}

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
