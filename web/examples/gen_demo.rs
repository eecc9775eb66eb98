//! Writes the built-in demonstration study, `web/demo/study.json` and `web/demo/survey.json`,
//! which the respondent app runs when the site serves no `study.json` of its own.
//!
//! DEMO ONLY. The key pair is derived from a fixed, published seed (`[7u8; 32]`), so anyone
//! can open what is sealed to it: it must never collect real answers. The demo study has no
//! submission URL, so the app offers the sealed file for download.
//!
//! Run from the repository root after changing the built-in survey:
//! `cargo run -p plp-web --example gen_demo`

#[cfg(not(target_arch = "wasm32"))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use plp_core::published::PublishedStudy;
    use plp_core::seal::KeyPair;

    /// The published seed of the demo key. Not a secret.
    const DEMO_SEED: [u8; 32] = [7u8; 32];

    let survey = plp_core::check::from_toml(plp_core::PLP_SURVEY_TOML)?;
    let survey_json = plp_core::check::to_json(&survey);
    let key = KeyPair::derive(DEMO_SEED);
    let study = PublishedStudy::new(
        "plp-demo",
        "PLP evaluation survey (demonstration)",
        &survey,
        &survey_json,
        key.public(),
        None,
    );
    let mut study_json = serde_json::to_vec_pretty(&study)?;
    study_json.push(b'\n');
    PublishedStudy::load(&study_json, &survey_json)?;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("survey.json"), &survey_json)?;
    std::fs::write(dir.join("study.json"), &study_json)?;
    println!(
        "wrote {} (demo key id {})",
        dir.display(),
        key.public().key_id()
    );
    Ok(())
}

#[cfg(target_arch = "wasm32")]
fn main() {}
