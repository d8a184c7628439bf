//! Embeds every Avro schema in `schema/` so a decoder can look any released writer schema up by
//! its fingerprint. Adding a schema file is all it takes to make its records decodable.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // Read at run time: `env!` would bake in the path the script was compiled at, and a shared
    // target directory (CI's cache) reuses the script across clones at other paths.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("schema");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("schema/ is readable")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "avsc"))
        .collect();
    files.sort();
    let mut out = String::from("/// Every schema file in `schema/`: (file name, JSON text).\n");
    out.push_str("pub(crate) static EMBEDDED_SCHEMAS: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name");
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write to String");
    }
    out.push_str("];\n");
    let target = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR set by cargo"))
        .join("embedded_schemas.rs");
    std::fs::write(target, out).expect("write embedded_schemas.rs");
}
