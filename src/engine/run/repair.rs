//! Repair from the data: the run for the hour after cutover, when the task is finished, the
//! source may be gone, and inserts fail on duplicate keys. No task prerequisite is checked
//! (any status will do); what is journaled, locked, settled and undone is exactly as for a
//! sync, so a repair is a run like any other.

use super::context::{Context, Notice, Notify};
use super::recover::settle;
use super::sync::{read_destination, DataRecheck, Prepared};
use super::target::{destination, source, SourceEndpoint};
use crate::engine::behind::ColumnEdge;
use crate::engine::instance::Instance;
use crate::engine::journal::{new_run_id, RunContext};
use crate::engine::model::{summarize, PlanRow, RowStatus, Sequence};
use crate::engine::offset::Offset;
use crate::engine::plan::{plan as plan_rows, PlanOptions};
use crate::engine::postgres::PgEndpoint;
use crate::engine::repair::{plan_repair, RepairInput};
use crate::engine::select::Selection;
use crate::engine::Error;
use std::collections::HashMap;

/// Where a repair reads and writes.
#[derive(Debug, Clone)]
pub struct RepairTarget {
    /// The instance id, or `ad-hoc`.
    pub id: String,
    pub destination: PgEndpoint,
    pub source: RepairSource,
    pub selection: Selection,
}

/// Whether a source's values count beside the data.
#[derive(Debug, Clone)]
pub enum RepairSource {
    /// From the destination's data alone.
    None,
    /// Named by the operator: it must answer.
    Required(SourceEndpoint),
    /// The instance's: read if it answers, and said if it does not (after cutover it may be
    /// gone, and the data alone still repairs).
    IfReachable(SourceEndpoint),
}

#[derive(Debug, Clone, Copy)]
pub struct RepairOptions {
    /// Ids kept free past each column's largest value.
    pub margin: u64,
    /// Added to the source's values, where a source is read.
    pub offset: Offset,
    /// Also read columns no index leads (a full scan each).
    pub scan_unindexed: bool,
}

impl RepairOptions {
    /// The offset a repair adds to the source's values: the one configured, else the margin
    /// (the ids kept free past the last known id, in the source as in the data).
    pub fn offset_or_margin(configured: Option<Offset>, margin: u64) -> Offset {
        configured.unwrap_or_else(|| {
            Offset::new(i64::try_from(margin).unwrap_or(i64::MAX)).expect("not negative")
        })
    }
}

/// A configured instance, in any status, as a repair's target: its destination, and its
/// source if it answers. A source that cannot even be addressed (no user for Oracle, say) is
/// said, and the repair goes on from the data alone.
pub fn repair_target(instance: &Instance, notify: Notify<'_>) -> Result<RepairTarget, Error> {
    let source = match source(&instance.source, notify) {
        Ok(source) => RepairSource::IfReachable(source),
        Err(e) => {
            notify(Notice::warning(format!(
                "the instance's source cannot be used ({}): repairing from the destination's \
                 data alone",
                e.message
            )));
            RepairSource::None
        }
    };
    Ok(RepairTarget {
        id: instance.id.clone(),
        destination: destination(&instance.destination, notify)?,
        source,
        selection: instance.selection.clone(),
    })
}

/// Plans a repair: settles runs a killed seqsync left on the destination, refuses a standby or
/// read-only destination, reads the destination (and the source, at once), reads the largest
/// value of every column its chosen sequences feed, plans, and journals the plan. Nothing is
/// changed yet, except what settling an interrupted run restores.
pub async fn repair(
    ctx: &Context,
    target: &RepairTarget,
    options: RepairOptions,
    notify: Notify<'_>,
) -> Result<Prepared, Error> {
    settle(ctx, &target.destination, notify).await?;
    let source_endpoint = match &target.source {
        RepairSource::None => None,
        RepairSource::Required(s) | RepairSource::IfReachable(s) => Some(s),
    };
    let timeouts = &ctx.timeouts;
    let (source_read, destination_read) = tokio::join!(
        async {
            match source_endpoint {
                Some(s) => Some(s.read(timeouts).await),
                None => None,
            }
        },
        read_destination(&target.destination, timeouts)
    );
    let (session, destination) = destination_read.map_err(|e| e.context("destination"))?;
    if let Some(why) = session.read_only().await? {
        return Err(Error::refused(format!("{why}; nothing was changed")));
    }
    let source = match (source_read, &target.source) {
        (Some(Ok(sequences)), _) => Some(sequences),
        (Some(Err(e)), RepairSource::Required(_)) => return Err(e.context("source")),
        (Some(Err(e)), _) => {
            let text = format!(
                "the source did not answer ({}): repairing from the destination's data alone",
                e.message
            );
            crate::log::line("WARN", &text);
            notify(Notice::warning(text));
            None
        }
        (None, _) => None,
    };
    let plan_options = PlanOptions {
        offset: options.offset,
        allow_lower: false,
        scan_unindexed: options.scan_unindexed,
    };
    let synced = source
        .as_ref()
        .map(|source| plan_rows(source, &destination, plan_options));
    let feeding = chosen_feeding(&destination, synced.as_deref(), &target.selection);
    if options.scan_unindexed {
        let unindexed: Vec<String> = feeding
            .iter()
            .flat_map(|s| s.fed_columns())
            .filter(|c| !c.indexed && c.readable)
            .map(|c| c.qualified_column())
            .collect();
        if !unindexed.is_empty() {
            let mut names = unindexed.join(", ");
            crate::engine::text::clip(&mut names, 400);
            notify(Notice::warning(format!(
                "reading {} column(s) that no index leads, a full scan each: {names}",
                unindexed.len()
            )));
        }
    }
    let edges = session.data_edges(&feeding, options.scan_unindexed).await;
    let edges: HashMap<u32, Vec<ColumnEdge>> = feeding.iter().map(|s| s.oid).zip(edges).collect();
    let role = target.destination.user().map_or(
        "<destination role>".to_string(),
        crate::engine::model::display_ident,
    );
    let rows = plan_repair(&RepairInput {
        destination: &destination,
        edges: &edges,
        synced: synced.as_deref(),
        margin: options.margin,
        role: &role,
    });
    let context = RunContext {
        run_id: new_run_id(),
        instance: target.id.clone(),
        source: match (&source, source_endpoint) {
            (Some(_), Some(s)) => s.display(),
            _ => "none: the destination's data".to_string(),
        },
        destination: target.destination.display.clone(),
        offset: if source.is_some() {
            options.offset.get()
        } else {
            0
        },
        allow_lower: false,
        undo_of: None,
        margin: Some(options.margin),
        backend: None,
        selection: target.selection.clone(),
    };
    let recheck = DataRecheck {
        sequences: feeding.into_iter().cloned().collect(),
        scan_unindexed: options.scan_unindexed,
    };
    let mut prepared = Prepared::new(context, rows, &target.destination, session, timeouts);
    prepared.recheck_data(recheck);
    crate::log::line(
        "INFO",
        &format!(
            "run {} instance {}: repair of {} from {} margin {}: planned {:?}",
            prepared.context.run_id,
            prepared.context.instance,
            prepared.context.destination,
            prepared.context.source,
            options.margin,
            summarize(&prepared.rows)
        ),
    );
    prepared.journal_plan(&ctx.journal, "")?;
    Ok(prepared)
}

/// The destination sequences that feed a column and that the selection keeps (by destination
/// name, or the source's where one is paired): only their columns are read.
fn chosen_feeding<'a>(
    destination: &'a [Sequence],
    synced: Option<&[PlanRow]>,
    selection: &Selection,
) -> Vec<&'a Sequence> {
    let source_names: HashMap<u32, Option<String>> = synced
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.destination_oid.map(|oid| (oid, r.source_name.clone())))
        .collect();
    destination
        .iter()
        .filter(|s| s.feeds_a_column())
        .filter(|s| {
            let probe = PlanRow {
                schema: s.schema.clone(),
                name: s.name.clone(),
                source_value: None,
                destination_before: None,
                target: None,
                destination_after: None,
                status: RowStatus::Update,
                message: String::new(),
                destination_oid: Some(s.oid),
                source_name: source_names.get(&s.oid).cloned().flatten(),
                matched: Default::default(),
                source_key: None,
            };
            selection.left_out(&probe).is_none()
        })
        .collect()
}
