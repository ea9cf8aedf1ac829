//! HTTP requests to an actor through the kit's gateway, and their
//! answers.

use bytes::Bytes;

use super::TestKit;
use super::engine::{Answer, Engine};
use crate::RequestKey;
use crate::host::runtime::Runtime;
use crate::protocol::{
    BareMap, GatewayId, RequestId, ToClientRequestStart, ToClientTunnelMessageKind,
};

impl<R: Runtime> TestKit<R> {
    /// Sends `request` to actor `id` through the kit's gateway and returns
    /// the response, its body read whole. A sleeping actor is woken first;
    /// a request to a stopped one is answered 503, as the gateway would.
    ///
    /// # Panics
    ///
    /// When no response comes within [`WAIT_BOUND`](super::WAIT_BOUND).
    ///
    /// # Examples
    ///
    /// ```
    /// use runner_tokio::{http, ActorContext, Handler, Request, Response};
    ///
    /// struct Echo;
    ///
    /// impl Handler for Echo {
    ///     async fn on_request(&self, _actor: ActorContext, request: Request) -> Response {
    ///         let body = request.into_body().collect(1 << 20).await.unwrap_or_default();
    ///         Response::new(body.into())
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let kit = runner_tokio::testing::start(Echo).await;
    /// let actor = kit.start_actor("echo").await?;
    /// let request = http::Request::post("/echo").header("x-id", "7").body("ping")?;
    /// assert_eq!(kit.request(&actor, request).await.body(), "ping");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn request(
        &self,
        id: &str,
        request: http::Request<impl Into<Bytes>>,
    ) -> http::Response<Bytes> {
        if let Err(stopped) = self.wake(id).await {
            let mut refused = http::Response::new(Bytes::from(stopped));
            *refused.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            return refused;
        }
        let (parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        let start = ToClientRequestStart {
            actor_id: id.into(),
            method: parts.method.as_str().to_owned(),
            path,
            headers: headers(&parts.headers),
            body: Some(body.into()),
            stream: false,
        };
        let key = self.open(ToClientTunnelMessageKind::RequestStart(start), |e, key| {
            e.answers.insert(key, Answer::Waiting);
        });
        self.until("the response", |e| match e.answers.get(&key)? {
            Answer::Waiting | Answer::Streaming(_) => None,
            Answer::Done(_) | Answer::Aborted => e.answers.remove(&key),
        })
        .await
        .into_response()
    }

    /// Sends the first message of a new tunnelled request; `prepare`
    /// readies the engine for its answer first.
    pub(super) fn open(
        &self,
        kind: ToClientTunnelMessageKind,
        prepare: impl FnOnce(&mut Engine, RequestKey),
    ) -> RequestKey {
        let mut engine = self.engine.lock().unwrap();
        engine.next_request += 1;
        let key = RequestKey::new(
            GatewayId([7; 4]),
            RequestId(engine.next_request.to_be_bytes()),
        );
        prepare(&mut engine, key);
        engine.send(&crate::testing::tunnel_message(key, 0, kind));
        key
    }
}

impl Answer {
    fn into_response(self) -> http::Response<Bytes> {
        match self {
            Answer::Done(response) => response,
            // The runner gave up on the response: the gateway answers 502.
            _ => {
                let mut aborted = http::Response::new(Bytes::from_static(b"response aborted"));
                *aborted.status_mut() = http::StatusCode::BAD_GATEWAY;
                aborted
            }
        }
    }
}

/// Request headers as the gateway sends them: one value per name, repeated
/// ones joined with `, `.
fn headers(map: &http::HeaderMap) -> BareMap<String> {
    let mut joined: Vec<(String, String)> = Vec::new();
    for (name, value) in map {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match joined.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            None => joined.push((name.as_str().to_owned(), value)),
        }
    }
    BareMap(joined)
}
