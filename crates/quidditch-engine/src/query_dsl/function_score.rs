//! `function_score`: `{"function_score": {"query": {…}, "functions": [{"filter": {…},
//! "weight": 2}, {"field_value_factor": {"field": "likes", "modifier": "log1p"}}],
//! "score_mode": "sum", "boost_mode": "multiply"}}`.

use serde_json::{Map, Value};

use super::{expect_object, parse_f32, parse_f64, parse_query, parse_string, unknown_param};
use crate::query_ast::{
    BoostMode, FieldValueFactor, FieldValueModifier, FunctionScoreQuery, QueryAst, QueryError,
    ScoreFunction, ScoreMode,
};

const NAME: &str = "function_score";

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut q = FunctionScoreQuery {
        query: Box::new(QueryAst::match_all()),
        functions: Vec::new(),
        score_mode: ScoreMode::Multiply,
        boost_mode: BoostMode::Multiply,
        max_boost: None,
        min_score: None,
        boost: None,
    };
    // A single function may be given inline at the top level.
    let mut inline = Map::new();
    for (k, v) in expect_object(NAME, value)? {
        match k.as_str() {
            "query" => q.query = Box::new(parse_query(v)?),
            "functions" => {
                let Value::Array(items) = v else {
                    return Err(QueryError::parsing("[function_score] [functions] must be an array"));
                };
                q.functions =
                    items.iter().map(|f| parse_function(expect_object(NAME, f)?)).collect::<Result<_, _>>()?;
            }
            "score_mode" => q.score_mode = parse_score_mode(&parse_string(NAME, k, v)?)?,
            "boost_mode" => q.boost_mode = parse_boost_mode(&parse_string(NAME, k, v)?)?,
            "max_boost" => q.max_boost = Some(parse_f32(NAME, k, v)?),
            "min_score" => q.min_score = Some(parse_f32(NAME, k, v)?),
            "boost" => q.boost = Some(parse_f32(NAME, k, v)?),
            "_name" => {}
            "weight" | "field_value_factor" | "script_score" | "random_score" | "gauss"
            | "linear" | "exp" => {
                inline.insert(k.clone(), v.clone());
            }
            _ => return Err(unknown_param(NAME, k)),
        }
    }
    if !inline.is_empty() {
        if !q.functions.is_empty() {
            return Err(QueryError::parsing(
                "failed to parse [function_score] query. already found [functions] array, now encountering a single function",
            ));
        }
        q.functions.push(parse_function(&inline)?);
    }
    Ok(QueryAst::FunctionScore(q))
}

fn parse_function(obj: &Map<String, Value>) -> Result<ScoreFunction, QueryError> {
    let mut f = ScoreFunction { filter: None, weight: None, field_value_factor: None, script_score: None };
    for (k, v) in obj {
        match k.as_str() {
            "filter" => f.filter = Some(parse_query(v)?),
            "weight" => f.weight = Some(parse_f32(NAME, k, v)?),
            "field_value_factor" => f.field_value_factor = Some(parse_field_value_factor(v)?),
            "script_score" => f.script_score = Some(super::script_score::parse_function(v)?),
            other => {
                return Err(QueryError::parsing(format!(
                    "function_score query does not support function [{other}]"
                )));
            }
        }
    }
    Ok(f)
}

fn parse_field_value_factor(value: &Value) -> Result<FieldValueFactor, QueryError> {
    let mut fvf = FieldValueFactor {
        field: String::new(),
        factor: 1.0,
        modifier: FieldValueModifier::None,
        missing: None,
    };
    for (k, v) in expect_object("field_value_factor", value)? {
        match k.as_str() {
            "field" => fvf.field = parse_string("field_value_factor", k, v)?,
            "factor" => fvf.factor = parse_f64("field_value_factor", k, v)?,
            "missing" => fvf.missing = Some(parse_f64("field_value_factor", k, v)?),
            "modifier" => {
                fvf.modifier = match parse_string("field_value_factor", k, v)?.to_ascii_lowercase().as_str() {
                    "none" => FieldValueModifier::None,
                    "log" => FieldValueModifier::Log,
                    "log1p" => FieldValueModifier::Log1p,
                    "log2p" => FieldValueModifier::Log2p,
                    "ln" => FieldValueModifier::Ln,
                    "ln1p" => FieldValueModifier::Ln1p,
                    "ln2p" => FieldValueModifier::Ln2p,
                    "square" => FieldValueModifier::Square,
                    "sqrt" => FieldValueModifier::Sqrt,
                    "reciprocal" => FieldValueModifier::Reciprocal,
                    other => {
                        return Err(QueryError::parsing(format!(
                            "[field_value_factor] illegal modifier [{other}]"
                        )));
                    }
                }
            }
            _ => return Err(unknown_param("field_value_factor", k)),
        }
    }
    if fvf.field.is_empty() {
        return Err(QueryError::parsing("[field_value_factor] requires a [field]"));
    }
    Ok(fvf)
}

fn parse_score_mode(s: &str) -> Result<ScoreMode, QueryError> {
    Ok(match s {
        "multiply" => ScoreMode::Multiply,
        "sum" => ScoreMode::Sum,
        "avg" => ScoreMode::Avg,
        "first" => ScoreMode::First,
        "max" => ScoreMode::Max,
        "min" => ScoreMode::Min,
        other => {
            return Err(QueryError::parsing(format!("[function_score] illegal score_mode [{other}]")));
        }
    })
}

fn parse_boost_mode(s: &str) -> Result<BoostMode, QueryError> {
    Ok(match s {
        "multiply" => BoostMode::Multiply,
        "replace" => BoostMode::Replace,
        "sum" => BoostMode::Sum,
        "avg" => BoostMode::Avg,
        "max" => BoostMode::Max,
        "min" => BoostMode::Min,
        other => {
            return Err(QueryError::parsing(format!("[function_score] illegal boost_mode [{other}]")));
        }
    })
}
