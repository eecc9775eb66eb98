//! The wasm32 entry point Trunk builds; the app itself is the library.

fn main() {
    #[cfg(target_arch = "wasm32")]
    plp_web::run();
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!(
        "plp-web is the respondent app: build it for the browser with `trunk build --release`"
    );
}
