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
    %ProgramData%\Reclaim\agent.toml   the configuration: SYSTEM and
                                       Administrators full control, Users read;
                                       inheritance off.
    %LOCALAPPDATA%\Reclaim\            each user's data (spool.db): created by
                                       the agent inside the profile, so only
                                       that user, SYSTEM and Administrators can
                                       read it (no shared folder whose
                                       per-user names another user could take
                                       first).

  Uninstall removes the task, stops running agents started from the install
  folder, and deletes the install folder and %ProgramData%\Reclaim;
  -RemoveUserData also deletes every profile's %LOCALAPPDATA%\Reclaim
  (un-sent usage is lost).

.PARAMETER SourceDir
  Folder holding reclaim-agent.exe (and its DLLs) to install. Default: this
  script's folder.

.PARAMETER ConfigFile
  The agent configuration (TOML, as deploy/config/agent.toml) to install.
  Without it an existing %ProgramData%\Reclaim\agent.toml is kept; a fresh
  install then needs -Collector.

.PARAMETER Collector
  host:port of the collector, written into a new agent.toml when no
  -ConfigFile is given and none exists.

.EXAMPLE
  .\install-reclaim-agent.ps1 -SourceDir .\build-windows\agent\agent -Collector collector.example.com:7443 -StartNow

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
  [Parameter(ParameterSetName = 'Install')] [switch] $StartNow,
  [Parameter(ParameterSetName = 'Uninstall', Mandatory = $true)] [switch] $Uninstall,
  [Parameter(ParameterSetName = 'Uninstall')] [switch] $RemoveUserData
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$InstallDir = Join-Path $env:ProgramFiles 'Reclaim\Agent'
$DataRoot   = Join-Path $env:ProgramData 'Reclaim'
$ConfigPath = Join-Path $DataRoot 'agent.toml'
$ExeName    = 'reclaim-agent.exe'
$TaskPath   = '\Reclaim\'
$TaskName   = 'Reclaim Agent'

# Well-known SIDs: names are localised ("VORDEFINIERT\Benutzer"), SIDs are not.
$SidSystem = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-18'
$SidAdmins = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-544'
$SidUsers  = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-545'

function Set-ReclaimDataAcl([string] $Path) {
  # SYSTEM and Administrators: full control; Users: read. Nothing inherited.
  $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
  $none = [System.Security.AccessControl.PropagationFlags]::None
  $allow = [System.Security.AccessControl.AccessControlType]::Allow
  $acl = New-Object System.Security.AccessControl.DirectorySecurity
  $acl.SetAccessRuleProtection($true, $false)
  $acl.SetOwner($SidAdmins)
  foreach ($rule in @(
      (New-Object System.Security.AccessControl.FileSystemAccessRule($SidSystem, 'FullControl', $inherit, $none, $allow)),
      (New-Object System.Security.AccessControl.FileSystemAccessRule($SidAdmins, 'FullControl', $inherit, $none, $allow)),
      (New-Object System.Security.AccessControl.FileSystemAccessRule($SidUsers, 'ReadAndExecute', $inherit, $none, $allow)))) {
    $acl.AddAccessRule($rule)
  }
  Set-Acl -LiteralPath $Path -AclObject $acl
  # Files already there take the folder's rules.
  Get-ChildItem -LiteralPath $Path -Recurse -Force | ForEach-Object {
    $fileAcl = Get-Acl -LiteralPath $_.FullName
    $fileAcl.SetAccessRuleProtection($false, $false)
    foreach ($r in @($fileAcl.Access | Where-Object { -not $_.IsInherited })) { [void]$fileAcl.RemoveAccessRule($r) }
    Set-Acl -LiteralPath $_.FullName -AclObject $fileAcl
  }
}

function Stop-ReclaimAgents {
  $exe = Join-Path $InstallDir $ExeName
  Get-Process -Name ([IO.Path]::GetFileNameWithoutExtension($ExeName)) -ErrorAction SilentlyContinue |
    Where-Object { $_.Path -and ($_.Path -ieq $exe) } |
    ForEach-Object {
      if ($PSCmdlet.ShouldProcess("process $($_.Id) (session $($_.SessionId))", 'Stop')) {
        Stop-Process -Id $_.Id -Force -ErrorAction SilentlyContinue
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
  if (-not $ConfigFile -and -not (Test-Path -LiteralPath $ConfigPath) -and -not $Collector) {
    throw "no configuration: pass -ConfigFile or -Collector host:port"
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
    if ($ConfigFile) {
      Copy-Item -LiteralPath $ConfigFile -Destination $ConfigPath -Force
    } elseif (-not (Test-Path -LiteralPath $ConfigPath)) {
      # TOML basic string: escape backslashes and quotes.
      $value = $Collector.Replace('\', '\\').Replace('"', '\"')
      Set-Content -LiteralPath $ConfigPath -Encoding ASCII -Value @(
        '# Reclaim agent configuration (keys: reclaim-agent --help).',
        "collector = `"$value`"")
    }
    Set-ReclaimDataAcl $DataRoot
  }

  $installedExe = Join-Path $InstallDir $ExeName
  # Task Scheduler expands %LOCALAPPDATA% in the user's own environment.
  $arguments = "--config `"$ConfigPath`" --spool `"%LOCALAPPDATA%\Reclaim\spool.db`""
  $action = New-ScheduledTaskAction -Execute $installedExe -Argument $arguments -WorkingDirectory $InstallDir
  $trigger = New-ScheduledTaskTrigger -AtLogOn  # any user
  $usersGroup = $SidUsers.Translate([System.Security.Principal.NTAccount]).Value
  $principal = New-ScheduledTaskPrincipal -GroupId $usersGroup -RunLevel Limited
  # Parallel: each logged-on user's session gets its own instance (the agent
  # itself refuses a second instance in one session).
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
