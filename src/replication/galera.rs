//! Galera node states: which nodes serve, and which one takes the writes.
//!
//! Every node of a Galera cluster accepts TCP connections and pings, whatever its state. A
//! node that lost quorum (non-Primary), one still joining, or one that is not yet prepared
//! answers table access with error 1047 ("WSREP has not yet prepared node for application
//! use"), and a donor busy sending a state snapshot, or a node desynced by an operator
//! (`wsrep_desync=ON`), falls behind the cluster and may serve stale data. So the monitor
//! (`monitor.rs`) asks each node, in one statement, for the variables ProxySQL's
//! `mysql_galera_hostgroups` and MaxScale's `galeramon` watch:
//!
//! | variable | used as |
//! |---|---|
//! | `wsrep_ready` | `ON`: the node takes application statements |
//! | `wsrep_cluster_status` | `Primary`: the node is in the component that has quorum |
//! | `wsrep_local_state` | 4 Synced; 2 Donor/Desynced; 1 Joining, 3 Joined |
//! | `wsrep_desync` | set by an operator: the node may fall behind |
//! | `wsrep_cluster_size`, `wsrep_cluster_conf_id`, `wsrep_local_index` | the view the node is in, and its place in it |
//! | `read_only` | the node takes no writes, whatever its state |
//! | `wsrep_incoming_addresses` | the component's members, for `discover_hosts` (`discover.rs`) |
//!
//! From the answers ([`assign`]):
//! - **In rotation**: ready, Primary, Synced and not desynced.
//! - **Last resort**: donors and desynced nodes (ready and Primary, local state 2, or 4 with
//!   `wsrep_desync`): used only when no node is in rotation.
//! - **Out**: everything else, and nodes that do not answer. A killed node is left at once by
//!   the blacklist; the monitor takes it out of the lists at its next round, and puts it back
//!   once it answers Synced again (it then slow-starts, as any host added to a pool does).
//! - When no node is usable at all (the whole cluster lost quorum), the lists stay as they
//!   were: every statement meets 1047, which blacklists the node, and callers get an error
//!   at once rather than a wait.
//!
//! **Writes.** With `galera_writers=single` (the default) one node takes every write, which
//! avoids certification conflicts between nodes (what ProxySQL's `max_writers=1` and
//! MaxScale's single master do). Every process must pick the same node without talking to
//! the others, so the choice is a function of what the cluster says, not of the URL's order
//! or of who answered first: the usable node with the lowest `wsrep_local_index` in the
//! newest view (`wsrep_cluster_conf_id`), as MaxScale's `galeramon` picks its master; ties
//! (two views at once, mid-change) are broken by address. The writer pool gets every usable
//! node in that order under the `sequential` strategy, so when the writer fails the
//! blacklist moves writes to the next node at once, the same next node in every process,
//! without waiting for the monitor. The index follows the membership, so a node joining can
//! move the writer; every process sees the same move. With `galera_writers=all` every node in
//! rotation takes writes under the URL's strategy, and conflicting writes on two nodes fail
//! at `COMMIT` with [`crate::Error::TransactionRolledBack`].
//!
//! **Reads** go to every node in rotation, the writer included, under the URL's strategy.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::opts::{GaleraWriters, HostSpec, Role};

/// One statement for the whole state: status variables and two system variables, as
/// name/value rows. `SELECT`s without tables work on a node without quorum, so this reads
/// the state of a node that refuses every table.
pub(crate) const STATE_QUERY: &str = "SELECT VARIABLE_NAME, VARIABLE_VALUE \
     FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN \
     ('WSREP_READY', 'WSREP_CLUSTER_STATUS', 'WSREP_LOCAL_STATE', 'WSREP_LOCAL_STATE_COMMENT', \
     'WSREP_CLUSTER_SIZE', 'WSREP_CLUSTER_CONF_ID', 'WSREP_LOCAL_INDEX', \
     'WSREP_INCOMING_ADDRESSES') \
     UNION ALL SELECT 'WSREP_DESYNC', @@global.wsrep_desync \
     UNION ALL SELECT 'READ_ONLY', @@global.read_only";

/// `wsrep_local_state` of a node that is in sync with its cluster.
const SYNCED: u8 = 4;
/// `wsrep_local_state` of a donor or a desynced node.
const DONOR_DESYNCED: u8 = 2;

/// What one check of a Galera node found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeState {
    /// `wsrep_ready`.
    pub ready: bool,
    /// `wsrep_cluster_status` is `Primary`.
    pub primary: bool,
    /// `wsrep_local_state` (0 when not said).
    pub local_state: u8,
    /// `wsrep_local_state_comment`, e.g. `Synced`, `Donor/Desynced`, `Joining`.
    pub comment: String,
    /// `wsrep_cluster_size`.
    pub cluster_size: u32,
    /// `wsrep_cluster_conf_id`: the view's number (`None` outside a Primary component).
    pub conf_id: Option<u64>,
    /// `wsrep_local_index`: the node's place in the view.
    pub local_index: Option<u32>,
    /// `@@global.wsrep_desync`.
    pub desync: bool,
    /// `@@global.read_only`.
    pub read_only: bool,
    /// `wsrep_incoming_addresses`: the members of the node's component, as they report
    /// themselves (for `discover_hosts`).
    pub incoming: String,
}

/// How a node may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Standing {
    /// Synced in a Primary component.
    InRotation,
    /// A donor or a desynced node: used only when no node is in rotation.
    LastResort,
    /// Not used.
    Out,
}

impl NodeState {
    /// Reads the rows of [`STATE_QUERY`]. A server without Galera has no `wsrep_desync` and
    /// fails the statement; one with Galera off answers `wsrep_ready` OFF.
    pub(crate) async fn read(conn: &mut Conn) -> Result<NodeState, mysql_async::Error> {
        let rows: Vec<(String, Option<String>)> = conn.query(STATE_QUERY).await?;
        Ok(NodeState::from_rows(rows))
    }

    fn from_rows(rows: Vec<(String, Option<String>)>) -> NodeState {
        let mut s = NodeState::default();
        for (name, value) in rows {
            let value = value.unwrap_or_default();
            let on = matches!(value.trim().to_ascii_uppercase().as_str(), "ON" | "1");
            match name.to_ascii_uppercase().as_str() {
                "WSREP_READY" => s.ready = on,
                "WSREP_CLUSTER_STATUS" => s.primary = value.trim() == "Primary",
                "WSREP_LOCAL_STATE" => s.local_state = value.trim().parse().unwrap_or(0),
                "WSREP_LOCAL_STATE_COMMENT" => s.comment = value.trim().to_owned(),
                "WSREP_CLUSTER_SIZE" => s.cluster_size = value.trim().parse().unwrap_or(0),
                // Outside a Primary component the view number reads as 2^64 - 1.
                "WSREP_CLUSTER_CONF_ID" => {
                    s.conf_id = value.trim().parse().ok().filter(|&n| n != u64::MAX)
                }
                "WSREP_LOCAL_INDEX" => s.local_index = value.trim().parse().ok(),
                "WSREP_INCOMING_ADDRESSES" => s.incoming = value.trim().to_owned(),
                "WSREP_DESYNC" => s.desync = on,
                "READ_ONLY" => s.read_only = on,
                _ => {}
            }
        }
        s
    }

    /// How the node may be used; see the module docs.
    pub(crate) fn standing(&self) -> Standing {
        if !self.ready || !self.primary {
            return Standing::Out;
        }
        match self.local_state {
            SYNCED if !self.desync => Standing::InRotation,
            SYNCED | DONOR_DESYNCED => Standing::LastResort,
            _ => Standing::Out,
        }
    }

    /// A short account of the state, for stats and events: `Synced`, `non-Primary`,
    /// `Donor/Desynced`, `Joining`, `not ready`.
    pub(crate) fn describe(&self) -> String {
        if !self.primary {
            return "non-Primary".to_owned();
        }
        if !self.ready {
            return "not ready".to_owned();
        }
        let state = if self.comment.is_empty() {
            format!("local state {}", self.local_state)
        } else {
            self.comment.clone()
        };
        if self.desync && !state.contains("Desynced") {
            format!("{state}, desynced")
        } else {
            state
        }
    }
}

/// A node as the monitor knows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'a> {
    /// The host.
    pub spec: &'a HostSpec,
    /// What its last check found; `None` when it did not answer that check.
    pub state: Option<&'a NodeState>,
}

impl Node<'_> {
    /// How it may be used: out when it did not answer.
    pub(crate) fn standing(&self) -> Standing {
        self.state.map_or(Standing::Out, NodeState::standing)
    }

    /// Why it is out of rotation, for stats and events; `None` when it is in rotation.
    pub(crate) fn why_out(&self) -> Option<String> {
        match (self.standing(), self.state) {
            (Standing::InRotation, _) => None,
            (_, None) => Some("not answering".to_owned()),
            (_, Some(s)) => Some(s.describe()),
        }
    }

    /// The state it reports for the metric: 0 outside a Primary component or not answering.
    pub(crate) fn local_state(&self) -> u8 {
        self.state
            .filter(|s| s.primary)
            .map_or(0, |s| s.local_state)
    }
}

/// The writers and readers the module docs describe, from what is known; the lists as they
/// are (`writers_now`, `readers_now`) when no node is usable.
pub(crate) fn assign(
    nodes: &[Node<'_>],
    writers: GaleraWriters,
    writers_now: &[HostSpec],
    readers_now: &[HostSpec],
) -> (Vec<HostSpec>, Vec<HostSpec>) {
    let newest = nodes
        .iter()
        .filter(|n| n.standing() != Standing::Out)
        .filter_map(|n| n.state?.conf_id)
        .max();
    // Usable nodes, best first: in rotation before last resort, the newest view first, then
    // by place in the view, then by address.
    let mut usable: Vec<(&Node<'_>, Standing)> = nodes
        .iter()
        .map(|n| (n, n.standing()))
        .filter(|(_, s)| *s != Standing::Out)
        .collect();
    usable.sort_by_key(|(n, s)| {
        (
            *s,
            n.state.and_then(|g| g.conf_id) != newest,
            n.state.and_then(|g| g.local_index).unwrap_or(u32::MAX),
            n.spec.addr.clone(),
        )
    });
    let Some(&(_, best)) = usable.first() else {
        return (writers_now.to_vec(), readers_now.to_vec());
    };
    let spec = |n: &Node<'_>, role: Role| HostSpec {
        addr: n.spec.addr.clone(),
        role,
    };
    let readers: Vec<HostSpec> = usable
        .iter()
        .filter(|(_, s)| *s == best)
        .map(|(n, _)| spec(n, Role::Any))
        .collect();
    let open: Vec<&(&Node<'_>, Standing)> = usable
        .iter()
        .filter(|(n, _)| !n.state.is_some_and(|g| g.read_only))
        .collect();
    let writers: Vec<HostSpec> = match writers {
        // In order, the last resorts last: `sequential` writes to the first one open.
        GaleraWriters::Single => open
            .iter()
            .enumerate()
            .map(|(i, (n, _))| spec(n, if i == 0 { Role::Source } else { Role::Any }))
            .collect(),
        GaleraWriters::All => {
            let best = open.first().map(|(_, s)| *s);
            open.iter()
                .filter(|(_, s)| Some(*s) == best)
                .map(|(n, _)| spec(n, Role::Source))
                .collect()
        }
    };
    let writers = if writers.is_empty() {
        writers_now.to_vec()
    } else {
        writers
    };
    (writers, readers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opts::HostAddr;

    fn synced(index: u32) -> NodeState {
        NodeState {
            ready: true,
            primary: true,
            local_state: SYNCED,
            comment: "Synced".into(),
            cluster_size: 3,
            conf_id: Some(7),
            local_index: Some(index),
            desync: false,
            read_only: false,
            incoming: String::new(),
        }
    }

    /// Hosts `h:port` with the given states, and their nodes.
    struct Cluster(Vec<(HostSpec, Option<NodeState>)>);

    impl Cluster {
        fn new(nodes: Vec<(u16, Option<NodeState>)>) -> Cluster {
            Cluster(
                nodes
                    .into_iter()
                    .map(|(port, s)| {
                        let spec = HostSpec {
                            addr: HostAddr::new("h", port),
                            role: Role::Any,
                        };
                        (spec, s)
                    })
                    .collect(),
            )
        }

        fn nodes(&self) -> Vec<Node<'_>> {
            self.0
                .iter()
                .map(|(spec, state)| Node {
                    spec,
                    state: state.as_ref(),
                })
                .collect()
        }

        fn assign(&self, w: GaleraWriters, now: &[HostSpec]) -> (Vec<HostSpec>, Vec<HostSpec>) {
            assign(&self.nodes(), w, now, now)
        }
    }

    fn ports(v: &[HostSpec]) -> Vec<u16> {
        v.iter().map(|h| h.addr.port()).collect()
    }

    #[test]
    fn rows_are_read_whatever_the_case_and_the_view_number_outside_a_primary_is_none() {
        let rows = vec![
            ("wsrep_ready".to_owned(), Some("ON".to_owned())),
            (
                "WSREP_CLUSTER_STATUS".to_owned(),
                Some("non-Primary".to_owned()),
            ),
            ("WSREP_LOCAL_STATE".to_owned(), Some("0".to_owned())),
            (
                "WSREP_CLUSTER_CONF_ID".to_owned(),
                Some(u64::MAX.to_string()),
            ),
            ("WSREP_LOCAL_INDEX".to_owned(), Some("2".to_owned())),
            ("WSREP_DESYNC".to_owned(), Some("1".to_owned())),
            ("READ_ONLY".to_owned(), Some("0".to_owned())),
        ];
        let s = NodeState::from_rows(rows);
        assert!(s.ready && !s.primary && s.desync && !s.read_only);
        assert_eq!((s.conf_id, s.local_index), (None, Some(2)));
        assert_eq!(s.standing(), Standing::Out);
        assert_eq!(s.describe(), "non-Primary");
    }

    #[test]
    fn standings() {
        assert_eq!(synced(0).standing(), Standing::InRotation);
        let donor = NodeState {
            local_state: DONOR_DESYNCED,
            comment: "Donor/Desynced".into(),
            ..synced(0)
        };
        assert_eq!(donor.standing(), Standing::LastResort);
        let desynced = NodeState {
            desync: true,
            ..synced(0)
        };
        assert_eq!(desynced.standing(), Standing::LastResort);
        assert_eq!(desynced.describe(), "Synced, desynced");
        for s in [
            NodeState {
                ready: false,
                ..synced(0)
            },
            NodeState {
                primary: false,
                ..synced(0)
            },
            NodeState {
                local_state: 1,
                comment: "Joining".into(),
                ..synced(0)
            },
            NodeState::default(),
        ] {
            assert_eq!(s.standing(), Standing::Out, "{s:?}");
        }
    }

    #[test]
    fn a_single_writer_is_the_lowest_index_whatever_the_url_order() {
        let c = Cluster::new(vec![
            (1, Some(synced(2))),
            (2, Some(synced(0))),
            (3, Some(synced(1))),
        ]);
        let (w, r) = c.assign(GaleraWriters::Single, &[]);
        assert_eq!(ports(&w), [2, 3, 1]);
        assert_eq!(w[0].role, Role::Source);
        assert_eq!(ports(&r), [2, 3, 1]);
        let reversed = Cluster(c.0.iter().rev().cloned().collect());
        let (w2, _) = reversed.assign(GaleraWriters::Single, &[]);
        assert_eq!(ports(&w2), [2, 3, 1], "every process agrees");
    }

    #[test]
    fn nodes_out_of_rotation_are_left_out_and_last_resorts_come_last() {
        let isolated = NodeState {
            primary: false,
            ready: false,
            conf_id: None,
            ..synced(0)
        };
        let donor = NodeState {
            local_state: DONOR_DESYNCED,
            comment: "Donor/Desynced".into(),
            ..synced(1)
        };
        let c = Cluster::new(vec![
            (1, Some(isolated)),
            (2, Some(donor.clone())),
            (3, Some(synced(2))),
            (4, None),
        ]);
        let (w, r) = c.assign(GaleraWriters::Single, &[]);
        assert_eq!(ports(&w), [3, 2], "the donor only after the synced node");
        assert_eq!(ports(&r), [3], "no reads on the donor while one is synced");
        let (w, _) = c.assign(GaleraWriters::All, &[]);
        assert_eq!(ports(&w), [3]);
        let why: Vec<Option<String>> = c.nodes().iter().map(Node::why_out).collect();
        let said = |s: &str| Some(s.to_owned());
        assert_eq!(
            why,
            [
                said("non-Primary"),
                said("Donor/Desynced"),
                None,
                said("not answering")
            ]
        );
        let states: Vec<u8> = c.nodes().iter().map(Node::local_state).collect();
        assert_eq!(states, [0, 2, 4, 0]);
        // Only the donor left: it serves.
        let c = Cluster::new(vec![(1, None), (2, Some(donor))]);
        let (w, r) = c.assign(GaleraWriters::All, &[]);
        assert_eq!((ports(&w), ports(&r)), (vec![2], vec![2]));
    }

    #[test]
    fn with_no_usable_node_the_lists_stay() {
        let c = Cluster::new(vec![(1, None), (2, Some(NodeState::default()))]);
        let now = vec![HostSpec {
            addr: HostAddr::new("h", 1),
            role: Role::Source,
        }];
        let (w, r) = c.assign(GaleraWriters::Single, &now);
        assert_eq!((ports(&w), ports(&r)), (vec![1], vec![1]));
    }

    #[test]
    fn the_newest_view_wins_and_read_only_nodes_only_read() {
        let old_view = NodeState {
            conf_id: Some(6),
            ..synced(0)
        };
        let ro = NodeState {
            read_only: true,
            ..synced(0)
        };
        let c = Cluster::new(vec![
            (1, Some(old_view)),
            (2, Some(ro)),
            (3, Some(synced(1))),
        ]);
        let (w, r) = c.assign(GaleraWriters::Single, &[]);
        assert_eq!(ports(&w), [3, 1]);
        assert_eq!(ports(&r), [2, 3, 1]);
    }
}
