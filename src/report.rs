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
        // Streamed: 100,000 rows are not held a second time as text.
        RowFormat::Json => return print_json(&RowsDocument::new(context, rows, outcome, error)),
        RowFormat::Csv => render_csv(rows),
    });
}

/// Writes to stdout; a closed pipe is not an error worth a panic.
pub fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Pretty JSON with a final newline. The text is exact, and still safe on a terminal:
/// serde_json escapes C0 controls, and this also writes DEL, C1 and the bidirectional controls
/// as `\uXXXX`, which any JSON reader turns back into the same characters.
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    write_json(&mut out, value).expect("plain data serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// [`json`] written straight to stdout: a long listing is never held twice in memory.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) {
    // Stdout is line-buffered: through the default 8 KiB buffer, 100,000 rows took two write
    // calls per 8 KiB. A larger buffer keeps the listing streamed, in a few hundred calls.
    let mut stdout = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    // A closed pipe is not an error worth a panic.
    if write_json(&mut stdout, value).is_ok() {
        let _ = stdout.flush();
    }
}

fn write_json<W: Write, T: serde::Serialize + ?Sized>(
    out: &mut W,
    value: &T,
) -> serde_json::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(
        &mut *out,
        TerminalSafe(serde_json::ser::PrettyFormatter::new()),
    );
    value.serialize(&mut serializer)?;
    out.write_all(b"\n").map_err(serde_json::Error::io)
}

/// One line of JSON (a watch round, JSON Lines), exact and safe on a terminal like [`json`].
pub fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(
        &mut out,
        TerminalSafe(serde_json::ser::CompactFormatter),
    );
    value
        .serialize(&mut serializer)
        .expect("plain data serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// A serde_json formatter, with every character `text::is_control` names escaped.
struct TerminalSafe<F>(F);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(fn $name<W: ?Sized + Write>(&mut self, writer: &mut W $(, $arg: $ty)*) -> std::io::Result<()> {
            self.0.$name(writer $(, $arg)*)
        })*
    };
}

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for TerminalSafe<F> {
    delegate!(
        begin_array(),
        end_array(),
        begin_array_value(first: bool),
        end_array_value(),
        begin_object(),
        end_object(),
        begin_object_key(first: bool),
        begin_object_value(),
        end_object_value(),
    );

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // Printable ASCII holds no control character: most names, and every number.
        if fragment.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| text::is_control(*c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
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

/// `seqsync instances --format json`: the instances, and every place they could not all be
/// asked (empty when the list is whole).
#[derive(serde::Serialize)]
pub struct InstancesDocument<'a> {
    pub instances: &'a [Listed],
    pub unanswered: &'a [crate::engine::dts::Unanswered],
}

/// `seqsync instances` as a table printed row by row as instances answer (a long list is never
/// silent). The columns are sized before anything is asked, from what is known then — the
/// config's ids, names, kinds and pairs, and the longest status and phase words — and a name or
/// pair longer than its column (a DTS job's, which arrives later) is cut with an ellipsis. Ids
/// are never cut: they are what `--instance` takes.
pub struct InstanceTable {
    widths: [usize; 6],
}

const INSTANCE_HEADER: [&str; 7] = [
    "ID",
    "NAME",
    "KIND",
    "PAIR",
    "STATUS",
    "PHASE",
    "SYNCHRONIZE SEQUENCE",
];

fn pair_of(source: &str, destination: &str) -> String {
    format!("{source} → {destination}")
}

impl InstanceTable {
    /// Room for a DTS job id (`dtsj` and 10 characters) and a short job name at least.
    const MIN: [usize; 6] = [14, 16, 15, 24, 11, 16];
    const MAX_NAME: usize = 32;
    const MAX_PAIR: usize = 40;

    pub fn new(known: &[Instance]) -> InstanceTable {
        let mut widths = Self::MIN;
        for (w, header) in widths.iter_mut().zip(INSTANCE_HEADER) {
            *w = (*w).max(text::width(header));
        }
        for i in known {
            widths[0] = widths[0].max(text::width(&i.id));
            widths[1] = widths[1].max(text::width(&i.name)).min(Self::MAX_NAME);
            widths[3] = widths[3]
                .max(text::width(&pair_of(
                    &i.source.engine_name(),
                    &i.destination.engine_name(),
                )))
                .min(Self::MAX_PAIR);
        }
        InstanceTable { widths }
    }

    pub fn row(&self, l: &Listed) -> String {
        let w = &self.widths;
        let line = [
            text::pad(&l.id, w[0], false),
            text::fit_padded(&l.name, w[1]),
            text::pad(&l.kind, w[2], false),
            text::fit_padded(&pair_of(&l.source.engine, &l.destination.engine), w[3]),
            text::pad(&l.status, w[4], false),
            text::pad(&l.phase, w[5], false),
            match &l.reason {
                None => "available".to_string(),
                Some(r) => format!("no: {}", text::shown(r)),
            },
        ]
        .join("  ");
        format!("{}\n", line.trim_end())
    }

    pub fn header(&self) -> String {
        let mut line = String::new();
        for (i, title) in INSTANCE_HEADER.iter().enumerate() {
            let w = self.widths.get(i).copied().unwrap_or(0);
            line.push_str(&text::pad(title, w, false));
            line.push_str("  ");
        }
        format!("{}\n", line.trim_end())
    }
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

/// A run's rows as one JSON document, borrowing them (keys in the order they always had).
#[derive(serde::Serialize)]
struct RowsDocument<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    instance: &'a str,
    offset: i64,
    outcome: &'a str,
    rows: &'a [PlanRow],
    run_id: &'a str,
    summary: std::collections::BTreeMap<&'static str, usize>,
}

impl<'a> RowsDocument<'a> {
    fn new(
        context: &'a RunContext,
        rows: &'a [PlanRow],
        outcome: &'a str,
        error: Option<&'a str>,
    ) -> Self {
        RowsDocument {
            error,
            instance: &context.instance,
            offset: context.offset,
            outcome,
            rows,
            run_id: &context.run_id,
            summary: summarize(rows),
        }
    }
}

pub fn render_json(
    context: &RunContext,
    rows: &[PlanRow],
    outcome: &str,
    error: Option<&str>,
) -> String {
    json(&RowsDocument::new(context, rows, outcome, error))
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
            r.schema.to_string(),
            r.name.to_string(),
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
    fn json_is_exact_and_safe_on_a_terminal() {
        let name = "a\u{1b}[2J\u{7f}\u{9b}\u{202e}b\n\"";
        let text = json(&serde_json::json!({ "name": name }));
        assert!(
            !text.chars().any(|c| text::is_control(c) && c != '\n'),
            "{text:?}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["name"], name);
        let line = json_line(&serde_json::json!({ "name": name }));
        assert!(!line.chars().any(text::is_control), "{line:?}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["name"], name);
    }

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
