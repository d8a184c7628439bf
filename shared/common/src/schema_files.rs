//! The Avro schema files of `schema/`, embedded at build time (see `build.rs`): pure text, so
//! crates without an Avro library (the operator) can register the current one with a registry.

include!(concat!(env!("OUT_DIR"), "/embedded_schemas.rs"));

/// The schema new records are written with.
pub const CURRENT_SCHEMA_FILE: &str = "post.v2.avsc";

/// Every embedded schema file: (file name, JSON text).
pub fn all() -> &'static [(&'static str, &'static str)] {
    EMBEDDED_SCHEMAS
}

/// The JSON text of the current post schema, exactly as in its file (docs and defaults kept,
/// so the registry's compatibility checks see the defaults).
///
/// # Panics
/// If the current schema file is not embedded: a build defect, caught by this crate's tests.
pub fn current_post_schema() -> &'static str {
    EMBEDDED_SCHEMAS
        .iter()
        .find(|(file, _)| *file == CURRENT_SCHEMA_FILE)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("{CURRENT_SCHEMA_FILE} is not embedded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_schema_is_embedded_as_its_file_reads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(CURRENT_SCHEMA_FILE);
        let on_disk = std::fs::read_to_string(path).expect("schema file");
        assert_eq!(current_post_schema(), on_disk);
        assert!(all().iter().any(|(f, _)| *f == CURRENT_SCHEMA_FILE));
    }
}
