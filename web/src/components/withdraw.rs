//! "Withdraw my answers": pair code and memorable word, sealed as a withdrawal request and
//! sent the way responses are.

use super::{error_summary, field_error};
use crate::app::StudyRef;
use crate::browser;
use crate::state::{
    seal_withdrawal, withdrawal_problems, FieldProblem, Sealed, WITHDRAW_CODE_ID, WITHDRAW_WORD_ID,
};
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Props of [`Withdraw`].
#[derive(Properties, PartialEq)]
pub struct WithdrawProps {
    /// The study.
    pub study: StudyRef,
    /// Called with the sealed request.
    pub on_sealed: Callback<Sealed>,
}

fn value(e: InputEvent) -> String {
    e.target()
        .expect("an input event has a target")
        .unchecked_into::<web_sys::HtmlInputElement>()
        .value()
}

/// The withdrawal page.
#[component]
pub fn Withdraw(p: &WithdrawProps) -> Html {
    let code = use_state(String::new);
    let word = use_state(String::new);
    let problems = use_state(Vec::<FieldProblem>::new);
    let alerts = use_state(|| 0u32);
    use_effect_with(*alerts, |&n| {
        if n > 0 {
            browser::focus("error-summary");
        }
    });
    let onsubmit = {
        let (code, word, problems, alerts) =
            (code.clone(), word.clone(), problems.clone(), alerts.clone());
        let study = p.study.0.clone();
        let on_sealed = p.on_sealed.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let mut found = withdrawal_problems(&study, &code, &word);
            if found.is_empty() {
                match seal_withdrawal(
                    &study,
                    &code,
                    &word,
                    &browser::today(),
                    browser::randomness(),
                ) {
                    Ok(sealed) => {
                        word.set(String::new());
                        on_sealed.emit(sealed);
                        return;
                    }
                    Err(e) => found.push(FieldProblem {
                        field: WITHDRAW_WORD_ID.into(),
                        page: None,
                        message: e.to_string(),
                    }),
                }
            }
            problems.set(found);
            alerts.set(*alerts + 1);
        })
    };
    let errs = |field: &str| -> Vec<String> {
        problems
            .iter()
            .filter(|p| p.field == field)
            .map(|p| p.message.clone())
            .collect()
    };
    let code_errors = errs(WITHDRAW_CODE_ID);
    let word_errors = errs(WITHDRAW_WORD_ID);
    let described = |hint: &str, error: &str, invalid: bool| {
        if invalid {
            format!("{hint} {error}")
        } else {
            hint.to_string()
        }
    };
    html! {
        <>
            { error_summary(&problems, None) }
            <h1 id="page-heading" tabindex="-1">{ "Withdraw my answers" }</h1>
            <p>{ "If you have submitted answers and changed your mind, you can ask for them to be destroyed." }</p>
            <p class="important">
                <strong>{ "Withdrawal is possible only until the analysis begins. " }</strong>
                { "After that, your answers can no longer be taken out." }
            </p>
            <p>{ "Enter the memorable word you chose when you filled in the survey. It is not sent: only a scrambled form of it, which lets the evaluation team find your answers without knowing the word. Your request is encrypted on this device like your answers were." }</p>
            <form novalidate=true {onsubmit}>
                <div class={classes!("field", (!code_errors.is_empty()).then_some("has-error"))}>
                    <label for={WITHDRAW_CODE_ID} class="field-label">{ "Your pair code letter (optional)" }</label>
                    <p class="hint" id="withdraw-code-hint">{ "It helps if another respondent chose the same memorable word." }</p>
                    { field_error("withdraw-code-error", code_errors.clone()) }
                    <input type="text" id={WITHDRAW_CODE_ID} value={(*code).clone()} autocomplete="off" spellcheck="false"
                        aria-describedby={described("withdraw-code-hint", "withdraw-code-error", !code_errors.is_empty())}
                        aria-invalid={(!code_errors.is_empty()).then_some("true")}
                        oninput={Callback::from({ let code = code.clone(); move |e| code.set(value(e)) })} />
                </div>
                <div class={classes!("field", (!word_errors.is_empty()).then_some("has-error"))}>
                    <label for={WITHDRAW_WORD_ID} class="field-label">{ "Your memorable word" }</label>
                    { field_error("withdraw-word-error", word_errors.clone()) }
                    <input type="text" id={WITHDRAW_WORD_ID} value={(*word).clone()} autocomplete="off" spellcheck="false"
                        aria-describedby={(!word_errors.is_empty()).then_some("withdraw-word-error")}
                        aria-invalid={(!word_errors.is_empty()).then_some("true")}
                        oninput={Callback::from({ let word = word.clone(); move |e| word.set(value(e)) })} />
                </div>
                <div class="buttons">
                    <button type="submit" class="button warning">{ "Send my withdrawal request" }</button>
                </div>
            </form>
        </>
    }
}
