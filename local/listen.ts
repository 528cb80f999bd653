/**
 * What every local server shares: an HTTP server on loopback, its URL, request framing as
 * HTTP/1.1 wants it (request-framing.ts), keep-alive that never drops a socket a client may
 * reuse, and a close that drops idle keep-alive sockets.
 */
import { createServer, maxHeaderSize, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FramedSocket } from './request-framing';

export interface Listening {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** What a server answers when Node's parser refuses a request (malformed or ambiguous framing). */
export type RefusalAnswer = (status: number) => { headers: Record<string, string>; body: string };

export interface ListenOptions {
  port?: number;
  host?: string;
  /** The refusal's headers and body (e.g. OSS's XML error document); without it, Node's bare status line. */
  refusal?: RefusalAnswer;
}

/**
 * Idle keep-alive sockets are never closed by the server (0 disables Node's keep-alive
 * timeout): the fc2 client's agent (httpx: `new http.Agent({ keepAlive: true })`) and
 * oss-sse's own keep no idle timeout at all, so any finite server timeout races their next
 * request into an ECONNRESET; ali-oss's agentkeepalive (15 s) and Node 20's global agent
 * (5 s) close their idle sockets themselves. In Node 20 headersTimeout/requestTimeout only
 * run while a request is being received, never on an idle socket, so their defaults stay.
 * See docs/oss-behaviour.md#http-framing-and-keep-alive.
 */
export const SERVER_KEEP_ALIVE_TIMEOUT_MS = 0;
/** TCP keep-alive probes reap connections whose peer vanished (the server never times them out). */
const TCP_KEEP_ALIVE_DELAY_MS = 60_000;

export async function listenLoopback(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, opts: ListenOptions): Promise<Listening> {
  // Responses under way per connection: a refusal must not be written into one of them.
  const responses = new WeakMap<Duplex, Set<ServerResponse>>();
  const server = createServer({ keepAlive: true, keepAliveInitialDelay: TCP_KEEP_ALIVE_DELAY_MS }, (req, res) => {
    const open = responses.get(req.socket) ?? new Set<ServerResponse>();
    responses.set(req.socket, open);
    open.add(res);
    res.once('close', () => open.delete(res));
    void handle(req, res);
  });
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_TIMEOUT_MS;
  parseThroughFramer(server);
  const refusal = opts.refusal;
  if (refusal) {
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
      const started = [...(responses.get(socket) ?? [])].some((r) => r.headersSent);
      if (err.code === 'ECONNRESET' || !socket.writable || started) {
        socket.destroy();
        return;
      }
      socket.end(refusalBytes(refusalStatus(err.code), refusal));
      socket.once('finish', () => socket.destroy());
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Node's HTTP server registers exactly one 'connection' listener, the one that runs its
 * parser on the socket; it gets a FramedSocket instead of the TCP socket (Node documents
 * that any Duplex may be passed as a connection).
 */
function parseThroughFramer(server: Server): void {
  const [nodeParser, ...others] = server.listeners('connection') as Array<(this: Server, connection: Duplex) => void>;
  if (!nodeParser || others.length > 0) throw new Error('node:http: expected exactly one connection listener on a new server');
  server.removeListener('connection', nodeParser);
  server.on('connection', (socket: Socket) => nodeParser.call(server, new FramedSocket(socket, maxHeaderSize)));
}

/** The statuses Node itself gives these parser errors; every framing error is a 400. */
function refusalStatus(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

function refusalBytes(status: number, answer: RefusalAnswer): Buffer {
  const { headers, body } = answer(status);
  const bodyBytes = Buffer.from(body);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Length: ${bodyBytes.length}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), bodyBytes]);
}
