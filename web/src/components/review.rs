//! The review page: every visible question with its answer and a way to change it, then
//! the submit button.

use super::{error_summary, progress};
use crate::state::{display, Action, Session};
use plp_core::survey::Kind;
use yew::prelude::*;

/// What [`review`] draws.
#[derive(PartialEq)]
pub struct ReviewProps {
    /// The session.
    pub session: Session,
    /// Where actions go.
    pub dispatch: Callback<Action>,
    /// "Seal and send".
    pub on_submit: Callback<()>,
}

/// The review page.
pub fn review(p: &ReviewProps) -> Html {
    let s = &p.session;
    let (at, total) = s.progress();
    let back = p.dispatch.reform(|_: MouseEvent| Action::Back);
    let onsubmit = {
        let submit = p.on_submit.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            submit.emit(());
        })
    };
    let fix = p.dispatch.reform(Action::Fix);
    let pages = plp_core::branching::visible_pages(&s.study.loaded.survey, &s.answers);
    html! {
        <>
            { error_summary(&s.problems, Some(fix)) }
            { progress(at, total) }
            <h1 id="page-heading" tabindex="-1">{ "Check your answers before you submit them" }</h1>
            <p>{ "Nothing has been sent yet. Use the Change buttons to correct an answer." }</p>
            { for pages.into_iter().map(|page| {
                let section = &s.study.sections()[page];
                let change = p.dispatch.reform(move |_: MouseEvent| Action::Change(page));
                let heading_id = format!("review-{}", section.id);
                html! {
                    <section class="review-section" key={section.id.clone()} aria-labelledby={heading_id.clone()}>
                        <div class="review-head">
                            <h2 id={heading_id}>{ section.title.clone() }</h2>
                            <button type="button" class="button secondary" onclick={change}>
                                { "Change" }
                                <span class="visually-hidden">{ format!(" your answers to “{}”", section.title) }</span>
                            </button>
                        </div>
                        <dl class="answers">
                            { for s.page_questions(page).into_iter().map(|q| {
                                let answer = match q.kind {
                                    Kind::PairCode => plp_core::code::normalise(&s.code),
                                    Kind::MemorableWord => "Not shown (it stays on this device)".to_string(),
                                    _ => s.answer(&q.id).map(|a| display(q, a)).unwrap_or_else(|| "Not answered".into()),
                                };
                                let other = q.other_key().and_then(|k| s.answer(&k)).map(|a| a.display());
                                html! {
                                    <div class="answer" key={q.id.clone()} id={format!("review-{}", q.id)}>
                                        <dt>{ format!("{}. {}", q.number, q.text) }</dt>
                                        <dd>
                                            { answer }
                                            if let Some(o) = other {
                                                <br />{ format!("Other: {o}") }
                                            }
                                        </dd>
                                    </div>
                                }
                            }) }
                        </dl>
                    </section>
                }
            }) }
            <form novalidate=true {onsubmit}>
                <h2>{ "Submit your answers" }</h2>
                <p>{ "When you press the button, your answers are encrypted on this device so that only the evaluation team can read them, and then sent. By submitting, you agree to take part." }</p>
                <div class="buttons">
                    <button type="submit" class="button">{ "Submit my answers" }</button>
                    <button type="button" class="button secondary" onclick={back}>{ "Back" }</button>
                </div>
            </form>
        </>
    }
}
