//! Which source sequence sets which destination sequence. Pure, no I/O.
//!
//! Migrations rename sequences (`orders_id_seq1` when the name was taken, a renamed table's old
//! sequence name, Oracle's `ISEQ$$_n` identity sequences), but not the columns they feed. So:
//! 1. Two sequences that feed the same column (owning column, identity, or a DEFAULT that calls
//!    `nextval()`), and no other sequence on either side shares a column with them, are a pair.
//! 2. Sequences linked through columns to more than one sequence on the other side are refused
//!    together: picking one would set a destination from a guess.
//! 3. What is left is paired by schema and name.
//!
//! A sequence paired (or refused) by rule 1 or 2 is not paired again by name.

use super::model::{Matched, Sequence};
use std::collections::{BTreeMap, HashMap};

/// One outcome of matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pairing<'a> {
    Pair {
        source: &'a Sequence,
        destination: &'a Sequence,
        matched: Matched,
    },
    /// In the source only. `name_taken_by` names the source sequence that the same-named
    /// destination sequence was paired with through a column.
    SourceOnly {
        source: &'a Sequence,
        name_taken_by: Option<String>,
    },
    /// In the destination only. `name_taken_by` names the destination sequence that the
    /// same-named source sequence was paired with through a column.
    DestinationOnly {
        destination: &'a Sequence,
        name_taken_by: Option<String>,
    },
    /// Linked through columns to more than one sequence: every destination of the group is
    /// refused, naming the whole group.
    Ambiguous {
        destination: &'a Sequence,
        sources: Vec<&'a Sequence>,
        why: String,
    },
}

type Column<'a> = (&'a str, &'a str, &'a str);

/// The columns a sequence feeds, sorted, each once.
fn columns(seq: &Sequence) -> Vec<Column<'_>> {
    let mut columns: Vec<Column> = seq
        .fed_columns()
        .map(|c| (c.schema.as_str(), c.table.as_str(), c.column.as_str()))
        .collect();
    columns.sort_unstable();
    columns.dedup();
    columns
}

fn column_text(column: &Column) -> String {
    super::model::display_name(column.0, column.1) + "." + &super::model::display_ident(column.2)
}

/// Pairs every sequence of both sides (see the module's rules), in no particular order.
pub fn pair<'a>(source: &'a [Sequence], destination: &'a [Sequence]) -> Vec<Pairing<'a>> {
    // Nodes: sources 0..n, destinations n..n+m, joined where they feed a common column.
    let n = source.len();
    let mut by_column: HashMap<Column, (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (i, s) in source.iter().enumerate() {
        for c in columns(s) {
            by_column.entry(c).or_default().0.push(i);
        }
    }
    for (j, d) in destination.iter().enumerate() {
        for c in columns(d) {
            by_column.entry(c).or_default().1.push(n + j);
        }
    }
    let mut groups = Groups::new(n + destination.len());
    let mut linked = vec![false; n + destination.len()];
    for (sources, destinations) in by_column.values() {
        if sources.is_empty() || destinations.is_empty() {
            continue;
        }
        for &k in sources.iter().chain(destinations) {
            linked[k] = true;
            groups.join(sources[0], k);
        }
    }
    let mut members: BTreeMap<usize, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for k in (0..n + destination.len()).filter(|&k| linked[k]) {
        let group = members.entry(groups.root(k)).or_default();
        if k < n {
            group.0.push(k);
        } else {
            group.1.push(k - n);
        }
    }
    let mut out = Vec::with_capacity(source.len().max(destination.len()));
    let mut taken_source = vec![false; n];
    let mut taken_destination = vec![false; destination.len()];
    for (sources, destinations) in members.values() {
        for &i in sources {
            taken_source[i] = true;
        }
        for &j in destinations {
            taken_destination[j] = true;
        }
        if let ([i], [j]) = (sources.as_slice(), destinations.as_slice()) {
            let (s, d) = (&source[*i], &destination[*j]);
            let theirs = columns(d);
            let shared = columns(s)
                .into_iter()
                .find(|c| theirs.binary_search(c).is_ok())
                .expect("linked by a column");
            out.push(Pairing::Pair {
                source: s,
                destination: d,
                matched: Matched::Column(column_text(&shared)),
            });
            continue;
        }
        let why = ambiguity(source, destination, sources, destinations);
        for &j in destinations {
            out.push(Pairing::Ambiguous {
                destination: &destination[j],
                sources: sources.iter().map(|&i| &source[i]).collect(),
                why: why.clone(),
            });
        }
    }
    // Rule 3: by name, among what the columns left.
    fn key(s: &Sequence) -> (&str, &str) {
        (&s.schema, &s.name)
    }
    let column_pairs: Vec<(&Sequence, &Sequence)> = out
        .iter()
        .filter_map(|p| match p {
            Pairing::Pair {
                source,
                destination,
                ..
            } => Some((*source, *destination)),
            _ => None,
        })
        .collect();
    // By the source's name: the destination it took; by the destination's: the source.
    let column_partner: HashMap<(&str, &str), &Sequence> =
        column_pairs.iter().map(|(s, d)| (key(s), *d)).collect();
    let destination_taken_by: HashMap<(&str, &str), &Sequence> =
        column_pairs.iter().map(|(s, d)| (key(d), *s)).collect();
    let mut free_destinations: HashMap<(&str, &str), &Sequence> = destination
        .iter()
        .enumerate()
        .filter(|(j, _)| !taken_destination[*j])
        .map(|(_, d)| (key(d), d))
        .collect();
    for (i, s) in source.iter().enumerate() {
        if taken_source[i] {
            continue;
        }
        match free_destinations.remove(&key(s)) {
            Some(d) => out.push(Pairing::Pair {
                source: s,
                destination: d,
                matched: Matched::Name,
            }),
            None => out.push(Pairing::SourceOnly {
                source: s,
                name_taken_by: destination_taken_by.get(&key(s)).map(|t| source_label(t)),
            }),
        }
    }
    let mut rest: Vec<&Sequence> = free_destinations.into_values().collect();
    rest.sort_by_key(|d| key(d));
    for d in rest {
        out.push(Pairing::DestinationOnly {
            destination: d,
            name_taken_by: column_partner.get(&key(d)).map(|t| t.qualified_name()),
        });
    }
    out
}

/// The source sequence's name as the operator knows it (Oracle's own, where mapped).
pub fn source_label(source: &Sequence) -> String {
    source
        .origin()
        .map_or_else(|| source.qualified_name(), String::from)
}

/// Names every sequence of a refused group and the columns that link them.
fn ambiguity(
    source: &[Sequence],
    destination: &[Sequence],
    sources: &[usize],
    destinations: &[usize],
) -> String {
    let describe = |seq: &Sequence, label: String| {
        let fed: Vec<String> = columns(seq).iter().map(column_text).collect();
        format!("{label} (feeds {})", fed.join(", "))
    };
    let s: Vec<String> = sources
        .iter()
        .map(|&i| describe(&source[i], source_label(&source[i])))
        .collect();
    let d: Vec<String> = destinations
        .iter()
        .map(|&j| describe(&destination[j], destination[j].qualified_name()))
        .collect();
    format!(
        "matched through columns to more than one sequence: source {}; destination {}. \
         Refused together: set each by hand (setval), or --exclude them to leave them out of \
         the run",
        s.join(" and "),
        d.join(" and ")
    )
}

/// Union-find over sequence indices.
struct Groups(Vec<usize>);

impl Groups {
    fn new(size: usize) -> Groups {
        Groups((0..size).collect())
    }

    fn root(&mut self, mut k: usize) -> usize {
        while self.0[k] != k {
            self.0[k] = self.0[self.0[k]];
            k = self.0[k];
        }
        k
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        self.0[b] = a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::{Extras, OwnedBy};

    fn seq(name: &str, feeds: &[&str]) -> Sequence {
        let mut s = Sequence::for_test(name, 1, true, 1, 1, i64::MAX);
        let column = |c: &&str| {
            let (table, column) = c.split_once('.').unwrap();
            OwnedBy {
                schema: "public".into(),
                table: table.into(),
                column: column.into(),
                identity: false,
                indexed: true,
                readable: true,
                column_type: "bigint".into(),
            }
        };
        let mut fed = feeds.iter().map(column);
        s.extras = Extras {
            owned_by: fed.next(),
            default_for: fed.collect(),
            ..Extras::default()
        }
        .boxed();
        s
    }

    fn names(pairings: &[Pairing]) -> Vec<String> {
        let mut out: Vec<String> = pairings
            .iter()
            .map(|p| match p {
                Pairing::Pair {
                    source,
                    destination,
                    matched,
                } => format!("{} <- {} by {matched:?}", destination.name, source.name),
                Pairing::SourceOnly {
                    source,
                    name_taken_by,
                } => format!("source-only {} {name_taken_by:?}", source.name),
                Pairing::DestinationOnly {
                    destination,
                    name_taken_by,
                } => format!("destination-only {} {name_taken_by:?}", destination.name),
                Pairing::Ambiguous {
                    destination,
                    sources,
                    ..
                } => format!(
                    "ambiguous {} <- {}",
                    destination.name,
                    sources
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join("+")
                ),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_column_match_wins_over_a_name_match_and_is_not_matched_again() {
        let source = [seq("orders_id_seq", &["orders.id"]), seq("plain", &[])];
        let destination = [
            seq("orders_id_seq1", &["orders.id"]),
            seq("orders_id_seq", &["legacy.id"]),
            seq("plain", &[]),
        ];
        assert_eq!(
            names(&pair(&source, &destination)),
            vec![
                "destination-only orders_id_seq Some(\"public.orders_id_seq1\")",
                "orders_id_seq1 <- orders_id_seq by Column(\"public.orders.id\")",
                "plain <- plain by Name",
            ]
        );
    }

    #[test]
    fn a_column_only_one_side_has_does_not_stop_a_name_match() {
        let source = [seq("s", &["t.id"])];
        let destination = [seq("s", &["u.id"])];
        assert_eq!(names(&pair(&source, &destination)), vec!["s <- s by Name"]);
    }

    #[test]
    fn one_source_feeding_two_destination_sequences_is_refused_together() {
        // A shared sequence in the source; the destination gave each table its own.
        let source = [seq("ids", &["a.id", "b.id"])];
        let destination = [seq("a_id_seq", &["a.id"]), seq("b_id_seq", &["b.id"])];
        let pairings = pair(&source, &destination);
        assert_eq!(
            names(&pairings),
            vec!["ambiguous a_id_seq <- ids", "ambiguous b_id_seq <- ids"]
        );
        let Pairing::Ambiguous { why, .. } = &pairings[0] else {
            panic!()
        };
        assert!(
            why.contains("public.a_id_seq (feeds public.a.id)")
                && why.contains("public.b_id_seq (feeds public.b.id)")
                && why.contains("source public.ids (feeds public.a.id, public.b.id)"),
            "{why}"
        );
    }

    #[test]
    fn two_sequences_owning_one_column_are_refused_and_not_matched_by_name() {
        let source = [seq("t_id_seq", &["t.id"])];
        let destination = [seq("t_id_seq", &["t.id"]), seq("t_id_seq1", &["t.id"])];
        assert_eq!(
            names(&pair(&source, &destination)),
            vec![
                "ambiguous t_id_seq <- t_id_seq",
                "ambiguous t_id_seq1 <- t_id_seq"
            ]
        );
    }

    #[test]
    fn the_same_shared_sequence_on_both_sides_is_one_pair() {
        let source = [seq("ids", &["a.id", "b.id"])];
        let destination = [seq("global_ids", &["b.id", "a.id"])];
        assert_eq!(
            names(&pair(&source, &destination)),
            vec!["global_ids <- ids by Column(\"public.a.id\")"]
        );
    }

    #[test]
    fn a_source_whose_name_was_taken_through_a_column_says_so() {
        let source = [seq("x", &[]), seq("y", &["t.id"])];
        let destination = [seq("x", &["t.id"])];
        assert_eq!(
            names(&pair(&source, &destination)),
            vec![
                "source-only x Some(\"public.y\")",
                "x <- y by Column(\"public.t.id\")"
            ]
        );
    }
}
