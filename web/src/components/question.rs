//! One question, drawn by its kind: choices and scales as fieldsets with a legend, text as a
//! labelled box, the pair code, and the memorable word typed twice.
//!
//! Controls are controlled: they show the session's value and send every change up as an
//! [`Action`]; what an answer is made of (definition order, blank means absent) is in
//! [`crate::state`].

use super::field_error;
use crate::state::{
    field_id, option_id, other_id, text_answer, toggle, word_again_id, Action, FieldProblem,
};
use plp_core::branching::other_chosen;
use plp_core::survey::{Kind, Question};
use plp_core::Answer;
use yew::prelude::*;

/// What [`question_view`] draws.
#[derive(PartialEq)]
pub struct QuestionProps {
    /// The question.
    pub q: Question,
    /// Its answer.
    pub answer: Option<Answer>,
    /// The "Other" text, when the question has one.
    pub other: Option<Answer>,
    /// The pair code as typed (pair-code questions).
    pub code: String,
    /// The memorable word as typed, twice (memorable-word questions).
    pub word: (String, String),
    /// Problems on this page (those of this question are shown).
    pub problems: Vec<FieldProblem>,
    /// Where changes go.
    pub dispatch: Callback<Action>,
}

fn messages(problems: &[FieldProblem], field: &str) -> Vec<String> {
    problems
        .iter()
        .filter(|p| p.field == field)
        .map(|p| p.message.clone())
        .collect()
}

fn input_value(e: InputEvent) -> String {
    let t = e.target().expect("an input event has a target");
    if let Some(i) = t.dyn_ref::<web_sys::HtmlInputElement>() {
        i.value()
    } else {
        t.unchecked_into::<web_sys::HtmlTextAreaElement>().value()
    }
}

use wasm_bindgen::JsCast;

/// The heading text of a question: its number, its wording, and "(optional)".
fn title(q: &Question) -> Html {
    html! {
        <>
            <span class="q-number">{ format!("Question {}", q.number) }</span>
            <span class="q-text">{ q.text.clone() }</span>
            if !q.required {
                <span class="q-optional">{ " (optional)" }</span>
            }
        </>
    }
}

/// A labelled one-line or multi-line text box.
#[allow(clippy::too_many_arguments)]
fn text_box(
    id: String,
    label: Html,
    hint: Option<String>,
    value: String,
    errors: Vec<String>,
    multiline: bool,
    autocomplete: &'static str,
    oninput: Callback<InputEvent>,
) -> Html {
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let invalid = !errors.is_empty();
    let described: Vec<&str> = [
        hint.is_some().then_some(hint_id.as_str()),
        invalid.then_some(error_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    html! {
        <div class={classes!("field", invalid.then_some("has-error"))}>
            <label for={id.clone()} class="field-label">{ label }</label>
            if let Some(h) = hint {
                <p class="hint" id={hint_id.clone()}>{ h }</p>
            }
            { field_error(&error_id, errors) }
            if multiline {
                <textarea id={id.clone()} rows="6" {value} {oninput}
                    aria-describedby={described.clone()} aria-invalid={invalid.then_some("true")} />
            } else {
                <input type="text" id={id.clone()} {value} {oninput} {autocomplete}
                    spellcheck="false"
                    aria-describedby={described} aria-invalid={invalid.then_some("true")} />
            }
        </div>
    }
}

/// One question.
pub fn question_view(p: &QuestionProps) -> Html {
    let q = &p.q;
    let d = p.dispatch.clone();
    let id = q.id.clone();
    match &q.kind {
        Kind::PairCode => {
            let oninput = d.reform(|e: InputEvent| Action::Code(input_value(e)));
            let f = field_id(q);
            html! {
                <div class="question">
                    { text_box(f.clone(), title(q), q.help.clone(), p.code.clone(),
                        messages(&p.problems, &f), false, "off", oninput) }
                </div>
            }
        }
        Kind::MemorableWord => {
            let f = field_id(q);
            let again = word_again_id(q);
            let advice = format!(
                "{} Do not use your name, your partner's name, or anything else that could identify you. The word is never sent or saved: only a scrambled form of it travels with your answers. Use 4 to 64 characters.",
                q.help.clone().unwrap_or_default()
            );
            html! {
                <div class="question">
                    { text_box(f.clone(), title(q), Some(advice.trim().to_string()), p.word.0.clone(),
                        messages(&p.problems, &f), false, "off",
                        d.reform(|e: InputEvent| Action::Word(input_value(e)))) }
                    { text_box(again.clone(), html! { { "Type your memorable word again" } }, None,
                        p.word.1.clone(), messages(&p.problems, &again), false, "off",
                        d.reform(|e: InputEvent| Action::WordAgain(input_value(e)))) }
                </div>
            }
        }
        Kind::ShortText { .. } | Kind::LongText { .. } => {
            let f = field_id(q);
            let value = p.answer.as_ref().map(|a| a.display()).unwrap_or_default();
            let oninput = d.reform(move |e: InputEvent| {
                Action::Answer(id.clone(), text_answer(input_value(e)))
            });
            html! {
                <div class="question">
                    { text_box(f.clone(), title(q), q.help.clone(), value, messages(&p.problems, &f),
                        matches!(q.kind, Kind::LongText { .. }), "off", oninput) }
                </div>
            }
        }
        Kind::Single { .. } | Kind::Multiple { .. } | Kind::Rating { .. } => choices(p),
    }
}

/// A choice or rating question: a fieldset of radio buttons or checkboxes.
fn choices(p: &QuestionProps) -> Html {
    let q = &p.q;
    let multiple = matches!(q.kind, Kind::Multiple { .. });
    let hint_id = format!("q-{}-hint", q.id);
    let error_id = format!("q-{}-error", q.id);
    let errors = messages(&p.problems, &field_id(q));
    let invalid = !errors.is_empty();
    let described: Vec<&str> = [
        q.help.is_some().then_some(hint_id.as_str()),
        invalid.then_some(error_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));

    // (value as sent, label, checked)
    let items: Vec<(Answer, String, bool)> = match &q.kind {
        Kind::Rating {
            min,
            max,
            min_label,
            max_label,
        } => (*min..=*max)
            .map(|v| {
                let label = if v == *min && !min_label.is_empty() {
                    format!("{v} – {min_label}")
                } else if v == *max && !max_label.is_empty() {
                    format!("{v} – {max_label}")
                } else {
                    v.to_string()
                };
                (Answer::Int(v), label, p.answer == Some(Answer::Int(v)))
            })
            .collect(),
        _ => q
            .kind
            .options()
            .iter()
            .map(|o| {
                let checked = match &p.answer {
                    Some(Answer::Text(t)) => *t == o.id,
                    Some(Answer::List(l)) => l.contains(&o.id),
                    _ => false,
                };
                (Answer::Text(o.id.clone()), o.label.clone(), checked)
            })
            .collect(),
    };
    let rating = matches!(q.kind, Kind::Rating { .. });
    let show_other = other_chosen(q, p.answer.as_ref());
    html! {
        <div class={classes!("question", invalid.then_some("has-error"))}>
            <fieldset aria-describedby={described}>
                <legend>{ title(q) }</legend>
                if let Some(h) = &q.help {
                    <p class="hint" id={hint_id.clone()}>{ h.clone() }</p>
                }
                { field_error(&error_id, errors) }
                <div class={classes!("options", rating.then_some("scale"))}>
                    { for items.into_iter().enumerate().map(|(i, (value, label, checked))| {
                        let input_id = option_id(q, i);
                        let d = p.dispatch.clone();
                        let qid = q.id.clone();
                        let question = q.clone();
                        let current = p.answer.clone();
                        let onchange = Callback::from(move |e: Event| {
                            let on = e.target_unchecked_into::<web_sys::HtmlInputElement>().checked();
                            let new = if multiple {
                                let opt = value.as_text().unwrap_or_default().to_string();
                                toggle(&question, current.as_ref(), &opt, on)
                            } else {
                                Some(value.clone())
                            };
                            d.emit(Action::Answer(qid.clone(), new));
                        });
                        html! {
                            <div class="option" key={input_id.clone()}>
                                <input type={if multiple { "checkbox" } else { "radio" }}
                                    id={input_id.clone()} name={q.id.clone()} {checked} {onchange} />
                                <label for={input_id}>{ label }</label>
                            </div>
                        }
                    }) }
                </div>
                if show_other {
                    { other_box(p) }
                }
            </fieldset>
        </div>
    }
}

/// The box for the text of an "Other" option.
fn other_box(p: &QuestionProps) -> Html {
    let q = &p.q;
    let key = q
        .other_key()
        .expect("only questions with an Other option show it");
    let f = other_id(q);
    let value = p.other.as_ref().map(|a| a.display()).unwrap_or_default();
    let oninput = p
        .dispatch
        .reform(move |e: InputEvent| Action::Answer(key.clone(), text_answer(input_value(e))));
    html! {
        <div class="other">
            { text_box(f.clone(), html! { { "Please say what (optional)" } }, None, value,
                messages(&p.problems, &f), false, "off", oninput) }
        </div>
    }
}
