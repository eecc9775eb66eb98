//! What the exported tables mean, in the forms analysts use: a Frictionless Data Package v2
//! descriptor, a readable `codebook.csv`, and setup scripts for R, SPSS and Stata that load
//! the CSVs with variable and value labels, so nobody edits anything by hand.

use crate::export::{Field, FieldKind, Table};
use serde_json::{json, Value};

/// Frictionless field type of a column.
fn field_type(f: &Field) -> &'static str {
    match f.kind {
        FieldKind::Text | FieldKind::TextEnum(_) => "string",
        FieldKind::Category(_) | FieldKind::Flag | FieldKind::Integer { .. } => "integer",
    }
}

fn field_descriptor(f: &Field) -> Value {
    let mut d = json!({
        "name": f.name,
        "type": field_type(f),
        "title": f.title,
    });
    let obj = d.as_object_mut().expect("object");
    match &f.kind {
        FieldKind::Text => {}
        FieldKind::TextEnum(values) => {
            obj.insert("categories".into(), json!(values));
            obj.insert("constraints".into(), json!({ "enum": values }));
        }
        FieldKind::Category(codes) => {
            let cats: Vec<Value> = codes
                .iter()
                .map(|(v, l)| json!({ "value": v, "label": l }))
                .collect();
            let values: Vec<i64> = codes.iter().map(|(v, _)| *v).collect();
            obj.insert("categories".into(), Value::Array(cats));
            obj.insert("constraints".into(), json!({ "enum": values }));
        }
        FieldKind::Flag => {
            obj.insert(
                "categories".into(),
                json!([{ "value": 0, "label": "not selected" }, { "value": 1, "label": "selected" }]),
            );
            obj.insert("constraints".into(), json!({ "enum": [0, 1] }));
        }
        FieldKind::Integer { min, max, .. } => {
            obj.insert(
                "constraints".into(),
                json!({ "minimum": min, "maximum": max }),
            );
        }
    }
    if let Some(n) = f.number {
        obj.insert("description".into(), json!(format!("Question {n}")));
    }
    d
}

/// The `datapackage.json` descriptor for the tables (Frictionless Data Package v2).
pub fn datapackage(name: &str, title: &str, tables: &[&Table], preview: bool) -> Value {
    let resources: Vec<Value> = tables
        .iter()
        .map(|t| {
            json!({
                "name": t.name.to_lowercase().replace('_', "-"),
                "path": format!("{}.csv", t.name),
                "type": "table",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "dialect": { "$schema": "https://datapackage.org/profiles/2.0/tabledialect.json", "header": true, "delimiter": ",", "quoteChar": "\"" },
                "schema": {
                    "$schema": "https://datapackage.org/profiles/2.0/tableschema.json",
                    "fields": t.fields.iter().map(field_descriptor).collect::<Vec<_>>(),
                    "missingValues": [""],
                },
            })
        })
        .collect();
    json!({
        "$schema": "https://datapackage.org/profiles/2.0/datapackage.json",
        "name": name,
        "title": if preview { format!("PREVIEW (before analysis lock): {title}") } else { title.to_string() },
        "description": "Pseudonymised survey responses exported by plp. Blank cells: not asked (branching) or not answered.",
        "preview": preview,
        "resources": resources,
    })
}

/// Value labels of a field as `code=label` pairs.
fn value_labels(f: &Field) -> Vec<(String, String)> {
    match &f.kind {
        FieldKind::Category(codes) => codes
            .iter()
            .map(|(v, l)| (v.to_string(), l.clone()))
            .collect(),
        FieldKind::Flag => vec![
            ("0".into(), "not selected".into()),
            ("1".into(), "selected".into()),
        ],
        FieldKind::Integer { labels, .. } => labels
            .iter()
            .map(|(v, l)| (v.to_string(), l.clone()))
            .collect(),
        FieldKind::TextEnum(v) => v.iter().map(|x| (x.clone(), x.clone())).collect(),
        FieldKind::Text => vec![],
    }
}

/// `codebook.csv`: one row per column of every table.
pub fn codebook_csv(tables: &[&Table]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(["file", "variable", "question", "type", "label", "values"])
        .expect("memory");
    for t in tables {
        for f in &t.fields {
            let values: Vec<String> = value_labels(f)
                .into_iter()
                .map(|(v, l)| format!("{v}={l}"))
                .collect();
            let range = match &f.kind {
                FieldKind::Integer { min, max, .. } => format!("{min}..{max}"),
                _ => String::new(),
            };
            let values = [range, values.join("; ")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            w.write_record([
                format!("{}.csv", t.name),
                f.name.clone(),
                f.number.map(|n| n.to_string()).unwrap_or_default(),
                field_type(f).to_string(),
                f.title.clone(),
                values,
            ])
            .expect("memory");
        }
    }
    w.into_inner().expect("memory")
}

fn r_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `setup.R`: loads each CSV into a data frame with factors and `label` attributes.
pub fn setup_r(tables: &[&Table]) -> String {
    let mut out = String::from(
        "# Load the plp export into R. Run from the export folder: source(\"setup.R\")\n\
         # Blank cells are NA: not asked (branching) or not answered.\n\n",
    );
    for t in tables {
        out += &format!(
            "{n} <- read.csv(\"{n}.csv\", stringsAsFactors = FALSE, na.strings = \"\", encoding = \"UTF-8\", check.names = FALSE)\n",
            n = t.name
        );
        for f in &t.fields {
            if let FieldKind::Category(codes) = &f.kind {
                let levels: Vec<String> = codes.iter().map(|(v, _)| v.to_string()).collect();
                let labels: Vec<String> = codes.iter().map(|(_, l)| r_str(l)).collect();
                out += &format!(
                    "{t}[[{c}]] <- factor({t}[[{c}]], levels = c({}), labels = c({}))\n",
                    levels.join(", "),
                    labels.join(", "),
                    t = t.name,
                    c = r_str(&f.name)
                );
            }
            out += &format!(
                "attr({t}[[{c}]], \"label\") <- {}\n",
                r_str(&f.title),
                t = t.name,
                c = r_str(&f.name)
            );
        }
        out.push('\n');
    }
    out
}

fn sps_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `setup.sps`: SPSS syntax that reads each CSV with variable and value labels.
pub fn setup_sps(tables: &[&Table]) -> String {
    let mut out = String::from(
        "* Load the plp export into SPSS. Set the working folder to the export folder first:\n\
         * CD 'path/to/export'.\n\n",
    );
    for t in tables {
        out += &format!(
            "GET DATA /TYPE=TXT /FILE='{}.csv' /ENCODING='UTF8' /ARRANGEMENT=DELIMITED\n  /DELIMITERS=',' /QUALIFIER='\"' /FIRSTCASE=2\n  /VARIABLES=\n",
            t.name
        );
        for f in &t.fields {
            let fmt = match f.kind {
                FieldKind::Text | FieldKind::TextEnum(_) => {
                    if f.name == "text" {
                        "A5000"
                    } else {
                        "A32"
                    }
                }
                _ => "F8.0",
            };
            out += &format!("    {} {}\n", f.name, fmt);
        }
        out += ".\nVARIABLE LABELS\n";
        for f in &t.fields {
            let title: String = f.title.chars().take(250).collect();
            out += &format!("  {} {}\n", f.name, sps_str(&title));
        }
        out += ".\n";
        let labelled: Vec<&Field> = t
            .fields
            .iter()
            .filter(|f| {
                matches!(
                    f.kind,
                    FieldKind::Category(_) | FieldKind::Flag | FieldKind::Integer { .. }
                )
            })
            .filter(|f| !value_labels(f).is_empty())
            .collect();
        if !labelled.is_empty() {
            out += "VALUE LABELS\n";
            for (i, f) in labelled.iter().enumerate() {
                let pairs: Vec<String> = value_labels(f)
                    .into_iter()
                    .map(|(v, l)| format!("{v} {}", sps_str(&l)))
                    .collect();
                out += &format!(
                    "  {}{} {}\n",
                    if i > 0 { "/" } else { "" },
                    f.name,
                    pairs.join(" ")
                );
            }
            out += ".\n";
        }
        out += &format!("DATASET NAME {}.\nEXECUTE.\n\n", t.name);
    }
    out
}

fn stata_str(s: &str, max: usize) -> String {
    let s: String = s.chars().take(max).collect();
    format!("`\"{}\"'", s)
}

/// `setup.do`: Stata commands that import each CSV and save it labelled as `.dta`.
pub fn setup_do(tables: &[&Table]) -> String {
    let mut out = String::from(
        "* Load the plp export into Stata. Run from the export folder: do setup.do\n\
         * Variable names longer than 32 characters are shortened by Stata on import.\n\n",
    );
    for t in tables {
        out += &format!(
            "import delimited using \"{}.csv\", clear varnames(1) encoding(\"utf-8\") stringcols(_all)\n",
            t.name
        );
        for f in &t.fields {
            if !matches!(f.kind, FieldKind::Text | FieldKind::TextEnum(_)) {
                out += &format!("capture destring {}, replace\n", stata_name(&f.name));
            }
        }
        for f in &t.fields {
            let v = stata_name(&f.name);
            out += &format!("capture label variable {v} {}\n", stata_str(&f.title, 80));
            let labels = value_labels(f);
            if matches!(f.kind, FieldKind::Category(_) | FieldKind::Flag) && !labels.is_empty() {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(c, l)| format!("{c} {}", stata_str(l, 80)))
                    .collect();
                let l: String = v.chars().take(30).collect::<String>() + "_l";
                out += &format!("capture label define {l} {}, replace\n", pairs.join(" "));
                out += &format!("capture label values {v} {l}\n");
            }
        }
        out += &format!("save \"{}.dta\", replace\n\n", t.name);
    }
    out
}

/// The name Stata gives a CSV column on import (lower case, at most 32 characters).
fn stata_name(name: &str) -> String {
    name.to_lowercase().chars().take(32).collect()
}
