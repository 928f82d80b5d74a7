//! A primary's changes to the in-sync set of its shard, in the allocation record.
//!
//! Only the primary knows when a replica stopped getting its writes (a forward failed: it
//! must leave the in-sync set *before* the write is acknowledged, OpenSearch's "mark stale")
//! or has caught up (its recovery ended while every new write already reached it). Both are
//! etcd transactions that compare the record's modification revision, and succeed only
//! while the record still names this node as the shard's primary in the same term: a primary
//! that was replaced (its lease expired while it was cut off, a replica was promoted) can
//! change nothing, so it can acknowledge nothing either.

use etcd_client::{Compare, CompareOp, Txn, TxnOp};

use crate::allocation::IndexAllocation;
use crate::{Cluster, ClusterError};

/// How many times a change is retried when another change of the record won the race.
const ATTEMPTS: usize = 10;

impl Cluster {
    /// Removes `replica` from the in-sync set of shard `shard` of the index `uuid`, as its
    /// primary in term `term`.
    pub async fn mark_stale(&self, index: &str, uuid: &str, shard: u32, term: i64, replica: &str) -> Result<(), ClusterError> {
        self.change_copies(index, uuid, shard, term, |record| {
            record.in_sync[shard as usize].retain(|n| n != replica);
        })
        .await
    }

    /// Adds `replica` (one of the shard's replica slots) to the in-sync set of shard `shard`,
    /// as its primary in term `term`.
    pub async fn mark_in_sync(&self, index: &str, uuid: &str, shard: u32, term: i64, replica: &str) -> Result<(), ClusterError> {
        self.change_copies(index, uuid, shard, term, |record| {
            let slot = record.replicas[shard as usize].iter().any(|n| n == replica);
            let set = &mut record.in_sync[shard as usize];
            if slot && !set.iter().any(|n| n == replica) {
                set.push(replica.to_string());
            }
        })
        .await
    }

    async fn change_copies(
        &self,
        index: &str,
        uuid: &str,
        shard: u32,
        term: i64,
        change: impl Fn(&mut IndexAllocation),
    ) -> Result<(), ClusterError> {
        let key = self.keys().allocation(index);
        let me = self.local().name.clone();
        for _ in 0..ATTEMPTS {
            let mut client = self.client();
            let resp = self.etcd_call("read shard allocation", client.get(key.clone(), None)).await?;
            let Some(kv) = resp.kvs().first() else {
                return Err(self.not_primary(index, shard, term, None));
            };
            let mut record: IndexAllocation =
                serde_json::from_slice(kv.value()).map_err(|e| ClusterError::MalformedState { key: key.clone(), reason: e.to_string() })?;
            if record.uuid != uuid || record.node_of(shard) != Some(me.as_str()) || record.term_of(shard) != term {
                return Err(self.not_primary(index, shard, term, Some(&record)));
            }
            record.resize(record.shards.len());
            let before = record.clone();
            change(&mut record);
            if record == before {
                return Ok(());
            }
            let txn = Txn::new()
                .when([Compare::mod_revision(key.clone(), CompareOp::Equal, kv.mod_revision())])
                .and_then([TxnOp::put(key.clone(), serde_json::to_vec(&record).expect("IndexAllocation serializes"), None)]);
            if self.etcd_call("change a shard's in-sync copies", client.txn(txn)).await?.succeeded() {
                return Ok(());
            }
        }
        Err(ClusterError::Etcd { operation: "change a shard's in-sync copies", reason: "too many concurrent changes of the record".into() })
    }

    fn not_primary(&self, index: &str, shard: u32, term: i64, record: Option<&IndexAllocation>) -> ClusterError {
        ClusterError::NotPrimary {
            index: index.to_string(),
            shard,
            term,
            holder: record.and_then(|r| r.node_of(shard)).unwrap_or("no node").to_string(),
            current_term: record.map_or(0, |r| r.term_of(shard)),
        }
    }
}
