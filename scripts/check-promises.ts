/**
 * Finds promises whose rejection nobody handles, with the compiler's own types. Biome's `noFloatingPromises` infers
 * types itself and takes `void p` as handled, which is exactly how a rejection goes unhandled in this code base
 * (`void publishProgress(id)`). Three shapes are reported:
 * - `p;` — a promise as a statement, neither awaited nor voided nor given a handler;
 * - `void p` — fire-and-forget whose rejection nobody handles. Allowed: `void p.catch(h)`, `void p.then(f, h)`, and
 *   `void f()` where `f`, declared in this code base, ends in a handler: its body is one `try … catch`, or it returns
 *   `….catch(h)` / `….then(f, h)` (a `.finally(…)` after it is fine);
 * - `() => p` where the callee expects a function returning void (an event listener, a timer): nobody sees its
 *   rejection.
 * Only native promises count (a fastify reply is a thenable too, and is not one). Not caught: a handler that itself
 * throws. Run by test/promises.test.ts; `npx tsx scripts/check-promises.ts` prints what it finds (CHECKED_DIRS).
 */
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export type Finding = { file: string; line: number; kind: "floating" | "voided" | "returned-to-void"; text: string };

export function checkPromises(program: ts.Program, include: (file: string) => boolean): Finding[] {
  const checker = program.getTypeChecker();
  const out: Finding[] = [];
  const isPromise = (t: ts.Type): boolean => (t.isUnion() ? t.types.some(isPromise) : t.getSymbol()?.getName() === "Promise");
  const promiseTyped = (e: ts.Node) => isPromise(checker.getTypeAtLocation(e));

  /** `….catch(h)` or `….then(f, h)`, possibly followed by `.finally(…)`. */
  const handled = (e: ts.Expression): boolean => {
    const x = skipParens(e);
    if (!ts.isCallExpression(x) || !ts.isPropertyAccessExpression(x.expression)) return false;
    const name = x.expression.name.text;
    if (name === "finally") return handled(x.expression.expression);
    return (name === "catch" && x.arguments.length >= 1) || (name === "then" && x.arguments.length >= 2);
  };
  /** A `const` holding a handled chain. */
  const handledConst = (e: ts.Expression): boolean => {
    if (!ts.isIdentifier(e)) return false;
    const d = checker.getSymbolAtLocation(e)?.valueDeclaration;
    return !!d && ts.isVariableDeclaration(d) && !!d.initializer && (ts.getCombinedNodeFlags(d) & ts.NodeFlags.Const) !== 0 && handled(d.initializer);
  };
  /** A function body that cannot reject unless its handler throws. */
  const endsInHandler = (fn: ts.SignatureDeclaration): boolean => {
    const body = (fn as { body?: ts.Node }).body;
    if (!body) return false;
    if (!ts.isBlock(body)) {
      const e = skipParens(body as ts.Expression);
      return handled(ts.isBinaryExpression(e) && isAssignment(e.operatorToken.kind) ? e.right : e);
    }
    const returns: ts.ReturnStatement[] = [];
    const collect = (n: ts.Node) => {
      if (ts.isReturnStatement(n)) returns.push(n);
      else if (!ts.isFunctionLike(n)) ts.forEachChild(n, collect);
    };
    collect(body);
    const only = body.statements.length === 1 ? body.statements[0] : undefined;
    if (hasModifier(fn, ts.SyntaxKind.AsyncKeyword))
      // (`return p` inside the try hands p's rejection to the caller: only `return await p` stays inside)
      return !!only && ts.isTryStatement(only) && !!only.catchClause && returns.every((r) => !r.expression || !promiseTyped(r.expression));
    return returns.length > 0 && returns.every((r) => !!r.expression && (handled(r.expression) || handledConst(r.expression)));
  };
  const calleeEndsInHandler = (call: ts.Expression): boolean => {
    const x = skipParens(call);
    if (!ts.isCallExpression(x)) return false;
    let symbol = checker.getSymbolAtLocation(x.expression);
    if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
    const decls = symbol?.declarations ?? [];
    return (
      decls.length > 0 &&
      decls.every((d) => {
        if (ts.isFunctionDeclaration(d) || ts.isMethodDeclaration(d)) return endsInHandler(d);
        const init = ts.isVariableDeclaration(d) || ts.isPropertyAssignment(d) ? d.initializer : undefined;
        return !!init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) && endsInHandler(init);
      })
    );
  };
  const expectsVoid = (fn: ts.Expression): boolean => {
    const ctx = checker.getContextualType(fn);
    if (!ctx) return false;
    const sigs = ctx.getNonNullableType().getCallSignatures();
    return sigs.length > 0 && sigs.every((s) => (checker.getReturnTypeOfSignature(s).flags & ts.TypeFlags.Void) !== 0);
  };

  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile || !include(sf.fileName)) continue;
    const report = (node: ts.Node, kind: Finding["kind"]) => {
      const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
      out.push({ file: sf.fileName, line: line + 1, kind, text: node.getText(sf).split("\n")[0]?.slice(0, 120) ?? "" });
    };
    const visit = (node: ts.Node) => {
      if (ts.isExpressionStatement(node)) {
        const e = skipParens(node.expression);
        const stored = ts.isBinaryExpression(e) && isAssignment(e.operatorToken.kind);
        if (!stored && !ts.isVoidExpression(e) && !ts.isAwaitExpression(e) && !handled(e) && promiseTyped(e)) report(node, "floating");
      } else if (ts.isVoidExpression(node)) {
        if (promiseTyped(node.expression) && !handled(node.expression) && !calleeEndsInHandler(node.expression)) report(node, "voided");
      } else if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
        const sig = checker.getSignatureFromDeclaration(node);
        if (sig && isPromise(checker.getReturnTypeOfSignature(sig)) && expectsVoid(node)) report(node, "returned-to-void");
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return out;
}

const skipParens = (e: ts.Expression): ts.Expression => (ts.isParenthesizedExpression(e) ? skipParens(e.expression) : e);
const isAssignment = (k: ts.SyntaxKind) => k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment;
const hasModifier = (n: ts.Node, kind: ts.SyntaxKind) => (ts.canHaveModifiers(n) ? (ts.getModifiers(n) ?? []).some((m) => m.kind === kind) : false);

/** A program over `files` with the project's compiler options (tsconfig.json at `root`). */
export function programOf(root: string, files: string[]): ts.Program {
  const configPath = ts.findConfigFile(root, ts.sys.fileExists, "tsconfig.json");
  if (!configPath) throw new Error(`no tsconfig.json in ${root}`);
  const parsed = ts.parseJsonConfigFileContent(
    ts.readConfigFile(configPath, ts.sys.readFile).config,
    ts.sys,
    dirname(configPath),
    undefined,
    configPath,
  );
  return ts.createProgram(files, parsed.options);
}

/** The service's own sources. */
/** Where it looks: the service, the device contract, and what runs beside it (harness, simulators, scripts, benchmarks). */
export const CHECKED_DIRS = ["src", "devices", "harness", "simulators", "scripts", "bench"] as const;

export function checkedFiles(root: string): string[] {
  return CHECKED_DIRS.flatMap((d) =>
    (readdirSync(join(root, d), { recursive: true }) as string[]).filter((f) => f.endsWith(".ts")).map((f) => join(root, d, f)),
  );
}

/** Whether a file is one the check reports on (the program also holds what they import). */
export const isChecked = (root: string) => (file: string) => CHECKED_DIRS.some((d) => file.startsWith(join(root, d, "/")));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const found = checkPromises(programOf(root, checkedFiles(root)), isChecked(root));
  for (const f of found) console.log(`${relative(root, f.file)}:${f.line} ${f.kind}: ${f.text}`);
  process.exitCode = found.length > 0 ? 1 : 0;
}
