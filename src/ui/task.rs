//! Task management: the steps, and for Incremental Write the Basic Information and History tabs.

use super::widgets::{fit, Theme};
use crate::app::state::{Counts, State, TaskTab, INCREMENTAL_WRITE, STEPS};
use crate::engine::instance::Endpoint;
use crate::engine::journal::JournalEvent;
use crate::engine::secret::mask_password;
use crate::engine::text::{self, shown};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let (Some(task), Some(row)) = (state.task.as_ref(), state.current()) else {
        return;
    };
    let [steps, detail] =
        Layout::horizontal([Constraint::Length(25), Constraint::Min(20)]).areas(area);
    let step_lines: Vec<Line> = STEPS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let text = format!(
                "{} {}. {name}",
                if i == task.step { ">" } else { " " },
                i + 1
            );
            if i == task.step {
                Line::styled(text, theme.selected())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    frame.render_widget(
        Paragraph::new(step_lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {} ", fit(&row.instance.name, 21))),
        ),
        steps,
    );

    if task.step != INCREMENTAL_WRITE {
        frame.render_widget(
            Paragraph::new(format!(
                "{}: seqsync does not track this step. Select Incremental Write (↓) for \
                 Basic Information and Synchronize Sequence.",
                STEPS[task.step]
            ))
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL)),
            detail,
        );
        return;
    }
    let tab = |t: TaskTab, label: &'static str| {
        if task.tab == t {
            Span::styled(format!("[ {label} ]"), theme.selected())
        } else {
            Span::raw(format!("  {label}  "))
        }
    };
    let title = Line::from(vec![
        Span::raw(" "),
        tab(TaskTab::Basic, "Basic Information"),
        Span::raw(" "),
        tab(TaskTab::History, "History"),
        Span::raw(" "),
    ]);
    let block = Block::default().borders(Borders::ALL).title(title);
    match task.tab {
        TaskTab::Basic => draw_basic(frame, detail, state, theme, block),
        TaskTab::History => draw_history(frame, detail, state, theme, block),
    }
}

fn draw_basic(frame: &mut Frame, area: Rect, state: &State, theme: Theme, block: Block) {
    let task = state.task.as_ref().expect("task");
    let row = state.current().expect("task");
    let inst = &row.instance;
    // Borders and the label take 15 columns; a value wraps under itself, never under a label.
    let width = area.width.saturating_sub(15) as usize;
    let field = |label: &str, value: String| -> Vec<Line> {
        text::wrap_shown(&value, width)
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let label = if i == 0 { label } else { "" };
                Line::from(vec![
                    Span::styled(format!("{label:<13}"), theme.title()),
                    Span::raw(part),
                ])
            })
            .collect()
    };
    let mut lines = field("Source", endpoint_text(&inst.source, width));
    lines.extend(field(
        "Destination",
        endpoint_text(&inst.destination, width),
    ));
    let (status, phase) = if row.observing {
        ("reading…".to_string(), "reading…".to_string())
    } else {
        (
            row.observed.status.to_string(),
            row.observed.phase.to_string(),
        )
    };
    lines.extend(field("Status", status));
    lines.extend(field("Phase", phase));
    lines.extend(field(
        "Topology",
        format!("{} ({})", inst.topology, inst.kind),
    ));
    lines.extend(field(
        "Sequences",
        match &task.counts {
            None => "counting…".to_string(),
            Some(Ok(c)) => format!(
                "{} in the source, {} in the destination",
                c.source, c.destination
            ),
            Some(Err(e)) => format!("cannot count: {}", shown(e)),
        },
    ));
    if let Some(Ok(Counts {
        guard: Some(holder),
        ..
    })) = &task.counts
    {
        lines.extend(field(
            "Guard",
            format!("active on the destination: {}", shown(holder)),
        ));
    }
    // `  ✓ name: reason`, a long reason wrapped under its start.
    let reason_width = area.width.saturating_sub(2 + 4) as usize;
    // The actions come before anything of unbounded length, so that no reason or note can
    // push them off an 80×24 screen; why they are unavailable is said once, below.
    lines.push(Line::raw(""));
    match row.refusal() {
        None => {
            let actions = [
                "[ Synchronize Sequence (s) ]",
                "[ Keep Sequences Ahead (w) ]",
            ];
            let style = theme.title().patch(theme.good());
            if width + 13 >= 58 {
                lines.push(Line::styled(actions.join("  "), style));
            } else {
                lines.extend(actions.map(|a| Line::styled(a, style)));
            }
        }
        Some(_) => {
            lines.push(Line::styled(
                "[ Synchronize Sequence ]  [ Keep Sequences Ahead ]",
                theme.dim(),
            ));
            lines.push(Line::styled("unavailable: see ✗ below", theme.dim()));
            // After cutover, the task is finished and the duplicate keys begin: what is left
            // to do needs no task at all.
            lines.push(Line::from(vec![
                Span::styled(
                    "[ Repair from Data (r) ]",
                    theme.title().patch(theme.good()),
                ),
                Span::styled("  any task status", theme.dim()),
            ]));
            // Said only where it was asked (a finished, failed or not started task).
            let data = match &task.behind {
                None => None,
                Some(Ok(0)) => Some(Line::styled(
                    "  ✓ no sequence is behind its data (indexed columns)",
                    theme.good(),
                )),
                Some(Ok(n)) => Some(Line::styled(
                    format!("  ✗ {n} sequence(s) behind their data; r repairs"),
                    theme.bad(),
                )),
                Some(Err(e)) => Some(Line::styled(
                    text::fit(
                        &format!("  data not checked: {}", shown(e)),
                        reason_width + 4,
                    ),
                    theme.dim(),
                )),
            };
            lines.extend(data);
        }
    }
    lines.push(Line::styled("Prerequisites", theme.title()));
    let mut note_said = false;
    for p in row.prerequisites() {
        let (mark, style) = if row.observing {
            ("…", theme.dim())
        } else if p.ok {
            ("✓", theme.good())
        } else {
            ("✗", theme.bad())
        };
        let said = if !p.ok && !row.observing {
            // An unreachable host fails several prerequisites with the same error: say it once.
            let note = &row.observed.note;
            let reason = if !note.is_empty() && p.reason.contains(note.as_str()) {
                if note_said {
                    p.reason.replace(note.as_str(), "as above")
                } else {
                    note_said = true;
                    p.reason.clone()
                }
            } else {
                p.reason.clone()
            };
            format!("{}: {}", p.name, shown(&reason))
        } else {
            p.name.to_string()
        };
        for (i, part) in text::wrap_shown(&said, reason_width)
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 {
                Span::styled(format!("  {mark} "), style)
            } else {
                Span::raw("    ")
            };
            lines.push(Line::from(vec![lead, Span::raw(part)]));
        }
    }
    // What was seen, unless a ✗ above already says it (an unreachable host's error once).
    if !row.observing && !row.observed.note.is_empty() && !note_said {
        lines.extend(field("Seen", shown(&row.observed.note).into_owned()));
    }
    // Taller than the panel (a long refusal at 80×24): PgDn scrolls, and the edges say so.
    let height = area.height.saturating_sub(2) as usize;
    let most = lines.len().saturating_sub(height);
    let start = task.basic_scroll.min(most);
    let mut lines: Vec<Line> = lines.into_iter().skip(start).take(height).collect();
    if start < most {
        if let Some(last) = lines.last_mut() {
            *last = Line::styled("↓ more below: PgDn", theme.title());
        }
    }
    if start > 0 {
        if let Some(first) = lines.first_mut() {
            *first = Line::styled("↑ more above: PgUp goes to the top", theme.title());
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

/// An endpoint as the operator checks it before a change: the database in full first, then
/// the server (cut in the middle when it must be), then the engine and user while they fit.
/// Text already shown (escaped). Oracle and unparsable strings: masked, as written.
fn endpoint_text(endpoint: &Endpoint, width: usize) -> String {
    let Some(place) = endpoint.place() else {
        return shown(&format!(
            "{} {}",
            endpoint.engine_name(),
            mask_password(&endpoint.url)
        ))
        .into_owned();
    };
    let database = shown(&place.database).into_owned();
    let head = format!("{database} on ");
    let server_width = text::width(&place.server);
    let head_width = head.as_str().width();
    let engine = endpoint.engine_name();
    let tails = [
        match &place.user {
            Some(user) => format!(" ({engine}, user {user})"),
            None => format!(" ({engine})"),
        },
        format!(" ({engine})"),
    ];
    for tail in tails {
        let tail = shown(&tail).into_owned();
        if head_width + server_width + tail.as_str().width() <= width {
            return format!("{head}{}{tail}", shown(&place.server));
        }
    }
    // The decoration gives way first; then the server goes to a line of its own (the value
    // wraps), and only a server longer than a whole line loses its middle. The database is
    // never cut: a name longer than the line wraps.
    let server = if head_width + server_width <= width || server_width <= width {
        shown(&place.server).into_owned()
    } else {
        text::fit_middle(&place.server, width)
    };
    format!("{head}{server}")
}

fn draw_history(frame: &mut Frame, area: Rect, state: &State, theme: Theme, block: Block) {
    let task = state.task.as_ref().expect("task");
    match &task.history {
        None => frame.render_widget(Paragraph::new("reading the journal…").block(block), area),
        Some(Err(e)) => frame.render_widget(
            Paragraph::new(shown(e)).style(theme.bad()).block(block),
            area,
        ),
        Some(Ok(entries)) if entries.is_empty() => frame.render_widget(
            Paragraph::new("No run of this instance in the journal yet.").block(block),
            area,
        ),
        Some(Ok(entries)) => {
            let [list, detail] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(area);
            // Borders and the header take three lines.
            let height = (list.height as usize).saturating_sub(3);
            let start = super::widgets::scroll_start(task.history_selected, height);
            // WHEN, EVENT and OFFSET keep their width (EVENT that of the longest word on
            // screen); ROWS takes the rest, cut with `…`, and the selected run is told in full
            // below.
            let event_width = entries
                .iter()
                .skip(start)
                .take(height)
                .map(|e| text::width(&event_word(e)))
                .chain([5])
                .max()
                .unwrap_or(5);
            let rows_width = (list.width as usize).saturating_sub(2 + 14 + event_width + 8 + 3);
            let rows = entries
                .iter()
                .enumerate()
                .skip(start)
                .take(height)
                .map(|(i, e)| {
                    let row = Row::new(vec![
                        when(&e.at),
                        event_word(e),
                        match e.margin {
                            Some(m) => format!("m {m}"),
                            None => e.offset.to_string(),
                        },
                        fit(&rows_summary(e), rows_width.max(1)),
                    ]);
                    if i == task.history_selected {
                        row.style(theme.selected())
                    } else {
                        row
                    }
                });
            let table = Table::new(
                rows,
                [
                    Constraint::Length(14),
                    Constraint::Length(event_width as u16),
                    Constraint::Length(8),
                    Constraint::Min(1),
                ],
            )
            .header(Row::new(vec!["WHEN (UTC)", "EVENT", "OFFSET", "ROWS"]).style(theme.title()))
            .block(block);
            frame.render_widget(table, list);
            if let Some(e) = entries.get(task.history_selected) {
                let undo = if e.undoable() && e.undo_of.is_none() {
                    " · u undoes it"
                } else {
                    ""
                };
                let setting = match e.margin {
                    Some(m) => format!("repair, margin {m}"),
                    None => format!("offset {}", e.offset),
                };
                let story = format!(
                    "run {} · {} {} UTC · {setting} · {}{undo}",
                    shown(&e.run_id),
                    event_word(e),
                    shown(&e.at).get(..19).unwrap_or(&e.at).replace('T', " "),
                    rows_summary(e)
                );
                let width = detail.width.saturating_sub(2) as usize;
                let lines: Vec<Line> = text::wrap_shown(&story, width)
                    .into_iter()
                    .map(Line::raw)
                    .collect();
                frame.render_widget(
                    Paragraph::new(lines).block(
                        Block::default().borders(Borders::LEFT | Borders::RIGHT | Borders::BOTTOM),
                    ),
                    detail,
                );
            }
        }
    }
}

/// `MM-DD HH:MM:SS` of an RFC 3339 time: the seconds kept, the year left to the detail line.
fn when(at: &str) -> String {
    let at = shown(at);
    at.get(5..19)
        .map_or_else(|| at.to_string(), |t| t.replace('T', " "))
}

/// What a run is now, in the operator's words.
fn event_word(e: &crate::engine::journal::JournalEntry) -> String {
    match (&e.undo_of, e.event) {
        (Some(_), _) => format!("{} (undo)", e.event.word()),
        (None, JournalEvent::Recovered) if e.undoable() => "recovered: applied".to_string(),
        (None, JournalEvent::Recovered) => "recovered: not applied".to_string(),
        (None, event) => event.word().to_string(),
    }
}

/// `2 updated, 1 unchanged`: a run's rows counted by status.
fn rows_summary(e: &crate::engine::journal::JournalEntry) -> String {
    e.summary
        .iter()
        .map(|(k, v)| format!("{v} {}", shown(k)))
        .collect::<Vec<_>>()
        .join(", ")
}
