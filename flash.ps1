#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Flashes nanoFramework and the SensorNode firmware onto an ESP32 (issue #4; not implemented yet).
.DESCRIPTION
    This placeholder keeps the repository layout stable. The real script (nanoff firmware update, app
    deployment and node configuration) arrives with issue #4.
#>
[CmdletBinding(SupportsShouldProcess)]
param()

Write-Error "flash.ps1 is not implemented yet: see issue #4." -ErrorAction Continue
exit 1
