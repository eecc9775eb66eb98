//! The error summary at the top of a page and the message beside a field, in the pattern of
//! the GOV.UK design system: the summary is an alert, takes focus, and links to each field.

use crate::browser;
use crate::state::FieldProblem;
use yew::prelude::*;

/// "There is a problem", with a link to each field concerned. `on_other_page` is called
/// instead of focusing the field for problems on another page (the review page sends the
/// respondent there).
pub fn error_summary(problems: &[FieldProblem], on_other_page: Option<Callback<usize>>) -> Html {
    if problems.is_empty() {
        return html! {};
    }
    html! {
        <div class="error-summary" id="error-summary" role="alert" tabindex="-1"
            aria-labelledby="error-summary-title">
            <h2 id="error-summary-title">{ "There is a problem" }</h2>
            <ul>
                { for problems.iter().map(|pr| {
                    let field = pr.field.clone();
                    let page = pr.page;
                    let other = on_other_page.clone();
                    let onclick = Callback::from(move |e: MouseEvent| {
                        e.prevent_default();
                        match (&other, page) {
                            (Some(go), Some(page)) => go.emit(page),
                            _ => browser::focus(&field),
                        }
                    });
                    html! {
                        <li><a href={format!("#{}", pr.field)} {onclick}>{ pr.message.clone() }</a></li>
                    }
                }) }
            </ul>
        </div>
    }
}

/// The messages beside a field; `id` is what the field's `aria-describedby` names.
pub fn field_error(id: &str, messages: Vec<String>) -> Html {
    if messages.is_empty() {
        return html! {};
    }
    html! {
        <p class="field-error" id={id.to_string()}>
            <span class="visually-hidden">{ "Error: " }</span>
            { messages.join(" ") }
        </p>
    }
}
