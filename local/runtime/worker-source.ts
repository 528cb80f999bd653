/**
 * The code each function's worker thread runs, as a string for `new Worker(src, { eval: true })`.
 * A string rather than a file because the runtime is itself bundled into dist/cli/oss-sse.js
 * (and run from .ts under vitest/tsx): a separate worker file would not be next to it.
 * Protocol: see protocol.ts. Kept small and dependency-free on purpose.
 */
import { OUTPUT_END_MARKER } from './protocol';

export const WORKER_SOURCE = String.raw`
'use strict';
(function main() {
  const { parentPort, workerData } = require('node:worker_threads');
  const { AsyncLocalStorage } = require('node:async_hooks');
  const { format } = require('node:util');
  const OUTPUT_END = ${JSON.stringify(OUTPUT_END_MARKER)};

  // Tracks the request a console.log belongs to, even with concurrent invocations.
  const current = new AsyncLocalStorage();
  function emit(level, requestId, args) {
    parentPort.postMessage({ type: 'log', level: level, requestId: requestId, time: new Date().toISOString(), message: format.apply(null, args) });
  }
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG' };
  for (const method of Object.keys(levels)) {
    console[method] = function () { emit(levels[method], current.getStore(), arguments); };
  }

  function toWireError(err) {
    if (err instanceof Error) {
      // A subclass that does not set name still reports its class, as FC shows it.
      const type = err.name && err.name !== 'Error' ? err.name : (err.constructor && err.constructor.name) || 'Error';
      const stack = typeof err.stack === 'string' ? err.stack.split('\n').slice(1).map(function (l) { return l.trim(); }).filter(Boolean) : undefined;
      return { errorMessage: String(err.message), errorType: type, stackTrace: stack };
    }
    let text;
    try { text = typeof err === 'string' ? err : JSON.stringify(err); } catch (e) { text = String(err); }
    return { errorMessage: String(text), errorType: 'Error' };
  }

  function toWireResult(value) {
    if (value === undefined) return { kind: 'undefined' };
    if (value instanceof Uint8Array) return { kind: 'bytes', data: new Uint8Array(value) };
    const text = JSON.stringify(value);
    return text === undefined ? { kind: 'undefined' } : { kind: 'json', text: text };
  }

  // Cold start: load the bundle once; configuration errors surface here.
  let handler;
  try {
    const mod = require(workerData.bundlePath);
    handler = mod && mod.handler;
    if (typeof handler !== 'function') {
      throw new TypeError('index.handler is not a function: the bundle does not export "handler"');
    }
  } catch (err) {
    parentPort.postMessage({ type: 'loadError', error: toWireError(err) });
    return;
  }

  // Async handlers resolve; FC also supports (event, context, callback) handlers.
  function run(event, context) {
    return new Promise(function (resolve, reject) {
      let done = false;
      function callback(err, value) {
        if (done) return;
        done = true;
        if (err) reject(err); else resolve(value);
      }
      let returned;
      try {
        returned = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
      } catch (err) {
        callback(err);
        return;
      }
      if (handler.length < 3 || (returned && typeof returned.then === 'function')) {
        Promise.resolve(returned).then(function (v) { callback(null, v); }, function (e) { callback(e || new Error('handler rejected')); });
      }
    });
  }

  parentPort.on('message', function (msg) {
    if (!msg || msg.type !== 'invoke') return;
    const requestId = msg.context.requestId;
    const event = Buffer.from(msg.event.buffer, msg.event.byteOffset, msg.event.byteLength);
    const log = function (level) { return function () { emit(level, requestId, arguments); }; };
    const context = Object.assign({}, msg.context, {
      logger: { info: log('INFO'), warn: log('WARN'), error: log('ERROR'), debug: log('DEBUG') },
    });
    // stdout/stderr reach the parent apart from parentPort messages: a marker line after the
    // invocation's output lets the parent hand out its result only once that output is read.
    function finish(message) {
      const marker = OUTPUT_END + msg.id + '\n';
      process.stdout.write(marker);
      process.stderr.write(marker);
      parentPort.postMessage(message);
    }
    current.run(requestId, function () {
      run(event, context).then(
        function (value) {
          let result;
          try { result = toWireResult(value); } catch (err) {
            finish({ type: 'result', id: msg.id, ok: false, error: toWireError(err) });
            return;
          }
          finish({ type: 'result', id: msg.id, ok: true, result: result });
        },
        function (err) { finish({ type: 'result', id: msg.id, ok: false, error: toWireError(err) }); },
      );
    });
  });
})();
`;
