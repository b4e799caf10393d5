//! Choosing which sequences a run sets: include and exclude globs (from the config and the
//! command line) and rows put in or left out by hand in the preview. Pure, no I/O.
//!
//! A glob is matched, case-sensitively, against a row's `schema.name` as the catalogue spells
//! it (no quoting) on the destination and on the source (Oracle: as mapped). `*` is any run of
//! characters (dots included), `?` one character, `[abc]`, `[a-z]` and `[!abc]` a set, `\`
//! takes the next character literally.

use super::model::{PlanRow, RowStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the operator chose. Rows left out appear as `excluded`, never silently dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// When any is given, only rows matching one of them are in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Rows matching any of them are out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Rows put in (true) or left out (false) one by one, by destination `schema.name`
    /// (quoted for display); they win over the patterns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_hand: BTreeMap<String, bool>,
}

impl Selection {
    /// Patterns checked: a malformed one is refused before anything is read.
    pub fn new(include: Vec<String>, exclude: Vec<String>) -> Result<Selection, String> {
        for (flag, patterns) in [("include", &include), ("exclude", &exclude)] {
            for p in patterns {
                check_pattern(p).map_err(|e| format!("{flag} pattern '{p}': {e}"))?;
            }
        }
        Ok(Selection {
            include,
            exclude,
            by_hand: BTreeMap::new(),
        })
    }

    /// Both selections' patterns (the config's and the command line's add up).
    pub fn and(mut self, other: &Selection) -> Selection {
        self.include.extend(other.include.iter().cloned());
        self.exclude.extend(other.exclude.iter().cloned());
        self.by_hand.extend(other.by_hand.clone());
        self
    }

    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.by_hand.values().all(|&v| v)
    }

    /// Why `row` is left out; None when it is in.
    pub fn left_out(&self, row: &PlanRow) -> Option<String> {
        if let Some(&chosen) = self.by_hand.get(&row.qualified_name()) {
            return (!chosen).then(|| "left out by hand in the preview".to_string());
        }
        let names = names_of(row);
        let matches = |p: &String| names.iter().any(|n| glob(p, n));
        if let Some(p) = self.exclude.iter().find(|p| matches(p)) {
            return Some(format!("left out: matches exclude pattern '{p}'"));
        }
        if !self.include.is_empty() && !self.include.iter().any(matches) {
            return Some(format!(
                "left out: matches no include pattern ({})",
                self.include
                    .iter()
                    .map(|p| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        None
    }

    /// The planned rows as chosen: rows left out become `excluded`, with the reason (what the
    /// plan would have done is kept in the message).
    pub fn apply(&self, planned: &[PlanRow]) -> Vec<PlanRow> {
        planned
            .iter()
            .map(|row| match self.left_out(row) {
                None => row.clone(),
                Some(why) => {
                    let mut out = row.clone();
                    out.status = RowStatus::Excluded;
                    out.message = format!("{why} (planned: {})", row.status);
                    out
                }
            })
            .collect()
    }

    /// Puts a row in or leaves it out by hand.
    pub fn choose(&mut self, row: &PlanRow, chosen: bool) {
        self.by_hand.insert(row.qualified_name(), chosen);
    }
}

/// A plan's rows as planned, the choice over them, and the rows as chosen: what a preview shows
/// and changes row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    planned: Vec<PlanRow>,
    selection: Selection,
    rows: Vec<PlanRow>,
}

impl Choice {
    pub fn new(planned: Vec<PlanRow>, selection: Selection) -> Choice {
        let rows = selection.apply(&planned);
        Choice {
            planned,
            selection,
            rows,
        }
    }

    /// The rows as chosen.
    pub fn rows(&self) -> &[PlanRow] {
        &self.rows
    }

    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Puts the row at `index` in if it is left out, leaves it out otherwise.
    pub fn toggle(&mut self, index: usize) {
        let Some(row) = self.rows.get(index) else {
            return;
        };
        let chosen = row.status == RowStatus::Excluded;
        self.selection.choose(&self.planned[index], chosen);
        self.rows = self.selection.apply(&self.planned);
    }

    /// Leaves every row out if any is in; puts every row in otherwise.
    pub fn toggle_all(&mut self) {
        let chosen = self.rows.iter().all(|r| r.status == RowStatus::Excluded);
        for row in &self.planned {
            self.selection.choose(row, chosen);
        }
        self.rows = self.selection.apply(&self.planned);
    }

    /// Rows the apply would change.
    pub fn changes(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.status == RowStatus::Update)
            .count()
    }
}

/// The names a row is matched by: the destination's, and the source's where it differs.
fn names_of(row: &PlanRow) -> Vec<String> {
    let mut names = vec![format!("{}.{}", row.schema, row.name)];
    if let Some((schema, name)) = row.source_names() {
        let source = format!("{schema}.{name}");
        if source != names[0] {
            names.push(source);
        }
    }
    names
}

fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty; use '*' for every sequence".to_string());
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 == chars.len() => return Err("ends with a lone '\\'".to_string()),
            '\\' => i += 2,
            '[' => match set_end(&chars, i) {
                Some(end) => i = end + 1,
                None => return Err("a '[' is never closed by ']'".to_string()),
            },
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index of the `]` closing the set opened at `open`.
fn set_end(chars: &[char], open: usize) -> Option<usize> {
    let mut i = open + 1;
    if chars.get(i) == Some(&'!') {
        i += 1;
    }
    // A ']' right after the opening is a member, as in shells.
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        if chars[i] == ']' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether `text` matches the glob `pattern` (see the module's rules), by characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point: the last '*' seen.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(2),
            Some('[') => match set_end(&p, pi) {
                Some(end) => in_set(&p[pi + 1..end], t[ti]).then_some(end + 1 - pi),
                None => (t[ti] == '[').then_some(1),
            },
            Some(&c) => (c == t[ti]).then_some(1),
            None => None,
        };
        match (step, star) {
            (Some(width), _) => {
                pi += width;
                ti += 1;
            }
            (None, Some((star_p, star_t))) => {
                pi = star_p + 1;
                ti = star_t + 1;
                star = Some((star_p, star_t + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn in_set(set: &[char], c: char) -> bool {
    let (negated, members) = match set.first() {
        Some('!') => (true, &set[1..]),
        _ => (false, set),
    };
    let mut found = false;
    let mut i = 0;
    while i < members.len() {
        if i + 2 < members.len() && members[i + 1] == '-' {
            found |= members[i] <= c && c <= members[i + 2];
            i += 3;
        } else {
            found |= members[i] == c;
            i += 1;
        }
    }
    found != negated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::Matched;
    use crate::engine::model::SourceKey;

    fn row(schema: &str, name: &str, status: RowStatus) -> PlanRow {
        PlanRow {
            schema: schema.into(),
            name: name.into(),
            source_value: Some(1),
            destination_before: Some(1),
            target: Some(11),
            destination_after: None,
            status,
            message: String::new(),
            destination_oid: None,
            source_name: None,
            matched: Matched::Name,
            source_key: Some(SourceKey::SameName),
        }
    }

    #[test]
    fn globs_match_by_character_with_stars_sets_and_escapes() {
        assert!(glob("public.*", "public.orders_id_seq"));
        assert!(glob("*", "a.b.c"));
        assert!(!glob("public.*", "Public.x"), "case-sensitive");
        assert!(glob("*.orders_?d_seq", "sales.orders_id_seq"));
        assert!(glob("public.we\"ird*", "public.we\"ird \"name\""));
        assert!(glob("ventes.séq_*", "ventes.séq_été"));
        assert!(glob("日本.*_seq", "日本.注文_seq"));
        assert!(!glob("日本.?_seq", "日本.注文_seq"));
        assert!(glob("a.[abc]x", "a.bx") && !glob("a.[!abc]x", "a.bx"));
        assert!(glob("a.[a-c]x", "a.cx") && !glob("a.[a-c]x", "a.dx"));
        assert!(glob("a.\\*x", "a.*x") && !glob("a.\\*x", "a.yx"));
        assert!(glob("a.b.c", "a.b.c") && !glob("a.b", "a.b.c"));
        assert!(glob("*x*y", "axbxcy") && !glob("*x*y", "axbxc"));
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        let e = Selection::new(vec!["public.[ab".into()], vec![]).unwrap_err();
        assert!(e.contains("include pattern 'public.[ab'") && e.contains("never closed"));
        assert!(Selection::new(vec![], vec!["x\\".into()]).is_err());
        assert!(Selection::new(vec![], vec!["".into()]).is_err());
        assert!(Selection::new(vec!["[]]x".into()], vec![]).is_ok());
    }

    #[test]
    fn excluded_rows_stay_with_the_reason_and_hand_choices_win() {
        let planned = vec![
            row("public", "a", RowStatus::Update),
            row("public", "b.c", RowStatus::MissingInDestination),
            row("audit", "log_seq", RowStatus::Update),
        ];
        let mut selection =
            Selection::new(vec!["public.*".into()], vec!["public.b.*".into()]).unwrap();
        let rows = selection.apply(&planned);
        let statuses: Vec<RowStatus> = rows.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![RowStatus::Update, RowStatus::Excluded, RowStatus::Excluded]
        );
        assert_eq!(
            rows[1].message,
            "left out: matches exclude pattern 'public.b.*' (planned: missing-in-destination)"
        );
        assert!(rows[2]
            .message
            .contains("matches no include pattern ('public.*')"));
        selection.choose(&planned[2], true);
        selection.choose(&planned[0], false);
        let rows = selection.apply(&planned);
        assert_eq!(rows[0].status, RowStatus::Excluded);
        assert_eq!(
            rows[0].message,
            "left out by hand in the preview (planned: update)"
        );
        assert_eq!(rows[2].status, RowStatus::Update);
        assert!(!rows[1].status.is_problem() && !selection.is_everything());
    }

    #[test]
    fn the_source_name_is_matched_too() {
        let mut r = row("public", "orders_id_seq1", RowStatus::Update);
        r.source_key = Some(SourceKey::of(
            "public",
            "orders_id_seq1",
            "public",
            "orders_id_seq",
        ));
        let selection = Selection::new(vec![], vec!["public.orders_id_seq".into()]).unwrap();
        assert_eq!(selection.apply(&[r])[0].status, RowStatus::Excluded);
    }
}
