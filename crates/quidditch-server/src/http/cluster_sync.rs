//! Cluster mode: requests that run or show UDFs first wait until this node has applied every
//! UDF registry change committed in etcd (bounded), so a UDF registered or deleted through
//! any node is seen the same way through this one; requests that read or write indices wait
//! likewise for the index metadata (an index created through any node exists here) and the
//! shard allocation (`quidditch_cluster::barrier`: one etcd transaction per request; calls
//! from other nodes carry the revisions their coordinator waited for).

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use quidditch_cluster::{FORWARDED_HEADER, Needs, REVISIONS_HEADER, Revisions};

use super::{ApiError, AppState};

/// How long a request waits for this node's registry to catch up before a 503.
const REGISTRY_WAIT: Duration = Duration::from_secs(10);

pub async fn udf_registry_barrier(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let Some(cluster) = &state.node.cluster else { return next.run(req).await };
    let needs = Needs { udfs: reads_udfs(req.method(), req.uri().path()), indices: uses_indices(req.uri().path()) };
    if !needs.udfs && !needs.indices {
        return next.run(req).await;
    }
    // A call from another node (its secret checked by an outer layer) carries what its
    // coordinating node waited for: wait for the same, without asking etcd again.
    let carried = req
        .headers()
        .contains_key(FORWARDED_HEADER)
        .then(|| req.headers().get(REVISIONS_HEADER).and_then(|v| v.to_str().ok()).and_then(Revisions::parse))
        .flatten();
    let wanted = match carried {
        Some(revisions) => Some(revisions),
        None => cluster.committed_revisions().await,
    };
    // etcd out of reach: the node answers from what it has.
    let Some(wanted) = wanted else { return next.run(req).await };
    if let Err(e) = cluster.wait_for_applied(wanted, needs, REGISTRY_WAIT).await {
        return ApiError::from(e).into_response();
    }
    wanted.scope(next.run(req)).await
}

/// Everything but the node and membership APIs, the UDF API and the root.
fn uses_indices(path: &str) -> bool {
    const NODE_LOCAL: &[&str] = &["/_nodes", "/_cat/nodes", "/api/", "/_runtime"];
    path != "/" && !NODE_LOCAL.iter().any(|p| path.starts_with(p))
}

/// Searches (any of them may call a UDF), scripts, and every UDF API call but a new upload
/// (a delete through this node must see a version registered through another one).
fn reads_udfs(method: &Method, path: &str) -> bool {
    // `/_quidditch/shards`: a shard's query phase run here for a search coordinated elsewhere.
    const SEARCHING: &[&str] =
        &["/_search", "/_msearch", "/_count", "/_explain", "_by_query", "/_scripts", "/_update", "/_quidditch/shards"];
    SEARCHING.iter().any(|p| path.contains(p))
        || (path.starts_with("/api/v1/udfs") && !(method == Method::POST && path.trim_end_matches('/') == "/api/v1/udfs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_requests_wait_for_the_registry() {
        assert!(reads_udfs(&Method::POST, "/items/_search"));
        assert!(reads_udfs(&Method::GET, "/_msearch"));
        assert!(reads_udfs(&Method::GET, "/api/v1/udfs/f"));
        assert!(reads_udfs(&Method::POST, "/api/v1/udfs/f/test"));
        assert!(reads_udfs(&Method::DELETE, "/api/v1/udfs/f/1.0.0"));
        assert!(!reads_udfs(&Method::POST, "/api/v1/udfs"));
        assert!(!reads_udfs(&Method::PUT, "/items/_doc/1"));
        assert!(!reads_udfs(&Method::GET, "/_cluster/health"));
    }

    #[test]
    fn which_requests_wait_for_the_index_metadata() {
        assert!(uses_indices("/items/_search"));
        assert!(uses_indices("/items"));
        assert!(uses_indices("/_cat/indices"));
        assert!(uses_indices("/_cluster/health"));
        assert!(!uses_indices("/_nodes/stats"));
        assert!(!uses_indices("/_cat/nodes"));
        assert!(!uses_indices("/api/v1/udfs/f"));
        assert!(!uses_indices("/"));
    }
}
