<#
.SYNOPSIS
  Installs the Reclaim agent on this Windows machine: the machine service
  (LocalSystem), one agent per user session, the browser extension's native
  messaging host. Or uninstalls it (-Uninstall).

.DESCRIPTION
  The same architecture as on Linux (README, "Installing on Windows"):

  reclaim-agent-service.exe  The Windows service "ReclaimAgentService"
                             ("Reclaim agent service"), LocalSystem, automatic
                             start, restarted by the Service Control Manager
                             when it fails. The only process that talks to the
                             collector and the only one that holds the
                             machine's device credential. It listens on the
                             named pipe \\.\pipe\reclaim-agent-service and
                             learns each connecting agent's user from the
                             pipe (the client's token), never from the agent.
                             Its options: %ProgramData%\Reclaim\agent-service.toml.
  reclaim-agent.exe          One per interactive session, as that user, not
                             elevated: meters focus time, shows consent
                             prompts, hands its batches to the service's pipe
                             (its default: no collector, certificate or
                             secret). Started by the logon scheduled task
                             "\Reclaim\Reclaim Agent" for every member of
                             BUILTIN\Users (console, Remote Desktop, fast user
                             switching), restarted every minute if it fails.
  reclaim-native-host.exe    Started by Chrome, Edge or Firefox for the
                             Reclaim web focus extension (native messaging
                             host "com.reclaim.webfocus"); forwards the active
                             tab's site to the user's agent.

  Install steps, in this order (each is skipped under -WhatIf):
   1. Checks: administrator, the three executables in -SourceDir,
      `reclaim-agent-service.exe run --help` knows --config, the parameters.
   2. Unregisters the logon task (registered again in step 8), stops the
      running agents (WM_CLOSE first: the agent stores its last batch), the
      native hosts and the service, so that their executables can be
      replaced.
   3. Copies reclaim-agent.exe, reclaim-agent-service.exe,
      reclaim-native-host.exe (+ any .dll) into %ProgramFiles%\Reclaim
      (Program Files' ACL: Users read and execute, only administrators
      write). An older layout's %ProgramFiles%\Reclaim\Agent is removed.
   4. %ProgramData%\Reclaim: created, or taken over when it is owned by
      SYSTEM or Administrators (refused otherwise, and refused when it or
      anything in it is a reparse point); protected DACL set BEFORE any file
      is written: SYSTEM and Administrators full control, inherited by
      everything inside; Users may list the folder and read agent.toml only.
      The machine credential and the mutual-TLS key get a protected DACL of
      their own (SYSTEM and Administrators only). An older install's
      secrets\enrollment.secret is deleted.
   5. Writes agent-service.toml from -Collector, -CaFile, -ClientCertFile /
      -ClientKeyFile, -InsecurePlaintext, -UserDomain, -UpnSuffix (kept as
      it is when -Collector is not given); copies the CA bundle and the
      client certificate and key beside it; writes agent.toml (the agents'
      settings: -AgentConfigFile, else a default one; kept when present,
      unless it names a collector, as the previous installer's did: then it
      is kept as agent.toml.direct-mode.bak and replaced by the default).
   6. Registers (or updates) the service, its description, its failure
      actions (restart after 5 s, 30 s, then every 60 s; counter reset after
      a day; also when it stops with an error code: failureflag 1) and its
      preshutdown timeout (-PreshutdownTimeoutSeconds).
   7. Native messaging: the host manifests
      %ProgramFiles%\Reclaim\com.reclaim.webfocus.chromium.json (Chrome and
      Edge: allowed_origins) and ...firefox.json (allowed_extensions), and
      their registry keys (default value = the manifest's path, 64-bit view)
      HKLM\SOFTWARE\Google\Chrome\NativeMessagingHosts\com.reclaim.webfocus,
      HKLM\SOFTWARE\Microsoft\Edge\NativeMessagingHosts\com.reclaim.webfocus,
      HKLM\SOFTWARE\Mozilla\NativeMessagingHosts\com.reclaim.webfocus.
   8. Registers the logon task; -StartNow also starts it now in the open
      sessions.
   9. Enrollment, with -EnrollmentSecretFile or -EnrollmentSecret:
      `reclaim-agent-service.exe enroll` with the collector options, the
      secret in its environment only (RECLAIM_ENROLLMENT_SECRET of that one
      process: never in a command line, a file or a log), writes
      %ProgramData%\Reclaim\machine-credential; the script then sets the
      credential's DACL and DELETES -EnrollmentSecretFile (its bytes
      overwritten first; best effort on SSDs and journaling file systems).
      Without a secret an existing credential is kept. Then the service is
      started, if a machine credential exists.

  Running it again is safe: it replaces the binaries, keeps the
  configuration and the machine credential unless told otherwise, and
  updates the service, the task and the registry keys in place.

  Uninstall (-Uninstall): removes the task and the registry keys (so that
  no browser starts the host again), stops the agents and native hosts,
  stops and deletes the service, removes %ProgramFiles%\Reclaim. %ProgramData%\Reclaim (configuration, machine
  credential, service log) stays unless -RemoveData is given, which also
  deletes every profile's %LOCALAPPDATA%\Reclaim (each user's spool: usage
  not yet sent is lost).

  Never run on Windows by the project's tests: its syntax is checked by
  powershell_syntax_test (a tree-sitter grammar, not PowerShell's parser),
  its names (service, files, native messaging host, extension ids) against
  the programs' by windows_installer_constants_test.

.PARAMETER SourceDir
  Folder holding reclaim-agent.exe, reclaim-agent-service.exe and
  reclaim-native-host.exe (and DLLs, if any), or a CMake build folder
  (agent\, agent\service\, agent\browser\ are searched too). Default: this
  script's folder.

.PARAMETER Collector
  host:port of the collector (a name in its certificate). Writes a new
  agent-service.toml (replacing the old one) with the options below.
  Required on a first install and for enrolling.

.PARAMETER CaFile
  PEM bundle of the CAs that sign the collector's certificate; installed as
  %ProgramData%\Reclaim\ca.pem. With -Collector, required unless
  -InsecurePlaintext.

.PARAMETER ClientCertFile
  Mutual TLS: the machine's PEM certificate, installed as client.pem; needs
  -ClientKeyFile.

.PARAMETER ClientKeyFile
  Mutual TLS: the key of -ClientCertFile, installed as client-key.pem for
  SYSTEM and Administrators only (only the service reads it).

.PARAMETER InsecurePlaintext
  Talk to the collector WITHOUT TLS (trusted test networks only; the service
  logs a warning).

.PARAMETER UserDomain
  The domain the service reports for an attested user whose token account
  cannot be looked up (run option --user-domain). Normally unused on
  Windows: the domain comes from the pipe client's token
  (LookupAccountSidW).

.PARAMETER UpnSuffix
  When set, each user's UPN is LOGIN@SUFFIX (run option --upn-suffix);
  without it users have no UPN (the service does not look it up in the
  directory, and the agent's own is not trusted).

.PARAMETER EnrollmentSecretFile
  A file holding the collector's enrollment secret (one line, at most 4096
  bytes). The machine is enrolled with it, then the file is deleted. Nothing
  is enrolled, and the file is kept, when enrolling fails.

.PARAMETER EnrollmentSecret
  The enrollment secret as a SecureString (e.g. from Read-Host -AsSecureString
  or a secrets vault), instead of -EnrollmentSecretFile; never written to
  disk.

.PARAMETER ChromiumExtensionId
  Id(s) of your packed Chromium/Chrome/Edge extension
  (deploy/browser/pack-extension.sh prints it), allowed to start the native
  host besides the development id lnhlhmepibkcoeggjnhmhjbilcfpjmcl. Firefox's
  id webfocus@reclaim.project is always allowed.

.PARAMETER AgentConfigFile
  The agents' configuration (TOML, keys of `reclaim-agent --help`) to install
  as %ProgramData%\Reclaim\agent.toml, readable by every user. Without it an
  existing agent.toml is kept, or a default one written.

.PARAMETER PreshutdownTimeoutSeconds
  How long Windows waits at shutdown for the service to stop after
  SERVICE_CONTROL_PRESHUTDOWN. Default 20 (Windows' default: 10).

.PARAMETER StartNow
  Also start the agent task now (for the sessions already open; otherwise
  each user's agent starts at their next logon).

.PARAMETER Uninstall
  Remove the task, the service, the registry keys and the program folder.

.PARAMETER RemoveData
  With -Uninstall: also delete %ProgramData%\Reclaim (configuration, machine
  credential, logs) and every profile's %LOCALAPPDATA%\Reclaim.

.EXAMPLE
  .\install-reclaim-agent.ps1 -SourceDir .\build-windows\agent -Collector collector.example.com:7443 -CaFile .\ca.pem -EnrollmentSecretFile .\enrollment.secret -StartNow

  First install: binaries, configuration, enrollment (the secret file is
  deleted afterwards), service started, agents started in open sessions.

.EXAMPLE
  .\install-reclaim-agent.ps1 -SourceDir .\new-build

  Upgrade: new binaries; configuration and machine credential kept.

.EXAMPLE
  .\install-reclaim-agent.ps1 -Collector collector.example.com:7443 -CaFile .\ca.pem -EnrollmentSecret (Read-Host -AsSecureString 'Enrollment secret') -WhatIf

  Shows what would be done, changes nothing.

.EXAMPLE
  .\install-reclaim-agent.ps1 -Uninstall -RemoveData
#>
#Requires -Version 5.1
#Requires -RunAsAdministrator
[CmdletBinding(SupportsShouldProcess = $true, DefaultParameterSetName = 'Install')]
param(
  [Parameter(ParameterSetName = 'Install')] [string] $SourceDir = $PSScriptRoot,
  [Parameter(ParameterSetName = 'Install')] [string] $Collector,
  [Parameter(ParameterSetName = 'Install')] [string] $CaFile,
  [Parameter(ParameterSetName = 'Install')] [string] $ClientCertFile,
  [Parameter(ParameterSetName = 'Install')] [string] $ClientKeyFile,
  [Parameter(ParameterSetName = 'Install')] [switch] $InsecurePlaintext,
  [Parameter(ParameterSetName = 'Install')] [string] $UserDomain,
  [Parameter(ParameterSetName = 'Install')] [string] $UpnSuffix,
  [Parameter(ParameterSetName = 'Install')] [string] $EnrollmentSecretFile,
  [Parameter(ParameterSetName = 'Install')] [System.Security.SecureString] $EnrollmentSecret,
  [Parameter(ParameterSetName = 'Install')] [string[]] $ChromiumExtensionId = @(),
  [Parameter(ParameterSetName = 'Install')] [string] $AgentConfigFile,
  [Parameter(ParameterSetName = 'Install')] [ValidateRange(1, 3600)] [int] $PreshutdownTimeoutSeconds = 20,
  [Parameter(ParameterSetName = 'Install')] [switch] $StartNow,
  [Parameter(ParameterSetName = 'Uninstall', Mandatory = $true)] [switch] $Uninstall,
  [Parameter(ParameterSetName = 'Uninstall')] [Alias('RemoveUserData')] [switch] $RemoveData
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
# The script's own parameters (inside a function $PSBoundParameters is the function's).
$ScriptParameters = $PSBoundParameters

$InstallDir        = Join-Path $env:ProgramFiles 'Reclaim'
$LegacyInstallDir  = Join-Path $InstallDir 'Agent'        # layout of the previous installer
$DataRoot          = Join-Path $env:ProgramData 'Reclaim'
$ServiceConfigPath = Join-Path $DataRoot 'agent-service.toml'
$AgentConfigPath   = Join-Path $DataRoot 'agent.toml'
$CredentialPath    = Join-Path $DataRoot 'machine-credential'
$CaPath            = Join-Path $DataRoot 'ca.pem'
$CertPath          = Join-Path $DataRoot 'client.pem'
$KeyPath           = Join-Path $DataRoot 'client-key.pem'
$LogDir            = Join-Path $DataRoot 'logs'
$ServiceLogPath    = Join-Path $LogDir 'agent-service.log'
$LegacySecretDir   = Join-Path $DataRoot 'secrets'        # the previous installer kept the secret there

$AgentExe   = 'reclaim-agent.exe'
$ServiceExe = 'reclaim-agent-service.exe'
$HostExe    = 'reclaim-native-host.exe'

$ServiceName        = 'ReclaimAgentService'
$ServiceDisplayName = 'Reclaim agent service'
$ServiceDescription = 'Relays the Reclaim agents of this machine''s user sessions to the collector ' +
                      'under the machine''s device credential; attests each session''s user.'
$TaskPath = '\Reclaim\'
$TaskName = 'Reclaim Agent'

# Native messaging (deploy/browser/install-native-host.sh has the same values).
$NativeHostName  = 'com.reclaim.webfocus'
$DevChromiumId   = 'lnhlhmepibkcoeggjnhmhjbilcfpjmcl'
$FirefoxId       = 'webfocus@reclaim.project'
$ChromiumManifest = Join-Path $InstallDir "$NativeHostName.chromium.json"
$FirefoxManifest  = Join-Path $InstallDir "$NativeHostName.firefox.json"
$NativeMessagingKeys = @(
  @{ SubKey = "SOFTWARE\Google\Chrome\NativeMessagingHosts\$NativeHostName";  Manifest = $ChromiumManifest },
  @{ SubKey = "SOFTWARE\Microsoft\Edge\NativeMessagingHosts\$NativeHostName"; Manifest = $ChromiumManifest },
  @{ SubKey = "SOFTWARE\Mozilla\NativeMessagingHosts\$NativeHostName";        Manifest = $FirefoxManifest }
)

# Well-known SIDs: names are localised ("VORDEFINIERT\Benutzer"), SIDs are not.
$SidSystem = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-18'
$SidAdmins = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-544'
$SidUsers  = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-545'
$SidTrustedInstaller = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464'

# --- helpers -------------------------------------------------------------------

# One argument quoted for CommandLineToArgvW / the C runtime's argv parser.
function ConvertTo-ArgvQuoted([string] $Arg) {
  if ($Arg -and $Arg -notmatch '[\s"]') { return $Arg }
  $out = '"'
  $slashes = 0
  foreach ($c in $Arg.ToCharArray()) {
    if ($c -eq '\') { $slashes++; continue }
    if ($c -eq '"') { $out += ('\' * (2 * $slashes + 1)) + '"' }
    else { $out += ('\' * $slashes) + $c }
    $slashes = 0
  }
  return $out + ('\' * (2 * $slashes)) + '"'
}

# Runs a program and waits for it; returns @{ ExitCode; Output } (stdout and
# stderr together). $Environment: extra variables for that process only.
# (Not the call operator: Windows PowerShell 5.1 passes arguments with
# embedded quotes wrongly and turns a native program's stderr into errors.)
function Invoke-Program([string] $Path, [string[]] $Arguments, [hashtable] $Environment = @{}) {
  $psi = New-Object System.Diagnostics.ProcessStartInfo
  $psi.FileName = $Path
  $psi.Arguments = (@($Arguments) | ForEach-Object { ConvertTo-ArgvQuoted $_ }) -join ' '
  $psi.UseShellExecute = $false
  $psi.CreateNoWindow = $true
  $psi.RedirectStandardOutput = $true
  $psi.RedirectStandardError = $true
  foreach ($name in $Environment.Keys) { $psi.EnvironmentVariables[$name] = $Environment[$name] }
  $process = [System.Diagnostics.Process]::Start($psi)
  try {
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    $process.WaitForExit()
    return @{ ExitCode = $process.ExitCode; Output = ($stdout.Result + $stderr.Result).Trim() }
  } finally {
    $process.Dispose()
  }
}

# sc.exe, failing on a non-zero exit code unless it is in $Allowed.
function Invoke-Sc([string[]] $Arguments, [int[]] $Allowed = @()) {
  $sc = Join-Path $env:SystemRoot 'System32\sc.exe'
  $r = Invoke-Program $sc $Arguments
  if ($r.ExitCode -ne 0 -and $Allowed -notcontains $r.ExitCode) {
    throw "sc.exe $($Arguments -join ' ') failed ($($r.ExitCode)): $($r.Output)"
  }
  return $r.ExitCode
}

# Text lines as UTF-8 without a byte order mark (TOML is UTF-8; Windows
# PowerShell 5.1's Set-Content -Encoding UTF8 would write a BOM).
function Write-Utf8Lines([string] $Path, [string[]] $Lines) {
  [IO.File]::WriteAllText($Path, (($Lines -join "`r`n") + "`r`n"), (New-Object System.Text.UTF8Encoding $false))
}

# A TOML basic string: backslashes and quotes escaped.
function ConvertTo-TomlString([string] $Value) {
  return '"' + $Value.Replace('\', '\\').Replace('"', '\"') + '"'
}

function New-Rule($Sid, [string] $Rights, [switch] $Inherit) {
  $flags = [System.Security.AccessControl.InheritanceFlags]::None
  if ($Inherit) { $flags = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit' }
  return New-Object System.Security.AccessControl.FileSystemAccessRule($Sid, $Rights, $flags,
    [System.Security.AccessControl.PropagationFlags]::None, [System.Security.AccessControl.AccessControlType]::Allow)
}

# A file's DACL: protected (nothing inherited), SYSTEM and Administrators full
# control, plus Users read with -UsersRead; owner Administrators.
function Set-ReclaimFileAcl([string] $Path, [switch] $UsersRead) {
  $acl = New-Object System.Security.AccessControl.FileSecurity
  $acl.SetAccessRuleProtection($true, $false)
  $acl.SetOwner($SidAdmins)
  $acl.AddAccessRule((New-Rule $SidSystem 'FullControl'))
  $acl.AddAccessRule((New-Rule $SidAdmins 'FullControl'))
  if ($UsersRead) { $acl.AddAccessRule((New-Rule $SidUsers 'Read')) }
  Set-Acl -LiteralPath $Path -AclObject $acl
}

# %ProgramData%\Reclaim's DACL: protected; SYSTEM and Administrators full
# control, inherited by everything inside; Users may list this folder only.
# Everything already inside is reset to inherit that (owner Administrators),
# then agent.toml gets Users read and the secrets their protected DACL.
function Set-ReclaimDataAcl {
  $acl = New-Object System.Security.AccessControl.DirectorySecurity
  $acl.SetAccessRuleProtection($true, $false)
  $acl.SetOwner($SidAdmins)
  $acl.AddAccessRule((New-Rule $SidSystem 'FullControl' -Inherit))
  $acl.AddAccessRule((New-Rule $SidAdmins 'FullControl' -Inherit))
  $acl.AddAccessRule((New-Rule $SidUsers 'ReadAndExecute'))
  Set-Acl -LiteralPath $DataRoot -AclObject $acl
  foreach ($item in @(Get-ChildItem -LiteralPath $DataRoot -Recurse -Force)) {
    $itemAcl = Get-Acl -LiteralPath $item.FullName
    $itemAcl.SetOwner($SidAdmins)
    $itemAcl.SetAccessRuleProtection($false, $false)
    foreach ($r in @($itemAcl.Access | Where-Object { -not $_.IsInherited })) { [void]$itemAcl.RemoveAccessRule($r) }
    Set-Acl -LiteralPath $item.FullName -AclObject $itemAcl
  }
  if (Test-Path -LiteralPath $AgentConfigPath) { Set-ReclaimFileAcl $AgentConfigPath -UsersRead }
  foreach ($secret in @($CredentialPath, $KeyPath)) {
    if (Test-Path -LiteralPath $secret) { Set-ReclaimFileAcl $secret }
  }
}

# Deletes the folder or file $Path and everything under it WITHOUT following
# junctions or symbolic links: a link (at $Path or anywhere below) is removed
# as a link and its target is left alone. Remove-Item -Recurse of Windows
# PowerShell 5.1 follows them and deletes the target's contents (PowerShell
# issue #621), so for a folder a user can write to (each profile's
# %LOCALAPPDATA%\Reclaim) that user could make this administrator's uninstall
# delete any folder by linking it there. RemoveDirectory of a junction or
# directory symbolic link removes the link only (Microsoft Learn,
# RemoveDirectoryW). Path based: a user who swaps a folder for a link while
# this walk runs is not excluded (the window is the walk, not forever).
function Remove-ReclaimTree([string] $Path) {
  $item = Get-Item -LiteralPath $Path -Force
  $notReadOnly = -bnot [System.IO.FileAttributes]::ReadOnly
  if ($item.Attributes -band [System.IO.FileAttributes]::ReparsePoint) {
    if ($item.PSIsContainer) { [System.IO.Directory]::Delete($item.FullName, $false) }
    else { [System.IO.File]::Delete($item.FullName) }
    return
  }
  if ($item.PSIsContainer) {
    foreach ($child in @(Get-ChildItem -LiteralPath $item.FullName -Force)) {
      Remove-ReclaimTree $child.FullName
    }
    $item.Attributes = $item.Attributes -band $notReadOnly
    [System.IO.Directory]::Delete($item.FullName, $false)
  } else {
    $item.Attributes = $item.Attributes -band $notReadOnly  # what -Force did
    [System.IO.File]::Delete($item.FullName)
  }
}

# Refuses a data folder someone else could have prepared: one owned by
# another account than SYSTEM, Administrators or TrustedInstaller, or holding
# a reparse point (junction, symbolic link) that would redirect our writes.
function Assert-DataRootSafe {
  if (-not (Test-Path -LiteralPath $DataRoot)) { return }
  $root = Get-Item -LiteralPath $DataRoot -Force
  $owner = (Get-Acl -LiteralPath $DataRoot).GetOwner([System.Security.Principal.SecurityIdentifier])
  if (@($SidSystem, $SidAdmins, $SidTrustedInstaller) -notcontains $owner) {
    throw "$DataRoot exists and is owned by $owner, not SYSTEM or Administrators: check it and remove it first"
  }
  foreach ($item in @($root) + @(Get-ChildItem -LiteralPath $DataRoot -Recurse -Force)) {
    if ($item.Attributes -band [System.IO.FileAttributes]::ReparsePoint) {
      throw "$($item.FullName) is a junction or symbolic link: remove it first"
    }
  }
}

# The enrollment secret, from -EnrollmentSecretFile or -EnrollmentSecret, as
# plain text for the enroll process's environment. Errors name the file,
# never the secret.
function Get-EnrollmentSecretText {
  if ($EnrollmentSecretFile) {
    $info = Get-Item -LiteralPath $EnrollmentSecretFile
    if ($info.Length -gt 4096) { throw "enrollment secret file $EnrollmentSecretFile is over 4096 bytes" }
    $secret = ([IO.File]::ReadAllText($info.FullName)).Trim()
    if (-not $secret) { throw "enrollment secret file $EnrollmentSecretFile is empty" }
    if ($secret -match '[\r\n]') { throw "enrollment secret file $EnrollmentSecretFile holds more than one line" }
    return $secret
  }
  $bstr = [Runtime.InteropServices.Marshal]::SecureStringToBSTR($EnrollmentSecret)
  try {
    $secret = [Runtime.InteropServices.Marshal]::PtrToStringBSTR($bstr).Trim()
  } finally {
    [Runtime.InteropServices.Marshal]::ZeroFreeBSTR($bstr)
  }
  if (-not $secret -or $secret -match '[\r\n]') { throw '-EnrollmentSecret is empty or holds more than one line' }
  return $secret
}

# The collector options shared by `enroll` and the service (command-line form).
function Get-CollectorArguments {
  $a = @('--collector', $Collector)
  if ($CaFile) { $a += @('--ca-file', $CaPath) }
  if ($ClientCertFile) { $a += @('--client-cert', $CertPath, '--client-key', $KeyPath) }
  if ($InsecurePlaintext) { $a += '--insecure-plaintext' }
  return $a
}

# The service's options file (keys: `reclaim-agent-service run --help`).
function Write-ServiceConfig {
  $lines = @(
    '# reclaim-agent-service run options (TOML; keys are the long option names of',
    '# `reclaim-agent-service.exe run --help`). Written by install-reclaim-agent.ps1;',
    '# -Collector replaces this file. Only SYSTEM and Administrators can change it.',
    "collector = $(ConvertTo-TomlString $Collector)")
  if ($CaFile) { $lines += "ca-file = $(ConvertTo-TomlString $CaPath)" }
  if ($ClientCertFile) {
    $lines += "client-cert = $(ConvertTo-TomlString $CertPath)"
    $lines += "client-key = $(ConvertTo-TomlString $KeyPath)"
  }
  if ($InsecurePlaintext) { $lines += 'insecure-plaintext = true  # no TLS: trusted test networks only' }
  $lines += "credential-file = $(ConvertTo-TomlString $CredentialPath)"
  $lines += "log-file = $(ConvertTo-TomlString $ServiceLogPath)"
  if ($UserDomain) { $lines += "user-domain = $(ConvertTo-TomlString $UserDomain)" }
  if ($UpnSuffix) { $lines += "upn-suffix = $(ConvertTo-TomlString $UpnSuffix)" }
  Write-Utf8Lines $ServiceConfigPath $lines
}

# The agents' default settings (keys: `reclaim-agent.exe --help`). No
# collector: each agent talks to the service's pipe.
function Write-DefaultAgentConfig {
  Write-Utf8Lines $AgentConfigPath @(
    '# reclaim-agent configuration (TOML; keys are the long option names of',
    '# `reclaim-agent.exe --help`; command-line flags override this file). Every',
    '# user''s agent reads it; only SYSTEM and Administrators can change it. The agent',
    '# talks to the machine service (\\.\pipe\reclaim-agent-service): no collector,',
    '# certificate or secret here.',
    'heartbeat = 60                   # seconds',
    'idle-threshold = 300             # seconds without input: idle',
    'send-window-titles = false       # titles are private',
    'web-detail = "origin"            # web sites: host only; "path", "title" or "path+title"',
    'log-level = "info"')
}

# Agents started from the install folder: first WM_CLOSE (taskkill without
# /F; the agent stores its last batch and exits; reaches this session only),
# then, after 10 s, by force (the spool is a SQLite WAL database: nothing
# acknowledged is lost, at most the last heartbeat's focus time). Native
# hosts are stopped by force (they keep no state; the extension reconnects).
function Stop-ReclaimProcesses {
  $names = @($AgentExe, $HostExe) | ForEach-Object { [IO.Path]::GetFileNameWithoutExtension($_) }
  $running = @(Get-Process -Name $names -ErrorAction SilentlyContinue | Where-Object {
      $_.Path -and ((Split-Path $_.Path -Parent) -in @($InstallDir, $LegacyInstallDir)) -and
      ((Split-Path $_.Path -Leaf) -in @($AgentExe, $HostExe)) })
  if ($running.Count -eq 0 -or
      -not $PSCmdlet.ShouldProcess("$($running.Count) running agent(s) and native host(s)", 'Stop')) { return }
  $taskkill = Join-Path $env:SystemRoot 'System32\taskkill.exe'
  foreach ($p in $running) {
    if ((Split-Path $p.Path -Leaf) -eq $AgentExe) { [void](Invoke-Program $taskkill @('/PID', "$($p.Id)")) }
  }
  $deadline = (Get-Date).AddSeconds(10)
  foreach ($p in $running) {
    $left = [int][Math]::Max(0, ($deadline - (Get-Date)).TotalMilliseconds)
    if ((Split-Path $p.Path -Leaf) -eq $HostExe -or -not $p.WaitForExit($left)) {
      Stop-Process -Id $p.Id -Force -ErrorAction SilentlyContinue
    }
  }
}

function Stop-ReclaimService {
  $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
  if ($service -and $service.Status -ne 'Stopped' -and $PSCmdlet.ShouldProcess($ServiceName, 'Stop service')) {
    Stop-Service -Name $ServiceName -Force
    $service.WaitForStatus('Stopped', (New-TimeSpan -Seconds 60))
  }
}

# SERVICE_CONFIG_PRESHUTDOWN_INFO (ChangeServiceConfig2W); sc.exe has no
# command for it.
function Set-ServicePreshutdownTimeout([string] $Name, [uint32] $Milliseconds) {
  if (-not ('Reclaim.ScmConfig' -as [type])) {
    Add-Type -TypeDefinition @'
using System;
using System.ComponentModel;
using System.Runtime.InteropServices;
namespace Reclaim {
  public static class ScmConfig {
    [StructLayout(LayoutKind.Sequential)]
    private struct PreshutdownInfo { public uint Timeout; }
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    private static extern IntPtr OpenSCManagerW(string machine, string database, uint access);
    [DllImport("advapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    private static extern IntPtr OpenServiceW(IntPtr manager, string name, uint access);
    [DllImport("advapi32.dll", SetLastError = true)]
    private static extern bool ChangeServiceConfig2W(IntPtr service, uint level, ref PreshutdownInfo info);
    [DllImport("advapi32.dll", SetLastError = true)]
    private static extern bool CloseServiceHandle(IntPtr handle);
    private const uint ScManagerConnect = 0x0001;
    private const uint ServiceChangeConfig = 0x0002;
    private const uint ServiceConfigPreshutdownInfo = 7;
    public static void SetPreshutdownTimeout(string name, uint milliseconds) {
      IntPtr manager = OpenSCManagerW(null, null, ScManagerConnect);
      if (manager == IntPtr.Zero) throw new Win32Exception();
      try {
        IntPtr service = OpenServiceW(manager, name, ServiceChangeConfig);
        if (service == IntPtr.Zero) throw new Win32Exception();
        try {
          PreshutdownInfo info = new PreshutdownInfo();
          info.Timeout = milliseconds;
          if (!ChangeServiceConfig2W(service, ServiceConfigPreshutdownInfo, ref info)) throw new Win32Exception();
        } finally {
          CloseServiceHandle(service);
        }
      } finally {
        CloseServiceHandle(manager);
      }
    }
  }
}
'@
  }
  [Reclaim.ScmConfig]::SetPreshutdownTimeout($Name, $Milliseconds)
}

# Creates or updates the service (same settings either way).
function Register-ReclaimService {
  $exe = Join-Path $InstallDir $ServiceExe
  $binPath = "$(ConvertTo-ArgvQuoted $exe) run --config $(ConvertTo-ArgvQuoted $ServiceConfigPath)"
  if (-not $PSCmdlet.ShouldProcess("$ServiceName ($binPath)", 'Register service (LocalSystem, automatic start)')) { return }
  $verb = if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) { 'config' } else { 'create' }
  [void](Invoke-Sc @($verb, $ServiceName, 'binPath=', $binPath, 'type=', 'own', 'start=', 'auto',
                     'obj=', 'LocalSystem', 'DisplayName=', $ServiceDisplayName))
  [void](Invoke-Sc @('description', $ServiceName, $ServiceDescription))
  # Restart after 5 s, 30 s, then every 60 s; the count resets after a day
  # without failure. failureflag 1: also when the service stops itself with
  # an error code (SERVICE_STOPPED with a non-zero exit code), not only when
  # its process dies.
  [void](Invoke-Sc @('failure', $ServiceName, 'reset=', '86400', 'actions=', 'restart/5000/restart/30000/restart/60000'))
  [void](Invoke-Sc @('failureflag', $ServiceName, '1'))
  Set-ServicePreshutdownTimeout $ServiceName ([uint32]($PreshutdownTimeoutSeconds * 1000))
}

function Remove-ReclaimService {
  if (-not (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue)) { return }
  Stop-ReclaimService
  if ($PSCmdlet.ShouldProcess($ServiceName, 'Delete service')) {
    # 1072: already marked for deletion (gone once the last handle closes).
    [void](Invoke-Sc @('delete', $ServiceName) -Allowed @(1072))
  }
}

# `reclaim-agent-service.exe enroll`: the secret only in that process's
# environment; the credential's DACL set afterwards (SYSTEM, Administrators).
function Invoke-ReclaimEnrollment {
  if (-not $PSCmdlet.ShouldProcess($CredentialPath, "Enroll this machine with $Collector")) { return }
  $secret = Get-EnrollmentSecretText
  try {
    $enrollArgs = @('enroll') + (Get-CollectorArguments) + @('--credential-file', $CredentialPath)
    $r = Invoke-Program (Join-Path $InstallDir $ServiceExe) $enrollArgs @{ RECLAIM_ENROLLMENT_SECRET = $secret }
  } finally {
    Remove-Variable secret
  }
  if ($r.Output) { Write-Host $r.Output }
  if ($r.ExitCode -ne 0) {
    throw "enrollment failed (reclaim-agent-service enroll exited with $($r.ExitCode)); the secret file, if any, is kept"
  }
  Set-ReclaimFileAcl $CredentialPath
  if ($EnrollmentSecretFile) {
    # The secret has done its work: nobody on this machine needs it again.
    $length = (Get-Item -LiteralPath $EnrollmentSecretFile).Length
    [IO.File]::WriteAllBytes((Resolve-Path -LiteralPath $EnrollmentSecretFile).Path, (New-Object byte[] ([int]$length)))
    Remove-Item -LiteralPath $EnrollmentSecretFile -Force
    Write-Host "Machine enrolled; $EnrollmentSecretFile deleted."
  } else {
    Write-Host 'Machine enrolled.'
  }
}

# The two host manifests (the browsers need the host's full path) and their
# registry keys, in the 64-bit registry view (which Chrome, Edge and Firefox
# read on 64-bit Windows, as the native view on 32-bit Windows).
function Install-NativeMessaging {
  $hostPath = Join-Path $InstallDir $HostExe
  $origins = @(@($DevChromiumId) + $ChromiumExtensionId | Select-Object -Unique | ForEach-Object { "chrome-extension://$_/" })
  $description = 'Reclaim web focus: forwards the active tab''s site to the local Reclaim agent'
  $manifests = @(
    @{ Path = $ChromiumManifest; Json = [ordered]@{ name = $NativeHostName; description = $description; path = $hostPath;
                                                     type = 'stdio'; allowed_origins = $origins } },
    @{ Path = $FirefoxManifest;  Json = [ordered]@{ name = $NativeHostName; description = $description; path = $hostPath;
                                                     type = 'stdio'; allowed_extensions = @($FirefoxId) } })
  foreach ($m in $manifests) {
    if ($PSCmdlet.ShouldProcess($m.Path, 'Write native messaging host manifest')) {
      [IO.File]::WriteAllText($m.Path, ($m.Json | ConvertTo-Json), (New-Object System.Text.UTF8Encoding $false))
    }
  }
  $hklm = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine,
                                                     [Microsoft.Win32.RegistryView]::Registry64)
  try {
    foreach ($k in $NativeMessagingKeys) {
      if ($PSCmdlet.ShouldProcess("HKLM\$($k.SubKey)", "Set default value to $($k.Manifest)")) {
        $key = $hklm.CreateSubKey($k.SubKey)
        try { $key.SetValue('', $k.Manifest, [Microsoft.Win32.RegistryValueKind]::String) } finally { $key.Close() }
      }
    }
  } finally {
    $hklm.Close()
  }
}

function Remove-NativeMessaging {
  foreach ($view in @([Microsoft.Win32.RegistryView]::Registry64, [Microsoft.Win32.RegistryView]::Registry32)) {
    $hklm = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::LocalMachine, $view)
    try {
      foreach ($k in $NativeMessagingKeys) {
        $existing = $hklm.OpenSubKey($k.SubKey)
        if ($existing) {
          $existing.Close()
          if ($PSCmdlet.ShouldProcess("HKLM\$($k.SubKey) ($view)", 'Remove registry key')) {
            $hklm.DeleteSubKeyTree($k.SubKey, $false)
          }
        }
      }
    } finally {
      $hklm.Close()
    }
  }
}

function Remove-ReclaimTask {
  $task = Get-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName -ErrorAction SilentlyContinue
  if ($task -and $PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Unregister scheduled task')) {
    Stop-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName -ErrorAction SilentlyContinue
    Unregister-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName -Confirm:$false
  }
  # The \Reclaim\ task folder, when empty.
  try {
    $scheduler = New-Object -ComObject 'Schedule.Service'
    $scheduler.Connect()
    $folder = $scheduler.GetFolder('\Reclaim')
    if ($folder.GetTasks(1).Count -eq 0 -and $folder.GetFolders(0).Count -eq 0 -and
        $PSCmdlet.ShouldProcess('\Reclaim', 'Remove task folder')) {
      $scheduler.GetFolder('\').DeleteFolder('Reclaim', 0)
    }
  } catch {
    Write-Verbose "task folder \Reclaim not removed: $($_.Exception.Message)"
  }
}

# The logon task: each member of BUILTIN\Users who logs on gets one agent in
# their session, as themselves, not elevated, hidden, never stopped for
# running long or on battery, restarted every minute if it fails.
# Parallel: the task is ONE task for all users, so IgnoreNew would start no
# agent for a second user while the first one's runs (Remote Desktop
# servers, fast user switching). A second agent of the same user (-StartNow
# in a session that has one) exits at once with code 1 on the agent's lock
# on its spool (TryLockInstance: "another reclaim-agent is using ...").
function Register-ReclaimTask {
  $exe = Join-Path $InstallDir $AgentExe
  $action = New-ScheduledTaskAction -Execute $exe -Argument "--config $(ConvertTo-ArgvQuoted $AgentConfigPath)" `
    -WorkingDirectory $InstallDir
  $trigger = New-ScheduledTaskTrigger -AtLogOn  # any user
  $usersGroup = $SidUsers.Translate([System.Security.Principal.NTAccount]).Value
  $principal = New-ScheduledTaskPrincipal -GroupId $usersGroup -RunLevel Limited
  $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
    -DontStopOnIdleEnd -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 9999 `
    -RestartInterval (New-TimeSpan -Minutes 1) -MultipleInstances Parallel -Hidden -StartWhenAvailable
  if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Register logon task')) {
    Register-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName -Action $action -Trigger $trigger `
      -Principal $principal -Settings $settings -Force `
      -Description 'Reclaim agent: meters application focus time in each user session.' | Out-Null
    if ($StartNow) { Start-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName }
  }
}

# --- install -----------------------------------------------------------------

# Where -SourceDir holds $Name: in the folder itself (a package) or where a
# CMake build tree puts it (agent\, agent\service\, agent\browser\).
function Find-SourceExe([string] $Name) {
  foreach ($sub in @('.', 'agent', 'agent\service', 'agent\browser')) {
    $path = Join-Path (Join-Path $SourceDir $sub) $Name
    if (Test-Path -LiteralPath $path -PathType Leaf) { return (Resolve-Path -LiteralPath $path).Path }
  }
  throw "$Name not found in $SourceDir (nor its agent, agent\service, agent\browser folders): pass -SourceDir with the built agent (README: Building the full Windows agent)"
}

function Install-Reclaim {
  # 1. Checks, before anything changes. (A relative -SourceDir is resolved
  # here: a started process's working folder is not PowerShell's location.)
  $script:SourceDir = (Resolve-Path -LiteralPath $SourceDir).Path
  $sources = @($AgentExe, $ServiceExe, $HostExe) | ForEach-Object { Find-SourceExe $_ }
  $help = Invoke-Program (Find-SourceExe $ServiceExe) @('run', '--help')
  if ($help.Output -notmatch '--config') {
    throw "$(Find-SourceExe $ServiceExe) has no 'run --config' option: it cannot read $ServiceConfigPath"
  }
  if ($EnrollmentSecretFile -and $EnrollmentSecret) { throw 'give -EnrollmentSecretFile or -EnrollmentSecret, not both' }
  $enroll = [bool]$EnrollmentSecretFile -or [bool]$EnrollmentSecret
  if ($Collector) {
    if (-not $CaFile -and -not $InsecurePlaintext) {
      throw 'no TLS: pass -CaFile (the CA bundle of the collector''s certificate) or -InsecurePlaintext'
    }
  } else {
    if (-not (Test-Path -LiteralPath $ServiceConfigPath)) { throw 'first install: pass -Collector host:port' }
    if ($enroll) { throw 'enrolling needs the collector options: pass -Collector (and -CaFile or -InsecurePlaintext)' }
    foreach ($p in @('CaFile', 'ClientCertFile', 'ClientKeyFile', 'InsecurePlaintext', 'UserDomain', 'UpnSuffix')) {
      if ($ScriptParameters.ContainsKey($p)) { throw "-$p goes with -Collector (which rewrites agent-service.toml)" }
    }
  }
  if ([bool]$ClientCertFile -ne [bool]$ClientKeyFile) { throw '-ClientCertFile and -ClientKeyFile go together' }
  foreach ($f in @($CaFile, $ClientCertFile, $ClientKeyFile, $EnrollmentSecretFile, $AgentConfigFile)) {
    if ($f -and -not (Test-Path -LiteralPath $f -PathType Leaf)) { throw "file $f not found" }
  }
  foreach ($id in $ChromiumExtensionId) {
    if ($id -cnotmatch '^[a-p]{32}$') { throw "bad Chromium extension id '$id' (32 letters a-p)" }
  }
  Assert-DataRootSafe

  # 2. Nothing may hold the executables open.
  Remove-ReclaimTask
  Stop-ReclaimProcesses
  Stop-ReclaimService

  # 3. Binaries.
  if ($PSCmdlet.ShouldProcess($InstallDir, 'Install binaries')) {
    if (Test-Path -LiteralPath $LegacyInstallDir) { Remove-ReclaimTree $LegacyInstallDir }
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    foreach ($exe in $sources) {
      Copy-Item -LiteralPath $exe -Destination $InstallDir -Force
      # DLLs beside it (none with vcpkg's static triplet).
      Get-ChildItem -LiteralPath (Split-Path $exe -Parent) -Filter '*.dll' -File |
        Copy-Item -Destination $InstallDir -Force
    }
  }

  # 4. and 5. The data folder: its DACL before any file is written into it.
  if ($PSCmdlet.ShouldProcess($DataRoot, 'Create data folder (SYSTEM and Administrators; Users read agent.toml)')) {
    New-Item -ItemType Directory -Force -Path $DataRoot | Out-Null
    Set-ReclaimDataAcl
    New-Item -ItemType Directory -Force -Path $LogDir | Out-Null
    if (Test-Path -LiteralPath $LegacySecretDir) {
      Remove-ReclaimTree $LegacySecretDir
      Write-Host "Removed $LegacySecretDir (the enrollment secret of an older install)."
    }
    if ($Collector) {
      if ($CaFile) { Copy-Item -LiteralPath $CaFile -Destination $CaPath -Force }
      if ($ClientCertFile) {
        Copy-Item -LiteralPath $ClientCertFile -Destination $CertPath -Force
        Copy-Item -LiteralPath $ClientKeyFile -Destination $KeyPath -Force
      }
      Write-ServiceConfig
    }
    if ($AgentConfigFile) {
      Copy-Item -LiteralPath $AgentConfigFile -Destination $AgentConfigPath -Force
    } elseif (-not (Test-Path -LiteralPath $AgentConfigPath)) {
      Write-DefaultAgentConfig
    } elseif (Select-String -LiteralPath $AgentConfigPath -Pattern '^\s*collector\s*=' -Quiet) {
      # The previous installer's agent.toml named the collector: the agents
      # would bypass the service (direct mode, each enrolling itself).
      Move-Item -LiteralPath $AgentConfigPath -Destination "$AgentConfigPath.direct-mode.bak" -Force
      Write-DefaultAgentConfig
      Write-Warning "$AgentConfigPath named a collector (direct mode): kept as $AgentConfigPath.direct-mode.bak, replaced by the default (agents use the service)"
    }
    # Copied files may keep the ACL they had: everything takes the folder's rules again.
    Set-ReclaimDataAcl
  }

  # 6. to 8. The service, the browsers' host, the agents' task.
  Register-ReclaimService
  Install-NativeMessaging
  Register-ReclaimTask

  # 9. Enrollment, then the service starts (agents already running retry
  # their connection to its pipe with backoff).
  if ($enroll) { Invoke-ReclaimEnrollment }
  if (Test-Path -LiteralPath $CredentialPath) {
    if ($PSCmdlet.ShouldProcess($ServiceName, 'Start service')) {
      try {
        Start-Service -Name $ServiceName
      } catch {
        throw "service $ServiceName did not start: see $ServiceLogPath and the System event log ($($_.Exception.Message))"
      }
    }
  } else {
    Write-Warning ("no machine credential in ${CredentialPath}: the service is registered but not started. " +
                   'Run this script again with -Collector ... -EnrollmentSecretFile FILE (or -EnrollmentSecret).')
  }
  Write-Host ("Reclaim installed in $InstallDir; service $ServiceName; configuration in $DataRoot; " +
              "agents start at each user logon$(if ($StartNow) { ' and now' })." )
}

# --- uninstall -----------------------------------------------------------------

function Uninstall-Reclaim {
  Remove-ReclaimTask
  Remove-NativeMessaging
  Stop-ReclaimProcesses
  Remove-ReclaimService
  if ((Test-Path -LiteralPath $InstallDir) -and $PSCmdlet.ShouldProcess($InstallDir, 'Remove')) {
    Remove-ReclaimTree $InstallDir
  }
  if ($RemoveData) {
    if ((Test-Path -LiteralPath $DataRoot) -and $PSCmdlet.ShouldProcess($DataRoot, 'Remove (configuration, machine credential, logs)')) {
      Remove-ReclaimTree $DataRoot
    }
    Get-CimInstance -ClassName Win32_UserProfile | Where-Object { -not $_.Special -and $_.LocalPath } |
      ForEach-Object {
        # The user owns AppData: a link there (AppData\Local -> elsewhere)
        # would point the path below at another folder named Reclaim.
        $profilePath = $_.LocalPath
        $linked = @('AppData', 'AppData\Local') | Where-Object {
          $p = Join-Path $profilePath $_
          (Test-Path -LiteralPath $p) -and
            ((Get-Item -LiteralPath $p -Force).Attributes -band [System.IO.FileAttributes]::ReparsePoint)
        }
        $userData = Join-Path $profilePath 'AppData\Local\Reclaim'
        if ($linked) {
          Write-Warning "Kept $userData`: $(@($linked)[0]) of that profile is a junction or symbolic link"
        } elseif ((Test-Path -LiteralPath $userData) -and $PSCmdlet.ShouldProcess($userData, 'Remove user data')) {
          Remove-ReclaimTree $userData
        }
      }
  } elseif (Test-Path -LiteralPath $DataRoot) {
    Write-Host "Kept $DataRoot (configuration, machine credential): -RemoveData deletes it."
  }
  Write-Host 'Reclaim uninstalled.'
}

if ($Uninstall) { Uninstall-Reclaim } else { Install-Reclaim }
