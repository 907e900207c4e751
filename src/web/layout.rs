//! What every page's frame needs: who is signed in, the CSRF token for its forms, the flash
//! message and which navigation item is current.

use actix_session::Session;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::session::{self, Flash};
use crate::domain::users::User;

/// The cookie `static/zone.js` sets to the browser's time zone (an IANA name).
pub const ZONE_COOKIE: &str = "klaxon_tz";

tokio::task_local! {
    static BROWSER: BrowserZone;
}

/// What a request tells of the browser's time zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserZone {
    /// Its zone, from `ZONE_COOKIE`, when that is a zone chrono-tz knows.
    pub zone: Option<chrono_tz::Tz>,
    /// Whether the script may load the page again once it set the cookie: a GET's answer only,
    /// since loading a form's answer again sends the form again.
    pub reloadable: bool,
}

/// Makes the browser's time zone, from its cookie, known to the pages of the request. Every page
/// builds its `Layout` from the session alone, so the zone travels beside the request (like its
/// id, `request_id`) instead of through every handler.
pub async fn browser_zone(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let browser = BrowserZone {
        zone: req
            .cookie(ZONE_COOKIE)
            .and_then(|cookie| cookie.value().parse::<chrono_tz::Tz>().ok()),
        reloadable: req.method() == actix_web::http::Method::GET,
    };
    BROWSER.scope(browser, next.call(req)).await
}

fn current_browser() -> BrowserZone {
    BROWSER.try_with(|browser| *browser).unwrap_or_default()
}

pub struct Layout {
    pub user: Option<User>,
    pub csrf_token: String,
    pub flash: Option<Flash>,
    pub nav: Nav,
    /// The browser's time zone, when its script told it (`ZONE_COOKIE`).
    pub browser: BrowserZone,
}

/// Where the time zone pages show times in comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneSource {
    /// The reader chose it on their profile.
    Profile,
    /// Not chosen: the browser's, as its script reported it.
    Browser,
    /// Neither: UTC.
    Default,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    Incidents,
    Services,
    Teams,
    OnCall,
    Settings,
}

impl Layout {
    pub fn new(session: &Session, user: Option<&User>, nav: Nav) -> Self {
        Layout {
            user: user.cloned(),
            csrf_token: session::csrf_token(session),
            flash: session::take_flash(session),
            nav,
            browser: current_browser(),
        }
    }

    /// For an error page shown to someone signed in: their navigation and "Sign out", and any
    /// flash left for the next real page.
    pub fn for_error(session: &Session, user: &User) -> Self {
        Layout {
            user: Some(user.clone()),
            csrf_token: session::csrf_token(session),
            flash: None,
            nav: Nav::None,
            browser: current_browser(),
        }
    }

    /// For error pages: no user menu, no forms.
    pub fn bare() -> Self {
        Layout {
            user: None,
            csrf_token: String::new(),
            flash: None,
            nav: Nav::None,
            browser: current_browser(),
        }
    }

    /// The reader's time zone for the times a page shows: their profile's; when they chose none
    /// (or signed out), their browser's; UTC without either (JavaScript off, or a name chrono-tz
    /// does not know).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.zone_and_source().0
    }

    pub fn zone_and_source(&self) -> (chrono_tz::Tz, ZoneSource) {
        let own = self
            .user
            .as_ref()
            .and_then(|user| user.time_zone.parse().ok());
        match (own, self.browser.zone) {
            (Some(zone), _) => (zone, ZoneSource::Profile),
            (None, Some(zone)) => (zone, ZoneSource::Browser),
            (None, None) => (chrono_tz::UTC, ZoneSource::Default),
        }
    }

    /// What `static/zone.js` reads: whether the page would show the browser's zone, and may be
    /// loaded again to.
    pub fn zone_script_word(&self) -> &'static str {
        match (self.zone_and_source().1, self.browser.reloadable) {
            (ZoneSource::Profile, _) => "profile",
            (_, false) => "fixed",
            (_, true) => "browser",
        }
    }

    pub fn is(&self, nav: Nav) -> bool {
        self.nav == nav
    }
}
