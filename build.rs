// The web UI (frontend/dist) is embedded at compile time: rebuild when it is rebuilt.
fn main() {
    println!("cargo:rerun-if-changed=frontend/dist");
    println!("cargo:rerun-if-changed=build.rs");
}
