// Lint of a parsed PowerShell script (tree-sitter-powershell syntax tree) for
// the mistakes a script that is never run here would only show on Windows,
// where Set-StrictMode -Version Latest makes them errors:
//  - a variable that is read but never assigned anywhere in the file (a
//    typo, or a renamed variable), parameters, foreach variables and
//    PowerShell's automatic variables counting as assigned;
//  - a drive-qualified variable that is no scope or provider ("$a:b" reads
//    variable b of drive a), and "$name:" followed by no name character,
//    which PowerShell's parser rejects ("Variable reference is not valid"):
//    in a string, write "${name}:";
//  - a command that is neither a function of the file nor a known cmdlet
//    (KNOWN_COMMANDS below: add a cmdlet there when a script starts to use it);
//  - in the script's comment-based help, a .PARAMETER that the script's
//    param() block does not declare, or a parameter without a .PARAMETER;
//  - Remove-Item (or its aliases) with -Recurse: Windows PowerShell 5.1
//    follows a junction or directory symbolic link inside (or at) the path
//    and deletes the TARGET's contents (PowerShell issue #621, fixed only in
//    PowerShell 7), so an administrator's uninstall deleting a folder a user
//    can write to (a profile's %LOCALAPPDATA%\Reclaim) would delete whatever
//    that user linked there. Scripts remove trees with a function that
//    removes links as links (RemoveDirectory) and never descends into them.
// Scope-insensitive on purpose: a variable assigned in one function and read
// in another passes (PowerShell's dynamic scoping may make that right).
'use strict';

// PowerShell's automatic and preference variables the scripts may read.
const AUTOMATIC = new Set([
  '_', 'psitem', 'true', 'false', 'null', 'args', 'input', 'this', 'matches', 'error',
  'lastexitcode', 'psscriptroot', 'pscommandpath', 'pscmdlet', 'psboundparameters',
  'myinvocation', 'executioncontext', 'host', 'home', 'pid', 'pwd', 'psversiontable',
  'erroractionpreference', 'whatifpreference', 'confirmpreference', 'verbosepreference',
  'debugpreference', 'warningpreference', 'informationpreference', 'progresspreference',
  'ofs', 'psdefaultparametervalues', 'stacktrace', 'foreach', 'switch', 'sender', 'event',
  'eventargs',
]);

// Scope modifiers and the providers whose drives a variable may name.
const SCOPES = new Set(['script', 'global', 'local', 'private', 'using']);
const PROVIDER_DRIVES = new Set(['env', 'variable', 'function', 'alias']);

// Cmdlets (Windows PowerShell 5.1 and its ScheduledTasks, CimCmdlets modules)
// the scripts under deploy/ use. A name missing here is reported.
const KNOWN_COMMANDS = new Set([
  'Add-Type', 'ConvertTo-Json', 'ConvertFrom-Json', 'Copy-Item', 'ForEach-Object', 'Get-Acl',
  'Get-ChildItem', 'Get-CimInstance', 'Get-Command', 'Get-Content', 'Get-Date', 'Get-Help',
  'Get-Item', 'Get-ItemProperty', 'Get-Process', 'Get-ScheduledTask', 'Get-Service',
  'Invoke-CimMethod', 'Join-Path', 'Move-Item', 'New-Item', 'New-ItemProperty', 'New-Object',
  'New-ScheduledTaskAction', 'New-ScheduledTaskPrincipal', 'New-ScheduledTaskSettingsSet',
  'New-ScheduledTaskTrigger', 'New-Service', 'New-TimeSpan', 'Out-Null', 'Read-Host',
  'Register-ScheduledTask', 'Remove-Item', 'Remove-ItemProperty', 'Remove-Variable',
  'Resolve-Path', 'Select-Object', 'Select-String', 'Set-Acl', 'Set-Content', 'Set-ItemProperty', 'Set-Service',
  'Set-StrictMode', 'Sort-Object', 'Split-Path', 'Start-ScheduledTask', 'Start-Service',
  'Start-Sleep', 'Stop-Process', 'Stop-ScheduledTask', 'Stop-Service', 'Test-Path',
  'Unregister-ScheduledTask', 'Where-Object', 'Write-Error', 'Write-Host', 'Write-Output',
  'Write-Verbose', 'Write-Warning',
].map((c) => c.toLowerCase()));

// Remove-Item and its built-in aliases (Windows PowerShell 5.1).
const REMOVE_ITEM = new Set(['remove-item', 'rm', 'rmdir', 'del', 'erase', 'rd', 'ri']);

function* walk(node) {
  yield node;
  for (const child of node.namedChildren) yield* walk(child);
}

// "$x", "${x}", "$script:x", "@x" -> { scope: 'script' | '', name: 'x' }.
function variableName(text) {
  let t = text.replace(/^[$@]/, '');
  if (t.startsWith('{') && t.endsWith('}')) t = t.slice(1, -1);
  const colon = t.indexOf(':');
  if (colon > 0) return { scope: t.slice(0, colon).toLowerCase(), name: t.slice(colon + 1).toLowerCase() };
  return { scope: '', name: t.toLowerCase() };
}

// Findings of `tree` (parsed from `text`) as {row, column, message}
// (0-based positions).
function lint(tree, text) {
  const assigned = new Set(AUTOMATIC);
  const functions = new Set();
  const reads = [];
  const out = [];
  for (const node of walk(tree.rootNode)) {
    if (node.type === 'function_statement') {
      const name = node.namedChildren.find((c) => c.type === 'function_name');
      if (name) functions.add(name.text.toLowerCase());
    } else if (node.type === 'left_assignment_expression' || node.type === 'script_parameter') {
      for (const v of walk(node)) {
        if (v.type === 'variable') assigned.add(variableName(v.text).name);
        if (node.type === 'script_parameter' && v.type === 'script_parameter_default') break;
      }
    } else if (node.type === 'foreach_statement') {
      const v = node.namedChildren.find((c) => c.type === 'variable');
      if (v) assigned.add(variableName(v.text).name);
    } else if (node.type === 'variable') {
      reads.push(node);
    } else if (node.type === 'command') {
      const name = node.childForFieldName('command_name');
      if (name && name.type === 'command_name') out.push({ command: name, node });
    }
  }
  const findings = [];
  for (const v of reads) {
    const { scope, name } = variableName(v.text);
    const at = { row: v.startPosition.row, column: v.startPosition.column };
    if (!scope && !v.text.startsWith('${') && text[v.endIndex] === ':') {
      findings.push({ ...at, message: `${v.text}: PowerShell reads "${v.text}:" as a drive-qualified ` +
        `variable and rejects it (write "\${${v.text.slice(1)}}:")` });
    } else if (scope && !SCOPES.has(scope) && !PROVIDER_DRIVES.has(scope)) {
      findings.push({ ...at, message: `${v.text} reads variable "${name}" of drive "${scope}:" ` +
        `(for "$${scope}" followed by a colon write "\${${scope}}:")` });
    } else if (!PROVIDER_DRIVES.has(scope) && !assigned.has(name)) {
      findings.push({ ...at, message: `variable ${v.text} is never assigned in this file` });
    }
  }
  for (const { command, node } of out) {
    const name = command.text.toLowerCase();
    if (REMOVE_ITEM.has(name)) {
      const elements = node.namedChildren.find((c) => c.type === 'command_elements');
      for (const p of elements ? elements.namedChildren : []) {
        // -Recurse, -r, -rec... (PowerShell accepts any unique prefix), -Recurse:$true.
        const flag = p.type === 'command_parameter' ? p.text.toLowerCase().replace(/:.*$/, '') : '';
        if (flag.length >= 2 && '-recurse'.startsWith(flag)) {
          findings.push({ row: p.startPosition.row, column: p.startPosition.column,
                          message: `${command.text} ${p.text} follows junctions and symbolic links ` +
                                   'in Windows PowerShell 5.1 and deletes their targets (PowerShell ' +
                                   'issue #621): remove trees with a function that never descends ' +
                                   'into a reparse point' });
        }
      }
    }
    // Only Verb-Noun names: programs (sc.exe, .\x.ps1) are not checked.
    if (/^[a-z]+-[a-z0-9]+$/.test(name) && !functions.has(name) && !KNOWN_COMMANDS.has(name)) {
      findings.push({ row: command.startPosition.row, column: command.startPosition.column,
                      message: `unknown command ${command.text} (no function of this file, not in ` +
                               'KNOWN_COMMANDS of tests/windows/ps-syntax/ps-lint.cjs)' });
    }
  }
  findings.push(...lintHelp(tree));
  return findings;
}

// The script's comment-based help (the block comment before its param()
// block) against that block's parameters.
function lintHelp(tree) {
  const root = tree.rootNode;
  const params = root.namedChildren.find((c) => c.type === 'param_block');
  const help = root.namedChildren.find((c) => c.type === 'comment' && /^<#[\s\S]*\.SYNOPSIS/i.test(c.text));
  if (!params || !help) return [];
  const declared = new Map();
  for (const p of params.namedChildren.find((c) => c.type === 'parameter_list')?.namedChildren || []) {
    const v = p.namedChildren.find((c) => c.type === 'variable');
    if (v) declared.set(variableName(v.text).name, v);
  }
  const documented = new Set();
  const findings = [];
  const lines = help.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*\.PARAMETER\s+(\S+)/i.exec(lines[i]);
    if (!m) continue;
    documented.add(m[1].toLowerCase());
    if (!declared.has(m[1].toLowerCase())) {
      findings.push({ row: help.startPosition.row + i, column: lines[i].indexOf('.'),
                      message: `help documents .PARAMETER ${m[1]}, which param() does not declare` });
    }
  }
  for (const [name, v] of declared) {
    if (!documented.has(name)) {
      findings.push({ row: v.startPosition.row, column: v.startPosition.column,
                      message: `parameter ${v.text} has no .PARAMETER in the script's help` });
    }
  }
  return findings;
}

module.exports = { lint };
