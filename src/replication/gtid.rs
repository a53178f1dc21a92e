//! GTID positions and how they compare, without a server.
//!
//! Causal reads (`causal.rs`) need two answers about a replica without asking it: has it
//! applied everything up to a position (`covers`), and if not, how far short is it (`behind`,
//! to pick the replica worth waiting on).
//!
//! - **MariaDB** numbers transactions per replication domain: a position is, per domain, the
//!   last `server-sequence` applied, and within a domain sequence numbers only grow, whatever
//!   server wrote them (a promoted replica continues its source's sequence). A replica has a
//!   position when, in every domain of the position, its sequence number is at least as high:
//!   exactly the test `MASTER_GTID_WAIT` applies to `@@gtid_slave_pos`, so an answer computed
//!   here agrees with what the server would say.
//! - **MySQL** names each transaction `uuid[:tag]:n`; a position is a set of them
//!   (`@@gtid_executed`), which may have gaps. A replica has a set when its executed set
//!   contains it, as `GTID_SUBSET` decides. The text is kept as the server printed it (that
//!   is what is sent back in a wait); it is parsed only to compare, and any text the parser
//!   does not understand compares as "unknown", never as "has it".

use std::collections::BTreeMap;

/// A GTID position: what a write reached, or what a replica has applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// MariaDB: highest `(server, sequence)` per domain.
    MariaDb(BTreeMap<u32, (u32, u64)>),
    /// MySQL: a GTID set as the server prints it (whitespace removed).
    MySql(String),
}

impl Position {
    /// `0-1-42` or `0-1-42,1-2-7` into a position; `None` for an empty or odd value.
    pub(crate) fn mariadb(s: &str) -> Option<Position> {
        let mut map = BTreeMap::new();
        for g in s.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            let mut it = g.split('-');
            let d = it.next()?.parse().ok()?;
            let srv = it.next()?.parse().ok()?;
            let n = it.next()?.parse().ok()?;
            if it.next().is_some() {
                return None;
            }
            map.insert(d, (srv, n));
        }
        (!map.is_empty()).then_some(Position::MariaDb(map))
    }

    /// A MySQL GTID set (`SHOW REPLICA STATUS` breaks it over lines); `None` when empty.
    pub(crate) fn mysql(s: &str) -> Option<Position> {
        let text: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (!text.is_empty()).then_some(Position::MySql(text))
    }

    /// The text the wait functions take.
    pub(crate) fn text(&self) -> String {
        match self {
            Position::MariaDb(m) => m
                .iter()
                .map(|(d, (s, n))| format!("{d}-{s}-{n}"))
                .collect::<Vec<_>>()
                .join(","),
            Position::MySql(set) => set.clone(),
        }
    }

    /// Whether a server that has applied `self` has applied `target` too. `false` when it
    /// cannot be told (different dialects, a set that does not parse).
    pub(crate) fn covers(&self, target: &Position) -> bool {
        match (self, target) {
            (Position::MariaDb(have), Position::MariaDb(want)) => want
                .iter()
                .all(|(d, (_, n))| have.get(d).is_some_and(|(_, h)| h >= n)),
            (Position::MySql(have), Position::MySql(want)) => {
                match (GtidSet::parse(have), GtidSet::parse(want)) {
                    (Some(have), Some(want)) => have.contains(&want),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// How many transactions of `target` a server at `self` has not applied yet (0 when it
    /// covers it); `None` when it cannot be told.
    pub(crate) fn behind(&self, target: &Position) -> Option<u64> {
        match (self, target) {
            (Position::MariaDb(have), Position::MariaDb(want)) => Some(
                want.iter()
                    .map(|(d, (_, n))| n.saturating_sub(have.get(d).map_or(0, |(_, h)| *h)))
                    .fold(0u64, u64::saturating_add),
            ),
            (Position::MySql(have), Position::MySql(want)) => {
                Some(GtidSet::parse(have)?.missing(&GtidSet::parse(want)?))
            }
            _ => None,
        }
    }

    /// What a server has applied once it has applied both: the highest sequence per domain
    /// (MariaDB), the union (MySQL). When the two cannot be combined, `other` wins: it is
    /// the newer news.
    pub(crate) fn merge(&mut self, other: Position) {
        match (&mut *self, other) {
            (Position::MariaDb(have), Position::MariaDb(new)) => {
                for (d, (s, n)) in new {
                    let e = have.entry(d).or_insert((s, n));
                    if n > e.1 {
                        *e = (s, n);
                    }
                }
            }
            (Position::MySql(have), Position::MySql(new)) => {
                *have = match (GtidSet::parse(have), GtidSet::parse(&new)) {
                    (Some(mut a), Some(b)) => {
                        a.union(b);
                        a.to_string()
                    }
                    _ => new,
                };
            }
            (me, other) => *me = other,
        }
    }
}

/// A parsed MySQL GTID set: per `(uuid, tag)` (the tag empty when untagged, MySQL 8.3+ has
/// tags), sorted, disjoint, non-adjacent closed intervals of transaction numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct GtidSet(BTreeMap<(String, String), Vec<(u64, u64)>>);

impl GtidSet {
    /// `uuid:1-5:7,uuid2:tag:1-3`; `None` for anything else. Strict on purpose: a set read
    /// wrongly could make a replica look as if it had a write it has not.
    fn parse(s: &str) -> Option<GtidSet> {
        let mut set = GtidSet::default();
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let mut tokens = part.split(':');
            let uuid = tokens.next()?.to_ascii_lowercase();
            let well_formed = uuid.len() == 36
                && uuid.char_indices().all(|(i, c)| match i {
                    8 | 13 | 18 | 23 => c == '-',
                    _ => c.is_ascii_hexdigit(),
                });
            if !well_formed {
                return None;
            }
            let mut tag = String::new();
            let mut any = false;
            for t in tokens {
                if t.starts_with(|c: char| c.is_ascii_digit()) {
                    let (a, b) = match t.split_once('-') {
                        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                        None => {
                            let n = t.parse().ok()?;
                            (n, n)
                        }
                    };
                    if a == 0 || b < a {
                        return None;
                    }
                    set.0
                        .entry((uuid.clone(), tag.clone()))
                        .or_default()
                        .push((a, b));
                    any = true;
                } else if t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && t.len() <= 32
                    && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    tag = t.to_ascii_lowercase();
                } else {
                    return None;
                }
            }
            if !any {
                return None;
            }
        }
        for ivs in set.0.values_mut() {
            normalize(ivs);
        }
        Some(set)
    }

    fn contains(&self, other: &GtidSet) -> bool {
        other.0.iter().all(|(k, want)| {
            let have = self.0.get(k).map_or(&[][..], Vec::as_slice);
            want.iter()
                .all(|&(a, b)| have.iter().any(|&(c, d)| c <= a && b <= d))
        })
    }

    /// How many transactions of `other` are not in `self`.
    fn missing(&self, other: &GtidSet) -> u64 {
        let mut n = 0u64;
        for (k, want) in &other.0 {
            let have = self.0.get(k).map_or(&[][..], Vec::as_slice);
            for &(a, b) in want {
                let covered: u64 = have
                    .iter()
                    .map(|&(c, d)| {
                        let (lo, hi) = (a.max(c), b.min(d));
                        if lo <= hi { hi - lo + 1 } else { 0 }
                    })
                    .sum();
                n = n.saturating_add((b - a + 1).saturating_sub(covered));
            }
        }
        n
    }

    fn union(&mut self, other: GtidSet) {
        for (k, ivs) in other.0 {
            let mine = self.0.entry(k).or_default();
            mine.extend(ivs);
            normalize(mine);
        }
    }
}

impl std::fmt::Display for GtidSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Grouped by uuid, untagged intervals first, as the server prints them.
        let mut first_uuid = true;
        let mut last_uuid: Option<&str> = None;
        for ((uuid, tag), ivs) in &self.0 {
            if last_uuid != Some(uuid) {
                if !first_uuid {
                    f.write_str(",")?;
                }
                f.write_str(uuid)?;
                first_uuid = false;
                last_uuid = Some(uuid);
            }
            if !tag.is_empty() {
                write!(f, ":{tag}")?;
            }
            for (a, b) in ivs {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
        }
        Ok(())
    }
}

/// Sorts and merges overlapping or adjacent intervals.
fn normalize(ivs: &mut Vec<(u64, u64)>) {
    ivs.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ivs.len());
    for &(a, b) in ivs.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *ivs = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Position {
        Position::mariadb(s).unwrap()
    }

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const U2: &str = "4f22ab58-82db-22f2-af44-d91bba53a673";

    fn y(s: &str) -> Position {
        Position::mysql(&s.replace("U1", U1).replace("U2", U2)).unwrap()
    }

    #[test]
    fn mariadb_positions_compare_domain_by_domain() {
        let have = m("0-1-10,1-2-5");
        assert!(have.covers(&m("0-1-10")));
        assert!(have.covers(&m("0-1-9,1-2-5")));
        // The server id does not matter within a domain: a promoted replica continues the
        // sequence (MASTER_GTID_WAIT compares sequence numbers only).
        assert!(have.covers(&m("0-3-7")));
        assert!(!have.covers(&m("0-1-11")), "behind in domain 0");
        assert!(!have.covers(&m("0-1-1,1-2-6")), "behind in domain 1");
        assert!(!have.covers(&m("2-1-1")), "a domain it has never seen");
        assert_eq!(have.behind(&m("0-1-12,1-2-5")), Some(2));
        assert_eq!(have.behind(&m("0-1-12,1-2-8,2-1-4")), Some(2 + 3 + 4));
        assert_eq!(have.behind(&m("0-1-3")), Some(0));
    }

    #[test]
    fn positions_keep_the_highest_sequence_per_domain() {
        let mut p = m("0-1-5");
        p.merge(m("0-1-3,1-2-9"));
        p.merge(m("0-3-6"));
        assert_eq!(p.text(), "0-3-6,1-2-9");
    }

    #[test]
    fn odd_gtids_are_ignored() {
        assert_eq!(Position::mariadb(""), None);
        assert_eq!(Position::mariadb("0-1"), None);
        assert_eq!(Position::mariadb("0-1-2-3"), None);
        assert_eq!(Position::mariadb("a-1-2"), None);
        assert_eq!(Position::mysql(" \n"), None);
    }

    #[test]
    fn dialects_never_cover_each_other() {
        assert!(!m("0-1-10").covers(&y("U1:1-5")));
        assert!(!y("U1:1-5").covers(&m("0-1-1")));
        assert_eq!(m("0-1-10").behind(&y("U1:1-5")), None);
    }

    #[test]
    fn mysql_sets_compare_by_containment() {
        let have = y("U1:1-10:12-20,\nU2:1-3");
        assert!(have.covers(&y("U1:1-10")));
        assert!(have.covers(&y("U1:5:13-15,U2:2")));
        assert!(!have.covers(&y("U1:11")), "the gap");
        assert!(!have.covers(&y("U1:1-21")));
        assert!(!have.covers(&y("U2:4")));
        assert_eq!(have.behind(&y("U1:8-14,U2:1-5")), Some(1 + 2));
        // Case does not matter in a uuid; adjacent intervals are one.
        assert!(y("U1:1-3:4-6").covers(&y(&format!("{}:1-6", U1.to_uppercase()))));
        // Tags (MySQL 8.3+) are sets of their own.
        let tagged = y("U1:1-5:web:1-3");
        assert!(tagged.covers(&y("U1:web:2")));
        assert!(!tagged.covers(&y("U1:batch:2")));
        assert!(!y("U1:1-5").covers(&y("U1:web:1")));
    }

    #[test]
    fn mysql_sets_that_do_not_parse_are_never_covered() {
        let have = y("U1:1-100");
        for odd in ["U1:0", "U1:5-3", "U1", "U1:x-1", "nonsense:1", "U1:1-2:"] {
            let odd = y(odd);
            assert!(!have.covers(&odd), "{odd:?}");
            assert!(!odd.covers(&have), "{odd:?}");
            assert_eq!(have.behind(&odd), None, "{odd:?}");
        }
    }

    #[test]
    fn mysql_sets_merge_as_a_union() {
        let mut p = y("U2:1-3,U1:5-9");
        p.merge(y("U1:1-4:12,U1:web:1"));
        assert_eq!(p.text(), format!("{U1}:1-9:12:web:1,{U2}:1-3"));
        assert!(p.covers(&y("U1:1-9:12,U2:2,U1:web:1")));
    }
}
