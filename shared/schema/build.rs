//! `sqlx::migrate!` embeds `migrations/` at compile time, but cargo only knows the files that
//! existed at the last build: without this, a new migration file leaves every binary with the old
//! list (the operator never creates the new tables and the workers write to missing ones).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
