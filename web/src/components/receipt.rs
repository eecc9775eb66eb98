//! After sealing: the receipt, and what happened to the envelope (sent, being sent, kept
//! after a failure with retry and save, or to be saved as a file).

use crate::app::{Delivery, Outcome};
use crate::browser;
use yew::prelude::*;

/// Props of [`Receipt`].
#[derive(Properties, PartialEq)]
pub struct ReceiptProps {
    /// The sealed envelope and its fate.
    pub outcome: Outcome,
    /// For the file name.
    pub study_id: String,
    /// "Try sending again".
    pub on_retry: Callback<()>,
    /// "Forget the kept copy" (after it was saved and sent another way).
    pub on_forget: Callback<()>,
}

/// The receipt page.
#[component]
pub fn Receipt(p: &ReceiptProps) -> Html {
    let o = &p.outcome;
    let saved = use_state(|| None::<Result<(), String>>);
    // "Your answers are ..." or "Your withdrawal request is ...".
    let (what, these, are, them) = if o.withdrawal {
        ("withdrawal request", "this", "is", "it")
    } else {
        ("answers", "these", "are", "them")
    };
    let save = {
        let saved = saved.clone();
        let name = o.sealed.file_name(&p.study_id);
        let json = o.sealed.json.clone();
        Callback::from(move |_: MouseEvent| saved.set(Some(browser::download(&name, &json))))
    };
    let retry = p.on_retry.reform(|_: MouseEvent| ());
    let forget = p.on_forget.reform(|_: MouseEvent| ());
    let heading = match (&o.delivery, o.withdrawal) {
        (Delivery::Sent, false) => "Thank you: your answers were sent",
        (Delivery::Sent, true) => "Your withdrawal request was sent",
        (Delivery::Sending, _) => "Sending…",
        (Delivery::Failed(_), _) => "Not sent yet: nothing is lost",
        (Delivery::File, false) => "Your answers are sealed: save them as a file",
        (Delivery::File, true) => "Your request is sealed: save it as a file",
    };
    let save_button = html! {
        <button type="button" class="button" onclick={save}>{ "Save the sealed file" }</button>
    };
    html! {
        <>
            <h1 id="page-heading" tabindex="-1">{ heading }</h1>
            <div class="receipt">
                <p>{ "Your receipt number:" }</p>
                <p class="receipt-code" id="receipt-code">{ o.sealed.receipt.clone() }</p>
                <p class="hint">{ format!("Keep it if you like. It identifies {these} sealed {what} without revealing anything in it, so the evaluation team can confirm they received it.") }</p>
            </div>
            <div role="status" aria-live="polite">
                { match &o.delivery {
                    Delivery::Sending => html! { <p>{ format!("Your {what} {are} sealed and being sent.") }</p> },
                    Delivery::Sent if o.withdrawal => html! {
                        <p>{ "The evaluation team will destroy your answers, provided the analysis has not begun yet. You can close this page." }</p>
                    },
                    Delivery::Sent => html! {
                        <p>{ "Your answers were encrypted on this device and have been received. Nothing is left on this device. You can close this page." }</p>
                    },
                    Delivery::Failed(why) => html! {
                        <>
                            <p>{ format!("Your {what} could not be sent: {why}.") }</p>
                            <p>{ format!("Your {what} {are} sealed and kept on this device, so nothing is lost. Try again, or save {them} as a file and send the file to the evaluation team, by email for example. The file is encrypted: only the evaluation team can open it.") }</p>
                        </>
                    },
                    Delivery::File => html! {
                        <>
                            <p>{ format!("This study collects {what} as files. Save the file, then send it to the evaluation team as they asked you to, by email for example.") }</p>
                            <p>{ "The file is encrypted: only the evaluation team can open it, so it is safe to send. Nothing else is kept on this device." }</p>
                        </>
                    },
                } }
            </div>
            { match &o.delivery {
                Delivery::Failed(_) => html! {
                    <div class="buttons">
                        <button type="button" class="button" onclick={retry}>{ "Try sending again" }</button>
                        { save_button }
                    </div>
                },
                Delivery::File => html! { <div class="buttons">{ save_button }</div> },
                _ => html! {},
            } }
            if let Some(r) = &*saved {
                <p role="status" class="notice">
                    { match r {
                        Ok(()) => format!("The file {} was offered to your browser to save.", o.sealed.file_name(&p.study_id)),
                        Err(e) => format!("The file could not be saved: {e}"),
                    } }
                </p>
                if matches!(o.delivery, Delivery::Failed(_)) {
                    <p>
                        { "Once you have sent the file, you can remove the copy kept on this device. " }
                        <button type="button" class="button secondary" onclick={forget}>{ "Remove the kept copy" }</button>
                    </p>
                }
            }
        </>
    }
}
