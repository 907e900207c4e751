//! People: accounts the owner adds, signing in (also from an address of one's choice), API
//! keys, and `Person`, someone with a browser and a key of their own.

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};

use super::{csrf_token, submit_with, TestApp};

/// The password of the accounts tests add.
pub const USER_PASSWORD: &str = "another long password";

/// Adds an account through the users page, as the signed-in owner or admin; the page's answer.
pub async fn add_user(
    app: &TestApp,
    (first_name, last_name): (&str, &str),
    email: &str,
    password: &str,
    role: &str,
) -> Response {
    app.submit(
        "/settings/users/new",
        "/settings/users",
        &[
            ("first_name", first_name),
            ("last_name", last_name),
            ("email", email),
            ("password", password),
            ("role", role),
        ],
    )
    .await
}

/// Submits the sign-in form from `client`.
pub async fn sign_in_with(client: &Client, address: &str, email: &str, password: &str) -> Response {
    submit_with(
        client,
        address,
        "/signin",
        "/signin",
        &[("email", email), ("password", password)],
    )
    .await
}

/// A fresh browser, signed in.
pub async fn signed_in_browser(app: &TestApp, email: &str, password: &str) -> Client {
    let browser = app.new_browser();
    let response = sign_in_with(&browser, &app.address, email, password).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email} signs in");
    browser
}

/// Adds a plain user (Grace Hopper) and returns a browser signed in as them.
pub async fn user_browser(app: &TestApp, email: &str) -> Client {
    let response = add_user(app, ("Grace", "Hopper"), email, USER_PASSWORD, "3").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    signed_in_browser(app, email, USER_PASSWORD).await
}

/// One sign-in attempt in a fresh browser, from `address` (named in `X-Forwarded-For`, for an
/// app `behind_proxy`). A 429 must say how long to wait.
pub async fn sign_in_from(app: &TestApp, address: &str, email: &str, password: &str) -> StatusCode {
    let browser = app.new_browser();
    let page = browser
        .get(app.url("/signin"))
        .header("x-forwarded-for", address)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_token(&page).expect("sign-in form");
    let response = browser
        .post(app.url("/signin"))
        .header("x-forwarded-for", address)
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        assert!(response.headers().contains_key("retry-after"));
    }
    response.status()
}

/// Creates an API key through the settings page as the app's browser, and returns its text.
pub async fn create_api_key(app: &TestApp, name: &str) -> String {
    create_api_key_as(&app.client, app, name).await
}

/// Creates an API key through the settings page as `browser`, and returns its text.
pub async fn create_api_key_as(browser: &Client, app: &TestApp, name: &str) -> String {
    let response = submit_with(
        browser,
        &app.address,
        "/settings/api-keys",
        "/settings/api-keys",
        &[("name", name)],
    )
    .await;
    // Post/redirect/get: the key is shown on the page the answer redirects to.
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(super::location(&response), "/settings/api-keys");
    let page = browser
        .get(format!("{}/settings/api-keys", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"<code class="secret" id="new-api-key">"#;
    let start = page.find(marker).expect("the new key is shown") + marker.len();
    page[start..].split('<').next().unwrap().to_owned()
}

/// Someone with their own browser (signed in) and API key.
pub struct Person {
    pub browser: Client,
    pub auth: String,
}

/// The owner (signed in as `app`'s browser) adds an account; the person signs in and makes
/// an API key.
pub async fn person(app: &TestApp, (first, last): (&str, &str), email: &str, role: &str) -> Person {
    let response = add_user(app, (first, last), email, USER_PASSWORD, role).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{email} added");
    let browser = signed_in_browser(app, email, USER_PASSWORD).await;
    let key = create_api_key_as(&browser, app, "Script").await;
    Person {
        browser,
        auth: format!("Token {key}"),
    }
}

impl Person {
    pub async fn get(&self, app: &TestApp, path: &str) -> Response {
        self.browser.get(app.url(path)).send().await.unwrap()
    }

    /// The status and body of a page.
    pub async fn page(&self, app: &TestApp, path: &str) -> (StatusCode, String) {
        let response = self.get(app, path).await;
        (response.status(), response.text().await.unwrap())
    }

    /// Submits a form as the page at `page` would.
    pub async fn submit(
        &self,
        app: &TestApp,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        submit_with(&self.browser, &app.address, page, action, fields).await
    }

    /// Posts to `action` with a valid CSRF token, as a crafted form would (the page with the
    /// form may not be theirs to open).
    pub async fn post(&self, app: &TestApp, action: &str, fields: &[(&str, &str)]) -> Response {
        self.submit(app, "/settings", action, fields).await
    }

    /// A request to the JSON API with their key.
    pub fn api(&self, app: &TestApp, method: Method, path: &str) -> RequestBuilder {
        Client::new()
            .request(method, app.url(path))
            .header("authorization", &self.auth)
    }
}
