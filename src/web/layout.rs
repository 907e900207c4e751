//! What every page's frame needs: who is signed in, the CSRF token for its forms, the flash
//! message and which navigation item is current.

use actix_session::Session;

use super::session::{self, Flash};
use crate::domain::users::User;

pub struct Layout {
    pub user: Option<User>,
    pub csrf_token: String,
    pub flash: Option<Flash>,
    pub nav: Nav,
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
        }
    }

    /// For error pages: no user menu, no forms.
    pub fn bare() -> Self {
        Layout {
            user: None,
            csrf_token: String::new(),
            flash: None,
            nav: Nav::None,
        }
    }

    /// The reader's time zone for the times a page shows (their profile's; UTC signed out, or
    /// for a name chrono-tz does not know).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.user
            .as_ref()
            .and_then(|user| user.time_zone.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }

    pub fn is(&self, nav: Nav) -> bool {
        self.nav == nav
    }
}
