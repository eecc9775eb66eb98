//! The app's components, one per file: the information sheet, a survey page and its
//! questions, the review page, the receipt, the withdrawal page, and the pieces they share.

mod clear;
mod errors;
mod question;
mod receipt;
mod review;
mod sheet;
mod survey_page;
mod withdraw;

pub use clear::ClearAnswers;
pub use errors::{error_summary, field_error};
pub use question::{question_view, QuestionProps};
pub use receipt::Receipt;
pub use review::{review, ReviewProps};
pub use sheet::sheet;
pub use survey_page::survey_page;
pub use withdraw::Withdraw;

use crate::state::{Action, Session};
use yew::prelude::*;

/// What the screens that show the session and change it are drawn from.
#[derive(PartialEq)]
pub struct SessionProps {
    /// The session.
    pub session: Session,
    /// Where actions go.
    pub dispatch: Callback<Action>,
}

/// The progress line and bar, "Step 3 of 14": where the respondent is in the survey.
///
/// Plain functions rather than components draw the stateless parts of the app: each
/// component is a copy of Yew's lifecycle code in the bundle.
pub fn progress(at: usize, total: usize) -> Html {
    let text = format!("Step {at} of {total}");
    html! {
        <div class="progress">
            <label for="progress-bar">{ text.clone() }</label>
            <progress id="progress-bar" max={total.to_string()} value={at.to_string()}>{ text }</progress>
        </div>
    }
}
