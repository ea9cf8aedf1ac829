//! A small client for the engine's REST API and its gateway, for tests.
//!
//! REST routes used (engine 2.3.19, `engine/packages/api-public` upstream):
//!
//! | call | route |
//! |---|---|
//! | [`Api::health`] | `GET /health` |
//! | [`Api::namespace_exists`] | `GET /namespaces?name=N` |
//! | [`Api::create_actor`] | `POST /actors?namespace=N` |
//! | [`Api::get_actor`] | `GET /actors?namespace=N&actor_ids=ID&include_destroyed=true` |
//! | [`Api::delete_actor`] | `DELETE /actors/ID?namespace=N` |
//!
//! The gateway reaches an actor at `/gateway/<actorId><path>`, over HTTP
//! ([`Api::gateway`]) and WebSocket ([`Api::gateway_ws`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub use reqwest::Method;
pub use reqwest::header::HeaderMap;

/// A WebSocket to an actor through the gateway.
pub type GatewaySocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Bound on one REST call (`DELETE /actors` can take > 15 s under load).
const REST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default bound on [`Api::create_actor`] including its retries.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a WebSocket connect (guard retries an actor's open for ~20 s).
const WS_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Client for one engine: namespace `default` and token `dev` unless set.
///
/// Clones share state, and [`Engine::api`](crate::engine::Engine::api) hands
/// out clones of one client per engine.
#[derive(Debug, Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    endpoint: String,
    namespace: String,
    token: String,
    create_timeout: Duration,
    /// Per runner name: whether an actor has been created for it yet. The
    /// first create of a runner name must run alone (engine.md: concurrent
    /// first creates can leave the name unusable); the async mutex is held
    /// across that first create so concurrent callers queue behind it.
    first_create: Mutex<HashMap<String, Arc<tokio::sync::Mutex<bool>>>>,
}

/// An actor as the REST API describes it. Timestamps are milliseconds since
/// the Unix epoch; fields this struct does not name are kept in `other`.
#[derive(Debug, Clone, Deserialize)]
pub struct Actor {
    /// Actor id.
    pub actor_id: String,
    /// Actor name.
    pub name: String,
    /// Actor key.
    #[serde(default)]
    pub key: Option<String>,
    /// Runner name the actor runs on.
    #[serde(default)]
    pub runner_name_selector: Option<String>,
    /// `sleep`, `restart` or `destroy`.
    #[serde(default)]
    pub crash_policy: Option<String>,
    /// When the actor was created.
    #[serde(default)]
    pub create_ts: Option<i64>,
    /// When the actor was first connectable.
    #[serde(default)]
    pub start_ts: Option<i64>,
    /// When it was last made connectable; `None` while not running.
    #[serde(default)]
    pub connectable_ts: Option<i64>,
    /// When it went to sleep; `None` while awake.
    #[serde(default)]
    pub sleep_ts: Option<i64>,
    /// When it was destroyed.
    #[serde(default)]
    pub destroy_ts: Option<i64>,
    /// The last error (e.g. `{"crashed": {"message": …}}`).
    #[serde(default)]
    pub error: Option<Value>,
    /// Every other field of the answer.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// An HTTP request to an actor through the gateway; see [`Api::gateway`].
#[derive(Debug, Clone)]
pub struct GatewayRequest {
    /// Method.
    pub method: Method,
    /// Target actor.
    pub actor_id: String,
    /// Path on the actor, with query, starting with `/`.
    pub path: String,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<Vec<u8>>,
    /// Bound on each attempt.
    pub timeout: Duration,
    /// Attempts in all (at least 1). An attempt is repeated only when it
    /// got no answer (connect error or timeout), never after a status.
    pub attempts: u32,
}

impl GatewayRequest {
    /// A request with no body, a 30 s timeout and 3 attempts.
    pub fn new(method: Method, actor_id: &str, path: &str) -> Self {
        GatewayRequest {
            method,
            actor_id: actor_id.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(30),
            attempts: 3,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the per-attempt timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of attempts (1 = no retry; use 1 for requests that
    /// must not run twice, e.g. `POST /crash`).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }
}

/// A gateway answer, body read in full.
#[derive(Debug, Clone)]
pub struct GatewayResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
}

impl GatewayResponse {
    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("gateway answer is not the expected JSON: {}", self.text()))
    }

    /// A header value, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

impl Api {
    /// A client for the engine at `endpoint` (e.g. `http://127.0.0.1:7420`).
    pub fn new(endpoint: impl Into<String>) -> Self {
        Api::with_namespace(endpoint, "default", "dev")
    }

    /// A client with another namespace and token.
    pub fn with_namespace(endpoint: impl Into<String>, namespace: &str, token: &str) -> Self {
        let http = reqwest::Client::builder()
            // Loopback only: never let a proxy from the environment in.
            .no_proxy()
            .build()
            .expect("building a plain-HTTP reqwest client cannot fail");
        Api {
            inner: Arc::new(Inner {
                http,
                endpoint: endpoint.into().trim_end_matches('/').to_owned(),
                namespace: namespace.to_owned(),
                token: token.to_owned(),
                create_timeout: CREATE_TIMEOUT,
                first_create: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The engine endpoint.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The namespace used by the actor calls.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// `GET /health`; the JSON answer (`{"status":"ok",…}`) if it is 200.
    pub async fn health(&self, timeout: Duration) -> Result<Value> {
        let url = format!("{}/health", self.endpoint());
        let (status, body) = self.send(self.http(Method::GET, &url), timeout).await?;
        expect_ok(&Method::GET, &url, status, &body)
    }

    /// Whether the namespace `name` exists (`GET /namespaces?name=…`).
    pub async fn namespace_exists(&self, name: &str, timeout: Duration) -> Result<bool> {
        let url = format!("{}/namespaces", self.endpoint());
        let request = self.http(Method::GET, &url).query(&[("name", name)]);
        let (status, body) = self.send(request, timeout).await?;
        let answer = expect_ok(&Method::GET, &url, status, &body)?;
        let names = answer["namespaces"].as_array().cloned().unwrap_or_default();
        Ok(names.iter().any(|ns| ns["name"] == name))
    }

    /// Whether the engine's consensus layer (epoxy) is configured: runner
    /// configs can be written. A fresh engine answers `/health` and lists
    /// the `default` namespace a few hundred milliseconds before its epoxy
    /// coordinator has configured the replica; until then every runner
    /// config write fails with a 500 (engine log: "replica 1 has not been
    /// configured yet"). Checked by deleting a runner config that does not
    /// exist, which goes through the same consensus and changes nothing.
    pub async fn runner_configs_writable(&self, timeout: Duration) -> Result<bool> {
        let url = format!("{}/runner-configs/readiness-probe", self.endpoint());
        let request = self
            .http(Method::DELETE, &url)
            .query(&[("namespace", self.namespace())]);
        let (status, _) = self.send(request, timeout).await?;
        Ok(status.is_success())
    }

    /// Creates an actor with `crash_policy: sleep` on the runners named
    /// `runner_name` and returns its id.
    ///
    /// Retries with backoff (bounded, 60 s in all) while the engine answers
    /// with a transient error: 400 `no_runner_config_configured` (a runner
    /// that just connected is not known yet), `namespace.not_found` (fresh
    /// engine), 5xx or a refused connection (engine restarting). A request
    /// that timed out is not repeated, as it may have created the actor.
    ///
    /// The first create for a runner name is serialised: concurrent callers
    /// wait until it succeeded, as the engine needs it to run alone.
    pub async fn create_actor(
        &self,
        name: &str,
        key: Option<&str>,
        runner_name: &str,
    ) -> Result<String> {
        let body = json!({
            "name": name,
            "key": key,
            "runner_name_selector": runner_name,
            "crash_policy": "sleep",
        });
        let gate = self.first_create_gate(runner_name);
        let mut created_before = gate.lock().await;
        if *created_before {
            drop(created_before);
            return self.create_with_retries(&body).await;
        }
        let actor_id = self.create_with_retries(&body).await?;
        *created_before = true;
        Ok(actor_id)
    }

    fn first_create_gate(&self, runner_name: &str) -> Arc<tokio::sync::Mutex<bool>> {
        let mut gates = self
            .inner
            .first_create
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        gates.entry(runner_name.to_owned()).or_default().clone()
    }

    async fn create_with_retries(&self, body: &Value) -> Result<String> {
        let url = format!("{}/actors", self.endpoint());
        let deadline = Instant::now() + self.inner.create_timeout;
        let mut delay = Duration::from_millis(100);
        let mut retrying = false;
        loop {
            let request = self
                .http(Method::POST, &url)
                .query(&[("namespace", self.namespace())])
                .json(body);
            let problem = match self.send(request, REST_TIMEOUT).await {
                Ok((status, text)) if status.is_success() => return parse_actor_id(&text),
                // An earlier attempt that failed on our side (a timeout, a
                // 5xx) may have created the actor all the same: its key is
                // taken, by the actor we asked for.
                Ok((_, text)) if retrying && existing_actor(&text).is_some() => {
                    return existing_actor(&text).context("existing actor id");
                }
                Ok((status, text)) if is_transient(status, &text) => {
                    format!("{status}: {text}")
                }
                Ok((status, text)) => bail!("POST {url} with {body} answered {status}: {text}"),
                Err(err) if is_connect_error(&err) => format!("{err:#}"),
                Err(err) => return Err(err.context(format!("POST {url} with {body}"))),
            };
            if Instant::now() + delay > deadline {
                bail!(
                    "POST {url} with {body} still failing after {:?}: {problem}",
                    self.inner.create_timeout
                );
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
            retrying = true;
        }
    }

    /// Declares `runner_name` as a pool of normal runners in the `default`
    /// datacenter (`PUT /runner-configs/<name>`), before any runner of that
    /// name connects, as a deployment would.
    ///
    /// Without it, a runner's first connection writes that configuration
    /// itself, and an actor create that reads it in the same few
    /// milliseconds can cache "no configuration" for minutes (400
    /// `no_runner_config_configured`; engine 2.3.19: its optimistic read ends
    /// after the write's cache purge and saves the empty answer, seen in the
    /// engine's debug log). Measured with a create right after the connect:
    /// one runner name of two unusable in 3 of 8 fresh engines; with this
    /// call first, 0 of 40. A just-started engine can answer 5xx for a
    /// moment: server errors are retried for up to `REST_TIMEOUT` (60 s).
    pub async fn configure_runner_name(&self, runner_name: &str) -> Result<()> {
        let url = format!("{}/runner-configs/{runner_name}", self.endpoint());
        let body = json!({"datacenters": {"default": {"normal": {}}}});
        let deadline = Instant::now() + REST_TIMEOUT;
        loop {
            let request = self
                .http(Method::PUT, &url)
                .query(&[("namespace", self.namespace())])
                .json(&body);
            let (status, text) = self.send(request, REST_TIMEOUT).await?;
            if status.is_success() {
                return Ok(());
            }
            if !status.is_server_error() || Instant::now() >= deadline {
                bail!("PUT {url} answered {status}: {text}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Destroys an actor (`DELETE /actors/<id>`). Not retried: repeated
    /// deletes are suspected of confusing the engine's slot accounting.
    pub async fn delete_actor(&self, actor_id: &str) -> Result<()> {
        let url = format!("{}/actors/{actor_id}", self.endpoint());
        let request = self
            .http(Method::DELETE, &url)
            .query(&[("namespace", self.namespace())]);
        let (status, body) = self.send(request, REST_TIMEOUT).await?;
        expect_ok(&Method::DELETE, &url, status, &body).map(drop)
    }

    /// Looks an actor up by id, destroyed ones included; `None` if the
    /// engine does not know it.
    pub async fn get_actor(&self, actor_id: &str) -> Result<Option<Actor>> {
        let url = format!("{}/actors", self.endpoint());
        let request = self.http(Method::GET, &url).query(&[
            ("namespace", self.namespace()),
            ("actor_ids", actor_id),
            ("include_destroyed", "true"),
        ]);
        let (status, body) = self.send(request, REST_TIMEOUT).await?;
        let mut answer = expect_ok(&Method::GET, &url, status, &body)?;
        let actors: Vec<Actor> = serde_json::from_value(answer["actors"].take())
            .with_context(|| format!("unexpected answer from GET {url}: {body}"))?;
        Ok(actors.into_iter().find(|actor| actor.actor_id == actor_id))
    }

    /// `http://<engine>/gateway/<actorId><path>`.
    pub fn gateway_url(&self, actor_id: &str, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{}/gateway/{actor_id}{slash}{path}", self.endpoint())
    }

    /// `GET` through the gateway with the defaults of [`GatewayRequest::new`].
    pub async fn gateway_get(&self, actor_id: &str, path: &str) -> Result<GatewayResponse> {
        self.gateway(GatewayRequest::new(Method::GET, actor_id, path))
            .await
    }

    /// Sends a request to an actor through the gateway. Each attempt is
    /// bounded by `request.timeout`; attempts that got no answer are
    /// repeated, up to `request.attempts`, since requests that reach the
    /// engine while a runner reconnects can be lost. Any status (even 5xx,
    /// which the gateway passes through from the runner) is returned as is.
    pub async fn gateway(&self, request: GatewayRequest) -> Result<GatewayResponse> {
        let url = self.gateway_url(&request.actor_id, &request.path);
        let mut failures = Vec::new();
        for attempt in 1..=request.attempts.max(1) {
            match self.gateway_attempt(&url, &request).await {
                Ok(response) => return Ok(response),
                Err(err) => failures.push(format!("attempt {attempt}: {err:#}")),
            }
            tokio::time::sleep(Duration::from_millis(200) * attempt).await;
        }
        bail!(
            "{} {url}: no answer after {} attempts ({:?} each): {}",
            request.method,
            request.attempts,
            request.timeout,
            failures.join("; ")
        )
    }

    async fn gateway_attempt(
        &self,
        url: &str,
        request: &GatewayRequest,
    ) -> Result<GatewayResponse> {
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), url)
            .timeout(request.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(GatewayResponse {
            status,
            headers,
            body,
        })
    }

    /// Opens a WebSocket to `ws://<engine>/gateway/<actorId><path>` with the
    /// sub-protocol `rivet` (guard closes upgrades without a
    /// `Sec-WebSocket-Protocol` with 1011 `guard.missing_header`). Bounded
    /// by 30 s.
    pub async fn gateway_ws(&self, actor_id: &str, path: &str) -> Result<GatewaySocket> {
        self.gateway_ws_with(actor_id, path, "rivet", WS_CONNECT_TIMEOUT)
            .await
    }

    /// [`Api::gateway_ws`] with another `Sec-WebSocket-Protocol` value and
    /// connect timeout.
    pub async fn gateway_ws_with(
        &self,
        actor_id: &str,
        path: &str,
        protocol: &str,
        timeout: Duration,
    ) -> Result<GatewaySocket> {
        let url = ws_url(&self.gateway_url(actor_id, path));
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_str(protocol)?);
        let connect = tokio_tungstenite::connect_async(request);
        let (socket, _response) = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| anyhow!("WebSocket connect to {url} timed out after {timeout:?}"))?
            .with_context(|| format!("WebSocket connect to {url} failed"))?;
        Ok(socket)
    }

    fn http(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.inner
            .http
            .request(method, url)
            .bearer_auth(&self.inner.token)
    }

    /// Sends a REST request; the status and the body as text.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<(reqwest::StatusCode, String)> {
        let response = request.timeout(timeout).send().await?;
        let status = response.status();
        Ok((status, response.text().await?))
    }
}

/// `http://…` → `ws://…` (and https → wss).
fn ws_url(http_url: &str) -> String {
    if let Some(rest) = http_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = http_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        http_url.to_owned()
    }
}

fn expect_ok(method: &Method, url: &str, status: reqwest::StatusCode, body: &str) -> Result<Value> {
    if !status.is_success() {
        bail!("{method} {url} answered {status}: {body}");
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(body).with_context(|| format!("{method} {url} answered non-JSON: {body}"))
}

fn parse_actor_id(body: &str) -> Result<String> {
    let answer: Value = serde_json::from_str(body)
        .with_context(|| format!("POST /actors answered non-JSON: {body}"))?;
    answer["actor"]["actor_id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("POST /actors answer has no actor.actor_id: {body}"))
}

/// Engine answers worth retrying a create after.
fn is_transient(status: reqwest::StatusCode, body: &str) -> bool {
    if status.is_server_error() {
        return true;
    }
    let error: Value = serde_json::from_str(body).unwrap_or_default();
    matches!(
        (error["group"].as_str(), error["code"].as_str()),
        (_, Some("no_runner_config_configured")) | (Some("namespace"), Some("not_found"))
    )
}

/// Whether the request failed before reaching the engine, so retrying it
/// cannot run it twice.
fn is_connect_error(err: &anyhow::Error) -> bool {
    err.downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_connect)
}

/// The actor that already holds the key, from a `400 actor.duplicate_key`.
fn existing_actor(text: &str) -> Option<String> {
    let error: Value = serde_json::from_str(text).ok()?;
    if error.get("code")?.as_str()? != "duplicate_key" {
        return None;
    }
    let id = error.get("metadata")?.get("existing_actor_id")?.as_str()?;
    Some(id.to_owned())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn gateway_urls() {
        let api = Api::new("http://127.0.0.1:7420/");
        assert_eq!(
            api.gateway_url("abc", "/ping"),
            "http://127.0.0.1:7420/gateway/abc/ping"
        );
        assert_eq!(
            api.gateway_url("abc", "kv?prefix=a"),
            "http://127.0.0.1:7420/gateway/abc/kv?prefix=a"
        );
        assert_eq!(
            ws_url(&api.gateway_url("abc", "/ws")),
            "ws://127.0.0.1:7420/gateway/abc/ws"
        );
    }

    #[test]
    fn transient_errors() {
        let no_config = r#"{"group":"actor","code":"no_runner_config_configured"}"#;
        assert!(is_transient(reqwest::StatusCode::BAD_REQUEST, no_config));
        let no_ns = r#"{"group":"namespace","code":"not_found"}"#;
        assert!(is_transient(reqwest::StatusCode::BAD_REQUEST, no_ns));
        let invalid = r#"{"group":"validation","code":"invalid_input"}"#;
        assert!(!is_transient(reqwest::StatusCode::BAD_REQUEST, invalid));
        assert!(is_transient(reqwest::StatusCode::SERVICE_UNAVAILABLE, ""));
    }

    #[test]
    fn actor_parses_with_unknown_fields() {
        let actor: Actor = serde_json::from_value(json!({
            "actor_id": "a1", "name": "counter", "key": null, "datacenter": "default",
            "create_ts": 1, "sleep_ts": null, "error": {"crashed": {"message": "x"}}
        }))
        .unwrap();
        assert_eq!(actor.actor_id, "a1");
        assert_eq!(actor.key, None);
        assert_eq!(actor.other["datacenter"], json!("default"));
        assert!(actor.error.is_some());
    }
}
