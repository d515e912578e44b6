//! The relay embeds the trigger console's built files (see src/assets.rs):
//! say clearly how to make them when they are missing, and rebuild when
//! they change.

fn main() {
    // Read when the script runs, not baked in when it is compiled: a build
    // script compiled for another checkout sharing the target directory
    // must not look in that checkout.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dist = std::path::Path::new(&manifest).join("../console/dist");
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
