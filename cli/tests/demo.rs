//! `plp demo` reproduces the published evaluation's respondent figures, checked from the
//! files it writes (the report's embedded headline and the exported CSVs), not from its
//! own printout.

use std::path::Path;
use std::process::Command;

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

#[test]
fn demo_reproduces_the_published_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_plp"))
        .arg("demo")
        .arg(&dir)
        .env_remove("PLP_PASSPHRASE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Refused as it should be"), "{stdout}");

    // The report: self-contained, with its headline embedded as JSON.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script src")
    );
    let start = html.find("id=\"headline\">").expect("headline block") + "id=\"headline\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let h: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(h["responses"], 26);
    assert_eq!(h["cohort"], 53);
    assert_eq!(h["response_rate"], "49.1");
    let role = |id: &str| {
        h["by_role"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["role"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            role("senior_leader")["count"].as_u64(),
            role("senior_leader")["percent"].as_str()
        ),
        (Some(9), Some("34.6"))
    );
    assert_eq!(
        (
            role("bme")["count"].as_u64(),
            role("bme")["percent"].as_str()
        ),
        (Some(14), Some("53.8"))
    );
    assert_eq!(
        (
            role("both")["count"].as_u64(),
            role("both")["percent"].as_str()
        ),
        (Some(3), Some("11.5"))
    );
    assert_eq!(h["side_a_including_either"], 17);
    assert_eq!(h["side_a_including_either_percent"], "65.4");
    assert_eq!(h["complete_pairs"], 8);
    let q64 = h["top_two"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["question"] == "q64")
        .unwrap();
    assert_eq!(
        (
            q64["count"].as_u64(),
            q64["percent_of_respondents"].as_str()
        ),
        (Some(23), Some("88.5"))
    );
    assert!(html.contains("49.1%") && html.contains("<svg"));

    // The export, read back as an analyst would.
    let export = dir.join("export");
    let (hd, rows) = read_csv(&export.join("individual.csv"));
    assert_eq!(rows.len(), 26);
    let survey = plp_core::check::from_toml(plp_core::PLP_SURVEY_TOML).unwrap();
    let code_of = |q: &str, opt: &str| {
        (survey
            .question(q)
            .unwrap()
            .kind
            .options()
            .iter()
            .position(|o| o.id == opt)
            .unwrap()
            + 1)
        .to_string()
    };
    let q3 = col(&hd, "q3");
    let count = |c: usize, v: &str| rows.iter().filter(|r| r[c] == v).count();
    assert_eq!(count(q3, &code_of("q3", "senior_leader")), 9);
    assert_eq!(count(q3, &code_of("q3", "bme")), 14);
    assert_eq!(count(q3, &code_of("q3", "both")), 3);
    let q64c = col(&hd, "q64");
    assert_eq!(
        rows.iter()
            .filter(|r| r[q64c].parse::<i64>().unwrap() >= 4)
            .count(),
        23
    );
    let q20 = col(&hd, "q20");
    assert_eq!(rows.len() - count(q20, &code_of("q20", "no")), 17);
    assert_eq!(count(col(&hd, "pair_status"), "complete"), 16);
    let (_, dyads) = read_csv(&export.join("dyad.csv"));
    assert_eq!(dyads.len(), 8);
    let (_, pairwise) = read_csv(&export.join("pairwise.csv"));
    assert_eq!(pairwise.len(), 16);
    let linkage: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("linkage_report.json")).unwrap())
            .unwrap();
    assert_eq!(linkage["complete_pairs"], 8);
    assert_eq!(linkage["singletons"], 10);

    // The audit chain holds the withdrawal, the lock and the refused late request.
    let audit = Command::new(env!("CARGO_BIN_EXE_plp"))
        .args(["--study"])
        .arg(&dir)
        .arg("audit")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&audit.stdout);
    for event in [
        "withdrawal",
        "lock",
        "late_withdrawal_request",
        "export",
        "report",
    ] {
        assert!(log.contains(event), "audit lacks {event}:\n{log}");
    }

    // Running the demo again replaces the earlier demo rather than failing.
    let again = Command::new(env!("CARGO_BIN_EXE_plp"))
        .arg("demo")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
