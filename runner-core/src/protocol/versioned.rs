//! The parts of the schema that change between protocol versions.
//!
//! Everything else derives its serde impls; these few types carry the version
//! down the tree by hand: [`Versioned`] for encoding, [`Seed`] for decoding.
//!
//! | version | difference |
//! |---|---|
//! | v6 | `ProtocolMetadata` gains `actorStopThreshold` and `serverlessDrainGracePeriod` |
//! | v7 | `KvRequestData` gains `KvDeleteRangeRequest` at tag 4; `KvDropRequest` moves to 5 |

use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::{self, Serialize, SerializeStruct, Serializer};

use super::ProtocolVersion;
use super::kv::KvRequestData;
use super::messages::{ProtocolMetadata, ToClient, ToClientInit, ToServer, ToServerKvRequest};
use super::wire::StrictOption;

/// A value paired with the protocol version to encode it for.
pub(crate) struct Versioned<'a, T>(pub(crate) ProtocolVersion, pub(crate) &'a T);

/// Decodes a `T` for a protocol version.
pub(crate) struct Seed<T>(pub(crate) ProtocolVersion, PhantomData<T>);

impl<T> Seed<T> {
    pub(crate) fn new(version: ProtocolVersion) -> Self {
        Seed(version, PhantomData)
    }
}

// ---------------------------------------------------------------- encoding

impl Serialize for Versioned<'_, ToServer> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const N: &str = "ToServer";
        match self.1 {
            ToServer::Init(m) => s.serialize_newtype_variant(N, 0, "Init", m),
            ToServer::Events(m) => s.serialize_newtype_variant(N, 1, "Events", m),
            ToServer::AckCommands(m) => s.serialize_newtype_variant(N, 2, "AckCommands", m),
            ToServer::Stopping => s.serialize_unit_variant(N, 3, "Stopping"),
            ToServer::Pong(m) => s.serialize_newtype_variant(N, 4, "Pong", m),
            ToServer::KvRequest(m) => {
                s.serialize_newtype_variant(N, 5, "KvRequest", &Versioned(self.0, m))
            }
            ToServer::TunnelMessage(m) => s.serialize_newtype_variant(N, 6, "TunnelMessage", m),
        }
    }
}

impl Serialize for Versioned<'_, ToServerKvRequest> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ToServerKvRequest", 3)?;
        st.serialize_field("actorId", &self.1.actor_id)?;
        st.serialize_field("requestId", &self.1.request_id)?;
        st.serialize_field("data", &Versioned(self.0, &self.1.data))?;
        st.end()
    }
}

impl Serialize for Versioned<'_, KvRequestData> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const N: &str = "KvRequestData";
        let v7 = self.0 >= ProtocolVersion::V7;
        match self.1 {
            KvRequestData::Get(m) => s.serialize_newtype_variant(N, 0, "Get", m),
            KvRequestData::List(m) => s.serialize_newtype_variant(N, 1, "List", m),
            KvRequestData::Put(m) => s.serialize_newtype_variant(N, 2, "Put", m),
            KvRequestData::Delete(m) => s.serialize_newtype_variant(N, 3, "Delete", m),
            KvRequestData::DeleteRange(m) if v7 => {
                s.serialize_newtype_variant(N, 4, "DeleteRange", m)
            }
            KvRequestData::DeleteRange(_) => Err(ser::Error::custom(
                "KvDeleteRangeRequest needs protocol v7 or later",
            )),
            KvRequestData::Drop => s.serialize_unit_variant(N, if v7 { 5 } else { 4 }, "Drop"),
        }
    }
}

impl Serialize for Versioned<'_, ToClient> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const N: &str = "ToClient";
        match self.1 {
            ToClient::Init(m) => s.serialize_newtype_variant(N, 0, "Init", &Versioned(self.0, m)),
            ToClient::Commands(m) => s.serialize_newtype_variant(N, 1, "Commands", m),
            ToClient::AckEvents(m) => s.serialize_newtype_variant(N, 2, "AckEvents", m),
            ToClient::KvResponse(m) => s.serialize_newtype_variant(N, 3, "KvResponse", m),
            ToClient::TunnelMessage(m) => s.serialize_newtype_variant(N, 4, "TunnelMessage", m),
            ToClient::Ping(m) => s.serialize_newtype_variant(N, 5, "Ping", m),
        }
    }
}

impl Serialize for Versioned<'_, ToClientInit> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ToClientInit", 2)?;
        st.serialize_field("runnerId", &self.1.runner_id)?;
        st.serialize_field("metadata", &Versioned(self.0, &self.1.metadata))?;
        st.end()
    }
}

impl Serialize for Versioned<'_, ProtocolMetadata> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.1;
        if self.0 < ProtocolVersion::V6 {
            let mut st = s.serialize_struct("ProtocolMetadata", 1)?;
            st.serialize_field("runnerLostThreshold", &m.runner_lost_threshold)?;
            return st.end();
        }
        let stop = m.actor_stop_threshold.ok_or_else(|| {
            ser::Error::custom("ProtocolMetadata.actorStopThreshold is required from v6 on")
        })?;
        let mut st = s.serialize_struct("ProtocolMetadata", 3)?;
        st.serialize_field("runnerLostThreshold", &m.runner_lost_threshold)?;
        st.serialize_field("actorStopThreshold", &stop)?;
        st.serialize_field(
            "serverlessDrainGracePeriod",
            &m.serverless_drain_grace_period,
        )?;
        st.end()
    }
}

// ---------------------------------------------------------------- decoding

/// A union tag: `serde_bare` reads identifiers as BARE `uint`.
struct Tag(u32);

impl<'de> de::Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TagVisitor;
        impl Visitor<'_> for TagVisitor {
            type Value = Tag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a union tag")
            }
            fn visit_u32<E: de::Error>(self, v: u32) -> Result<Tag, E> {
                Ok(Tag(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tag, E> {
                u32::try_from(v)
                    .map(Tag)
                    .map_err(|_| E::custom("union tag out of range"))
            }
        }
        d.deserialize_identifier(TagVisitor)
    }
}

fn bad_tag<E: de::Error>(union: &'static str, tag: u32, count: u32) -> E {
    E::custom(format_args!(
        "invalid {union} tag {tag} (expected 0..={})",
        count - 1
    ))
}

fn element<'de, T: de::Deserialize<'de>, A: SeqAccess<'de>>(seq: &mut A) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::custom("struct ended early"))
}

fn element_seed<'de, S: DeserializeSeed<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    seed: S,
) -> Result<S::Value, A::Error> {
    seq.next_element_seed(seed)?
        .ok_or_else(|| de::Error::custom("struct ended early"))
}

/// Implements `DeserializeSeed` (and the matching `Visitor`) for `Seed<$t>`:
/// `$call` starts decoding with the seed as visitor, `$body` is the visitor
/// method, with the protocol version bound to `$ver`.
macro_rules! seeded {
    ($t:ty, |$d:ident, $seed:ident| $call:expr,
     fn $visit:ident($ver:ident, $a:ident: impl $bound:ident) $body:block) => {
        impl<'de> DeserializeSeed<'de> for Seed<$t> {
            type Value = $t;
            fn deserialize<D: Deserializer<'de>>(self, $d: D) -> Result<$t, D::Error> {
                let $seed = self;
                $call
            }
        }
        impl<'de> Visitor<'de> for Seed<$t> {
            type Value = $t;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($t))
            }
            #[allow(unused_mut)]
            fn $visit<A: $bound<'de>>(self, mut $a: A) -> Result<$t, A::Error> {
                let $ver = self.0;
                $body
            }
        }
    };
}

seeded!(ToServer, |d, seed| d.deserialize_enum("ToServer", &[], seed),
    fn visit_enum(version, data: impl EnumAccess) {
    let (Tag(tag), variant) = data.variant()?;
    Ok(match tag {
        0 => ToServer::Init(variant.newtype_variant()?),
        1 => ToServer::Events(variant.newtype_variant()?),
        2 => ToServer::AckCommands(variant.newtype_variant()?),
        3 => {
            variant.unit_variant()?;
            ToServer::Stopping
        }
        4 => ToServer::Pong(variant.newtype_variant()?),
        5 => ToServer::KvRequest(variant.newtype_variant_seed(Seed::<ToServerKvRequest>::new(version))?),
        6 => ToServer::TunnelMessage(variant.newtype_variant()?),
        _ => return Err(bad_tag("ToServer", tag, 7)),
    })
});

seeded!(ToServerKvRequest, |d, seed| d.deserialize_struct("ToServerKvRequest", &[], seed),
    fn visit_seq(version, seq: impl SeqAccess) {
    Ok(ToServerKvRequest {
        actor_id: element(&mut seq)?,
        request_id: element(&mut seq)?,
        data: element_seed(&mut seq, Seed::<KvRequestData>::new(version))?,
    })
});

seeded!(KvRequestData, |d, seed| d.deserialize_enum("KvRequestData", &[], seed),
    fn visit_enum(version, data: impl EnumAccess) {
    let (Tag(tag), variant) = data.variant()?;
    let v7 = version >= ProtocolVersion::V7;
    Ok(match (tag, v7) {
        (0, _) => KvRequestData::Get(variant.newtype_variant()?),
        (1, _) => KvRequestData::List(variant.newtype_variant()?),
        (2, _) => KvRequestData::Put(variant.newtype_variant()?),
        (3, _) => KvRequestData::Delete(variant.newtype_variant()?),
        (4, true) => KvRequestData::DeleteRange(variant.newtype_variant()?),
        (4, false) | (5, true) => {
            variant.unit_variant()?;
            KvRequestData::Drop
        }
        _ => return Err(bad_tag("KvRequestData", tag, if v7 { 6 } else { 5 })),
    })
});

seeded!(ToClient, |d, seed| d.deserialize_enum("ToClient", &[], seed),
    fn visit_enum(version, data: impl EnumAccess) {
    let (Tag(tag), variant) = data.variant()?;
    Ok(match tag {
        0 => ToClient::Init(variant.newtype_variant_seed(Seed::<ToClientInit>::new(version))?),
        1 => ToClient::Commands(variant.newtype_variant()?),
        2 => ToClient::AckEvents(variant.newtype_variant()?),
        3 => ToClient::KvResponse(variant.newtype_variant()?),
        4 => ToClient::TunnelMessage(variant.newtype_variant()?),
        5 => ToClient::Ping(variant.newtype_variant()?),
        _ => return Err(bad_tag("ToClient", tag, 6)),
    })
});

seeded!(ToClientInit, |d, seed| d.deserialize_struct("ToClientInit", &[], seed),
    fn visit_seq(version, seq: impl SeqAccess) {
    Ok(ToClientInit {
        runner_id: element(&mut seq)?,
        metadata: element_seed(&mut seq, Seed::<ProtocolMetadata>::new(version))?,
    })
});

seeded!(ProtocolMetadata, |d, seed| d.deserialize_struct("ProtocolMetadata", &[], seed),
    fn visit_seq(version, seq: impl SeqAccess) {
    let runner_lost_threshold = element(&mut seq)?;
    if version < ProtocolVersion::V6 {
        return Ok(ProtocolMetadata {
            runner_lost_threshold,
            actor_stop_threshold: None,
            serverless_drain_grace_period: None,
        });
    }
    let actor_stop_threshold = Some(element(&mut seq)?);
    let StrictOption(serverless_drain_grace_period) = element(&mut seq)?;
    Ok(ProtocolMetadata {
        runner_lost_threshold,
        actor_stop_threshold,
        serverless_drain_grace_period,
    })
});
