'use strict';
// The Yandex Cloud Node SDK (@yandex-cloud/nodejs-sdk) over @grpc/grpc-js, aimed at the emulator.
//
// Usage: node search.js CONFIG_JSON
//   CONFIG_JSON: {"target": "127.0.0.1:PORT", "tlsTarget": "localhost:PORT", "rootCert": PEM path,
//                 "image": PNG path, "url": image URL, "alias": CBIR id, "unknownId": CBIR id,
//                 "folderId": folder, "timeoutMs": per-call deadline}
//
// Two clients, both the SDK's generated searchapi v2 code on @grpc/grpc-js:
//   "session": the SDK's Session (nice-grpc, its retry and deadline middleware, an IAM token as
//              "Bearer" metadata) on gRPC over TLS, with the emulator's certificate as the root;
//   "grpcjs":  the SDK's ImageSearchServiceClient constructor on a plaintext grpc-js channel.
// Each runs SearchByImage by data, URL and CBIR id (and an unknown id), and Search; the decoded
// messages are printed as one JSON document on the last stdout line for the pytest test to assert.

const fs = require('fs');
const grpc = require('@grpc/grpc-js');
const { Session } = require('@yandex-cloud/nodejs-sdk');
const { imgSearchService, searchQuery } = require('@yandex-cloud/nodejs-sdk/searchapi-v2');

const {
  ImageSearchByImageRequest, ImageSearchRequest, ImageSearchServiceClient,
  imageSpec_ImageFormatToJSON: formatName,
} = imgSearchService;
const { SearchQuery_SearchType: SearchType } = searchQuery;

const config = JSON.parse(process.argv[2]);

function imageInfo(info) {
  return {
    url: info.url, format: info.format, formatName: formatName(info.format),
    width: info.width, height: info.height, passage: info.passage, host: info.host,
    pageTitle: info.pageTitle, pageUrl: info.pageUrl,
    widthType: typeof info.width,
  };
}

function byImage(response) {
  return {
    page: response.page, maxPage: response.maxPage, id: response.id,
    images: response.images.map(imageInfo),
  };
}

function search(response) {
  return { rawDataIsBuffer: Buffer.isBuffer(response.rawData) || response.rawData instanceof Uint8Array,
           rawData: Buffer.from(response.rawData).toString('utf8') };
}

function failure(error) {
  // grpc-js: a ServiceError (code, details); the Session: the SDK's ApiError, which wraps
  // nice-grpc's error (its message names the path, the status and the details) with the
  // response headers (requestId: the x-request-id the server sent)
  const out = { name: error.name, message: error.message };
  if (error.code !== undefined) out.code = error.code;
  if (error.details !== undefined) out.details = error.details;
  if (error.metadata && typeof error.metadata.get === 'function' && error.requestId !== undefined) {
    out.requestId = String(error.requestId);
  }
  return out;
}

// one shape for both clients: call(method, request) -> Promise of the decoded response
function sessionClient() {
  const session = new Session({
    iamToken: 't1.emulator-node-test',
    ssl: { rootCerts: fs.readFileSync(config.rootCert) },
  });
  const client = session.client(ImageSearchServiceClient, config.tlsTarget);
  return (method, request) => client[method](request,
                                             { deadline: new Date(Date.now() + config.timeoutMs) });
}

function grpcjsClient() {
  const client = new ImageSearchServiceClient(config.target, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', 'Api-Key emulator-node-test');
  return (method, request) => new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + config.timeoutMs },
                   (error, response) => (error ? reject(error) : resolve(response)));
  });
}

async function run(call) {
  const out = {};
  const folderId = config.folderId;
  const sbi = (fields) => call('searchByImage', ImageSearchByImageRequest.fromPartial({ folderId, ...fields }));
  const cases = {
    byData: async () => byImage(await sbi({ data: fs.readFileSync(config.image) })),
    byUrl: async () => byImage(await sbi({ url: config.url })),
    byAlias: async () => byImage(await sbi({ id: config.alias, page: 1 })),
    byUnknownId: async () => byImage(await sbi({ id: config.unknownId })),
    search: async () => search(await call('search', ImageSearchRequest.fromPartial({
      folderId, query: { searchType: SearchType.SEARCH_TYPE_RU, queryText: 'yandex cloud' },
    }))),
    searchSite: async () => search(await call('search', ImageSearchRequest.fromPartial({
      folderId, site: 'example.com',
      query: { searchType: SearchType.SEARCH_TYPE_RU, queryText: 'emulator samples' },
    }))),
  };
  for (const [name, fn] of Object.entries(cases)) {
    try {
      out[name] = { ok: await fn() };
    } catch (error) {
      out[name] = { error: failure(error) };
    }
  }
  // by the CBIR id an earlier answer gave (the SDK's way to page), its next page
  const first = out.byData.ok;
  if (first) {
    try {
      out.byDataId = { ok: byImage(await sbi({ id: first.id })) };
    } catch (error) {
      out.byDataId = { error: failure(error) };
    }
  }
  const url = out.byUrl.ok;
  if (url) {
    try {
      out.byUrlIdPage1 = { ok: byImage(await sbi({ id: url.id, page: 1 })) };
    } catch (error) {
      out.byUrlIdPage1 = { error: failure(error) };
    }
  }
  return out;
}

async function main() {
  const results = { node: process.version, session: await run(sessionClient()),
                    grpcjs: await run(grpcjsClient()) };
  // the SDK's channels stay open: end the process once stdout (a pipe: written
  // asynchronously) has taken the whole document, rather than wait for them
  process.stdout.write(JSON.stringify(results) + '\n', () => process.exit(0));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
