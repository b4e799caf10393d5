//! What the CLI prints and the TUI exports: plan and result rows, instances and `check`
//! results, as a table for people and JSON or CSV for programs.

use crate::engine::instance::{Endpoint, Instance, Observed, Prerequisite};
use crate::engine::journal::RunContext;
use crate::engine::model::{summarize, PlanRow};
use crate::engine::run::Checked;
use crate::engine::secret::mask_password;
use crate::engine::text;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    Table,
    Json,
    Csv,
}

/// Rows as the operator asked for them, on stdout; the table ends with the outcome and counts.
pub fn print_rows(
    format: RowFormat,
    context: &RunContext,
    rows: &[PlanRow],
    outcome: &str,
    error: Option<&str>,
) {
    print(&match format {
        RowFormat::Table => {
            let mut t = render_table(rows);
            t.push_str(&format!("{outcome}: {}\n", summary_text(rows)));
            t
        }
        RowFormat::Json => render_json(context, rows, outcome, error),
        RowFormat::Csv => render_csv(rows),
    });
}

/// Writes to stdout; a closed pipe is not an error worth a panic.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Pretty JSON with a final newline.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("plain data serializes");
    text.push('\n');
    text
}

/// `seqsync check` as a table, with a closing line of counts.
pub fn render_checked(checked: &[Checked], destination: &str) -> String {
    let shown = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let lines: Vec<[String; 6]> = checked
        .iter()
        .map(|c| {
            [
                c.sequence.clone(),
                c.column.clone(),
                shown(c.next_value),
                shown(c.data_edge),
                c.status.to_string(),
                c.note.clone(),
            ]
        })
        .collect();
    let mut t = columns(
        &[
            "SEQUENCE",
            "COLUMN",
            "NEXT VALUE",
            "DATA EDGE",
            "STATUS",
            "NOTE",
        ],
        &lines,
        &[false, false, true, true, false, false],
    );
    t.push_str(&format!(
        "{} serial/identity sequence(s) checked on {}: {} behind their data, {} unchecked\n",
        checked.len(),
        text::shown(destination),
        checked.iter().filter(|c| c.is_behind()).count(),
        checked.iter().filter(|c| c.status == "unchecked").count()
    ));
    t
}

#[derive(Debug, serde::Serialize)]
pub struct ListedEndpoint {
    engine: String,
    url: String,
}

/// One instance as `seqsync instances` lists it (JSON keys are the field names).
#[derive(Debug, serde::Serialize)]
pub struct Listed {
    id: String,
    name: String,
    kind: String,
    region: Option<String>,
    topology: String,
    subscription: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slot: Option<String>,
    source: ListedEndpoint,
    destination: ListedEndpoint,
    status: String,
    phase: String,
    two_way_detected: Option<bool>,
    note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    lag_bytes: Option<i64>,
    prerequisites: Vec<Prerequisite>,
    synchronize_sequence: bool,
    reason: Option<String>,
}

impl Listed {
    pub fn new(instance: &Instance, observed: Observed) -> Listed {
        let prerequisites = crate::engine::instance::prerequisites(instance, &observed);
        let reason = crate::engine::instance::refusal(&prerequisites);
        let endpoint = |e: &Endpoint| ListedEndpoint {
            engine: e.engine_name(),
            url: mask_password(&e.url),
        };
        Listed {
            id: instance.id.clone(),
            name: instance.name.clone(),
            kind: instance.kind.to_string(),
            region: instance.region.clone(),
            topology: instance.topology.to_string(),
            subscription: instance.subscription.clone(),
            slot: instance.slot.clone(),
            source: endpoint(&instance.source),
            destination: endpoint(&instance.destination),
            status: observed.status.to_string(),
            phase: observed.phase.to_string(),
            two_way_detected: observed.two_way_detected,
            lag_bytes: observed.lag_bytes,
            note: observed.note,
            synchronize_sequence: reason.is_none(),
            reason,
            prerequisites,
        }
    }
}

pub fn render_instances(listed: &[Listed]) -> String {
    let header = [
        "ID",
        "NAME",
        "KIND",
        "PAIR",
        "STATUS",
        "PHASE",
        "SYNCHRONIZE SEQUENCE",
    ];
    let lines: Vec<[String; 7]> = listed
        .iter()
        .map(|l| {
            [
                l.id.clone(),
                l.name.clone(),
                l.kind.clone(),
                format!("{} → {}", l.source.engine, l.destination.engine),
                l.status.clone(),
                l.phase.clone(),
                match &l.reason {
                    None => "available".to_string(),
                    Some(r) => format!("no: {r}"),
                },
            ]
        })
        .collect();
    columns(&header, &lines, &[false; 7])
}

pub fn summary_text(rows: &[PlanRow]) -> String {
    let summary = summarize(rows);
    if summary.is_empty() {
        return "no sequences".to_string();
    }
    summary
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn cell(v: Option<i64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

pub fn render_table(rows: &[PlanRow]) -> String {
    let header = [
        "SEQUENCE",
        "SOURCE",
        "DEST BEFORE",
        "TARGET",
        "DEST AFTER",
        "STATUS",
        "MESSAGE",
    ];
    let body: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.names(),
                cell(r.source_value),
                cell(r.destination_before),
                cell(r.target),
                cell(r.destination_after),
                r.status.to_string(),
                r.message.clone(),
            ]
        })
        .collect();
    columns(
        &header,
        &body,
        &[false, true, true, true, true, false, false],
    )
}

/// Plain-text columns, two spaces apart, numbers right-aligned; no colour, so it reads the same
/// in a pipe, a log and a terminal.
pub fn columns<const N: usize>(
    header: &[&str; N],
    body: &[[String; N]],
    right: &[bool; N],
) -> String {
    // Widths in terminal columns of the text as shown (control characters escaped).
    let mut widths = header.map(text::width);
    for line in body {
        for (w, c) in widths.iter_mut().zip(line) {
            *w = (*w).max(text::width(c));
        }
    }
    let mut out = String::new();
    let header = header.map(String::from);
    for cells in std::iter::once(&header).chain(body) {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            line.push_str(&text::pad(c, widths[i], right[i]));
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn render_json(
    context: &RunContext,
    rows: &[PlanRow],
    outcome: &str,
    error: Option<&str>,
) -> String {
    let mut doc = serde_json::json!({
        "instance": context.instance,
        "run_id": context.run_id,
        "offset": context.offset,
        "outcome": outcome,
        "rows": rows,
        "summary": summarize(rows),
    });
    if let Some(e) = error {
        doc["error"] = serde_json::Value::String(e.to_string());
    }
    json(&doc)
}

pub fn render_csv(rows: &[PlanRow]) -> String {
    // Text fields quoted, so a name with a control character stays one exact field.
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::NonNumeric)
        .from_writer(vec![]);
    let _ = writer.write_record([
        "schema",
        "name",
        "source_value",
        "destination_before",
        "target",
        "destination_after",
        "status",
        "message",
    ]);
    let opt = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
    for r in rows {
        let _ = writer.write_record([
            r.schema.clone(),
            r.name.clone(),
            opt(r.source_value),
            opt(r.destination_before),
            opt(r.target),
            opt(r.destination_after),
            r.status.to_string(),
            r.message.clone(),
        ]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_hostile_names() {
        let rows = vec![PlanRow {
            schema: "public".into(),
            name: "a\"; DROP TABLE t; --,x".into(),
            source_value: Some(1),
            destination_before: None,
            target: Some(11),
            destination_after: None,
            status: crate::engine::model::RowStatus::Update,
            message: String::new(),
            destination_oid: None,
            source_name: None,
            matched: Default::default(),
            source_key: None,
        }];
        let text = render_csv(&rows);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[1], "a\"; DROP TABLE t; --,x");
        assert_eq!(&record[6], "update");
    }
}
