//! The layout of a cluster's state in etcd: every key lives under `/quidditch/<cluster>/`.
//!
//! | key | value | lifetime |
//! |---|---|---|
//! | `nodes/<node name>` | [`crate::NodeInfo`] as JSON | the node's lease |
//! | `election/manager/<lease id>` | node name (etcd election API) | the node's lease |
//! | `udfs/versions/<name>/<version>` | [`crate::udfs::ReplicatedUdf`] as JSON | until deleted |
//! | `udfs/blobs/<sha256>/<n>` | chunk `n` (zero-padded) of a binary, ≤ 1 MiB | until no version uses it |
//! | `udfs/revision` | rewritten by every registry change: its modification revision is the registry's revision | permanent |
//! | `metadata/indices/<name>` | [`crate::indices::ReplicatedIndex`] as JSON | until the index is deleted |
//! | `metadata/deleted/<uuid>` | the deleted index's name (a tombstone for nodes that were down) | permanent |
//! | `metadata/revision` | rewritten by every index metadata change: its modification revision is the metadata revision | permanent |
//! | `allocation/<index>` | [`crate::IndexAllocation`] as JSON (uuid, node per shard), written by the manager | until the index is deleted |
//!
//! Several clusters can share one etcd: they differ by `<cluster>`.

/// Key builder for one cluster.
#[derive(Debug, Clone)]
pub struct Keys {
    root: String,
}

impl Keys {
    pub fn new(cluster_name: &str) -> Self {
        Keys { root: format!("/quidditch/{cluster_name}/") }
    }

    /// Everything this cluster keeps in etcd (what the state watch follows).
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Prefix of the live nodes' registrations.
    pub fn nodes(&self) -> String {
        format!("{}nodes/", self.root)
    }

    pub fn node(&self, name: &str) -> String {
        format!("{}nodes/{name}", self.root)
    }

    /// Everything of the replicated UDF registry.
    pub fn udfs(&self) -> String {
        format!("{}udfs/", self.root)
    }

    pub fn udf_versions(&self) -> String {
        format!("{}udfs/versions/", self.root)
    }

    pub fn udf_version(&self, name: &str, version: &str) -> String {
        format!("{}udfs/versions/{name}/{version}", self.root)
    }

    /// Prefix of one binary's chunks.
    pub fn udf_chunks(&self, sha256: &str) -> String {
        format!("{}udfs/blobs/{sha256}/", self.root)
    }

    /// Zero-padded so the keys sort in chunk order.
    pub fn udf_chunk(&self, sha256: &str, n: u32) -> String {
        format!("{}udfs/blobs/{sha256}/{n:06}", self.root)
    }

    pub fn udf_revision(&self) -> String {
        format!("{}udfs/revision", self.root)
    }

    /// Everything of the index metadata (what the metadata watch follows).
    pub fn metadata(&self) -> String {
        format!("{}metadata/", self.root)
    }

    pub fn indices(&self) -> String {
        format!("{}metadata/indices/", self.root)
    }

    pub fn index(&self, name: &str) -> String {
        format!("{}metadata/indices/{name}", self.root)
    }

    pub fn deleted_indices(&self) -> String {
        format!("{}metadata/deleted/", self.root)
    }

    pub fn deleted_index(&self, uuid: &str) -> String {
        format!("{}metadata/deleted/{uuid}", self.root)
    }

    pub fn metadata_revision(&self) -> String {
        format!("{}metadata/revision", self.root)
    }

    /// Prefix of the shard allocation records.
    pub fn allocations(&self) -> String {
        format!("{}allocation/", self.root)
    }

    pub fn allocation(&self, index: &str) -> String {
        format!("{}allocation/{index}", self.root)
    }

    /// The election name for the cluster manager (etcd appends `/<lease id>` per candidate).
    pub fn manager_election(&self) -> String {
        format!("{}election/manager", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_by_cluster() {
        let a = Keys::new("a");
        assert_eq!(a.node("n1"), "/quidditch/a/nodes/n1");
        assert!(a.node("n1").starts_with(&a.nodes()));
        assert!(a.manager_election().starts_with(a.root()));
        assert!(!Keys::new("ab").node("n1").starts_with(a.root()));
        assert!(a.udf_version("f", "1.0.0").starts_with(&a.udf_versions()));
        assert!(a.udf_chunk("abc", 2) < a.udf_chunk("abc", 10));
        assert!(a.udf_chunk("abc", 0).starts_with(&a.udf_chunks("abc")));
        assert!(a.udf_revision().starts_with(&a.udfs()));
        assert!(a.index("i").starts_with(&a.indices()) && a.indices().starts_with(&a.metadata()));
        assert!(a.deleted_index("u").starts_with(&a.metadata()) && a.metadata_revision().starts_with(&a.metadata()));
        assert!(!a.metadata_revision().starts_with(&a.indices()));
        assert!(a.allocation("i").starts_with(&a.allocations()) && !a.allocations().starts_with(&a.metadata()));
    }
}
