//! The root component: loads the study, then shows the survey or the withdrawal page, and
//! the receipt once something is sealed.

use crate::browser;
use crate::components::{
    review, sheet, survey_page, ClearAnswers, Receipt, ReviewProps, SessionProps, Withdraw,
};
use crate::state::{seal_response, Action, Sealed, Session, Step, Study};
use crate::store::Store;
use plp_core::published::PublishedStudy;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// The study as a prop: compared by identity (it never changes once loaded).
#[derive(Clone)]
pub struct StudyRef(pub Rc<Study>);

impl PartialEq for StudyRef {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.0, &o.0)
    }
}

impl Reducible for Session {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        s.apply(action);
        Rc::new(s)
    }
}

enum Load {
    Loading,
    Failed(String),
    Ready(StudyRef),
}

/// The survey file `plp publish` writes beside `study.json`.
const SURVEY_FILE: &str = "survey.json";

/// Fetches `study.json` and the survey it names from the serving origin, or the built-in
/// demonstration in `demo/` when the origin serves no study. The survey is asked for with
/// `study.json` rather than after it (it is `survey.json` unless `study.json` says
/// otherwise), and web/boot.js asks for both before the app has even loaded: the first page
/// shows sooner.
async fn load() -> Result<Study, String> {
    // web/boot.js has usually started both already.
    let study_req = match browser::prefetched("study") {
        Some(p) => p,
        None => browser::start_get("study.json")?,
    };
    let survey_req = match browser::prefetched("survey") {
        Some(p) => p,
        None => browser::start_get(SURVEY_FILE)?,
    };
    let served = browser::finish(study_req).await?;
    let (dir, study_json, demo, survey_req) = if served.status == 200 && served.json {
        ("", served.body, false, survey_req)
    } else {
        let d_req = browser::start_get("demo/study.json")?;
        let s_req = browser::start_get(&format!("demo/{SURVEY_FILE}"))?;
        let d = browser::finish(d_req).await?;
        if d.status != 200 {
            return Err(format!(
                "no study is published here (study.json: HTTP {}), and the demonstration is missing too (HTTP {})",
                served.status, d.status
            ));
        }
        ("demo/", d.body, true, s_req)
    };
    let config: PublishedStudy = serde_json::from_slice(&study_json)
        .map_err(|e| format!("study.json cannot be read: {e}"))?;
    let file = &config.survey_file;
    if !plp_core::published::is_survey_file_name(file) {
        return Err(format!(
            "study.json names a survey file `{file}` that is not a plain file name"
        ));
    }
    let survey = if file == SURVEY_FILE {
        browser::finish(survey_req).await?
    } else {
        browser::get(&format!("{dir}{file}")).await?
    };
    if survey.status != 200 {
        return Err(format!("{file} cannot be fetched (HTTP {})", survey.status));
    }
    let loaded = PublishedStudy::load(&study_json, &survey.body).map_err(|e| e.to_string())?;
    Ok(Study { loaded, demo })
}

/// The app.
#[component]
pub fn App() -> Html {
    let state = use_state(|| Load::Loading);
    {
        let state = state.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                state.set(match load().await {
                    Ok(s) => {
                        browser::set_title(&s.loaded.config.title);
                        Load::Ready(StudyRef(Rc::new(s)))
                    }
                    Err(e) => Load::Failed(e),
                });
            });
        });
    }
    match &*state {
        Load::Loading => html! {
            <main id="main">
                <p role="status" class="loading">{ "Loading the survey…" }</p>
            </main>
        },
        Load::Failed(e) => html! {
            <main id="main">
                <h1>{ "The survey cannot be shown" }</h1>
                <p>{ "Something is wrong with how this survey was published, so it is not safe to fill it in. Please tell the evaluation team what this page says:" }</p>
                <p class="technical">{ e.clone() }</p>
            </main>
        },
        Load::Ready(study) => html! { <Respondent study={study.clone()} /> },
    }
}

/// Which screen shows.
#[derive(Clone, Copy, PartialEq)]
enum View {
    Survey,
    Withdraw,
}

fn view_from_hash() -> View {
    if browser::hash() == "withdraw" {
        View::Withdraw
    } else {
        View::Survey
    }
}

/// What happened to a sealed envelope.
#[derive(Clone, PartialEq)]
pub enum Delivery {
    /// Being sent.
    Sending,
    /// The server has it.
    Sent,
    /// Sending failed; it is kept on the device.
    Failed(String),
    /// The study collects files: the respondent saves it.
    File,
}

/// A sealed envelope and its fate.
#[derive(Clone, PartialEq)]
pub struct Outcome {
    /// The envelope.
    pub sealed: Sealed,
    /// A withdrawal request rather than a response.
    pub withdrawal: bool,
    /// Where it is.
    pub delivery: Delivery,
}

/// Sends a sealed envelope to the study's submission URL, or says it is to be saved as a
/// file. A failed upload keeps the envelope on the device.
pub fn deliver(study: &Study, store: &Store, outcome: UseStateHandle<Option<Outcome>>, o: Outcome) {
    let Some(url) = study.loaded.config.submission_url.clone() else {
        outcome.set(Some(Outcome {
            delivery: Delivery::File,
            ..o
        }));
        return;
    };
    store.keep_pending(o.withdrawal, &o.sealed.json);
    outcome.set(Some(Outcome {
        delivery: Delivery::Sending,
        ..o.clone()
    }));
    let store = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let delivery = match browser::post_json(&url, &o.sealed.json).await {
            Ok(r) if r.status == 200 || r.status == 201 => {
                store.drop_pending();
                Delivery::Sent
            }
            Ok(r) => {
                /// The server's JSON error body.
                #[derive(serde::Deserialize)]
                struct Refusal {
                    error: String,
                }
                let why = serde_json::from_slice::<Refusal>(&r.body)
                    .map(|r| format!(": {}", r.error))
                    .unwrap_or_default();
                Delivery::Failed(format!("the server answered HTTP {}{why}", r.status))
            }
            Err(e) => Delivery::Failed(format!("the server could not be reached ({e})")),
        };
        outcome.set(Some(Outcome { delivery, ..o }));
    });
}

#[derive(Properties, PartialEq)]
struct RespondentProps {
    study: StudyRef,
}

#[component]
fn Respondent(props: &RespondentProps) -> Html {
    let study = props.study.0.clone();
    let store = use_memo((), {
        let id = study.id().to_string();
        move |_| Store::new(&id)
    });
    let session = use_reducer({
        let study = study.clone();
        let store = store.clone();
        move || match store.load() {
            Some(d) => Session::restore(study, d),
            None => Session::new(study),
        }
    });
    let outcome = use_state({
        let store = store.clone();
        move || {
            store.pending().map(|(withdrawal, json)| Outcome {
                sealed: Sealed::from_json(json),
                withdrawal,
                delivery: Delivery::Failed("it was sealed earlier, but not sent yet".into()),
            })
        }
    });
    let view = use_state(view_from_hash);

    // The address decides the screen: `#withdraw` is the withdrawal page.
    {
        let view = view.clone();
        use_effect_with((), move |_| {
            let cb = Closure::<dyn Fn()>::new(move || view.set(view_from_hash()));
            let w = browser::window();
            let _ = w.add_event_listener_with_callback("hashchange", cb.as_ref().unchecked_ref());
            move || {
                let _ = w
                    .remove_event_listener_with_callback("hashchange", cb.as_ref().unchecked_ref());
            }
        });
    }

    // Save the draft after every change to it, encrypted; nothing to save means nothing
    // kept. Keyed on the draft alone, so typing the memorable word (never saved) or showing
    // problems does not encrypt and write it again.
    {
        let store = store.clone();
        let deps = (session.draft(), session.is_blank(), outcome.is_some());
        use_effect_with(deps, move |(draft, blank, outcome_set)| {
            if *outcome_set {
                return;
            }
            if *blank {
                store.wipe();
            } else {
                store.save(draft);
            }
        });
    }

    // Focus the heading whenever the screen changes (not on the first render).
    {
        let first = use_mut_ref(|| true);
        let kind = outcome.as_ref().map(|o| (o.withdrawal, o.delivery.clone()));
        use_effect_with((session.visit, *view, kind), move |_| {
            if std::mem::replace(&mut *first.borrow_mut(), false) {
                return;
            }
            browser::focus("page-heading");
        });
    }
    // Focus the error summary whenever problems are shown.
    use_effect_with(session.alerts, move |&n| {
        if n > 0 {
            browser::focus("error-summary");
        }
    });

    let dispatch = {
        let session = session.clone();
        Callback::from(move |a: Action| session.dispatch(a))
    };
    let on_clear = {
        let session = session.clone();
        let store = store.clone();
        Callback::from(move |_| {
            store.wipe();
            session.dispatch(Action::Clear);
        })
    };
    let on_submit = {
        let session = session.clone();
        let outcome = outcome.clone();
        let store = store.clone();
        let study = study.clone();
        Callback::from(move |_| {
            let problems = session.all_problems();
            if !problems.is_empty() {
                session.dispatch(Action::Problems(problems));
                return;
            }
            match seal_response(&session, &browser::today(), browser::randomness()) {
                Ok(sealed) => {
                    store.wipe();
                    deliver(
                        &study,
                        &store,
                        outcome.clone(),
                        Outcome {
                            sealed,
                            withdrawal: false,
                            delivery: Delivery::Sending,
                        },
                    );
                    session.dispatch(Action::Clear);
                }
                Err(e) => session.dispatch(Action::Problems(vec![crate::state::FieldProblem {
                    field: "page-heading".into(),
                    page: None,
                    message: e.to_string(),
                }])),
            }
        })
    };
    let on_withdrawn = {
        let outcome = outcome.clone();
        let store = store.clone();
        let study = study.clone();
        Callback::from(move |sealed: Sealed| {
            deliver(
                &study,
                &store,
                outcome.clone(),
                Outcome {
                    sealed,
                    withdrawal: true,
                    delivery: Delivery::Sending,
                },
            )
        })
    };
    let on_retry = {
        let outcome = outcome.clone();
        let store = store.clone();
        let study = study.clone();
        Callback::from(move |_| {
            if let Some(o) = (*outcome).clone() {
                deliver(&study, &store, outcome.clone(), o);
            }
        })
    };
    let on_forget = {
        let outcome = outcome.clone();
        let store = store.clone();
        Callback::from(move |_| {
            store.drop_pending();
            outcome.set(None);
        })
    };

    let s = &*session;
    let body = match (&*outcome, *view) {
        (Some(o), _) => html! {
            <Receipt outcome={o.clone()} study_id={study.id().to_string()}
                on_retry={on_retry} on_forget={on_forget} />
        },
        (None, View::Withdraw) => html! {
            <Withdraw study={props.study.clone()} on_sealed={on_withdrawn} />
        },
        (None, View::Survey) => {
            let page = match s.step {
                Step::Sheet => sheet(&SessionProps {
                    session: s.clone(),
                    dispatch: dispatch.clone(),
                }),
                Step::Page(_) => survey_page(&SessionProps {
                    session: s.clone(),
                    dispatch: dispatch.clone(),
                }),
                Step::Review => review(&ReviewProps {
                    session: s.clone(),
                    dispatch: dispatch.clone(),
                    on_submit,
                }),
            };
            html! {
                <>
                    { page }
                    if !s.is_blank() {
                        <ClearAnswers on_clear={on_clear} />
                    }
                </>
            }
        }
    };
    let config = &study.loaded.config;
    html! {
        <>
            <header class="site-header">
                <a class="skip-link" href="#main" onclick={Callback::from(|e: MouseEvent| {
                    e.prevent_default();
                    browser::focus("page-heading");
                })}>{ "Skip to the main content" }</a>
                <p class="site-title">{ config.title.clone() }</p>
                <nav aria-label="Survey">
                    if *view == View::Withdraw {
                        <a href="#survey">{ "Back to the survey" }</a>
                    } else {
                        <a href="#withdraw">{ "Withdraw my answers" }</a>
                    }
                </nav>
            </header>
            if study.demo {
                <p class="demo-banner">
                    <strong>{ "Demonstration. " }</strong>
                    { "No study is published on this site, so this is plp's built-in demonstration survey. Answers are sealed to a demonstration key published with plp's source code and are not collected by anyone." }
                </p>
            }
            <main id="main">
                { body }
            </main>
            <footer class="site-footer">
                <p>{ "Your answers are encrypted on this device before they leave it. Only the evaluation team can open them. This page sends nothing to any other site." }</p>
            </footer>
        </>
    }
}
