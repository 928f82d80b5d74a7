//! `#[filter]`, `#[score]`, `#[filter_batch]` and `#[score_batch]`: turn a plain Rust function
//! into the export the Quidditch host calls (ABI v1, `docs/udf-abi.md`).
//!
//! Use them through `quidditch_udf_sdk` (which re-exports them), not directly.
//!
//! The attribute leaves the function untouched and adds one `extern "C"` shim next to it,
//! exported under the ABI name (`filter`, `score`, …) only when compiling for `wasm32`, so the
//! same crate also builds and unit-tests natively.

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// `#[filter] fn keep(doc: &Doc, params: &Params) -> bool`: the document is kept when it
/// returns `true`.
#[proc_macro_attribute]
pub fn filter(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Filter, attr, item)
}

/// `#[score] fn rank(doc: &Doc, params: &Params) -> f64`: the document's new `_score`.
#[proc_macro_attribute]
pub fn score(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Score, attr, item)
}

/// `#[filter_batch] fn keep(batch: &Batch, params: &Params, keep: &mut [bool])`: decides a
/// block of documents in one call (`keep` starts all `false`).
#[proc_macro_attribute]
pub fn filter_batch(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::FilterBatch, attr, item)
}

/// `#[score_batch] fn rank(batch: &Batch, params: &Params, scores: &mut [f64])`: scores a
/// block of documents in one call (`scores` starts all `0.0`).
#[proc_macro_attribute]
pub fn score_batch(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::ScoreBatch, attr, item)
}

#[derive(Clone, Copy)]
enum Kind {
    Filter,
    Score,
    FilterBatch,
    ScoreBatch,
}

impl Kind {
    fn export_name(self) -> &'static str {
        match self {
            Kind::Filter => "filter",
            Kind::Score => "score",
            Kind::FilterBatch => "filter_batch",
            Kind::ScoreBatch => "score_batch",
        }
    }

    fn shim(self, user_fn: &str) -> String {
        let export = self.export_name();
        let shim_name = format!("__quidditch_udf_export_{export}_{user_fn}");
        let sig_and_body = match self {
            Kind::Filter => format!(
                "(ctx: i64) -> i32 {{ ::quidditch_udf_sdk::__private::call_filter(ctx, {user_fn}) }}"
            ),
            Kind::Score => format!(
                "(ctx: i64) -> f64 {{ ::quidditch_udf_sdk::__private::call_score(ctx, {user_fn}) }}"
            ),
            Kind::FilterBatch => format!(
                "(ctxs_ptr: usize, n: usize, out_ptr: usize) -> i32 {{ \
                 ::quidditch_udf_sdk::__private::call_filter_batch(ctxs_ptr, n, out_ptr, {user_fn}) }}"
            ),
            Kind::ScoreBatch => format!(
                "(ctxs_ptr: usize, n: usize, out_ptr: usize) -> i32 {{ \
                 ::quidditch_udf_sdk::__private::call_score_batch(ctxs_ptr, n, out_ptr, {user_fn}) }}"
            ),
        };
        format!(
            "#[doc(hidden)] \
             #[allow(non_snake_case)] \
             #[cfg_attr(target_arch = \"wasm32\", unsafe(export_name = \"{export}\"))] \
             pub extern \"C\" fn {shim_name}{sig_and_body}"
        )
    }
}

fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return compile_error(&format!("#[{}] takes no arguments", kind.export_name()));
    }
    let Some(name) = function_name(&item) else {
        return compile_error(&format!(
            "#[{}] must be placed on a function, e.g. `#[{}] fn my_udf(...)`",
            kind.export_name(),
            kind.export_name()
        ));
    };
    let shim: TokenStream = match kind.shim(&name).parse() {
        Ok(tokens) => tokens,
        Err(e) => return compile_error(&format!("internal error in quidditch-udf-sdk-macros: {e}")),
    };
    let mut out = item;
    out.extend(shim);
    out
}

/// The identifier after the top-level `fn` keyword (attributes, `pub`, `unsafe` etc. before it
/// are skipped; a generic function is accepted here and rejected by the type checker).
fn function_name(item: &TokenStream) -> Option<String> {
    let mut tokens = item.clone().into_iter();
    while let Some(tt) = tokens.next() {
        match tt {
            TokenTree::Ident(ident) if ident.to_string() == "fn" => {
                return match tokens.next() {
                    Some(TokenTree::Ident(name)) => Some(name.to_string()),
                    _ => None,
                };
            }
            // A function body reached before `fn` means this is not a function item.
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return None,
            _ => {}
        }
    }
    None
}

fn compile_error(message: &str) -> TokenStream {
    format!("::core::compile_error!({message:?});").parse().unwrap_or_default()
}
