//! Plan and result rows as text: a table for people, JSON and CSV for programs. Shared by the
//! CLI and the TUI's export.

use crate::engine::journal::RunContext;
use crate::engine::model::{summarize, PlanRow};

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
    let mut widths = header.map(|h| h.chars().count());
    for line in body {
        for (w, c) in widths.iter_mut().zip(line) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header = header.map(String::from);
    for cells in std::iter::once(&header).chain(body) {
        let mut line = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - c.chars().count());
            if right[i] {
                line.push_str(&pad);
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&pad);
            }
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
    let mut text = serde_json::to_string_pretty(&doc).expect("plain data serializes");
    text.push('\n');
    text
}

pub fn render_csv(rows: &[PlanRow]) -> String {
    let mut writer = csv::Writer::from_writer(vec![]);
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
        }];
        let text = render_csv(&rows);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[1], "a\"; DROP TABLE t; --,x");
        assert_eq!(&record[6], "update");
    }
}
