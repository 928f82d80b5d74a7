//! The request barrier: a request that runs or shows UDFs, or reads or writes indices, first
//! waits (bounded) until this node has applied every change committed in etcd so far to its
//! UDF registry, its index metadata and its shard allocation records, so that what was
//! answered through one node is seen the same way through any other right after.
//!
//! The three revisions are read in one etcd transaction. A node-to-node call (a shard's query
//! or fetch phase, a forwarded write) carries the revisions its coordinating node waited for
//! in [`REVISIONS_HEADER`]: the node serving it waits for the same ones without asking etcd
//! again, so a search costs one etcd round trip however many nodes it reaches.

use std::future::Future;
use std::time::Duration;

use etcd_client::{GetOptions, SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse};
use tracing::warn;

use crate::{Cluster, ClusterError};

/// The revisions a coordinating node waited for, on its node-to-node calls.
pub const REVISIONS_HEADER: &str = "x-quidditch-revisions";

/// How long a node that lost etcd waits, per request, to learn whether etcd is back.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// What had been committed in etcd when a request started: the modification revisions of the
/// UDF registry's and the index metadata's revision keys, and the latest shard allocation
/// record's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revisions {
    pub udfs: i64,
    pub indices: i64,
    pub allocations: i64,
}

tokio::task_local! {
    static CURRENT: Revisions;
}

impl Revisions {
    /// The [`REVISIONS_HEADER`] value.
    pub fn header_value(&self) -> String {
        format!("{},{},{}", self.udfs, self.indices, self.allocations)
    }

    pub fn parse(value: &str) -> Option<Revisions> {
        let mut parts = value.split(',').map(|p| p.trim().parse::<i64>().ok());
        let revisions = Revisions { udfs: parts.next()??, indices: parts.next()??, allocations: parts.next()?? };
        parts.next().is_none().then_some(revisions)
    }

    /// The revisions the request running on this task waited for (see [`Revisions::scope`]).
    pub fn current() -> Option<Revisions> {
        CURRENT.try_with(|r| *r).ok()
    }

    /// Runs `request` with these as its [`Revisions::current`] (so its calls to other nodes
    /// carry them).
    pub async fn scope<F: Future>(self, request: F) -> F::Output {
        CURRENT.scope(self, request).await
    }
}

/// Which of this node's replicas a request needs current.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// The UDF registry.
    pub udfs: bool,
    /// The index metadata and the shard allocation.
    pub indices: bool,
}

impl Cluster {
    /// The revisions committed in etcd so far, in one transaction. `None` when etcd cannot be
    /// asked: the node then answers from what it has. A node that lost etcd still asks (for
    /// at most [`PROBE_TIMEOUT`]): etcd may be back before the node's lease renewal notices,
    /// and a change committed meanwhile through another node must be seen here.
    pub async fn committed_revisions(&self) -> Option<Revisions> {
        let keys = self.keys();
        let latest = GetOptions::new().with_prefix().with_keys_only().with_sort(SortTarget::Mod, SortOrder::Descend).with_limit(1);
        let txn = Txn::new().and_then([
            TxnOp::get(keys.udf_revision(), None),
            TxnOp::get(keys.metadata_revision(), None),
            TxnOp::get(keys.allocations(), Some(latest)),
        ]);
        let mut client = self.client();
        let resp = if self.view().etcd_reachable {
            match self.etcd_call("read the replication revisions", client.txn(txn)).await {
                Ok(resp) => resp,
                // etcd just went away: answer from what this node has.
                Err(e) => {
                    warn!(error = %e, "cannot read the replication revisions; using this node's copies as they are");
                    return None;
                }
            }
        } else {
            tokio::time::timeout(PROBE_TIMEOUT, client.txn(txn)).await.ok()?.ok()?
        };
        let mut revisions = resp.op_responses().into_iter().map(|op| match op {
            TxnOpResponse::Get(get) => get.kvs().first().map_or(0, |kv| kv.mod_revision()),
            _ => 0,
        });
        Some(Revisions { udfs: revisions.next()?, indices: revisions.next()?, allocations: revisions.next()? })
    }

    /// Waits, at most `timeout` in all, until this node has applied `wanted` (the parts
    /// `needs` names). A node still behind then fails the request rather than answering with
    /// an older registry or metadata.
    pub async fn wait_for_applied(&self, wanted: Revisions, needs: Needs, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let node = || self.local().name.clone();
        if needs.udfs
            && let Some((applied, wanted)) = reach(&self.udf_applied, wanted.udfs, deadline).await
        {
            return Err(ClusterError::UdfRegistryBehind { node: node(), applied, wanted });
        }
        if needs.indices {
            for (follower, wanted) in [(&self.indices_applied, wanted.indices), (&self.allocations_applied, wanted.allocations)] {
                if let Some((applied, wanted)) = reach(follower, wanted, deadline).await {
                    return Err(ClusterError::MetadataBehind { node: node(), applied, wanted });
                }
            }
        }
        Ok(())
    }

    /// [`Cluster::committed_revisions`], then [`Cluster::wait_for_applied`].
    pub async fn wait_for_committed(&self, needs: Needs, timeout: Duration) -> Result<(), ClusterError> {
        match self.committed_revisions().await {
            Some(wanted) => self.wait_for_applied(wanted, needs, timeout).await,
            None => Ok(()),
        }
    }
}

/// Waits until `applied` reaches `wanted` or the deadline passes; `Some((applied, wanted))`
/// when it did not.
async fn reach(applied: &tokio::sync::watch::Sender<i64>, wanted: i64, deadline: tokio::time::Instant) -> Option<(i64, i64)> {
    let mut seen = applied.subscribe();
    match tokio::time::timeout_at(deadline, seen.wait_for(|a| *a >= wanted)).await {
        Ok(Ok(_)) => None,
        _ => Some((*applied.borrow(), wanted)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_round_trips_and_rejects_anything_else() {
        let r = Revisions { udfs: 7, indices: 12, allocations: 0 };
        assert_eq!(Revisions::parse(&r.header_value()), Some(r));
        for bad in ["", "1,2", "1,2,3,4", "a,b,c", "1,,3"] {
            assert_eq!(Revisions::parse(bad), None, "{bad}");
        }
    }
}
