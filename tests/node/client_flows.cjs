// Everyday flows of the official Node.js client (@opensearch-project/opensearch) against a
// running Quidditch server. Driven by tests/python/test_node_client.py, which installs the
// client with npm into a temporary directory (NODE_PATH) and checks every value printed here
// against expectations it computes itself from the same records.
//
// usage: node client_flows.cjs URL INDEX RECORDS_JSON MIN_SIZE
'use strict';
const fs = require('fs');
const { Client, errors } = require('@opensearch-project/opensearch');

async function main() {
  const [url, index, recordsPath, minSizeArg] = process.argv.slice(2);
  const minSize = Number(minSizeArg);
  const records = JSON.parse(fs.readFileSync(recordsPath, 'utf8'));
  const client = new Client({ node: url });
  const out = {};

  const info = await client.info();
  out.version_number = info.body.version.number;

  await client.indices.create({
    index,
    body: {
      settings: { number_of_shards: 3 },
      mappings: JSON.parse(fs.readFileSync(recordsPath + '.mapping', 'utf8')),
    },
  });

  // helpers.bulk: the datasource is streamed into _bulk requests of flushBytes each.
  const bulk = await client.helpers.bulk({
    datasource: records,
    onDocument: (doc) => ({ index: { _index: index, _id: doc.package } }),
    flushBytes: 64 * 1024,
    refreshOnCompletion: index,
  });
  out.bulk = { total: bulk.total, successful: bulk.successful, failed: bulk.failed };

  out.count = (await client.count({ index })).body.count;

  // helpers.scrollSearch: every page of a scroll, with a query, until the end.
  const scrolled = [];
  let pages = 0;
  for await (const page of client.helpers.scrollSearch({
    index,
    scroll: '1m',
    body: { size: 250, query: { range: { installed_size: { gte: minSize } } }, sort: ['_doc'] },
  })) {
    pages += 1;
    for (const hit of page.body.hits.hits) scrolled.push(hit._id);
  }
  out.scroll = { pages, ids: scrolled };

  // helpers.scrollDocuments yields the _source of each hit.
  const sections = {};
  for await (const doc of client.helpers.scrollDocuments({
    index,
    body: { size: 500, query: { match_all: {} } },
  })) {
    sections[doc.section] = (sections[doc.section] || 0) + 1;
  }
  out.scroll_documents_sections = sections;

  // A search with aggregations, as dashboards send them.
  const agg = await client.search({
    index,
    body: {
      size: 0,
      query: { range: { installed_size: { gte: minSize } } },
      aggs: {
        by_section: {
          terms: { field: 'section', size: 5 },
          aggs: { size_sum: { sum: { field: 'installed_size' } } },
        },
        size_max: { max: { field: 'installed_size' } },
        size_stats: { stats: { field: 'installed_size' } },
      },
    },
  });
  out.aggs = agg.body.aggregations;
  out.aggs_total = agg.body.hits.total;

  // A match query on the text field, top hits by score.
  const match = await client.search({
    index,
    body: { size: 20, query: { match: { summary: 'library' } }, _source: ['package'] },
  });
  out.match_total = match.body.hits.total.value;

  // helpers.msearch batches searches into _msearch.
  const m = client.helpers.msearch({ operations: 2, flushInterval: 50 });
  const [a, b] = await Promise.all([
    m.search({ index }, { query: { term: { priority: 'required' } }, size: 0 }),
    m.search({ index }, { query: { term: { priority: 'optional' } }, size: 0 }),
  ]);
  m.stop();
  out.msearch = [a.body.hits.total.value, b.body.hits.total.value];

  // Errors arrive as ResponseError with OpenSearch's error body.
  try {
    await client.search({ index: index + '-missing', body: { query: { match_all: {} } } });
    out.missing_index = 'no error';
  } catch (e) {
    out.missing_index = {
      is_response_error: e instanceof errors.ResponseError,
      status: e.meta.statusCode,
      type: e.meta.body.error.type,
    };
  }
  try {
    await client.search({ index, body: { query: { match_all: {} } } }, { querystring: { nonsense: 'x' } });
    out.unknown_param = 'no error';
  } catch (e) {
    out.unknown_param = { status: e.meta.statusCode, type: e.meta.body.error.type };
  }

  const deleted = await client.deleteByQuery({
    index,
    body: { query: { term: { priority: 'optional' } } },
    refresh: true,
  });
  out.delete_by_query = deleted.body.deleted;
  out.count_after_delete = (await client.count({ index })).body.count;

  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  if (e && e.meta && e.meta.body) process.stderr.write(JSON.stringify(e.meta.body) + '\n');
  process.exit(1);
});
