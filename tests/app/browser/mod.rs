//! The whole flow in a real browser: Debian's headless Chromium, driven through chromedriver,
//! clicking and typing by visible labels only. Each main page is photographed at desktop and
//! phone widths into `target/screenshots/` and checked for basic accessibility.
//!
//! Without Chromium and chromedriver these tests say that they were skipped and why; with
//! `CI=true` a missing browser fails them instead.
//!
//! `driver`: the WebDriver toolkit (chromedriver, sessions, finding things by their labels,
//! screenshots); `checks`: the page check (`checks.js`); `flows`: the tests.

mod checks;
mod driver;
mod flows;
