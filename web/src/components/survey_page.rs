//! A page of the survey: one section, its visible questions (branching applies as the
//! respondent answers), Back and Next.

use super::{error_summary, progress, question_view, QuestionProps, SessionProps};
use crate::state::{Action, Step};
use yew::prelude::*;

/// The current page.
pub fn survey_page(p: &SessionProps) -> Html {
    let s = &p.session;
    let Step::Page(page) = s.step else {
        return html! {};
    };
    let section = &s.study.sections()[page];
    let (at, total) = s.progress();
    let onsubmit = {
        let d = p.dispatch.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            d.emit(Action::Next);
        })
    };
    let back = p.dispatch.reform(|_: MouseEvent| Action::Back);
    let resuming = s.restored && s.resume.is_some();
    let visible: Vec<String> = s
        .page_questions(page)
        .into_iter()
        .map(|q| q.id.clone())
        .collect();
    html! {
        <>
            { error_summary(&s.problems, None) }
            if resuming {
                <p class="notice" role="status">
                    { "Welcome back: your answers so far were restored from this device. Your memorable word is never saved, not even encrypted, so please type it again; you will then go on from where you left off." }
                </p>
            }
            { progress(at, total) }
            <h1 id="page-heading" tabindex="-1">{ section.title.clone() }</h1>
            if let Some(intro) = &section.intro {
                <p class="intro">{ intro.clone() }</p>
            }
            <form novalidate=true {onsubmit}>
                // Every question of the page has its place, shown or not, so branching never
                // moves a control (moving the one in focus would drop the keyboard's place).
                { for section.questions.iter().map(|q| {
                    if !visible.contains(&q.id) {
                        return html! { <div key={q.id.clone()} class="question-slot" hidden=true></div> };
                    }
                    let other = q.other_key().and_then(|k| s.answer(&k).cloned());
                    html! {
                        <div key={q.id.clone()} class="question-slot">
                            { question_view(&QuestionProps {
                                q: q.clone(),
                                answer: s.answer(&q.id).cloned(),
                                other,
                                code: s.code.clone(),
                                word: (s.word.clone(), s.word_again.clone()),
                                problems: s.problems.clone(),
                                dispatch: p.dispatch.clone(),
                            }) }
                        </div>
                    }
                }) }
                <div class="buttons">
                    <button type="submit" class="button">
                        { if s.from_review { "Save and return to the review" } else { "Next" } }
                    </button>
                    <button type="button" class="button secondary" onclick={back}>{ "Back" }</button>
                </div>
            </form>
        </>
    }
}
