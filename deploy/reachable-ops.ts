/**
 * Which OSS, KMS and FC operations each function's code can call, derived from the code.
 *
 * 1. Modules: esbuild bundles functions/<name>/index.ts with the build's own options
 *    (scripts/build.mjs) and a metafile; the project sources in it are exactly the modules
 *    that ship in that function (type-only imports and unused modules are not there).
 * 2. Calls: the TypeScript checker resolves every method call in those modules; a call whose
 *    method is declared by a port interface (OssPort, KmsPort, FcInvoker), or by a class that
 *    implements one, is a port call. Resolution is by symbol, not by name: `x.getObject()` on
 *    anything else does not count. The call site also tells whether it can name a version (an
 *    argument in a `versionId` parameter, or an argument whose type has `sourceVersionId`).
 * 3. Ops: OssPort methods map to their OSS API through the operation table the client sends
 *    through (shared/oss/operations.ts); KmsPort and FcInvoker methods map through
 *    shared/ram/actions.ts.
 *
 * What this over-approximates, on purpose: a module reached at all counts with every port call
 * in it (the bucket function re-encrypts through shared/reencrypt.ts, so it gets the multipart
 * ops too, which it can indeed reach for objects above MULTIPART_THRESHOLD_BYTES). What it
 * cannot see: a port method called through `any` or a string-computed name; the project has
 * neither (the test fails on `any`-typed receivers of port-named methods, see
 * `untypedPortLikeCalls`).
 */
import type { BuildOptions, Metafile } from 'esbuild';
import { build } from 'esbuild';
import { join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { OSS_OPERATIONS } from '../shared/oss/operations';
import { FC_PORT_RAM, KMS_PORT_RAM } from '../shared/ram/actions';
import { REPO_ROOT } from './s-yaml';

export type PortName = 'oss' | 'kms' | 'fc';

/** The port interfaces, where they are declared. */
export const PORTS: Readonly<Record<PortName, { file: string; iface: string }>> = {
  oss: { file: 'shared/oss/port.ts', iface: 'OssPort' },
  kms: { file: 'shared/kms/port.ts', iface: 'KmsPort' },
  fc: { file: 'shared/fc-invoke/port.ts', iface: 'FcInvoker' },
};

/** The OssPort implementation: its methods count as port methods (see portOfDeclaration). */
export const OSS_CLIENT = { file: 'shared/oss/http-client.ts' } as const;

export interface PortCall {
  port: PortName;
  method: string;
  /** The call can name an object version. */
  versioned: boolean;
  /** `path:line` of the call. */
  at: string;
}

export interface OpUse {
  port: PortName;
  /** `HeadObject`, `DescribeKey`, `InvokeFunction`, … */
  op: string;
  versioned: boolean;
  /** Where the code calls it (port method call sites). */
  calls: string[];
}

const rel = (abs: string): string => relative(REPO_ROOT, abs).split(sep).join('/');

/** The project's TypeScript source files that end up in the bundle of `entry` (repo-relative). */
export async function bundledSources(entry: string): Promise<string[]> {
  // scripts/build.mjs is plain JS without declarations: type what we read from it.
  const mod = (await import(pathToFileURL(join(REPO_ROOT, 'scripts/build.mjs')).href)) as { common: BuildOptions };
  const result = await build({
    ...mod.common,
    absWorkingDir: REPO_ROOT,
    entryPoints: [entry],
    outfile: join('dist', 'analysis', 'out.js'),
    write: false,
    metafile: true,
    sourcemap: false,
    logLevel: 'silent',
  });
  const meta: Metafile = result.metafile;
  return Object.keys(meta.inputs)
    .filter((p) => !p.startsWith('node_modules/') && /\.tsx?$/.test(p))
    .sort();
}

let cachedProgram: { key: string; program: ts.Program } | undefined;

/** A type-checked program over `files` (repo-relative) with the project's compiler options. */
function programFor(sources: readonly string[]): ts.Program {
  // The port declarations are always in, so every port is known even where a bundle has none of it.
  const files = [...new Set([...sources, ...Object.values(PORTS).map((p) => p.file), OSS_CLIENT.file])];
  const key = files.sort().join('\n');
  if (cachedProgram?.key === key) return cachedProgram.program;
  const configPath = join(REPO_ROOT, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, REPO_ROOT);
  const program = ts.createProgram({
    rootNames: files.map((f) => join(REPO_ROOT, f)),
    options: { ...parsed.options, noEmit: true },
  });
  cachedProgram = { key, program };
  return program;
}

/**
 * The port a method declaration belongs to: declared by a port interface, or a method of a
 * class implementing one that the interface declares too (not its helpers).
 */
function portOfDeclaration(decl: ts.Declaration, declared: Readonly<Record<PortName, Set<string>>>): PortName | undefined {
  const parent = decl.parent;
  const file = rel(decl.getSourceFile().fileName);
  const name = ts.isMethodDeclaration(decl) || ts.isMethodSignature(decl) ? decl.name.getText() : undefined;
  for (const [port, spec] of Object.entries(PORTS) as Array<[PortName, { file: string; iface: string }]>) {
    if (ts.isInterfaceDeclaration(parent) && parent.name.text === spec.iface && file === spec.file) return port;
    if ((ts.isClassDeclaration(parent) || ts.isClassExpression(parent)) && name !== undefined && declared[port].has(name)) {
      const implementsPort = (parent.heritageClauses ?? []).some(
        (h) =>
          h.token === ts.SyntaxKind.ImplementsKeyword &&
          h.types.some((t) => ts.isIdentifier(t.expression) && t.expression.text === spec.iface),
      );
      if (implementsPort) return port;
    }
  }
  return undefined;
}

function methodNameOf(callee: ts.Expression): { name: string; receiver: ts.Expression; nameNode: ts.Node } | undefined {
  if (ts.isPropertyAccessExpression(callee)) return { name: callee.name.text, receiver: callee.expression, nameNode: callee.name };
  if (ts.isElementAccessExpression(callee) && ts.isStringLiteralLike(callee.argumentExpression)) {
    return { name: callee.argumentExpression.text, receiver: callee.expression, nameNode: callee.argumentExpression };
  }
  return undefined;
}

const isUndefinedType = (t: ts.Type): boolean => (t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)) !== 0;

/** Whether this call can name a version: an argument in a `versionId` parameter, or an object argument with `sourceVersionId`/`versionId`. */
function callNamesVersion(checker: ts.TypeChecker, call: ts.CallExpression, decl: ts.Declaration): boolean {
  if (!ts.isMethodSignature(decl) && !ts.isMethodDeclaration(decl)) return false;
  for (const [i, param] of decl.parameters.entries()) {
    const arg = call.arguments[i];
    if (arg === undefined) continue;
    if (ts.isSpreadElement(arg)) return true; // cannot tell: assume it can
    if (ts.isIdentifier(param.name) && param.name.text === 'versionId' && !isUndefinedType(checker.getTypeAtLocation(arg))) return true;
    const argType = checker.getTypeAtLocation(arg);
    if (argType.getProperty('sourceVersionId') !== undefined || argType.getProperty('versionId') !== undefined) {
      // A parameter typed with these properties (not a plain string) is an object argument.
      if (!(argType.flags & ts.TypeFlags.StringLike)) return true;
    }
  }
  return false;
}

function methodNames(checker: ts.TypeChecker, program: ts.Program, port: PortName): Set<string> {
  const spec = PORTS[port];
  const sf = program.getSourceFile(join(REPO_ROOT, spec.file));
  if (!sf) throw new Error(`${spec.file} is not in the program`);
  for (const stmt of sf.statements) {
    if (ts.isInterfaceDeclaration(stmt) && stmt.name.text === spec.iface) {
      const type = checker.getTypeAtLocation(stmt.name);
      return new Set(type.getProperties().map((p) => p.getName()));
    }
  }
  throw new Error(`${spec.file} declares no ${spec.iface}`);
}

/** Every port method call in `files` (repo-relative), resolved with the type checker. */
export function portCalls(files: readonly string[]): PortCall[] {
  const program = programFor(files);
  const checker = program.getTypeChecker();
  const declared = {
    oss: methodNames(checker, program, 'oss'),
    kms: methodNames(checker, program, 'kms'),
    fc: methodNames(checker, program, 'fc'),
  };
  const calls: PortCall[] = [];
  for (const file of files) {
    const sf = program.getSourceFile(join(REPO_ROOT, file));
    if (!sf) throw new Error(`${file} is not in the program`);
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) {
        const m = methodNameOf(node.expression);
        if (m) {
          const symbol = checker.getSymbolAtLocation(m.nameNode) ?? checker.getTypeAtLocation(m.receiver).getProperty(m.name);
          for (const decl of symbol?.declarations ?? []) {
            const port = portOfDeclaration(decl, declared);
            if (port === undefined) continue;
            const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
            calls.push({ port, method: m.name, versioned: callNamesVersion(checker, node, decl), at: `${file}:${line + 1}` });
            break;
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return calls;
}

/**
 * Calls of a method named like a port method on a receiver whose type is `any` (or unknown to
 * the checker): the analysis could not tell what they call. The test requires none.
 */
export function untypedPortLikeCalls(files: readonly string[]): string[] {
  const program = programFor(files);
  const checker = program.getTypeChecker();
  const names = new Set([
    ...methodNames(checker, program, 'oss'),
    ...methodNames(checker, program, 'kms'),
    ...methodNames(checker, program, 'fc'),
  ]);
  const found: string[] = [];
  for (const file of files) {
    const sf = program.getSourceFile(join(REPO_ROOT, file));
    if (!sf) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) {
        const m = methodNameOf(node.expression);
        if (m && names.has(m.name) && (checker.getTypeAtLocation(m.receiver).flags & ts.TypeFlags.Any) !== 0) {
          const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
          found.push(`${file}:${line + 1} ${m.name}()`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

/** OssPort method → the OSS API it calls, from the operation table. */
export function ossMethodOps(): Map<string, string[]> {
  return new Map(Object.entries(OSS_OPERATIONS).map(([method, row]) => [method, [row.op]]));
}

/** Every OSS API the client can call. */
export function ossClientOps(): string[] {
  return [...new Set([...ossMethodOps().values()].flat())].sort();
}

/** The methods each port interface declares. */
export function portMethods(port: PortName): string[] {
  const program = programFor([PORTS[port].file]);
  return [...methodNames(program.getTypeChecker(), program, port)].sort();
}

/** The operations a function's bundle can call, one entry per op, from the code (see the file comment). */
export async function reachableOps(functionDir: string): Promise<OpUse[]> {
  const files = await bundledSources(join(functionDir, 'index.ts'));
  const calls = portCalls(files);
  const ossOps = ossMethodOps();
  const byOp = new Map<string, OpUse>();
  for (const c of calls) {
    let ops: readonly string[];
    if (c.port === 'oss') ops = ossOps.get(c.method) ?? [];
    else if (c.port === 'kms') ops = KMS_PORT_RAM[c.method] ? [(KMS_PORT_RAM[c.method] as { op: string }).op] : [];
    else ops = FC_PORT_RAM[c.method] ? [(FC_PORT_RAM[c.method] as { op: string }).op] : [];
    if (ops.length === 0) throw new Error(`${c.at}: ${c.port} port method ${c.method}() maps to no operation`);
    for (const op of ops) {
      const key = `${c.port}:${op}`;
      const use = byOp.get(key) ?? { port: c.port, op, versioned: false, calls: [] };
      use.versioned ||= c.versioned;
      use.calls.push(c.at);
      byOp.set(key, use);
    }
  }
  return [...byOp.values()].sort((a, b) => (a.port === b.port ? a.op.localeCompare(b.op) : a.port.localeCompare(b.port)));
}
