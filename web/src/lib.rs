//! # The respondent app
//!
//! A Yew app, built with Trunk (`trunk build --release`, see `Trunk.toml`), that shows the
//! information sheet and asks for consent, takes the pair code and memorable word, walks the
//! survey page by page, and seals the response in the browser before it leaves.
//!
//! It is a thin shell over `plp-core`: branching, validation, payloads, sealing and draft
//! encryption are core's, and this crate only keeps the session ([`state`], pure and tested
//! natively) and draws it (`app` and its components, wasm32 only).
//!
//! What the browser talks to is the origin that served it: `study.json` and `survey.json`
//! (`plp publish` writes them, `plp serve` serves them), and the study's submission URL.
//! When no study is served it runs the built-in demonstration in `demo/` (a fixed demo key:
//! nothing typed there is collected). Nothing readable is kept on the device: an unfinished
//! draft is AES-256-GCM encrypted under a key that lives only as long as the tab.
#![deny(missing_docs)]

pub mod state;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod store;

/// Starts the app in the page's `<main>` element.
#[cfg(target_arch = "wasm32")]
pub fn run() {
    let root = browser::document()
        .get_element_by_id("app")
        .expect("index.html has an element with id `app`");
    yew::Renderer::<app::App>::with_root(root).render();
}
