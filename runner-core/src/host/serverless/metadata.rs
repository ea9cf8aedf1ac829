//! The answer to `GET <base>/metadata`, which the engine polls (on upsert,
//! then every ~10 s) to accept the endpoint and learn the actor names.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The metadata JSON: `runtime` must be `rivetkit` and `version` non-empty
/// for the engine to accept the endpoint; `actorNames` are the names the
/// user declared with `Builder::actor_name`; `runner.version` is the
/// runners' version.
///
/// `envoyProtocolVersion` is never sent: its presence switches the engine's
/// pool to the envoy protocol, which this runner does not speak, and the
/// engine refuses to switch back.
pub(super) fn metadata_json(
    version: &str,
    runner_version: u32,
    actor_names: &BTreeMap<String, String>,
) -> String {
    let names: Map<String, Value> = actor_names
        .iter()
        .map(|(name, metadata)| {
            // Stored as validated JSON-object text by the builder.
            let metadata = serde_json::from_str::<Value>(metadata).unwrap_or_else(|_| json!({}));
            (name.clone(), json!({ "metadata": metadata }))
        })
        .collect();
    json!({
        "runtime": "rivetkit",
        "version": version,
        "actorNames": names,
        "runner": { "version": runner_version },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_names_the_runtime_version_and_actors_but_no_envoy_protocol() {
        let names = BTreeMap::from([("counter".to_owned(), r#"{"icon":"c"}"#.to_owned())]);
        let value: Value = serde_json::from_str(&metadata_json("0.1.0", 3, &names)).unwrap();
        assert_eq!(value["runtime"], "rivetkit");
        assert_eq!(value["version"], "0.1.0");
        assert_eq!(value["actorNames"]["counter"]["metadata"]["icon"], "c");
        assert_eq!(value["runner"]["version"], 3);
        assert!(value.get("envoyProtocolVersion").is_none());
        assert!(value.get("envoy").is_none());
    }
}
