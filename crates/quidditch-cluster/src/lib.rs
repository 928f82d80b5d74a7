//! Cluster mode on etcd.
//!
//! A Quidditch cluster is a set of `quidditch serve --etcd …` processes sharing one etcd.
//! etcd holds the cluster state and decides everything that needs agreement; Quidditch adds
//! no consensus of its own. Data (indices, compiled UDF artifacts) stays on the nodes.
//!
//! This crate owns the conversation with etcd:
//! - [`Cluster::join`] connects (failing fast, naming the endpoint, when etcd is unreachable),
//!   registers this node under a lease ([`membership`]: the key disappears ≈ [`LEASE_TTL_SECS`]
//!   after the process stops renewing it) and campaigns for cluster manager through etcd's
//!   election API, so at most one node is manager at a time;
//! - a watch keeps a local [`ClusterView`] (nodes, manager, whether etcd answers) that the HTTP
//!   layer reads without a round trip;
//! - [`udfs`] replicates the UDF registry (metadata and binaries in etcd, applied by every
//!   node's own registry);
//! - [`indices`] replicates index metadata (create, delete, mapping changes), applied by
//!   every node's own engine;
//! - [`allocation`] places the shards on the nodes (decided by the elected manager, followed
//!   by every node);
//! - [`replicas`]: a primary's changes to its shard's in-sync set;
//! - [`peer::PeerClient`] calls the other nodes' HTTP APIs (fan-out of `_nodes/stats`);
//! - [`keys::Keys`] is the one place the layout of the state in etcd is spelled out.
//!
//! Without `--etcd` none of this runs: the server is today's embedded single node.

pub mod allocation;
pub mod barrier;
pub mod error;
pub mod indices;
pub mod keys;
pub mod membership;
pub mod node;
pub mod peer;
pub mod replicas;
pub mod udfs;
pub mod view;

pub use allocation::IndexAllocation;
pub use barrier::{Needs, REVISIONS_HEADER, Revisions};
pub use error::ClusterError;
pub use indices::{LocalIndices, ReplicatedIndex};
pub use membership::{Cluster, ClusterConfig, LEASE_TTL_SECS};
pub use node::NodeInfo;
pub use peer::{FORWARDED_HEADER, PeerClient, PeerResponse, SECRET_HEADER};
pub use udfs::{LocalUdfs, ReplicatedUdf};
pub use view::ClusterView;
