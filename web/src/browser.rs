//! The few browser facilities the app uses, in one place: randomness, today's date, web
//! storage, same-origin requests, saving a file and moving focus.
//!
//! Requests go only to the origin that served the app (the page's CSP says so too,
//! `connect-src 'self'`); [`same_origin`] refuses anything else before it is tried.

use crate::state::{iso_date, Randomness};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, HtmlElement, Request, RequestCache, RequestInit, Response, Window};

/// The window.
pub fn window() -> Window {
    web_sys::window().expect("the app runs in a window")
}

/// The document.
pub fn document() -> Document {
    window().document().expect("the window has a document")
}

/// `n` bytes from `crypto.getRandomValues`.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("crypto.getRandomValues is available");
    b
}

/// Fresh randomness for one sealing.
pub fn randomness() -> Randomness {
    Randomness {
        id: random(),
        ephemeral: random(),
    }
}

/// Today's date on the respondent's device, `YYYY-MM-DD`.
pub fn today() -> String {
    let d = js_sys::Date::new_0();
    iso_date(d.get_full_year(), d.get_month() + 1, d.get_date())
}

/// `sessionStorage` (lives as long as the tab) or `localStorage`, when the browser allows.
pub fn storage(session: bool) -> Option<web_sys::Storage> {
    let w = window();
    let s = if session {
        w.session_storage()
    } else {
        w.local_storage()
    };
    s.ok().flatten()
}

/// A message for a JavaScript error value.
pub fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// Resolves `url` against the page and returns it only when it is on the page's own
/// origin.
pub fn same_origin(url: &str) -> Result<String, String> {
    let base = window().location().href().map_err(|e| describe(&e))?;
    let u = web_sys::Url::new_with_base(url, &base)
        .map_err(|_| format!("`{url}` is not a web address"))?;
    let ours = window().location().origin().map_err(|e| describe(&e))?;
    if u.origin() != ours {
        return Err(format!(
            "the study asks to send answers to {}, but this page sends them only to the site it was loaded from ({ours})",
            u.origin()
        ));
    }
    Ok(u.href())
}

/// A response: status, whether its content type is JSON, and the body.
pub struct Fetched {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type` is `application/json`.
    pub json: bool,
    /// The body.
    pub body: Vec<u8>,
}

/// A request on its way: the fetch has started; [`finish`] waits for the response.
pub struct Pending(js_sys::Promise);

fn start(url: &str, init: &RequestInit) -> Result<Pending, String> {
    let url = same_origin(url)?;
    let req = Request::new_with_str_and_init(&url, init).map_err(|e| describe(&e))?;
    Ok(Pending(window().fetch_with_request(&req)))
}

async fn send(url: &str, init: &RequestInit) -> Result<Fetched, String> {
    finish(start(url, init)?).await
}

/// Waits for the response of a started request, and for its body.
pub async fn finish(pending: Pending) -> Result<Fetched, String> {
    let res: Response = JsFuture::from(pending.0)
        .await
        .map_err(|e| describe(&e))?
        .unchecked_into();
    let json = res
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        });
    let buf = JsFuture::from(res.array_buffer().map_err(|e| describe(&e))?)
        .await
        .map_err(|e| describe(&e))?;
    Ok(Fetched {
        status: res.status(),
        json,
        body: js_sys::Uint8Array::new(&buf).to_vec(),
    })
}

fn get_init() -> RequestInit {
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_cache(RequestCache::NoCache);
    init
}

/// `GET url` (same origin, not from the HTTP cache: a republished study shows at once).
pub async fn get(url: &str) -> Result<Fetched, String> {
    send(url, &get_init()).await
}

/// A request web/boot.js started before the app was loaded (`study` or `survey`), taken
/// over once: a second look finds nothing.
pub fn prefetched(name: &str) -> Option<Pending> {
    let all = js_sys::Reflect::get(&window(), &JsValue::from_str("plpPrefetch")).ok()?;
    let key = JsValue::from_str(name);
    let p = js_sys::Reflect::get(&all, &key).ok()?;
    let _ = js_sys::Reflect::delete_property(all.unchecked_ref::<js_sys::Object>(), &key);
    p.dyn_into::<js_sys::Promise>().ok().map(Pending)
}

/// Starts `GET url` now, so that several requests travel together; see [`finish`].
pub fn start_get(url: &str) -> Result<Pending, String> {
    start(url, &get_init())
}

/// `POST url` with a JSON body.
pub async fn post_json(url: &str, body: &str) -> Result<Fetched, String> {
    let init = RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new().map_err(|e| describe(&e))?;
    headers
        .set("Content-Type", "application/json")
        .map_err(|e| describe(&e))?;
    init.set_headers_headers(&headers);
    init.set_body_opt_str(Some(body));
    init.set_cache(RequestCache::NoStore);
    send(url, &init).await
}

/// Offers `text` as a file download named `name`.
pub fn download(name: &str, text: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)
        .map_err(|e| describe(&e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| describe(&e))?;
    let a: web_sys::HtmlAnchorElement = document()
        .create_element("a")
        .map_err(|e| describe(&e))?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // The download has started from the blob; the URL can go.
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Moves focus to the element with this id and scrolls it into view.
pub fn focus(id: &str) {
    if let Some(el) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<HtmlElement>().ok())
    {
        let _ = el.focus();
        el.scroll_into_view();
    }
}

/// The fragment of the page address, without `#`.
pub fn hash() -> String {
    window()
        .location()
        .hash()
        .unwrap_or_default()
        .trim_start_matches('#')
        .to_string()
}

/// Sets the document title.
pub fn set_title(title: &str) {
    document().set_title(title);
}
