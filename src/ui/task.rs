//! Task management: the steps, and for Incremental Write the Basic Information and History tabs.

use super::widgets::{fit, Theme};
use crate::app::state::{State, TaskTab, INCREMENTAL_WRITE, STEPS};
use crate::engine::journal::JournalEvent;
use crate::engine::secret::mask_password;
use crate::engine::text::shown;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

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
    let width = area.width.saturating_sub(16) as usize;
    let field = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label:<13}"), theme.title()),
            Span::raw(fit(&value, width)),
        ])
    };
    let mut lines = vec![
        field(
            "Source",
            format!(
                "{} {}",
                inst.source.engine_name(),
                mask_password(&inst.source.url)
            ),
        ),
        field(
            "Destination",
            format!(
                "{} {}",
                inst.destination.engine_name(),
                mask_password(&inst.destination.url)
            ),
        ),
    ];
    let (status, phase) = if row.observing {
        ("reading…".to_string(), "reading…".to_string())
    } else {
        (
            row.observed.status.to_string(),
            row.observed.phase.to_string(),
        )
    };
    lines.push(field("Status", status));
    lines.push(field("Phase", phase));
    lines.push(field(
        "Topology",
        format!("{} ({})", inst.topology, inst.kind),
    ));
    lines.push(field(
        "Sequences",
        match &task.counts {
            None => "counting…".to_string(),
            Some(Ok(c)) => format!(
                "{} in the source, {} in the destination",
                c.source, c.destination
            ),
            Some(Err(e)) => format!("cannot count: {e}"),
        },
    ));
    if !row.observing && !row.observed.note.is_empty() {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<13}", "Seen"), theme.title()),
            Span::styled(shown(&row.observed.note), theme.dim()),
        ]));
    }
    lines.push(Line::styled("Prerequisites", theme.title()));
    for p in row.prerequisites() {
        let (mark, style) = if row.observing {
            ("…", theme.dim())
        } else if p.ok {
            ("✓", theme.good())
        } else {
            ("✗", theme.bad())
        };
        let mut spans = vec![Span::styled(format!("  {mark} "), style), Span::raw(p.name)];
        if !p.ok && !row.observing {
            spans.push(Span::styled(format!(": {}", shown(&p.reason)), theme.dim()));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::raw(""));
    match row.refusal() {
        None => {
            for action in [
                "[ Synchronize Sequence (s) ]",
                "[ Keep Sequences Ahead (w) ]",
            ] {
                lines.push(Line::styled(action, theme.title().patch(theme.good())));
            }
        }
        Some(reason) => lines.push(Line::from(vec![
            Span::styled(
                "[ Synchronize Sequence ] [ Keep Sequences Ahead ] unavailable: ",
                theme.dim(),
            ),
            Span::raw(shown(&reason).into_owned()),
        ])),
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
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
            // Borders and the header take three lines.
            let height = (area.height as usize).saturating_sub(3);
            let start = super::widgets::scroll_start(task.history_selected, height);
            let rows = entries
                .iter()
                .enumerate()
                .skip(start)
                .take(height)
                .map(|(i, e)| {
                    let summary: Vec<String> = e
                        .summary
                        .iter()
                        .map(|(k, v)| format!("{v} {}", shown(k)))
                        .collect();
                    let event = match (&e.undo_of, e.event) {
                        (Some(_), _) => format!("{} (undo)", e.event.word()),
                        (None, JournalEvent::Recovered) if e.undoable() => {
                            "recovered: applied".to_string()
                        }
                        (None, JournalEvent::Recovered) => "recovered: not applied".to_string(),
                        (None, event) => event.word().to_string(),
                    };
                    let row = Row::new(vec![
                        shown(&e.at)
                            .chars()
                            .take(19)
                            .collect::<String>()
                            .replace('T', " "),
                        event,
                        e.offset.to_string(),
                        summary.join(", "),
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
                    Constraint::Length(19),
                    Constraint::Length(22),
                    Constraint::Length(8),
                    Constraint::Min(10),
                ],
            )
            .header(Row::new(vec!["WHEN (UTC)", "EVENT", "OFFSET", "ROWS"]).style(theme.title()))
            .block(block);
            frame.render_widget(table, area);
        }
    }
}
