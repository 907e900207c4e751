//! Building the application: database, session key, HTTP server on a given listener.

use std::net::{SocketAddr, TcpListener};

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::{time, Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use base64::Engine;

use crate::config::Config;
use crate::db::notifications::Sending;
use crate::db::{app_settings, Db};
use std::sync::Arc;

use crate::delivery::destination::DestinationPolicy;
use crate::delivery::engine::{delivery_engine, DeliveryEngine, EngineSettings};
use crate::domain::{auto_resolve, ids};
use crate::jobs::RunnerHandle;
use crate::metrics::Metrics;
use crate::paging::{Mailer, Paging, PagingHandle};
use crate::web::{request_id, routes, session::MAX_FORM_BYTES, AppState};

const SESSION_KEY_SETTING: &str = "session_key";
const MIN_SECRET_KEY_CHARS: usize = 64;

pub struct Application {
    server: Server,
    local_addr: SocketAddr,
    engine: DeliveryEngine,
    engine_handle: Option<RunnerHandle>,
    paging: Paging,
    paging_handle: Option<PagingHandle>,
    _auto_resolve: AbortOnDrop,
    _tallies: AbortOnDrop,
    _statistics: AbortOnDrop,
}

/// A background task that ends with the application.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Application {
    /// Opens the database and binds `config.bind`.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        Self::build_with_listener(config, listener).await
    }

    /// Builds the app on a listener that is already bound (tests bind port 0).
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let database_url = config.database_url.clone();
        let pool_size = config.db_pool_size;
        let mut db =
            tokio::task::spawn_blocking(move || Db::connect(&database_url, pool_size)).await??;
        tracing::info!(database = %db.url().redacted(), "database ready");
        // Policies made before they kept their rules frozen get them before the first trigger.
        let frozen = crate::domain::incidents::escalation::freeze_missing(&db).await?;
        if frozen > 0 {
            tracing::info!(policies = frozen, "froze the rules of escalation policies");
        }
        let session_key = session_key(&db, config.secret_key.as_deref()).await?;
        // Acknowledge links in emails are signed with a key derived from the session key, so
        // every instance that shares the session key accepts them.
        let link_key: Arc<[u8]> = session_key.signing().into();
        let mailer = Mailer::from_config(&config, link_key.clone())?;
        let local_addr = listener.local_addr()?;
        let secure_cookies = config.secure_cookies;
        let destinations = DestinationPolicy::new(config.webhook_allowed_networks.clone());
        let mut metrics = Metrics::default();
        metrics.watch_database_writer(db.writer_counters());
        let metrics = Arc::new(metrics);
        let email_configured = mailer.is_configured();
        if !email_configured {
            db.set_sending(Sending::Nowhere {
                not_sent: metrics.notifications_not_sent(),
            });
        }
        let engine = delivery_engine(
            db.clone(),
            destinations.clone(),
            EngineSettings::from_config(&config),
            metrics.clone(),
        )?;
        let engine_handle = config.webhook_sender.then(|| engine.start());
        let paging = Paging::new(db.clone(), &config, mailer, metrics.clone());
        let paging_handle = config.paging_worker.then(|| paging.start());
        let auto_resolve =
            AbortOnDrop(tokio::spawn(auto_resolve::run(db.clone(), metrics.clone())));
        let tallies = AbortOnDrop(tokio::spawn(crate::db::tallies::keep_compact(db.clone())));
        let statistics = AbortOnDrop(tokio::spawn(crate::db::statistics::keep_analyzed(
            db.clone(),
        )));
        let events_rate_limit =
            crate::web::api::rate_limit::EventsRateLimit::new(config.events_rate_limit);
        let state = web::Data::new(AppState {
            events_rate_limit,
            db,
            config,
            destinations,
            metrics,
            link_key,
            email_configured,
        });

        let server = HttpServer::new(move || {
            let session =
                SessionMiddleware::builder(CookieSessionStore::default(), session_key.clone())
                    .cookie_name("klaxon_session".to_owned())
                    .cookie_content_security(CookieContentSecurity::Private)
                    .cookie_http_only(true)
                    .cookie_same_site(SameSite::Lax)
                    .cookie_secure(secure_cookies)
                    .session_lifecycle(
                        PersistentSession::default().session_ttl(time::Duration::days(14)),
                    )
                    .build();
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(MAX_FORM_BYTES))
                .wrap(from_fn(crate::web::input::refuse_nul))
                .wrap(from_fn(crate::web::error::keep_navigation))
                .wrap(session)
                .wrap(security_headers())
                .wrap(from_fn(crate::web::layout::browser_zone))
                .wrap(from_fn(request_id::middleware))
                .configure(routes)
        })
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        Ok(Application {
            server,
            local_addr,
            engine,
            engine_handle,
            paging,
            paging_handle,
            _auto_resolve: auto_resolve,
            _tallies: tallies,
            _statistics: statistics,
        })
    }

    /// Stops the server from another task (tests restart the app on the same database).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The webhook sender, for tests that drive it.
    pub fn engine(&self) -> DeliveryEngine {
        self.engine.clone()
    }

    /// The escalation worker and the notifier, for tests that drive them.
    pub fn paging(&self) -> Paging {
        self.paging.clone()
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests and webhook attempts.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let served = self.server.await;
        if let Some(engine) = self.engine_handle.take() {
            engine.shutdown().await;
        }
        if let Some(paging) = self.paging_handle.take() {
            paging.shutdown().await;
        }
        served?;
        Ok(())
    }
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
}

/// The key that signs and encrypts session cookies: `KLAXON_SECRET_KEY` when given, otherwise
/// one generated once and kept in the database (so restarts and other instances share it).
async fn session_key(db: &Db, configured: Option<&str>) -> anyhow::Result<Key> {
    if let Some(secret) = configured {
        anyhow::ensure!(
            secret.chars().count() >= MIN_SECRET_KEY_CHARS,
            "KLAXON_SECRET_KEY must be at least {MIN_SECRET_KEY_CHARS} characters long"
        );
        return Ok(Key::derive_from(secret.as_bytes()));
    }
    let encoded = db
        .run(|conn| {
            app_settings::get_or_insert(conn, SESSION_KEY_SETTING, || {
                base64::engine::general_purpose::STANDARD.encode(ids::random_bytes::<64>())
            })
        })
        .await
        .context("cannot load the session key")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .context("the stored session key is not valid base64")?;
    Key::try_from(bytes.as_slice()).context("the stored session key is too short")
}
