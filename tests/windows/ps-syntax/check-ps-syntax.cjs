#!/usr/bin/env node
// Grammar check of the project's PowerShell scripts (CTest powershell_syntax_test).
//
// PowerShell itself (pwsh) is not packaged for Debian 12, so the scripts are
// parsed with tree-sitter-powershell (the airbus-cert grammar, its shipped
// .wasm) under web-tree-sitter, both pinned by package-lock.json beside this
// file. This is a GRAMMAR check, not PowerShell's own parser: it finds
// unbalanced braces, parentheses and quotes, unterminated here-strings,
// broken hashtables, switch and param blocks, dangling operators; it does not
// resolve commands, parameters or types, and a few malformed constructs the
// grammar accepts pass (see KNOWN_GAPS below, printed on every run).
//
// It also fails a script that is not ASCII but has no UTF-8 byte order mark
// (Windows PowerShell 5.1 reads such a file in the ANSI code page), and runs
// the lint of ps-lint.cjs on every file that parses cleanly (variables never
// assigned, "$name:" in strings, unknown commands).
//
// Usage: node check-ps-syntax.cjs --modules DIR [--self-test] FILE_OR_DIR...
//   --modules DIR  the node_modules folder holding web-tree-sitter and
//                  tree-sitter-powershell (npm ci of this folder's lock file)
//   --self-test    first check that the parser finds the errors of known
//                  broken snippets and none in known good ones
//   FILE_OR_DIR    .ps1/.psm1/.psd1 files; folders are searched recursively
// Prints FILE:LINE:COLUMN: message for each finding. Exit status: 0 clean,
// 1 findings or a failed self-test, 2 usage or setup error (missing node
// modules, no script found).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { createRequire } = require('module');
const v8 = require('v8');
const { lint } = require('./ps-lint.cjs');

// V8 would otherwise spend ~6 s of CPU optimising the grammar's 1 MB parse
// tables with TurboFan; its baseline compiler parses our scripts in
// milliseconds. (An unknown flag is ignored, so older Node.js still works.)
v8.setFlagsFromString('--liftoff-only');

const EXTENSIONS = new Set(['.ps1', '.psm1', '.psd1']);

// Snippets the grammar must reject: [source, a line (1-based) that must hold a finding].
const BROKEN = [
  ['function Install-It {\n  $x = 1\n', 2],                // unclosed function body
  ["if ($a -eq 1 { 'x' }\n", 1],                           // if without its closing parenthesis
  ['$h = @{\n  a = 1\n$y = 2\n', 3],                        // unclosed hashtable
  ['$s = "abc\n$t = 1\n', 1],                               // unterminated string
  ['$x = 1\n)\n', 2],                                       // stray parenthesis
  ["Get-Item -Path (Join-Path $a 'b'\n", 1],                // unclosed sub-expression
  ["$a = @'\nabc\n", 1],                                    // unterminated here-string
  ["switch ($x) { 1 { 'a' }\n", 1],                         // unclosed switch
  ['param([string] $a,)\n', 1],                             // trailing comma in param()
  ['$x = $a -and\n', 1],                                    // dangling operator
  ['$x = [int\n', 1],                                       // unclosed type literal
];

// Snippets the grammar must accept (constructs the installer uses).
const GOOD = [
  '[CmdletBinding(SupportsShouldProcess = $true)]\nparam(\n  [Parameter(Mandatory = $true)] [string] $A,\n  [switch] $B\n)\n$x = 1\n',
  "function f { param($a) }\nf -B:$true\n$y = \"a $($x.Name) b\"\n",
  '$z = @"\nhi $x\n"@\n$w = @\'\nraw $x\n\'@\n',
  "& cmd.exe /c \"x\" 2>&1 | Out-Null\n$h = @{ a = 1; 'b c' = @(1, 2) }\n",
  'try { throw "x" } catch [System.IO.IOException] { $_ } finally { 1 }\n',
  "switch -Regex ($s) {\n  '^a' { 1; break }\n  default { 2 }\n}\n",
  "$acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($sid, 'FullControl', 'Allow')))\n",
  'Get-ChildItem -LiteralPath $p | Where-Object { $_.Length -gt 0 } | ForEach-Object { $_.Name }\n',
  '$args = @{ Path = $p; Force = $true }\nNew-Item @args | Out-Null\n',
  "if ($PSCmdlet.ShouldProcess($p, 'Do')) { [void][IO.File]::Delete($p) } elseif (-not $x) { } else { }\n",
];

// Where this grammar and PowerShell disagree (tree-sitter-powershell 0.26.4):
// shown on every run, not asserted, so a reader of the output knows the limits.
const KNOWN_GAPS = [
  'accepted although broken: try { 1 }             (try without catch or finally)',
  'accepted although broken: foreach ($x in ) { }  (foreach without a collection)',
  'rejected although valid:  a script that is only a param(...) block',
  "rejected although valid:  switch ($s) { 'a' { 1 } default { 2 } }  (default on the line of another clause)",
];

// A usage or setup error: exit status 2.
class SetupError extends Error {}

function usage(message) {
  throw new SetupError(`${message}\n` +
    'usage: node check-ps-syntax.cjs --modules DIR [--self-test] FILE_OR_DIR...');
}

// Every ERROR and MISSING node that holds no other such node (the innermost,
// whose position points at the fault), as {row, column, message} (0-based).
function findings(tree) {
  const out = [];
  const walk = (node) => {
    let inner = false;
    if (node.hasError || node.isMissing) {
      for (const child of node.children) inner = walk(child) || inner;
    }
    if (node.isMissing) {
      out.push({ row: node.startPosition.row, column: node.startPosition.column,
                 message: `missing ${JSON.stringify(node.type)}` });
      return true;
    }
    if (node.isError && !inner) {
      const text = node.text.split('\n')[0].slice(0, 40);
      out.push({ row: node.startPosition.row, column: node.startPosition.column,
                 message: text.trim() ? `syntax error at ${JSON.stringify(text)}`
                   : 'syntax error at the end of the line (something left open?)' });
      return true;
    }
    return inner || node.isError;
  };
  walk(tree.rootNode);
  return out.sort((a, b) => a.row - b.row || a.column - b.column);
}

function collect(target, files) {
  const stat = fs.statSync(target);
  if (stat.isDirectory()) {
    for (const entry of fs.readdirSync(target).sort()) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue;
      collect(path.join(target, entry), files);
    }
  } else if (EXTENSIONS.has(path.extname(target).toLowerCase())) {
    files.push(target);
  }
}

// The findings of one script file as "FILE:LINE:COLUMN: message" lines (1-based).
function checkFile(parser, file) {
  let bytes = fs.readFileSync(file);
  const bom = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  if (bom) bytes = bytes.subarray(3);
  const text = bytes.toString('utf8');
  const tree = parser.parse(text);
  const problems = findings(tree);
  // The lint only on a clean tree: an ERROR node would make it guess.
  if (problems.length === 0) problems.push(...lint(tree, text));
  if (!bom) {
    const lines = text.split('\n');
    for (let row = 0; row < lines.length; row++) {
      const column = lines[row].search(/[^\x00-\x7f]/);
      if (column >= 0) {
        problems.push({ row, column, message: 'non-ASCII character in a file without a ' +
          'UTF-8 byte order mark (Windows PowerShell 5.1 would read it as ANSI)' });
        break;
      }
    }
  }
  problems.sort((a, b) => a.row - b.row || a.column - b.column);
  return problems.map((p) => `${file}:${p.row + 1}:${p.column + 1}: ${p.message}`);
}

// Files with known faults give exactly the expected report lines.
function selfTestFiles(parser) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-syntax-'));
  const cases = [
    ['broken.ps1', Buffer.from('param([string] $A)\nfunction Install-It {\n  if ($A) { 1\n}\n'),
     ['broken.ps1:4:2: missing "}"']],
    ['ansi.ps1', Buffer.from('$a = 1\n$b = "caf\u00e9"\n'),
     ['ansi.ps1:2:10: non-ASCII character in a file without a UTF-8 byte order mark ' +
      '(Windows PowerShell 5.1 would read it as ANSI)']],
    ['bom.ps1', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('$b = "caf\u00e9"\n')]),
     []],
    // The lint (ps-lint.cjs): parameters, foreach variables, assignments in
    // functions, automatic, scoped and env: variables pass; a variable never
    // assigned, "$A:" in a string, a drive that is no scope, a misspelt command do not.
    ['help.ps1', Buffer.from('<#\n.SYNOPSIS\n  x\n.PARAMETER A\n  a\n.PARAMETER Gone\n  g\n#>\n' +
                             'param([string] $A, [switch] $B)\n$x = $A\n'),
     ['help.ps1:6:1: help documents .PARAMETER Gone, which param() does not declare',
      'help.ps1:9:29: parameter $B has no .PARAMETER in the script\'s help']],
    ['lint.ps1', Buffer.from('param([string] $A = $PSScriptRoot)\n' +
                             'function Get-Thing([int] $B) { foreach ($c in $B) { $script:d = $c } }\n' +
                             '$x = 1\n' +
                             'Write-Host "${A}: $env:TEMP $script:x $d $_ $A:"\n' +
                             'Get-Thing -B $y; Get-Thng; $w:q\n'),
     ['lint.ps1:4:45: $A: PowerShell reads "$A:" as a drive-qualified variable and rejects it ' +
      '(write "${A}:")',
      'lint.ps1:5:14: variable $y is never assigned in this file',
      'lint.ps1:5:18: unknown command Get-Thng (no function of this file, not in KNOWN_COMMANDS ' +
      'of tests/windows/ps-syntax/ps-lint.cjs)',
      'lint.ps1:5:28: $w:q reads variable "q" of drive "w:" (for "$w" followed by a colon ' +
      'write "${w}:")']],
    // A recursive Remove-Item (it follows junctions in Windows PowerShell 5.1).
    ['recurse.ps1', Buffer.from('param([string] $A)\nRemove-Item -LiteralPath $A -Recurse -Force\n' +
                                'rd $A -r\nRemove-Item -LiteralPath $A -Force\n'),
     ['recurse.ps1:2:29: Remove-Item -Recurse follows junctions and symbolic links in Windows ' +
      'PowerShell 5.1 and deletes their targets (PowerShell issue #621): remove trees with a ' +
      'function that never descends into a reparse point',
      'recurse.ps1:3:7: rd -r follows junctions and symbolic links in Windows PowerShell 5.1 and ' +
      'deletes their targets (PowerShell issue #621): remove trees with a function that never ' +
      'descends into a reparse point']],
  ];
  let failed = 0;
  try {
    for (const [name, content, expected] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      const got = checkFile(parser, file).map((l) => l.slice(dir.length + 1));
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        failed++;
        process.stdout.write(`self-test FAILED: ${name}: expected ${JSON.stringify(expected)}, ` +
          `got ${JSON.stringify(got)}\n`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`self-test: ${cases.length - failed} of ${cases.length} files reported ` +
    `as expected${failed ? `, ${failed} FAILED` : ''}\n`);
  return failed === 0;
}

function selfTest(parser) {
  let failed = 0;
  for (const [source, line] of BROKEN) {
    const found = findings(parser.parse(source));
    if (!found.some((f) => f.row + 1 === line)) {
      failed++;
      process.stdout.write(`self-test FAILED: no finding on line ${line} of broken snippet ` +
        `${JSON.stringify(source)} (found: ${JSON.stringify(found)})\n`);
    }
  }
  for (const source of GOOD) {
    const found = findings(parser.parse(source));
    if (found.length > 0) {
      failed++;
      process.stdout.write(`self-test FAILED: good snippet ${JSON.stringify(source)} ` +
        `reported ${JSON.stringify(found)}\n`);
    }
  }
  process.stdout.write(`self-test: ${BROKEN.length} broken snippets rejected, ` +
    `${GOOD.length} good snippets accepted${failed ? `, ${failed} FAILED` : ''}\n`);
  process.stdout.write(`known differences from PowerShell's parser:\n  ${KNOWN_GAPS.join('\n  ')}\n`);
  return failed === 0;
}

async function main() {
  const args = process.argv.slice(2);
  let modules = '';
  let runSelfTest = false;
  const targets = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--modules') modules = args[++i] || usage('--modules needs a folder');
    else if (args[i] === '--self-test') runSelfTest = true;
    else if (args[i].startsWith('-')) usage(`unknown option ${args[i]}`);
    else targets.push(args[i]);
  }
  if (!modules) usage('--modules DIR is required');
  if (targets.length === 0) usage('no file or folder to check');

  let Parser, Language, wasm;
  try {
    const req = createRequire(path.join(path.resolve(modules), 'package.json'));
    ({ Parser, Language } = req('web-tree-sitter'));
    wasm = req.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm');
  } catch (e) {
    throw new SetupError(`web-tree-sitter or tree-sitter-powershell missing under ${modules} ` +
      `(tests/windows/ps-syntax/npm-ci.sh installs them): ${e.message.split('\n')[0]}`);
  }
  await Parser.init();
  const parser = new Parser();
  parser.setLanguage(await Language.load(wasm));

  let ok = true;
  if (runSelfTest) {
    ok = selfTest(parser) && ok;
    ok = selfTestFiles(parser) && ok;
  }

  const files = [];
  for (const t of targets) {
    if (!fs.existsSync(t)) usage(`${t} does not exist`);
    collect(t, files);
  }
  if (files.length === 0) usage(`no PowerShell script under ${targets.join(' ')}`);

  let total = 0;
  for (const file of files) {
    const lines = checkFile(parser, file);
    for (const line of lines) process.stdout.write(`${line}\n`);
    process.stdout.write(`${file}: ${lines.length ? `${lines.length} finding(s)` : 'ok'}\n`);
    total += lines.length;
  }
  process.stdout.write(`checked ${files.length} PowerShell file(s): ${total} finding(s)\n`);
  // exitCode, not exit(): exit() may drop output still queued for a pipe.
  process.exitCode = ok && total === 0 ? 0 : 1;
}

main().catch((e) => {
  process.stderr.write(`check-ps-syntax: ${e instanceof SetupError ? e.message : e.stack}\n`);
  process.exitCode = 2;
});
