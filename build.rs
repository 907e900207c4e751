//! The migrations are embedded in the binary by a macro that cargo cannot see reading them:
//! without this, a changed migration file would not rebuild the embedded set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
