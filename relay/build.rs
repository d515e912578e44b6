//! The relay embeds the trigger console's built files (see src/assets.rs):
//! say clearly how to make them when they are missing, and rebuild when
//! they change.

fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../console/dist");
    for name in [
        "index.html",
        "console.js",
        "console.css",
        "validator_bg.wasm",
    ] {
        let file = dist.join(name);
        println!("cargo:rerun-if-changed={}", file.display());
        if !file.exists() {
            panic!(
                "{} is missing: build the trigger console first with console/build.sh \
                 (relay/build.sh and scripts/test do it)",
                file.display()
            );
        }
    }
}
