//! Avro encoding of [`Post`] records.
//!
//! Two framings, told apart by the first byte:
//! - Avro single-object encoding (`C3 01`, 8-byte little-endian CRC-64-AVRO fingerprint of the
//!   writer schema, body): self-describing without a registry, because every released schema is
//!   embedded here (see `build.rs`) and looked up by fingerprint.
//! - Confluent wire format (`00`, 4-byte big-endian schema id, body) when a schema registry is
//!   configured; decoding it needs a [`SchemaRegistry`].
//!
//! Decoding always resolves the writer schema against the current reader schema, so records
//! written with an older (or newer, compatible) schema decode into today's [`Post`].

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use apache_avro::Schema;
use apache_avro::rabin::Rabin;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;

use crate::post::Post;

use crate::registry::{RegistryClient, RegistryError};
pub use crate::schema_files::CURRENT_SCHEMA_FILE;
#[cfg(test)]
use crate::schema_files::EMBEDDED_SCHEMAS;

const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const CONFLUENT_MAGIC: u8 = 0x00;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty record value")]
    Empty,
    #[error(
        "unknown framing: first byte 0x{0:02x} is neither Avro single-object (0xC3 0x01) nor Confluent wire format (0x00)"
    )]
    UnknownFraming(u8),
    #[error("record of {0} bytes is too short for its framing header")]
    Truncated(usize),
    #[error(
        "writer schema fingerprint {0} matches none of the schemas in shared/common/schema/; was it written by a newer tweetpipe whose schema is not released here?"
    )]
    UnknownFingerprint(String),
    #[error(
        "record uses the Confluent wire format (schema id {0}) but no schema registry is configured"
    )]
    RegistryRequired(u32),
    #[error("schema registry: {0}")]
    Registry(String),
    /// The registry could not answer now (connection refused, timeout, HTTP 5xx or 429, or
    /// any other answer that says nothing about the schema id): retry the same record later.
    #[error("schema registry unavailable: {0}")]
    RegistryUnavailable(String),
    /// The registry answered that it has no schema with this id (HTTP 404, error code 40403):
    /// the record can never be decoded.
    #[error("the schema registry has no schema with id {0}")]
    UnknownSchemaId(u32),
    #[error("Avro: {0}")]
    Avro(#[from] apache_avro::Error),
}

impl CodecError {
    /// True when the record may decode later, unchanged: only a registry that could not
    /// answer. Every other error is the record's own (bad framing, unknown schema, a body
    /// that does not match its schema) and repeats on every attempt.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CodecError::RegistryUnavailable(_))
    }
}

/// A parsed schema with its single-object fingerprint.
#[derive(Debug)]
pub struct KnownSchema {
    pub file: String,
    pub fingerprint: [u8; 8],
    pub schema: Schema,
}

/// A set of writer schemas, addressable by fingerprint, with one current (reader) schema.
#[derive(Debug)]
pub struct SchemaSet {
    schemas: Vec<KnownSchema>,
    current: usize,
}

impl SchemaSet {
    /// Parses `(file, json)` pairs; `current_file` names the reader schema.
    pub fn parse(sources: &[(&str, &str)], current_file: &str) -> Result<Self, CodecError> {
        let mut schemas = Vec::with_capacity(sources.len());
        for (file, json) in sources {
            let schema = Schema::parse_str(json)?;
            schemas.push(KnownSchema {
                file: (*file).to_string(),
                fingerprint: fingerprint(&schema),
                schema,
            });
        }
        let current = schemas
            .iter()
            .position(|s| s.file == current_file)
            .ok_or_else(|| CodecError::UnknownFingerprint(format!("(no file {current_file})")))?;
        Ok(SchemaSet { schemas, current })
    }

    /// The schema new records are written with.
    pub fn current(&self) -> &KnownSchema {
        &self.schemas[self.current]
    }

    pub fn all(&self) -> &[KnownSchema] {
        &self.schemas
    }

    pub fn by_fingerprint(&self, fp: &[u8]) -> Option<&KnownSchema> {
        self.schemas.iter().find(|s| s.fingerprint == fp)
    }

    /// Single-object encoding of `post` with the current schema.
    pub fn encode_single_object(&self, post: &Post) -> Result<Vec<u8>, CodecError> {
        let current = self.current();
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
        out.extend_from_slice(&current.fingerprint);
        write_body(&current.schema, post, &mut out)?;
        Ok(out)
    }

    /// Decodes a single-object encoded record (Confluent records need [`decode_post_with`]).
    pub fn decode(&self, bytes: &[u8]) -> Result<Post, CodecError> {
        match split_framing(bytes)? {
            Framing::SingleObject { fingerprint, body } => {
                let writer = self
                    .by_fingerprint(&fingerprint)
                    .ok_or_else(|| CodecError::UnknownFingerprint(hex(&fingerprint)))?;
                self.decode_body(&writer.schema, body)
            }
            Framing::Confluent { schema_id, .. } => Err(CodecError::RegistryRequired(schema_id)),
        }
    }

    /// Decodes a bare Avro body written with `writer`, resolved to the current schema.
    pub fn decode_body(&self, writer: &Schema, mut body: &[u8]) -> Result<Post, CodecError> {
        let reader_schema = &self.current().schema;
        let value = if writer == reader_schema {
            GenericDatumReader::builder(writer)
                .build()?
                .read_value(&mut body)?
        } else {
            GenericDatumReader::builder(writer)
                .reader_schema(reader_schema)
                .build()?
                .read_value(&mut body)?
        };
        Ok(apache_avro::from_value::<Post>(&value)?)
    }
}

fn write_body(schema: &Schema, post: &Post, out: &mut Vec<u8>) -> Result<(), CodecError> {
    GenericDatumWriter::builder(schema)
        .build()?
        .write_ser(out, post)?;
    Ok(())
}

/// CRC-64-AVRO (Rabin) fingerprint of the schema's parsing canonical form, little-endian.
pub fn fingerprint(schema: &Schema) -> [u8; 8] {
    let bytes = schema.fingerprint::<Rabin>().bytes;
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The framing header of a record value.
#[derive(Debug, PartialEq, Eq)]
pub enum Framing<'a> {
    SingleObject {
        fingerprint: [u8; 8],
        body: &'a [u8],
    },
    Confluent {
        schema_id: u32,
        body: &'a [u8],
    },
}

/// Splits a record value into its framing header and Avro body.
pub fn split_framing(bytes: &[u8]) -> Result<Framing<'_>, CodecError> {
    match bytes.first() {
        None => Err(CodecError::Empty),
        Some(&0xC3) => {
            if bytes.len() < 10 {
                return Err(CodecError::Truncated(bytes.len()));
            }
            if bytes[1] != SINGLE_OBJECT_MAGIC[1] {
                return Err(CodecError::UnknownFraming(bytes[0]));
            }
            let mut fingerprint = [0u8; 8];
            fingerprint.copy_from_slice(&bytes[2..10]);
            Ok(Framing::SingleObject {
                fingerprint,
                body: &bytes[10..],
            })
        }
        Some(&CONFLUENT_MAGIC) => {
            if bytes.len() < 5 {
                return Err(CodecError::Truncated(bytes.len()));
            }
            let schema_id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            Ok(Framing::Confluent {
                schema_id,
                body: &bytes[5..],
            })
        }
        Some(&other) => Err(CodecError::UnknownFraming(other)),
    }
}

/// The schemas in `shared/common/schema/`, parsed once.
///
/// # Panics
/// If an embedded schema does not parse: a build defect, caught by this crate's tests.
pub fn embedded() -> &'static SchemaSet {
    static SET: OnceLock<SchemaSet> = OnceLock::new();
    SET.get_or_init(|| {
        SchemaSet::parse(crate::schema_files::all(), CURRENT_SCHEMA_FILE)
            .unwrap_or_else(|e| panic!("embedded Avro schemas are invalid: {e}"))
    })
}

/// Encodes a post with Avro single-object encoding and the current schema.
pub fn encode_post(post: &Post) -> Result<Vec<u8>, CodecError> {
    embedded().encode_single_object(post)
}

/// Encodes a post in the Confluent wire format under a registry schema id.
pub fn encode_post_confluent(post: &Post, schema_id: u32) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(512);
    out.push(CONFLUENT_MAGIC);
    out.extend_from_slice(&schema_id.to_be_bytes());
    write_body(&embedded().current().schema, post, &mut out)?;
    Ok(out)
}

/// A reader of one embedded writer schema.
struct EmbeddedReader {
    reader: GenericDatumReader<'static>,
    /// The writer schema is an older one: its values are resolved to the current schema.
    resolves: bool,
}

impl EmbeddedReader {
    /// A post of the current schema is deserialized straight from the bytes; one of an older
    /// schema goes through an Avro value resolved to the current schema (apache-avro cannot
    /// deserialize while resolving yet). The direct path skips building the value tree (a
    /// string per field name, per record): the transformer's largest decoding cost.
    fn decode(&self, mut body: &[u8]) -> Result<Post, CodecError> {
        if self.resolves {
            let value = self.reader.read_value(&mut body)?;
            Ok(apache_avro::from_value::<Post>(&value)?)
        } else {
            Ok(self.reader.read_deser::<Post>(&mut body)?)
        }
    }
}

/// One reader per embedded writer schema (in [`SchemaSet::all`]'s order), resolving to the
/// current schema when it is an older one. Building a reader resolves every name of both schemas
/// and telling whether writer and reader are the same walks both: together that cost more than
/// decoding the post (the transformer's profile), so it is done once, not per record.
///
/// # Panics
/// If a reader cannot be built from the embedded schemas: a build defect, caught by this crate's
/// tests.
fn embedded_readers() -> &'static [EmbeddedReader] {
    static READERS: OnceLock<Vec<EmbeddedReader>> = OnceLock::new();
    READERS.get_or_init(|| {
        let set = embedded();
        let current = &set.current().schema;
        set.all()
            .iter()
            .map(|writer| {
                let resolves = writer.schema != *current;
                let reader = if resolves {
                    GenericDatumReader::builder(&writer.schema)
                        .reader_schema(current)
                        .build()
                } else {
                    GenericDatumReader::builder(&writer.schema).build()
                };
                let reader =
                    reader.unwrap_or_else(|e| panic!("embedded Avro schema {}: {e}", writer.file));
                EmbeddedReader { reader, resolves }
            })
            .collect()
    })
}

/// Decodes a single-object encoded post. A Confluent-framed one yields
/// [`CodecError::RegistryRequired`]; use [`decode_post_with`] for those.
pub fn decode_post(bytes: &[u8]) -> Result<Post, CodecError> {
    match split_framing(bytes)? {
        Framing::SingleObject { fingerprint, body } => {
            let at = embedded()
                .all()
                .iter()
                .position(|s| s.fingerprint == fingerprint)
                .ok_or_else(|| CodecError::UnknownFingerprint(hex(&fingerprint)))?;
            embedded_readers()[at].decode(body)
        }
        Framing::Confluent { schema_id, .. } => Err(CodecError::RegistryRequired(schema_id)),
    }
}

/// Decodes either framing; Confluent records look their writer schema up in `registry`.
pub async fn decode_post_with(
    bytes: &[u8],
    registry: Option<&SchemaRegistry>,
) -> Result<Post, CodecError> {
    match split_framing(bytes)? {
        Framing::SingleObject { .. } => decode_post(bytes),
        Framing::Confluent { schema_id, body } => {
            let registry = registry.ok_or(CodecError::RegistryRequired(schema_id))?;
            let writer = registry.schema(schema_id).await?;
            embedded().decode_body(&writer, body)
        }
    }
}

/// How the extractor frames the records it writes.
#[derive(Debug, Clone, Copy)]
pub enum PostEncoder {
    SingleObject,
    Confluent { schema_id: u32 },
}

impl PostEncoder {
    pub fn encode(&self, post: &Post) -> Result<Vec<u8>, CodecError> {
        match self {
            PostEncoder::SingleObject => encode_post(post),
            PostEncoder::Confluent { schema_id } => encode_post_confluent(post, *schema_id),
        }
    }
}

/// The registry as the workers use it: the ccompat client of [`crate::registry`] plus a cache
/// of parsed writer schemas by id (ids are immutable, so the cache never goes stale).
#[derive(Debug)]
pub struct SchemaRegistry {
    client: RegistryClient,
    by_id: RwLock<HashMap<u32, Arc<Schema>>>,
}

/// Each registry request ends within this time.
const REGISTRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl SchemaRegistry {
    pub fn new(base_url: &str) -> Self {
        SchemaRegistry {
            client: RegistryClient::with_http(
                base_url,
                // Without redirects (see crate::registry); the builder only fails without a
                // TLS backend, and then the default client fails the same way on first use.
                crate::registry::http_client(REGISTRY_TIMEOUT).unwrap_or_default(),
            ),
            by_id: RwLock::new(HashMap::new()),
        }
    }

    /// Registers the current post schema (its file's text, as the operator registers it) under
    /// `subject` (conventionally `<topic>-value`) and returns its id; registering an identical
    /// schema again returns the same id.
    pub async fn register_current(&self, subject: &str) -> Result<u32, RegistryError> {
        let id = self
            .client
            .register(subject, crate::schema_files::current_post_schema())
            .await?;
        if let Ok(mut cache) = self.by_id.write() {
            cache.insert(id, Arc::new(embedded().current().schema.clone()));
        }
        Ok(id)
    }

    /// The writer schema with registry id `id` (cached after the first lookup).
    pub async fn schema(&self, id: u32) -> Result<Arc<Schema>, CodecError> {
        if let Some(schema) = self.by_id.read().ok().and_then(|c| c.get(&id).cloned()) {
            return Ok(schema);
        }
        // Only "no such id" is final; anything else (an outage, a refusal, a proxy's page) is
        // not the record's fault, so none makes it a dead letter.
        let text = self.client.schema_text(id).await.map_err(|e| match e {
            RegistryError::SchemaNotFound(id) => CodecError::UnknownSchemaId(id),
            other => CodecError::RegistryUnavailable(other.to_string()),
        })?;
        let schema = Arc::new(Schema::parse_str(&text)?);
        if let Ok(mut cache) = self.by_id.write() {
            cache.insert(id, schema.clone());
        }
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{full_post, minimal_post};

    #[test]
    fn every_schema_file_is_embedded_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        let on_disk = std::fs::read_dir(dir)
            .expect("schema dir")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "avsc"))
            .count();
        assert_eq!(embedded().all().len(), on_disk);
        assert_eq!(embedded().current().file, CURRENT_SCHEMA_FILE);
        let fps: std::collections::HashSet<_> =
            embedded().all().iter().map(|s| s.fingerprint).collect();
        assert_eq!(fps.len(), on_disk, "two schema files share a fingerprint");
    }

    /// The current schema's posts are deserialized straight from the bytes; the older path
    /// (an Avro value, then serde) must give the very same post for every kind of sample.
    #[test]
    fn direct_decoding_equals_decoding_through_an_avro_value() {
        use crate::fixtures::{news_post, sample_posts, untidy_post};
        let current = embedded().current();
        let through_value = GenericDatumReader::builder(&current.schema)
            .build()
            .expect("reader");
        let mut posts = vec![full_post(), minimal_post(), untidy_post(), news_post(7)];
        posts.extend(sample_posts(50, 1_000));
        for post in posts {
            let bytes = encode_post(&post).expect("encode");
            let Framing::SingleObject { mut body, .. } = split_framing(&bytes).expect("framing")
            else {
                panic!("encode_post writes single-object framing");
            };
            let expected: Post =
                apache_avro::from_value(&through_value.read_value(&mut body).expect("value"))
                    .expect("from value");
            let direct = decode_post(&bytes).expect("direct");
            assert_eq!(direct, expected, "post {}", post.id);
            assert_eq!(direct, post, "post {} round trip", post.id);
        }
    }

    #[test]
    fn single_object_round_trip() {
        for post in [full_post(), minimal_post()] {
            let bytes = encode_post(&post).expect("encode");
            assert_eq!(&bytes[..2], &[0xC3, 0x01]);
            assert_eq!(&bytes[2..10], &embedded().current().fingerprint);
            assert_eq!(decode_post(&bytes).expect("decode"), post);
        }
    }

    #[test]
    fn fingerprint_is_crc64_avro_of_canonical_form() {
        // Test vector from Avro's share/test/data/schema-tests.txt: "null" → 7195948357588979594.
        let null = Schema::parse_str(r#""null""#).expect("null schema");
        assert_eq!(
            i64::from_le_bytes(fingerprint(&null)),
            7_195_948_357_588_979_594
        );
    }

    #[tokio::test]
    async fn confluent_round_trip_needs_registry() {
        let post = full_post();
        let bytes = encode_post_confluent(&post, 7).expect("encode");
        assert_eq!(&bytes[..5], &[0, 0, 0, 0, 7]);
        assert!(matches!(
            decode_post(&bytes),
            Err(CodecError::RegistryRequired(7))
        ));
        assert!(matches!(
            decode_post_with(&bytes, None).await,
            Err(CodecError::RegistryRequired(7))
        ));
        // A registry whose cache already holds id 7 decodes without network access.
        let registry = SchemaRegistry::new("http://127.0.0.1:1");
        registry
            .by_id
            .write()
            .expect("lock")
            .insert(7, Arc::new(embedded().current().schema.clone()));
        assert_eq!(
            decode_post_with(&bytes, Some(&registry))
                .await
                .expect("decode"),
            post
        );
    }

    use crate::registry::tests::canned_http;

    #[tokio::test]
    async fn registry_outages_are_retryable_and_only_a_missing_id_is_not() {
        let schema = serde_json::json!({"schema": embedded().current().schema.canonical_form()});
        let url = canned_http(vec![
            (503, "unavailable".into()),
            (429, "slow down".into()),
            (404, "<html>no such path</html>".into()),
            (200, "<html>proxy login</html>".into()),
            (
                404,
                r#"{"error_code":40403,"message":"Schema not found"}"#.into(),
            ),
            (200, schema.to_string()),
        ])
        .await;
        let registry = SchemaRegistry::new(&url);
        for expected in ["503", "429", "404", "200"] {
            let err = registry.schema(3).await.expect_err(expected);
            assert!(err.is_retryable(), "{expected}: {err}");
            let text = err.to_string();
            assert!(text.contains(expected), "{text}");
            // Bodies that are not the registry's are never quoted.
            assert!(text.contains("not a schema registry's"), "{text}");
            assert!(
                !text.contains("html") && !text.contains("slow down"),
                "{text}"
            );
        }
        let err = registry.schema(3).await.expect_err("40403");
        assert!(matches!(err, CodecError::UnknownSchemaId(3)), "{err}");
        assert!(!err.is_retryable());
        registry.schema(3).await.expect("the registry is back");
        // Nothing listens any more: a connection error is retryable too.
        let refused = SchemaRegistry::new("http://127.0.0.1:1");
        assert!(refused.schema(4).await.expect_err("refused").is_retryable());
        // The record's own faults are not.
        assert!(!CodecError::UnknownFraming(0x7b).is_retryable());
        assert!(!CodecError::Truncated(3).is_retryable());
    }

    #[test]
    fn rejects_garbage_with_clear_errors() {
        assert!(matches!(decode_post(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode_post(b"{\"id\":1}"),
            Err(CodecError::UnknownFraming(b'{'))
        ));
        assert!(matches!(
            decode_post(&[0xC3, 0x01, 1]),
            Err(CodecError::Truncated(3))
        ));
        let unknown = [0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        let err = decode_post(&unknown).expect_err("unknown fingerprint");
        assert!(err.to_string().contains("0102030405060708"), "{err}");
        let mut truncated = encode_post(&full_post()).expect("encode");
        truncated.truncate(30);
        assert!(matches!(decode_post(&truncated), Err(CodecError::Avro(_))));
    }

    /// `post.v1.avsc` stays embedded, so the records older extractors wrote (single-object
    /// framing names v1's fingerprint) still decode, with no cashtags and no context annotations.
    #[test]
    fn a_released_v1_record_decodes_with_empty_cashtags_and_context_annotations() {
        let v1 = embedded()
            .all()
            .iter()
            .find(|s| s.file == "post.v1.avsc")
            .expect("post.v1.avsc stays embedded");
        assert_ne!(v1.fingerprint, embedded().current().fingerprint);
        let p = full_post();
        assert!(!p.cashtags.is_empty() && !p.context_annotations.is_empty());
        let mut value = apache_avro::to_value(&p).expect("to value");
        if let apache_avro::types::Value::Record(fields) = &mut value {
            fields.retain(|(name, _)| name != "cashtags" && name != "context_annotations");
        }
        let value = value.resolve(&v1.schema).expect("a v1 value");
        let mut body = Vec::new();
        GenericDatumWriter::builder(&v1.schema)
            .build()
            .expect("writer")
            .write_value(&mut body, value)
            .expect("write v1");
        let mut expected = p.clone();
        expected.cashtags.clear();
        expected.context_annotations.clear();

        // Single-object framing (no registry): found by v1's fingerprint.
        let mut bytes = vec![0xC3, 0x01];
        bytes.extend_from_slice(&v1.fingerprint);
        bytes.extend_from_slice(&body);
        assert_eq!(decode_post(&bytes).expect("decode v1"), expected);

        // Confluent framing: the registry's writer schema for the id is v1.
        assert_eq!(
            embedded()
                .decode_body(&v1.schema, &body)
                .expect("decode v1 body"),
            expected
        );
    }

    /// A v1 reader (a transformer not yet upgraded, reading through the registry) resolves a
    /// v2 record: the new fields are skipped.
    #[test]
    fn a_v1_reader_resolves_a_v2_record() {
        let v1 = embedded()
            .all()
            .iter()
            .find(|s| s.file == "post.v1.avsc")
            .expect("post.v1.avsc stays embedded");
        let bytes = encode_post(&full_post()).expect("encode v2");
        let mut body = &bytes[10..];
        let value = GenericDatumReader::builder(&embedded().current().schema)
            .reader_schema(&v1.schema)
            .build()
            .expect("reader")
            .read_value(&mut body)
            .expect("v1 reads v2");
        let apache_avro::types::Value::Record(fields) = value else {
            panic!("a record")
        };
        assert!(fields.iter().all(|(name, _)| name != "context_annotations"));
        assert!(fields.iter().any(|(name, _)| name == "hashtags"));
    }

    /// An older schema (v0: no `possibly_sensitive`, `place`, `metrics`, `cashtags` or
    /// `context_annotations`) and a newer one
    /// (v2: an extra field with a default) both decode into today's `Post`.
    #[test]
    fn decodes_older_and_newer_compatible_writer_schemas() {
        let current_json = EMBEDDED_SCHEMAS
            .iter()
            .find(|(f, _)| *f == CURRENT_SCHEMA_FILE)
            .map(|(_, j)| *j)
            .expect("current schema");
        let mut v0: serde_json::Value = serde_json::from_str(current_json).expect("json");
        let fields = v0["fields"].as_array_mut().expect("fields");
        fields.retain(|f| {
            !matches!(
                f["name"].as_str(),
                Some(
                    "possibly_sensitive" | "place" | "metrics" | "cashtags" | "context_annotations"
                )
            )
        });
        let mut v2: serde_json::Value = serde_json::from_str(current_json).expect("json");
        v2["fields"]
            .as_array_mut()
            .expect("fields")
            .push(serde_json::json!({"name": "edited", "type": "boolean", "default": false}));
        let v0 = v0.to_string();
        let v2 = v2.to_string();
        let set = SchemaSet::parse(
            &[
                ("post.v0.avsc", &v0),
                (CURRENT_SCHEMA_FILE, current_json),
                ("post.v2.avsc", &v2),
            ],
            CURRENT_SCHEMA_FILE,
        )
        .expect("parse set");

        // v0 writer: a serde struct without the removed fields.
        #[derive(serde::Serialize)]
        struct PostV0 {
            id: String,
            text: String,
            created_at: i64,
            lang: Option<String>,
            author_id: String,
            author: Option<crate::post::User>,
            conversation_id: Option<String>,
            in_reply_to_user_id: Option<String>,
            referenced: Vec<crate::post::ReferencedPost>,
            hashtags: Vec<crate::post::Hashtag>,
            mentions: Vec<crate::post::Mention>,
            urls: Vec<crate::post::Url>,
            pipeline: String,
            query_name: String,
            collected_at: i64,
        }
        let p = full_post();
        let old = PostV0 {
            id: p.id.clone(),
            text: p.text.clone(),
            created_at: p.created_at,
            lang: p.lang.clone(),
            author_id: p.author_id.clone(),
            author: p.author.clone(),
            conversation_id: p.conversation_id.clone(),
            in_reply_to_user_id: p.in_reply_to_user_id.clone(),
            referenced: p.referenced.clone(),
            hashtags: p.hashtags.clone(),
            mentions: p.mentions.clone(),
            urls: p.urls.clone(),
            pipeline: p.pipeline.clone(),
            query_name: p.query_name.clone(),
            collected_at: p.collected_at,
        };
        let v0_schema = &set.all()[0];
        let mut bytes = vec![0xC3, 0x01];
        bytes.extend_from_slice(&v0_schema.fingerprint);
        GenericDatumWriter::builder(&v0_schema.schema)
            .build()
            .expect("writer")
            .write_ser(&mut bytes, &old)
            .expect("write v0");
        let decoded = set.decode(&bytes).expect("decode v0");
        assert_eq!(decoded.id, p.id);
        assert_eq!(decoded.hashtags, p.hashtags);
        assert_eq!(decoded.metrics, None, "missing field takes its default");
        assert_eq!(decoded.place, None);
        assert_eq!(decoded.possibly_sensitive, None);
        assert!(decoded.cashtags.is_empty() && decoded.context_annotations.is_empty());

        // v2 writer: serialize through a Value with the extra field appended.
        let v2_schema = &set.all()[2];
        let mut value = apache_avro::to_value(&p).expect("to value");
        if let apache_avro::types::Value::Record(fields) = &mut value {
            fields.push(("edited".into(), apache_avro::types::Value::Boolean(true)));
        }
        let value = value.resolve(&v2_schema.schema).expect("resolve to v2");
        let mut bytes = vec![0xC3, 0x01];
        bytes.extend_from_slice(&v2_schema.fingerprint);
        GenericDatumWriter::builder(&v2_schema.schema)
            .build()
            .expect("writer")
            .write_value(&mut bytes, value)
            .expect("write v2");
        assert_eq!(
            set.decode(&bytes).expect("decode v2"),
            p,
            "unknown field is skipped"
        );
    }
}
