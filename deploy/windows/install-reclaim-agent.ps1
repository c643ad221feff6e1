<#
.SYNOPSIS
  Installs the Reclaim agent for all users of this Windows machine, or
  uninstalls it (-Uninstall).

.DESCRIPTION
  The agent must run inside each user's desktop session: a service lives in
  session 0, which has no foreground window to meter and cannot show the
  consent prompt. One agent per interactive session is started by a logon
  scheduled task ("\Reclaim\Reclaim Agent"): at the logon of any member of
  BUILTIN\Users (local console, Remote Desktop, fast user switching), as that
  user, not elevated, hidden, restarted every minute if it exits, never
  stopped for running long or on battery.

  Why a scheduled task rather than our own service that calls
  WTSQueryUserToken + CreateProcessAsUser for each session: the Task
  Scheduler already does exactly that, with restart on failure, and we then
  ship no code that runs as LocalSystem (a launcher service would hold
  SYSTEM's token and create processes with users' tokens: any bug in it is a
  privilege escalation). The cost: sessions already open when the agent is
  installed start it at their next logon (or now with -StartNow).

  Layout:
    %ProgramFiles%\Reclaim\Agent\      reclaim-agent.exe (+ DLLs): inherits
                                       Program Files' ACL (users read/execute).
    %ProgramData%\Reclaim\             SYSTEM and Administrators full control,
                                       Users read; inheritance off:
      agent.toml                       the configuration
      ca.pem                           -CaFile: the CAs of the collector's
                                       certificate (public)
      client.pem, client-key.pem       -ClientCertFile/-ClientKeyFile: mutual
                                       TLS (every session's agent must read
                                       the key, so every local user can)
    %ProgramData%\Reclaim\secrets\     SYSTEM and Administrators only (Users
                                       cannot even list it); inheritance off:
      enrollment.secret                -EnrollmentSecretFile, read once here
    %LOCALAPPDATA%\Reclaim\            each user's data (spool.db, the device
                                       credential): created by the agent inside
                                       the profile, so only that user, SYSTEM
                                       and Administrators can read it (no
                                       shared folder whose per-user names
                                       another user could take first).

  Secrets: the enrollment secret is read from a file (never a parameter
  value, so it is in no command line, history or transcript), never printed,
  and written into the secrets folder after that folder has its ACL, so no
  other user can read it at any moment. Per-session agents run as their user
  and cannot read it: it is kept for the machine-level enrollment of the
  agent service, which Windows does not have yet (README, "Installing on
  Windows"). Until then a per-session agent has a device credential only if
  it enrolled otherwise; agent.toml does not name the secret.

  Uninstall removes the task, stops running agents started from the install
  folder (first with WM_CLOSE, which the agent takes as a stop request and
  answers by storing its last batch; after 10 s, or in other sessions, by
  force: the spool survives that too), and deletes the install folder and
  %ProgramData%\Reclaim (configuration, certificates, the enrollment
  secret); -RemoveUserData also deletes every profile's
  %LOCALAPPDATA%\Reclaim (un-sent usage and device credentials are lost).

.PARAMETER SourceDir
  Folder holding reclaim-agent.exe (and its DLLs) to install. Default: this
  script's folder.

.PARAMETER ConfigFile
  The agent configuration (TOML, as deploy/config/agent.toml) to install.
  Without it an existing %ProgramData%\Reclaim\agent.toml is kept; a fresh
  install then needs -Collector.

.PARAMETER Collector
  host:port of the collector (a name in its certificate), written into a new
  agent.toml when no -ConfigFile is given and none exists.

.PARAMETER CaFile
  PEM bundle of the CAs that signed the collector's certificate; installed as
  %ProgramData%\Reclaim\ca.pem (agent option ca-file). Required for a new
  agent.toml unless -InsecurePlaintext.

.PARAMETER ClientCertFile
  Mutual TLS: the agents' PEM certificate, installed as client.pem
  (client-cert); needs -ClientKeyFile.

.PARAMETER ClientKeyFile
  Mutual TLS: the key of -ClientCertFile, installed as client-key.pem
  (client-key), readable by SYSTEM, Administrators and Users (the agents).

.PARAMETER EnrollmentSecretFile
  A file holding the collector's enrollment secret (one line). Read once and
  stored as %ProgramData%\Reclaim\secrets\enrollment.secret for SYSTEM and
  Administrators only. The source file is left as it is: delete it yourself.

.PARAMETER InsecurePlaintext
  Connect to the collector without TLS (trusted test networks only; the
  agent logs a warning). Written into a new agent.toml.

.EXAMPLE
  .\install-reclaim-agent.ps1 -SourceDir .\build-windows\agent\agent -Collector collector.example.com:7443 -CaFile .\ca.pem -EnrollmentSecretFile .\enrollment.secret -StartNow

.EXAMPLE
  .\install-reclaim-agent.ps1 -Uninstall -RemoveUserData
#>
#Requires -Version 5.1
#Requires -RunAsAdministrator
[CmdletBinding(SupportsShouldProcess = $true, DefaultParameterSetName = 'Install')]
param(
  [Parameter(ParameterSetName = 'Install')] [string] $SourceDir = $PSScriptRoot,
  [Parameter(ParameterSetName = 'Install')] [string] $ConfigFile,
  [Parameter(ParameterSetName = 'Install')] [string] $Collector,
  [Parameter(ParameterSetName = 'Install')] [string] $CaFile,
  [Parameter(ParameterSetName = 'Install')] [string] $ClientCertFile,
  [Parameter(ParameterSetName = 'Install')] [string] $ClientKeyFile,
  [Parameter(ParameterSetName = 'Install')] [string] $EnrollmentSecretFile,
  [Parameter(ParameterSetName = 'Install')] [switch] $InsecurePlaintext,
  [Parameter(ParameterSetName = 'Install')] [switch] $StartNow,
  [Parameter(ParameterSetName = 'Uninstall', Mandatory = $true)] [switch] $Uninstall,
  [Parameter(ParameterSetName = 'Uninstall')] [switch] $RemoveUserData
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$InstallDir = Join-Path $env:ProgramFiles 'Reclaim\Agent'
$DataRoot   = Join-Path $env:ProgramData 'Reclaim'
$ConfigPath = Join-Path $DataRoot 'agent.toml'
$CaPath     = Join-Path $DataRoot 'ca.pem'
$CertPath   = Join-Path $DataRoot 'client.pem'
$KeyPath    = Join-Path $DataRoot 'client-key.pem'
$SecretDir  = Join-Path $DataRoot 'secrets'
$SecretPath = Join-Path $SecretDir 'enrollment.secret'
$ExeName    = 'reclaim-agent.exe'
$TaskPath   = '\Reclaim\'
$TaskName   = 'Reclaim Agent'

# Well-known SIDs: names are localised ("VORDEFINIERT\Benutzer"), SIDs are not.
$SidSystem = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-18'
$SidAdmins = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-544'
$SidUsers  = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-545'

# A folder's ACL: SYSTEM and Administrators full control, Users read (unless
# -NoUsers); owner Administrators; nothing inherited from above. Entries
# already inside (except the secrets folder, which has its own) take the
# folder's rules.
function Set-ReclaimFolderAcl([string] $Path, [switch] $NoUsers) {
  $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
  $none = [System.Security.AccessControl.PropagationFlags]::None
  $allow = [System.Security.AccessControl.AccessControlType]::Allow
  $acl = New-Object System.Security.AccessControl.DirectorySecurity
  $acl.SetAccessRuleProtection($true, $false)
  $acl.SetOwner($SidAdmins)
  $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($SidSystem, 'FullControl', $inherit, $none, $allow)))
  $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($SidAdmins, 'FullControl', $inherit, $none, $allow)))
  if (-not $NoUsers) {
    $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($SidUsers, 'ReadAndExecute', $inherit, $none, $allow)))
  }
  Set-Acl -LiteralPath $Path -AclObject $acl
  Get-ChildItem -LiteralPath $Path -Force | Where-Object { $_.FullName -ine $SecretDir } | ForEach-Object {
    foreach ($item in @($_) + @(Get-ChildItem -LiteralPath $_.FullName -Recurse -Force -ErrorAction SilentlyContinue)) {
      $itemAcl = Get-Acl -LiteralPath $item.FullName
      $itemAcl.SetAccessRuleProtection($false, $false)
      foreach ($r in @($itemAcl.Access | Where-Object { -not $_.IsInherited })) { [void]$itemAcl.RemoveAccessRule($r) }
      Set-Acl -LiteralPath $item.FullName -AclObject $itemAcl
    }
  }
}

# The enrollment secret: read once from its file, checked, written into the
# secrets folder only after that folder is SYSTEM/Administrators-only (the
# file inherits that ACL when it is created). Never printed.
function Install-ReclaimEnrollmentSecret {
  $info = Get-Item -LiteralPath $EnrollmentSecretFile
  if ($info.Length -gt 4096) { throw "enrollment secret file $EnrollmentSecretFile is over 4096 bytes" }
  $secret = ([IO.File]::ReadAllText($info.FullName)).Trim()
  if (-not $secret) { throw "enrollment secret file $EnrollmentSecretFile is empty" }
  if ($secret -match '[\r\n]') { throw "enrollment secret file $EnrollmentSecretFile holds more than one line" }
  if ($PSCmdlet.ShouldProcess($SecretPath, 'Store the enrollment secret (SYSTEM and Administrators only)')) {
    New-Item -ItemType Directory -Force -Path $SecretDir | Out-Null
    Set-ReclaimFolderAcl $SecretDir -NoUsers
    [IO.File]::WriteAllText($SecretPath, $secret + "`n", (New-Object System.Text.UTF8Encoding $false))
    # Check what was written is not readable by anyone else.
    $others = @((Get-Acl -LiteralPath $SecretPath).Access | Where-Object {
        $sid = $_.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier])
        $sid -ne $SidSystem -and $sid -ne $SidAdmins })
    if ($others.Count -gt 0) {
      Remove-Item -LiteralPath $SecretPath -Force
      throw "the enrollment secret's ACL grants others access; not stored"
    }
  }
  Remove-Variable secret
}

# A TOML basic string: backslashes and quotes escaped.
function ConvertTo-TomlString([string] $Value) {
  return '"' + $Value.Replace('\', '\\').Replace('"', '\"') + '"'
}

# Running agents of the install folder: first WM_CLOSE (taskkill without /F;
# the agent stores its last batch and exits; works for this session only),
# then, after 10 s, by force (the spool is a SQLite WAL database: nothing
# acknowledged is lost, at most the last heartbeat's focus time).
function Stop-ReclaimAgents {
  $exe = Join-Path $InstallDir $ExeName
  $agents = @(Get-Process -Name ([IO.Path]::GetFileNameWithoutExtension($ExeName)) -ErrorAction SilentlyContinue |
    Where-Object { $_.Path -and ($_.Path -ieq $exe) })
  if ($agents.Count -eq 0 -or -not $PSCmdlet.ShouldProcess("$($agents.Count) running agent(s)", 'Stop')) { return }
  # (cmd does the redirection: PowerShell 5.1 turns a native command's
  # redirected stderr into errors, which stop this script.)
  foreach ($p in $agents) { & cmd.exe /c "taskkill /PID $($p.Id) >nul 2>&1" }
  $deadline = (Get-Date).AddSeconds(10)
  foreach ($p in $agents) {
    $left = [int][Math]::Max(0, ($deadline - (Get-Date)).TotalMilliseconds)
    if (-not $p.WaitForExit($left)) {
      Stop-Process -Id $p.Id -Force -ErrorAction SilentlyContinue
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

function Install-ReclaimAgent {
  $exe = Join-Path $SourceDir $ExeName
  if (-not (Test-Path -LiteralPath $exe -PathType Leaf)) {
    throw "$exe not found: pass -SourceDir with the built agent (README: Building the Windows agent)"
  }
  if ($ConfigFile -and -not (Test-Path -LiteralPath $ConfigFile -PathType Leaf)) {
    throw "config file $ConfigFile not found"
  }
  $newConfig = -not $ConfigFile -and -not (Test-Path -LiteralPath $ConfigPath)
  if ($newConfig -and -not $Collector) {
    throw "no configuration: pass -ConfigFile or -Collector host:port"
  }
  if ($newConfig -and -not $CaFile -and -not $InsecurePlaintext) {
    throw "no TLS: pass -CaFile (the CA bundle of the collector's certificate) or -InsecurePlaintext"
  }
  if (-not $newConfig -and ($Collector -or $InsecurePlaintext)) {
    throw "-Collector and -InsecurePlaintext only make a new agent.toml: put them in the configuration file"
  }
  if ([bool]$ClientCertFile -ne [bool]$ClientKeyFile) { throw "-ClientCertFile and -ClientKeyFile go together" }
  foreach ($f in @($CaFile, $ClientCertFile, $ClientKeyFile, $EnrollmentSecretFile)) {
    if ($f -and -not (Test-Path -LiteralPath $f -PathType Leaf)) { throw "file $f not found" }
  }

  # Running agents hold the executable open: stop them before replacing it.
  Stop-ReclaimAgents
  if ($PSCmdlet.ShouldProcess($InstallDir, 'Install agent binaries')) {
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    Get-ChildItem -LiteralPath $SourceDir -File |
      Where-Object { $_.Extension -in '.exe', '.dll' } |
      Copy-Item -Destination $InstallDir -Force
  }

  if ($PSCmdlet.ShouldProcess($DataRoot, 'Create configuration folder')) {
    New-Item -ItemType Directory -Force -Path $DataRoot | Out-Null
    # The ACL first: nothing below is ever readable by more than SYSTEM,
    # Administrators and Users.
    Set-ReclaimFolderAcl $DataRoot
    if ($CaFile) { Copy-Item -LiteralPath $CaFile -Destination $CaPath -Force }
    if ($ClientCertFile) {
      Copy-Item -LiteralPath $ClientCertFile -Destination $CertPath -Force
      Copy-Item -LiteralPath $ClientKeyFile -Destination $KeyPath -Force
    }
    if ($ConfigFile) {
      Copy-Item -LiteralPath $ConfigFile -Destination $ConfigPath -Force
    } elseif ($newConfig) {
      $lines = @('# Reclaim agent configuration (keys: reclaim-agent --help).',
                 "collector = $(ConvertTo-TomlString $Collector)")
      if ($CaFile) { $lines += "ca-file = $(ConvertTo-TomlString $CaPath)" }
      if ($ClientCertFile) {
        $lines += "client-cert = $(ConvertTo-TomlString $CertPath)"
        $lines += "client-key = $(ConvertTo-TomlString $KeyPath)"
      }
      if ($InsecurePlaintext) { $lines += 'insecure-plaintext = true  # no TLS: trusted test networks only' }
      Set-Content -LiteralPath $ConfigPath -Encoding ASCII -Value $lines
    }
    # Copied and rewritten files take the folder's rules (a file overwritten in place
    # may keep the ACL it had).
    Set-ReclaimFolderAcl $DataRoot
  }
  if ($EnrollmentSecretFile) { Install-ReclaimEnrollmentSecret }

  $installedExe = Join-Path $InstallDir $ExeName
  # The spool and device credential: the agent's default, %LOCALAPPDATA%\Reclaim.
  $arguments = "--config `"$ConfigPath`""
  $action = New-ScheduledTaskAction -Execute $installedExe -Argument $arguments -WorkingDirectory $InstallDir
  $trigger = New-ScheduledTaskTrigger -AtLogOn  # any user
  $usersGroup = $SidUsers.Translate([System.Security.Principal.NTAccount]).Value
  $principal = New-ScheduledTaskPrincipal -GroupId $usersGroup -RunLevel Limited
  # Parallel: each logged-on user's session gets its own instance. (Nothing
  # stops a second agent in one session yet, e.g. -StartNow in a session
  # that already runs one: both would meter it under separate spools.)
  $settings = New-ScheduledTaskSettingsSet -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries `
    -DontStopOnIdleEnd -ExecutionTimeLimit ([TimeSpan]::Zero) -RestartCount 9999 `
    -RestartInterval (New-TimeSpan -Minutes 1) -MultipleInstances Parallel -Hidden -StartWhenAvailable
  if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Register logon task')) {
    Register-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName -Action $action -Trigger $trigger `
      -Principal $principal -Settings $settings -Force `
      -Description 'Reclaim agent: meters application focus time in each user session.' | Out-Null
    if ($StartNow) { Start-ScheduledTask -TaskPath $TaskPath -TaskName $TaskName }
  }
  Write-Host "Reclaim agent installed in $InstallDir; configuration $ConfigPath; starts at each user logon."
}

function Uninstall-ReclaimAgent {
  Remove-ReclaimTask
  Stop-ReclaimAgents
  foreach ($dir in @($InstallDir, $DataRoot)) {
    if ((Test-Path -LiteralPath $dir) -and $PSCmdlet.ShouldProcess($dir, 'Remove')) {
      Remove-Item -LiteralPath $dir -Recurse -Force
    }
  }
  $parent = Split-Path $InstallDir -Parent  # %ProgramFiles%\Reclaim
  if ((Test-Path -LiteralPath $parent) -and -not (Get-ChildItem -LiteralPath $parent -Force) -and
      $PSCmdlet.ShouldProcess($parent, 'Remove empty folder')) {
    Remove-Item -LiteralPath $parent -Force
  }
  if ($RemoveUserData) {
    Get-CimInstance -ClassName Win32_UserProfile | Where-Object { -not $_.Special -and $_.LocalPath } |
      ForEach-Object {
        $userData = Join-Path $_.LocalPath 'AppData\Local\Reclaim'
        if ((Test-Path -LiteralPath $userData) -and $PSCmdlet.ShouldProcess($userData, 'Remove user data')) {
          Remove-Item -LiteralPath $userData -Recurse -Force
        }
      }
  }
  Write-Host 'Reclaim agent uninstalled.'
}

if ($Uninstall) { Uninstall-ReclaimAgent } else { Install-ReclaimAgent }
