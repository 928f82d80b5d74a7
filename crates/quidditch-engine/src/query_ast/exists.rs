//! `exists`: documents with a value at a field, via the `_field_names` field.

use tantivy::Term;
use tantivy::query::{AllQuery, BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;

use super::{LoweringContext, QueryError};

#[derive(Debug, Clone, PartialEq)]
pub struct ExistsQuery {
    pub field: String,
    pub boost: Option<f32>,
}

impl ExistsQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        match self.field.as_str() {
            // Metadata every document has.
            "_id" | "_index" | "_seq_no" | "_version" | "_primary_term" => {
                return Ok(Box::new(ConstScoreQuery::new(Box::new(AllQuery), self.boost.unwrap_or(1.0))));
            }
            super::routing::ROUTING_FIELD => return super::routing::routing_exists(ctx, self.boost),
            "_source" => {
                return Err(QueryError::query_shard(
                    "Field [_source] of type [_source] does not support exists queries",
                ));
            }
            _ => {}
        }
        let field_names = ctx
            .schema
            .get_field("_field_names")
            .map_err(|_| QueryError::internal("index schema has no [_field_names] field"))?;
        // An object field exists when any of its leaves does; a pattern matches several fields.
        let names = matching_fields(ctx, &self.field);
        let clauses: Vec<(Occur, Box<dyn Query>)> = names
            .iter()
            .map(|name| {
                let term = Term::from_field_text(field_names, name);
                (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>)
            })
            .collect();
        Ok(Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(clauses)),
            self.boost.unwrap_or(1.0),
        )))
    }
}

fn matching_fields(ctx: &LoweringContext<'_>, pattern: &str) -> Vec<String> {
    let prefix = format!("{pattern}.");
    let mut out: Vec<String> = ctx
        .fields
        .field_names()
        .into_iter()
        .filter(|n| n == pattern || n.starts_with(&prefix) || super::wildcard::glob_match(pattern, n))
        .collect();
    if out.is_empty() {
        out.push(pattern.to_string());
    }
    out
}
