//! The information sheet (with its version) and the consent box.

use super::{error_summary, field_error, progress, SessionProps};
use crate::state::{Action, CONSENT_ID};
use yew::prelude::*;

/// A block of the sheet's text: a short line with no closing punctuation is a heading.
fn block(text: &str) -> Html {
    let t = text.trim();
    let heading =
        !t.contains('\n') && t.chars().count() <= 60 && !t.ends_with(['.', ':', '?', '!']);
    if heading {
        html! { <h2>{ t.to_string() }</h2> }
    } else {
        html! { <p>{ t.to_string() }</p> }
    }
}

/// The first screen.
pub fn sheet(p: &SessionProps) -> Html {
    let s = &p.session;
    let sheet = &s.study.loaded.survey.information_sheet;
    let (at, total) = s.progress();
    let onchange = {
        let d = p.dispatch.clone();
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            d.emit(Action::Consent(input.checked()));
        })
    };
    let onsubmit = {
        let d = p.dispatch.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            d.emit(Action::Start);
        })
    };
    let errors: Vec<String> = s.problems.iter().map(|x| x.message.clone()).collect();
    let invalid = !errors.is_empty();
    html! {
        <>
            { error_summary(&s.problems, None) }
            if s.cleared {
                <p class="notice" role="status">{ "Your answers were cleared from this device." }</p>
            }
            if s.restored && s.visit == 0 {
                <p class="notice" role="status">{ "Welcome back: your answers so far were restored from this device." }</p>
            }
            { progress(at, total) }
            <h1 id="page-heading" tabindex="-1">{ "Information for participants" }</h1>
            <p class="sheet-version">{ format!("Information sheet, version {}", sheet.version) }</p>
            <div class="sheet">
                { for sheet.text.split("\n\n").filter(|b| !b.trim().is_empty()).map(block) }
            </div>
            <form class="consent-form" novalidate=true {onsubmit}>
                <div class={classes!("checkbox", invalid.then_some("has-error"))}>
                    { field_error("consent-error", errors) }
                    <input type="checkbox" id={CONSENT_ID} checked={s.consent} {onchange}
                        aria-describedby={invalid.then_some("consent-error")}
                        aria-invalid={invalid.then_some("true")} />
                    <label for={CONSENT_ID}>
                        { format!("I have read the information sheet (version {}) and I agree to take part.", sheet.version) }
                    </label>
                </div>
                <div class="buttons">
                    <button type="submit" class="button">{ "Start the survey" }</button>
                </div>
            </form>
        </>
    }
}
