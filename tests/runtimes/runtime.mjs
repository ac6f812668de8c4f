// A Lambda custom-runtime loop for Node.js handlers, as Lambda's own runtime
// runs them: load the handler once (the init phase), then take invocations
// from the Runtime API one at a time and post each result or error back.
// It runs inside a local execution environment (tests/src/functions): a
// process group in a memory cgroup. Console lines are written as Lambda's
// Node.js runtime writes them (time, request id, level, message).
//
// After each invocation it prints a marker line (NUL, "autorepair-end", the
// request id) before posting: the environment knows the invocation's output
// has all been read when it sees it. Pipes are synchronous in Node on Linux,
// so the marker follows everything the handler printed.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';

const api = process.env.AWS_LAMBDA_RUNTIME_API;
const root = process.env.LAMBDA_TASK_ROOT;
const [moduleName, exportName] = process.env._HANDLER.split('.');
let requestId = 'undefined';

for (const [level, method] of [['INFO', 'log'], ['INFO', 'info'], ['WARN', 'warn'], ['ERROR', 'error'], ['DEBUG', 'debug']]) {
  console[method] = (...args) => {
    const text = format(...args).replaceAll('\n', '\r');
    process.stdout.write(`${new Date().toISOString()}\t${requestId}\t${level}\t${text}\n`);
  };
}

function call(method, route, body) {
  return new Promise((resolve, reject) => {
    const [host, port] = api.split(':');
    const headers = body === undefined ? {} : { 'Content-Length': Buffer.byteLength(body) };
    const req = http.request({ host, port, method, headers, path: `/2018-06-01/runtime/${route}`, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function describe(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return { errorType: e.name || 'Error', errorMessage: e.message, trace: String(e.stack || '').split('\n') };
}

async function load() {
  for (const ext of ['.mjs', '.js', '.cjs']) {
    const file = path.join(root, moduleName + ext);
    if (fs.existsSync(file)) {
      const mod = await import(pathToFileURL(file).href);
      const fn = mod[exportName] ?? mod.default?.[exportName];
      if (typeof fn !== 'function') throw new Error(`${moduleName}.${exportName} is undefined or not exported`);
      return fn;
    }
  }
  const e = new Error(`Cannot find module '${moduleName}'`);
  e.name = 'Runtime.ImportModuleError';
  throw e;
}

let handler;
try {
  handler = await load();
} catch (err) {
  const d = describe(err);
  console.error(`Init Error\t${JSON.stringify(d)}`);
  await call('POST', 'init/error', JSON.stringify(d));
  process.exit(1);
}

for (;;) {
  const next = await call('GET', 'invocation/next');
  requestId = next.headers['lambda-runtime-aws-request-id'];
  const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
  const context = {
    awsRequestId: requestId,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  let route;
  let body;
  try {
    const result = await handler(JSON.parse(next.body || 'null'), context);
    route = `invocation/${requestId}/response`;
    body = JSON.stringify(result ?? null);
  } catch (err) {
    const d = describe(err);
    console.error(`Invoke Error \t${JSON.stringify(d)}`);
    route = `invocation/${requestId}/error`;
    body = JSON.stringify(d);
  }
  process.stdout.write(`\0autorepair-end ${requestId}\n`);
  await call('POST', route, body);
}
