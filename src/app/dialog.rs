//! Keys while a dialog is open over Basic Information: the offset (validated as typed), the
//! plan being read, the preview and its confirmation, the apply in progress.

use super::keys::{edit, navigate};
use super::msg::Effect;
use super::state::{Dialog, OffsetPurpose, Setting, State, Suggestion};
use super::watching::start_watch;
use crate::engine::offset::Offset;
use crate::engine::repair::parse_margin;
use crossterm::event::{KeyCode, KeyEvent};
use tui_input::Input;

pub fn on_dialog_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    match &mut state.dialog {
        Dialog::Offset {
            input,
            error: e,
            purpose,
            suggestion,
        } => match key.code {
            KeyCode::Esc => state.dialog = Dialog::None,
            KeyCode::Tab => {
                if let Suggestion::Ready(offset) = suggestion {
                    *input = Input::new(offset.to_string());
                    *e = None;
                }
            }
            KeyCode::Enter if *purpose == OffsetPurpose::Repair => {
                match parse_margin(input.value()) {
                    Err(why) => *e = Some(why),
                    Ok(margin) => {
                        let request = state.take_request_id();
                        let instance = Box::new(state.current().expect("a task").instance.clone());
                        state.dialog = Dialog::Planning {
                            request,
                            setting: Setting::Margin(margin),
                        };
                        state.repair_request = Some(request);
                        let offset = crate::engine::run::RepairOptions::offset_or_margin(
                            state.default_offset,
                            margin,
                        );
                        return vec![Effect::Repair {
                            request,
                            instance,
                            margin,
                            offset,
                        }];
                    }
                }
            }
            KeyCode::Enter => match input.value().parse::<Offset>() {
                Err(why) => *e = Some(why),
                Ok(offset) if *purpose == OffsetPurpose::Watch => {
                    return start_watch(state, offset);
                }
                Ok(offset) => {
                    let request = state.take_request_id();
                    let instance = Box::new(state.current().expect("a task").instance.clone());
                    state.dialog = Dialog::Planning {
                        request,
                        setting: Setting::Offset(offset),
                    };
                    return vec![Effect::Plan {
                        request,
                        instance,
                        offset,
                    }];
                }
            },
            _ => {
                if edit(input, &key) {
                    // Validated as typed: the error shows, or clears, with every key.
                    *e = if input.value().is_empty() {
                        None
                    } else if *purpose == OffsetPurpose::Repair {
                        parse_margin(input.value()).err()
                    } else {
                        input.value().parse::<Offset>().err()
                    };
                }
            }
        },
        Dialog::Planning { request, .. } => {
            if key.code == KeyCode::Esc {
                let request = *request;
                state.dialog = Dialog::None;
                state.inform("plan cancelled; nothing was changed".to_string());
                return vec![Effect::Discard { request }];
            }
        }
        Dialog::Preview {
            request,
            choice,
            scroll,
            ..
        } => {
            if navigate(scroll, choice.rows().len(), &key, 10) {
                return vec![];
            }
            match key.code {
                KeyCode::Char(' ') => choice.toggle(*scroll),
                KeyCode::Char('a') => choice.toggle_all(),
                KeyCode::Enter | KeyCode::Char('y') => {
                    let request = *request;
                    let total = choice.changes();
                    let selection = choice.selection().clone();
                    state.dialog = Dialog::Applying {
                        request,
                        done: 0,
                        total,
                        cancelling: false,
                    };
                    return vec![Effect::Apply { request, selection }];
                }
                KeyCode::Esc | KeyCode::Char('n') => {
                    let request = *request;
                    state.dialog = Dialog::None;
                    state.inform("not applied; nothing was changed".to_string());
                    return vec![Effect::Discard { request }];
                }
                _ => {}
            }
        }
        Dialog::Applying {
            request,
            cancelling,
            ..
        } => {
            if key.code == KeyCode::Esc && !*cancelling {
                *cancelling = true;
                return vec![Effect::Cancel { request: *request }];
            }
        }
        Dialog::ConfirmUndo {
            run_id, sequences, ..
        } => match key.code {
            KeyCode::Enter | KeyCode::Char('y') => {
                let (run_id, total) = (run_id.clone(), *sequences);
                let request = state.take_request_id();
                let instance = Box::new(state.current().expect("a task").instance.clone());
                state.dialog = Dialog::Applying {
                    request,
                    done: 0,
                    total,
                    cancelling: false,
                };
                return vec![Effect::Undo {
                    request,
                    instance,
                    run_id,
                }];
            }
            KeyCode::Esc | KeyCode::Char('n') => {
                state.dialog = Dialog::None;
                state.inform("not undone; nothing was changed".to_string());
            }
            _ => {}
        },
        Dialog::None => {}
    }
    vec![]
}
