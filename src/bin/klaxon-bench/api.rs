//! The JSON API as the workloads use it: an API key made on the settings page for the owner of
//! a stage, and the calls the set-ups make with it.

use anyhow::Context;
use serde_json::{json, Value};

use crate::events::stage::Stage;
use crate::{signed_in, Browser};

/// The owner's API key and the stage's service, for the JSON API.
pub(crate) struct Api<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) owner: Browser,
    pub(crate) base: String,
    pub(crate) auth: String,
    pub(crate) team: String,
    pub(crate) service: String,
}

impl<'a> Api<'a> {
    pub(crate) async fn for_stage(
        http: &'a reqwest::Client,
        stage: &Stage,
    ) -> anyhow::Result<Api<'a>> {
        Api::for_service(http, stage.base(), stage.service()).await
    }

    /// The owner of the server at `base`, with a new key, and one of their services.
    pub(crate) async fn for_service(
        http: &'a reqwest::Client,
        base: &str,
        service: &str,
    ) -> anyhow::Result<Api<'a>> {
        let owner = signed_in(base).await?;
        let key = create_api_key(&owner).await?;
        let mut api = Api {
            http,
            owner,
            base: base.to_owned(),
            auth: format!("Token {key}"),
            team: String::new(),
            service: service.to_owned(),
        };
        let teams = api
            .call(reqwest::Method::GET, "/api/account/teams/", None)
            .await?;
        api.team = teams[0]["unique_id"]
            .as_str()
            .context("no team in /api/account/teams/")?
            .to_owned();
        Ok(api)
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "{method} {path} answered {status}: {text}"
        );
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: {text}"))
    }

    /// GETs `path` with the key and reads the answer whole; its status code.
    pub(crate) async fn get_status(&self, path: &str) -> anyhow::Result<u16> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .send()
            .await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok(status)
    }

    /// Sets the service's `escalation_policy` (a policy's `unique_id`, or null for none).
    pub(crate) async fn set_policy(&self, policy: Value) -> anyhow::Result<()> {
        let service = self
            .call(
                reqwest::Method::PATCH,
                &format!(
                    "/api/account/teams/{}/services/{}/",
                    self.team, self.service
                ),
                Some(json!({ "escalation_policy": policy })),
            )
            .await?;
        anyhow::ensure!(
            service["escalation_policy"] == policy,
            "the service kept escalation_policy {} instead of {policy}",
            service["escalation_policy"]
        );
        Ok(())
    }
}

pub(crate) fn member_username(team: &Value, email: &str) -> Option<String> {
    team["members"].as_array()?.iter().find_map(|member| {
        (member["user"]["email"] == email)
            .then(|| member["user"]["username"].as_str().map(str::to_owned))?
    })
}

/// Creates an API key on the settings page; the key, shown once on the answer.
pub(crate) async fn create_api_key(owner: &Browser) -> anyhow::Result<String> {
    owner.get("/settings/api-keys").await?;
    owner
        .post("/settings/api-keys", &[("name", "klaxon-bench")])
        .await?;
    // The new key is shown once, on the page the form redirects to.
    let page = owner.get("/settings/api-keys").await?;
    page.split_once("<code class=\"secret\" id=\"new-api-key\">")
        .and_then(|(_, rest)| rest.split_once('<'))
        .map(|(key, _)| key.trim().to_owned())
        .filter(|key| !key.is_empty())
        .context("the API keys page showed no new key")
}
