//! "Clear my answers": removes every answer from the device, after a confirmation.

use yew::prelude::*;

/// Props of [`ClearAnswers`].
#[derive(Properties, PartialEq)]
pub struct ClearProps {
    /// Called once the respondent confirms.
    pub on_clear: Callback<()>,
}

/// The button, and the confirmation it asks for.
#[component]
pub fn ClearAnswers(p: &ClearProps) -> Html {
    let asking = use_state(|| false);
    let ask = {
        let asking = asking.clone();
        Callback::from(move |_| asking.set(true))
    };
    let keep = {
        let asking = asking.clone();
        Callback::from(move |_| asking.set(false))
    };
    let clear = {
        let asking = asking.clone();
        let on_clear = p.on_clear.clone();
        Callback::from(move |_| {
            asking.set(false);
            on_clear.emit(());
        })
    };
    html! {
        <section class="clear-answers" aria-labelledby="clear-title">
            <h2 id="clear-title" class="visually-hidden">{ "Clear my answers" }</h2>
            if *asking {
                <div role="alert">
                    <p>{ "This removes every answer you have given from this device. It cannot be undone." }</p>
                    <div class="buttons">
                        <button type="button" class="button warning" onclick={clear}>{ "Yes, clear my answers" }</button>
                        <button type="button" class="button secondary" onclick={keep}>{ "No, keep them" }</button>
                    </div>
                </div>
            } else {
                <p>
                    { "Your unfinished answers are kept on this device, encrypted, so that they survive a reload; once you close this tab they can no longer be read. " }
                    <button type="button" class="button secondary" onclick={ask}>{ "Clear my answers" }</button>
                </p>
            }
        </section>
    }
}
