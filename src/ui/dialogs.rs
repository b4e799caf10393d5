//! The dialogs over Basic Information: offset, planning, preview, progress.

use super::sequences;
use super::widgets::{centered, scroll_start, Theme};
use crate::app::state::{Dialog, OffsetPurpose, Setting, State, Suggestion};
use crate::engine::model::summarize;
use crate::engine::text::shown;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph};
use ratatui::Frame;

const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    match &state.dialog {
        Dialog::None => {}
        Dialog::Offset {
            input,
            error,
            purpose,
            suggestion,
        } => {
            let popup = centered(area, 56, 10);
            frame.render_widget(Clear, popup);
            let (title, enter) = match purpose {
                OffsetPurpose::Sync => (" Synchronize Sequence ", "Enter: preview the plan"),
                OffsetPurpose::Watch => (
                    " Keep Sequences Ahead ",
                    "Enter: start (applies every round)",
                ),
                OffsetPurpose::Repair => (" Repair from Data ", "Enter: preview the plan"),
            };
            let repair = *purpose == OffsetPurpose::Repair;
            let block = Block::default().borders(Borders::ALL).title(title);
            let inner = block.inner(popup);
            frame.render_widget(block, popup);
            let [label, field, check, advice, hint] = Layout::vertical([
                Constraint::Length(2),
                Constraint::Length(1),
                Constraint::Length(2),
                Constraint::Length(2),
                Constraint::Length(1),
            ])
            .areas(inner);
            let horizon = humantime::format_duration(crate::engine::run::DEFAULT_HORIZON);
            let advice_line = match suggestion {
                _ if repair => Line::styled(
                    "the source, where it answers, can only raise a target; nothing is lowered",
                    theme.dim(),
                ),
                Suggestion::Measuring { since, .. } => {
                    let elapsed =
                        crate::app::state::TICK * state.ticks.saturating_sub(*since) as u32;
                    let left = crate::engine::run::DEFAULT_SAMPLE
                        .saturating_sub(elapsed)
                        .as_secs()
                        .max(1);
                    Line::styled(
                        format!(
                            "{} measuring rates: suggestion in {left}s, Tab uses it",
                            SPINNER[(state.ticks % 4) as usize],
                        ),
                        theme.dim(),
                    )
                }
                Suggestion::Ready(n) => Line::from(vec![
                    Span::raw(format!(
                        "suggested {n}: {horizon} of writes at the measured rates "
                    )),
                    Span::styled("Tab uses it", theme.title()),
                ]),
                Suggestion::Unavailable(why) => {
                    Line::styled(format!("no suggestion: {}", shown(why)), theme.dim())
                }
            };
            frame.render_widget(
                Paragraph::new(advice_line).wrap(ratatui::widgets::Wrap { trim: true }),
                advice,
            );
            let label_text = if repair {
                "Margin: ids kept free past each column's largest value (below its smallest, descending)"
            } else {
                "Sequence Offset: added to each source value (subtracted for descending sequences)"
            };
            frame.render_widget(
                Paragraph::new(label_text).wrap(ratatui::widgets::Wrap { trim: true }),
                label,
            );
            let width = field.width.saturating_sub(3) as usize;
            let scroll = input.visual_scroll(width);
            frame.render_widget(
                Paragraph::new(format!("> {}", input.value()))
                    .scroll((0, scroll as u16))
                    .style(theme.title()),
                field,
            );
            frame.set_cursor_position((
                field.x + 2 + (input.visual_cursor().max(scroll) - scroll) as u16,
                field.y,
            ));
            let check_line = match error {
                Some(e) => Line::styled(format!("✗ {e}"), theme.bad()),
                None if input.value().is_empty() => {
                    Line::styled("type a whole number", theme.dim())
                }
                None if repair => Line::styled("✓ a valid margin", theme.good()),
                None => Line::styled("✓ a valid offset", theme.good()),
            };
            frame.render_widget(
                Paragraph::new(check_line).wrap(ratatui::widgets::Wrap { trim: true }),
                check,
            );
            frame.render_widget(
                Paragraph::new(format!("{enter}   Esc: cancel")).style(theme.dim()),
                hint,
            );
        }
        Dialog::Planning { setting, .. } => {
            let popup = centered(area, 56, 5);
            frame.render_widget(Clear, popup);
            let spin = SPINNER[(state.ticks % 4) as usize];
            let reading = match setting {
                Setting::Offset(_) => "Reading every sequence on both sides…",
                Setting::Margin(_) => "Reading the sequences and their columns' data…",
            };
            frame.render_widget(
                Paragraph::new(vec![
                    Line::raw(format!("{spin} {reading}")),
                    Line::raw(format!("  {setting}; nothing is changed yet")),
                    Line::styled("  Esc stops waiting", theme.dim()),
                ])
                .block(Block::default().borders(Borders::ALL).title(" Planning ")),
                popup,
            );
        }
        Dialog::Preview {
            choice,
            setting,
            scroll,
            ..
        } => {
            let rows = choice.rows();
            let popup = area;
            frame.render_widget(Clear, popup);
            let block = Block::default().borders(Borders::ALL).title(match setting {
                Setting::Offset(_) => format!(" Plan — {setting} "),
                Setting::Margin(_) => format!(" Repair from Data — {setting} "),
            });
            let inner = block.inner(popup);
            frame.render_widget(block, popup);
            let [counts, table, detail, confirm] = Layout::vertical([
                Constraint::Length(2),
                Constraint::Min(2),
                Constraint::Length(sequences::detail_height(rows.get(*scroll), inner.width)),
                Constraint::Length(1),
            ])
            .areas(inner);
            let summary: Vec<String> = summarize(rows)
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect();
            frame.render_widget(
                Paragraph::new(format!("{} sequences: {}", rows.len(), summary.join(", ")))
                    .wrap(ratatui::widgets::Wrap { trim: true }),
                counts,
            );
            let height = table.height.saturating_sub(1) as usize;
            let start = scroll_start(*scroll, height);
            sequences::draw(
                frame,
                table,
                rows.iter()
                    .enumerate()
                    .skip(start)
                    .take(height)
                    .map(|(i, r)| (r, i == *scroll)),
                &sequences::Columns {
                    headers: ["SOURCE", "BEFORE", "TARGET"],
                    values: |r| [r.source_value, r.destination_before, r.target],
                    marker: false,
                },
                Block::default(),
                theme,
            );
            sequences::draw_detail(frame, detail, rows.get(*scroll), theme);
            let changes = choice.changes();
            let prompt = if changes == 0 {
                "Nothing to change.  Enter/y: record that in the journal   Space/a: choose rows   Esc: close"
                    .to_string()
            } else {
                format!(
                    "Apply {changes} change(s)?  Enter/y: apply   Space/a: choose rows   Esc/n: cancel"
                )
            };
            frame.render_widget(Paragraph::new(Span::styled(prompt, theme.title())), confirm);
        }
        Dialog::ConfirmUndo {
            run_id,
            when,
            sequences,
        } => {
            let popup = centered(area, 64, 8);
            frame.render_widget(Clear, popup);
            let block = Block::default().borders(Borders::ALL).title(" Undo ");
            let inner = block.inner(popup);
            frame.render_widget(block, popup);
            let text = vec![
                Line::from(format!("Run {}", shown(run_id))),
                Line::from(format!("applied {}", shown(when).chars().take(19).collect::<String>().replace('T', " "))),
                Line::from(format!(
                    "Put back the values {sequences} sequence(s) had before it? Refused as a whole if one has issued ids since."
                )),
                Line::styled("Enter/y: undo   Esc/n: cancel", theme.title()),
            ];
            frame.render_widget(
                Paragraph::new(text).wrap(ratatui::widgets::Wrap { trim: true }),
                inner,
            );
        }
        Dialog::Applying {
            done,
            total,
            cancelling,
            ..
        } => {
            let popup = centered(area, 60, 6);
            frame.render_widget(Clear, popup);
            let block = Block::default().borders(Borders::ALL).title(" Applying ");
            let inner = block.inner(popup);
            frame.render_widget(block, popup);
            let [gauge, note] =
                Layout::vertical([Constraint::Length(1), Constraint::Length(2)]).areas(inner);
            let ratio = if *total == 0 {
                0.0
            } else {
                *done as f64 / *total as f64
            };
            frame.render_widget(
                Gauge::default()
                    .ratio(ratio.clamp(0.0, 1.0))
                    .label(format!("{done} / {total} sequences")),
                gauge,
            );
            let text = if *cancelling {
                "Cancelling: rolling back what was set…"
            } else {
                "All or nothing. Esc cancels and rolls back."
            };
            frame.render_widget(Paragraph::new(text), note);
        }
    }
}
