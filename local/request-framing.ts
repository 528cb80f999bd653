/**
 * One HTTP/1.1 framing case that Node's parser refuses and real OSS accepts: a request with
 * both `Content-Length` and `Transfer-Encoding: chunked` (ali-oss's `put` of a stream with a
 * length sends it). RFC 9112 §6.3: chunked wins; §6.1: the server may process it by the
 * chunked coding alone, and then MUST close the connection after responding.
 *
 * Node 20 can only relax llhttp as a whole (`insecureHTTPParser` = every lenient flag), so
 * this module sits between the TCP socket and Node's parser: it follows the request framing
 * byte for byte and, for that one head shape, replaces the Content-Length line with
 * `Connection: close`. Everything else reaches llhttp unchanged; anything it does not
 * recognise switches it to passing bytes through untouched (llhttp then decides, as before).
 * See docs/oss-behaviour.md#http-framing-and-keep-alive.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);
const CR = 0x0d;
const LF = 0x0a;
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) [^ ]+ HTTP/(\\d\\.\\d)$`);
const FIELD_LINE = new RegExp(`^(${TOKEN}):[ \\t]*(.*?)[ \\t]*$`);
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]+)(?:;.*)?$/;
const DIGITS = /^\d+$/;

type FramingState =
  | { kind: 'head' }
  | { kind: 'fixed-body'; remaining: number }
  | { kind: 'chunk-size' }
  | { kind: 'chunk-data'; remaining: number }
  | { kind: 'chunk-end' }
  | { kind: 'trailers' }
  /** Not following the framing any more: every byte goes to llhttp as received. */
  | { kind: 'pass-through' }
  /** After a request answered with `Connection: close`: nothing more reaches the parser. */
  | { kind: 'discard' };

type HeadDecision =
  | { kind: 'pass-through' }
  | { kind: 'forward'; head: Buffer; next: FramingState; closeAfter: boolean };

/** Reads one request head (request line and field lines, without the final empty line). */
function decideHead(head: Buffer): HeadDecision {
  const passThrough = { kind: 'pass-through' } as const;
  const text = head.toString('latin1');
  const lines = text.split('\r\n');
  // A bare CR or LF anywhere: llhttp's strict mode refuses it; let it.
  if (lines.some((l) => l.includes('\r') || l.includes('\n'))) return passThrough;
  const request = REQUEST_LINE.exec(lines[0] ?? '');
  if (!request) return passThrough;
  const [, method, version] = request;
  // After CONNECT or an Upgrade the bytes are not HTTP messages any more.
  if (method === 'CONNECT' || method === 'PRI') return passThrough;
  const contentLengths: { line: number; value: string }[] = [];
  const transferEncodings: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const field = FIELD_LINE.exec(lines[i] as string); // obs-fold lines start with SP/HT and fail here
    if (!field) return passThrough;
    const name = (field[1] as string).toLowerCase();
    const value = field[2] as string;
    if (name === 'content-length') contentLengths.push({ line: i, value });
    else if (name === 'transfer-encoding') transferEncodings.push(value);
    else if (name === 'upgrade') return passThrough;
  }
  const forward = (next: FramingState, closeAfter = false, bytes = head): HeadDecision => ({ kind: 'forward', head: bytes, next, closeAfter });
  if (transferEncodings.length > 0) {
    if (transferEncodings.length !== 1) return passThrough;
    const codings = (transferEncodings[0] as string).split(',').map((c) => c.trim().toLowerCase());
    if (codings[codings.length - 1] !== 'chunked') return passThrough; // llhttp answers 400
    if (contentLengths.length === 0) return forward({ kind: 'chunk-size' });
    // The one shape this module exists for: HTTP/1.1, `Transfer-Encoding: chunked` alone and a
    // single well-formed Content-Length. Any other mix stays llhttp's to refuse.
    const [length, ...moreLengths] = contentLengths;
    if (version !== '1.1' || codings.length !== 1 || moreLengths.length > 0 || !length || !DIGITS.test(length.value)) return passThrough;
    const rewritten = lines.map((l, i) => (i === length.line ? 'Connection: close' : l)).join('\r\n');
    return forward({ kind: 'chunk-size' }, true, Buffer.from(rewritten, 'latin1'));
  }
  if (contentLengths.length === 0) return forward({ kind: 'head' });
  const [length, ...moreLengths] = contentLengths;
  if (moreLengths.length > 0 || !length || !DIGITS.test(length.value)) return passThrough;
  const size = Number(length.value);
  if (!Number.isSafeInteger(size)) return passThrough;
  return forward(size === 0 ? { kind: 'head' } : { kind: 'fixed-body', remaining: size });
}

/**
 * Follows the framing of the requests on one connection and yields the bytes Node's parser
 * is to see. Pure bookkeeping: no I/O, so it is tested byte by byte.
 */
export class RequestFramer {
  private state: FramingState = { kind: 'head' };
  private pending: Buffer = EMPTY;
  private closeAfterMessage = false;

  /** `maxLineBytes`: a head or chunk line longer than this is llhttp's to refuse (431/413). */
  constructor(private readonly maxLineBytes: number) {}

  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = EMPTY;
    let at = 0;
    scan: while (at < buf.length) {
      const s = this.state;
      switch (s.kind) {
        case 'pass-through':
          out.push(buf.subarray(at));
          at = buf.length;
          break;
        case 'discard':
          at = buf.length;
          break;
        case 'fixed-body':
        case 'chunk-data': {
          const n = Math.min(s.remaining, buf.length - at);
          out.push(buf.subarray(at, at + n));
          at += n;
          s.remaining -= n;
          if (s.remaining === 0) {
            if (s.kind === 'fixed-body') this.messageDone();
            else this.state = { kind: 'chunk-end' };
          }
          break;
        }
        case 'head': {
          // Empty lines before a request line are tolerated (RFC 9112 §2.2), by llhttp too.
          if (buf[at] === CR && buf[at + 1] === LF) {
            out.push(buf.subarray(at, at + 2));
            at += 2;
            break;
          }
          const end = buf.indexOf(HEAD_END, at);
          if (end < 0 ? buf.length - at > this.maxLineBytes : end - at > this.maxLineBytes) {
            this.state = { kind: 'pass-through' };
            break;
          }
          if (end < 0) break scan;
          const decision = decideHead(buf.subarray(at, end));
          if (decision.kind === 'pass-through') {
            this.state = decision;
            break;
          }
          out.push(decision.head, HEAD_END);
          at = end + HEAD_END.length;
          this.closeAfterMessage ||= decision.closeAfter;
          if (decision.next.kind === 'head') this.messageDone();
          else this.state = decision.next;
          break;
        }
        case 'chunk-size':
        case 'chunk-end':
        case 'trailers': {
          const eol = buf.indexOf(CRLF, at);
          if (eol < 0 ? buf.length - at > this.maxLineBytes : eol - at > this.maxLineBytes) {
            this.state = { kind: 'pass-through' };
            break;
          }
          if (eol < 0) break scan;
          const next = this.afterLine(s.kind, buf.subarray(at, eol).toString('latin1'));
          if (next.kind === 'pass-through') {
            this.state = next;
            break;
          }
          out.push(buf.subarray(at, eol + CRLF.length));
          at = eol + CRLF.length;
          if (next.kind === 'head') this.messageDone();
          else this.state = next;
          break;
        }
      }
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
    return out;
  }

  /** The connection's read side ended: whatever was held back goes to llhttp as it is. */
  end(): Buffer[] {
    const rest = this.state.kind === 'discard' || this.pending.length === 0 ? [] : [this.pending];
    this.pending = EMPTY;
    return rest;
  }

  private afterLine(kind: 'chunk-size' | 'chunk-end' | 'trailers', line: string): FramingState {
    if (line.includes('\r') || line.includes('\n')) return { kind: 'pass-through' };
    switch (kind) {
      case 'chunk-size': {
        const m = CHUNK_SIZE_LINE.exec(line);
        const size = m ? parseInt(m[1] as string, 16) : NaN;
        if (!Number.isSafeInteger(size)) return { kind: 'pass-through' };
        return size === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: size };
      }
      case 'chunk-end':
        return line === '' ? { kind: 'chunk-size' } : { kind: 'pass-through' };
      case 'trailers':
        if (line === '') return { kind: 'head' };
        return FIELD_LINE.test(line) ? { kind: 'trailers' } : { kind: 'pass-through' };
    }
  }

  private messageDone(): void {
    this.state = this.closeAfterMessage ? { kind: 'discard' } : { kind: 'head' };
  }
}

/**
 * The stream Node's HTTP server reads requests from instead of the TCP socket: its bytes
 * pass through a RequestFramer. Node documents that any Duplex may be handed to an HTTP
 * server as a connection; the socket methods the local servers use are delegated.
 */
export class FramedSocket extends Duplex {
  private readonly framer: RequestFramer;

  constructor(
    readonly raw: Socket,
    maxLineBytes: number,
  ) {
    // Half-open like the server's own sockets: Node's HTTP server ends the write side itself.
    super({ allowHalfOpen: true });
    this.framer = new RequestFramer(maxLineBytes);
    raw.on('data', (chunk: Buffer) => this.forward(this.framer.feed(chunk)));
    raw.on('end', () => {
      this.forward(this.framer.end());
      this.push(null);
    });
    raw.on('error', (err) => this.destroy(err));
    raw.on('close', () => this.destroy());
    raw.on('timeout', () => this.emit('timeout'));
  }

  private forward(chunks: Buffer[]): void {
    let more = true;
    for (const c of chunks) more = this.push(c) && more;
    if (!more) this.raw.pause();
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.raw.write(chunk, encoding, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.raw.end(() => callback());
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.raw.destroy();
    callback(err);
  }

  get remoteAddress(): string | undefined {
    return this.raw.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.raw.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.raw.remoteFamily;
  }
  get localAddress(): string | undefined {
    return this.raw.localAddress;
  }
  get localPort(): number | undefined {
    return this.raw.localPort;
  }
  get bytesRead(): number {
    return this.raw.bytesRead;
  }
  get bytesWritten(): number {
    return this.raw.bytesWritten;
  }
  address(): ReturnType<Socket['address']> {
    return this.raw.address();
  }
  setTimeout(ms: number, onTimeout?: () => void): this {
    this.raw.setTimeout(ms);
    if (onTimeout) this.once('timeout', onTimeout);
    return this;
  }
  setNoDelay(noDelay?: boolean): this {
    this.raw.setNoDelay(noDelay);
    return this;
  }
  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    this.raw.setKeepAlive(enable, initialDelay);
    return this;
  }
  ref(): this {
    this.raw.ref();
    return this;
  }
  unref(): this {
    this.raw.unref();
    return this;
  }
  /** As net.Socket's: end the write side, then close once it is flushed (Node's server calls this). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }
  /** A TCP RST instead of a FIN (the fault injector uses it). */
  resetAndDestroy(): this {
    this.raw.resetAndDestroy();
    this.destroy();
    return this;
  }
}
