//! The instance list: tabs, region, filter, and one row per instance.

use super::widgets::{fit, scroll_start, Theme};
use crate::app::state::State;
use crate::engine::instance::{Status, TaskKind};
use crate::engine::text::shown;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Frame;

/// The fewest columns a name gets before the pair column gives way, and the fewest the pair
/// keeps (`postgresql → …`).
const MIN_NAME: usize = 12;
const MIN_PAIR: usize = 12;

pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: Theme) {
    let [tabs, filters, list] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(area);
    let tab = |kind: TaskKind, label: &'static str| {
        if state.tab == kind {
            Span::styled(format!("[ {label} ]"), theme.selected())
        } else {
            Span::raw(format!("  {label}  "))
        }
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            tab(TaskKind::Synchronization, "Data Synchronization"),
            Span::raw(" "),
            tab(TaskKind::Migration, "Data Migration"),
        ])),
        tabs,
    );
    let filter = if state.filtering {
        format!("/{}▏", state.filter.value())
    } else if state.filter.value().is_empty() {
        "none (/)".to_string()
    } else {
        format!("/{}", state.filter.value())
    };
    frame.render_widget(
        Paragraph::new(format!(
            "Region: {} (r)   Filter: {filter}",
            state.region.as_deref().unwrap_or("all")
        )),
        filters,
    );

    let visible = state.visible_instances();
    let block = Block::default().borders(Borders::TOP);
    if visible.is_empty() {
        let hint = if state.instances.is_empty() {
            format!("No instances configured. {}", state.config_note)
        } else {
            "No instance matches this tab, region and filter.".to_string()
        };
        frame.render_widget(Paragraph::new(hint).block(block), list);
        return;
    }
    let height = list.height.saturating_sub(2) as usize;
    let start = scroll_start(state.selected, height);
    let pair_width = 28usize;
    // As wide as the longest word on screen, so `not-started` or `schema-migration` is never cut.
    let word_width = |words: Vec<String>, header: &str| {
        words
            .iter()
            .map(|w| crate::engine::text::width(w))
            .chain([crate::engine::text::width(header)])
            .max()
            .unwrap_or(0) as u16
    };
    let on_screen = || {
        visible
            .iter()
            .skip(start)
            .take(height)
            .map(|&i| &state.instances[i])
    };
    let status_width = word_width(
        on_screen().map(|r| r.observed.status.to_string()).collect(),
        "reading…",
    );
    let phase_width = word_width(
        on_screen().map(|r| r.observed.phase.to_string()).collect(),
        "PHASE",
    );
    // Ids are never cut (they are what the operator acts on) and status and phase words fit;
    // the name takes what is left and is cut with an ellipsis, and if an id is so long that
    // the name would get almost nothing, the decorative pair column gives way first.
    let id_width = on_screen()
        .map(|r| crate::engine::text::width(&r.instance.id) + 2)
        .chain([4])
        .max()
        .unwrap_or(4);
    let spacing = 4; // one column between each of the five
    let rest = (list.width as usize)
        .saturating_sub(id_width + status_width as usize + phase_width as usize + spacing);
    let pair_width = if rest >= MIN_NAME + pair_width {
        pair_width
    } else if rest >= MIN_NAME + MIN_PAIR {
        rest - MIN_NAME
    } else {
        MIN_PAIR.min(rest / 2)
    };
    let longest_name = on_screen()
        .map(|r| crate::engine::text::width(&r.instance.name))
        .chain([4])
        .max()
        .unwrap_or(4);
    let name_width = rest.saturating_sub(pair_width).min(longest_name).max(1);
    let rows = visible
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(position, &i)| {
            let row = &state.instances[i];
            let inst = &row.instance;
            let status = if row.observing {
                "reading…".to_string()
            } else {
                row.observed.status.to_string()
            };
            let status_style = match row.observed.status {
                Status::Running | Status::Paused if !row.observing => theme.good(),
                Status::Failed => theme.bad(),
                _ => ratatui::style::Style::default(),
            };
            let marker = if position == state.selected { ">" } else { " " };
            let cells = vec![
                ratatui::text::Text::raw(format!("{marker} {}", shown(&inst.id))),
                ratatui::text::Text::raw(fit(&inst.name, name_width)),
                ratatui::text::Text::raw(fit(
                    &format!(
                        "{} → {}",
                        inst.source.engine_name(),
                        inst.destination.engine_name()
                    ),
                    pair_width,
                )),
                ratatui::text::Text::styled(status, status_style),
                ratatui::text::Text::raw(if row.observing {
                    String::new()
                } else {
                    row.observed.phase.to_string()
                }),
            ];
            let r = Row::new(cells);
            if position == state.selected {
                r.style(theme.selected())
            } else {
                r
            }
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(id_width as u16),
            Constraint::Length(name_width as u16),
            Constraint::Length(pair_width as u16),
            Constraint::Length(status_width),
            Constraint::Length(phase_width),
        ],
    )
    .header(
        Row::new(vec![
            "  ID",
            "NAME",
            "SOURCE → DESTINATION",
            "STATUS",
            "PHASE",
        ])
        .style(theme.title()),
    )
    .block(block);
    frame.render_widget(table, list);
}
